"""The user's ``risk_limits`` as one function, applied twice: by the risk manager while the
council analyses (it asks :func:`headroom` how much it may still buy) and again at the broker
edge, where :func:`check_order` can shrink or refuse every order whatever the council said.

Why twice: the analysis can be wrong, stale (the price moved between the decision and the fill)
or bypassed (a user approves an escalated decision hours later); the edge is the last code
before money moves, so it re-reads the portfolio at the fill price.

The rules (long-only spot; every limit is a fraction of equity at the order's price):

* A SELL is never blocked by a limit: selling only lowers exposure. It is capped at the
  quantity held (there is no short selling).
* A BUY is refused outright when ``max_drawdown_pct`` is reached (equity at or below
  ``peak_equity * (1 - max_drawdown_pct)``) or ``max_daily_loss_pct`` is reached (equity at or
  below ``day_start_equity * (1 - max_daily_loss_pct)``): both are circuit breakers.
* A BUY is reduced so that the position's value stays within ``max_position_pct`` of equity and
  all positions together (this one plus ``other_positions_value``) within ``max_exposure_pct``;
  when no room is left, it is refused with the limit named.
* Finally a BUY is reduced to what the cash pays, fee included (``cash`` is a balance, not a
  limit, and is named ``"cash"``).

The verdict names the binding limit (``max_position_pct``, ``max_daily_loss_pct``,
``max_drawdown_pct``, ``max_exposure_pct`` or ``cash``/``quantity``) so that an audit or a
backtest report says which one acted.
"""

from __future__ import annotations

from dataclasses import dataclass

from hilo.packs.council.core import BUY, SELL, PortfolioState, RiskLimits

# Quantities below this are dust: an order for less is not worth sending.
MIN_QUANTITY = 1e-12

LIMIT_TEXT = {  # Spanish, for the user
    "max_position_pct": "la posición superaría el máximo por posición",
    "max_exposure_pct": "la exposición total superaría el máximo permitido",
    "max_daily_loss_pct": "se alcanzó la pérdida diaria máxima: no se abren compras hoy",
    "max_drawdown_pct": "se alcanzó la caída máxima desde el pico: no se abren compras",
    "cash": "el efectivo no alcanza para la cantidad pedida",
    "quantity": "no hay tanta cantidad en cartera para vender",
}


@dataclass(slots=True, frozen=True)
class RiskVerdict:
    """What the edge allows: ``quantity`` (0 when refused) and which limit acted, if any."""

    requested: float
    quantity: float
    limit: str | None = None  # the binding limit (refused or reduced), None when untouched
    reason: str = ""

    @property
    def rejected(self) -> bool:
        return self.quantity <= MIN_QUANTITY

    @property
    def reduced(self) -> bool:
        return not self.rejected and self.quantity < self.requested

    def to_dict(self) -> dict:
        return {"requested": self.requested, "quantity": self.quantity, "limit": self.limit,
                "reason": self.reason, "rejected": self.rejected}


@dataclass(slots=True, frozen=True)
class Headroom:
    """How much the portfolio may still buy at ``price``: quote value and base quantity, and the
    limit with the least room (the one that blocks or binds the next buy)."""

    value: float
    quantity: float
    limit: str | None
    reason: str = ""


def headroom(portfolio: PortfolioState, price: float, limits: RiskLimits, *,
             other_positions_value: float = 0.0, fee_rate: float = 0.0) -> Headroom:
    """The largest BUY the limits allow at ``price`` (what the risk manager analyst reads)."""
    if price <= 0:
        return Headroom(0.0, 0.0, "cash", "precio no válido")
    position = portfolio.quantity * price
    equity = portfolio.cash + position + other_positions_value
    if equity <= 0:
        return Headroom(0.0, 0.0, "cash", LIMIT_TEXT["cash"])
    if portfolio.peak_equity > 0 and equity <= portfolio.peak_equity * (1.0 - limits.max_drawdown_pct):
        return Headroom(0.0, 0.0, "max_drawdown_pct", LIMIT_TEXT["max_drawdown_pct"])
    if portfolio.day_start_equity > 0 and equity <= portfolio.day_start_equity * (1.0 - limits.max_daily_loss_pct):
        return Headroom(0.0, 0.0, "max_daily_loss_pct", LIMIT_TEXT["max_daily_loss_pct"])
    rooms = (
        ("max_position_pct", limits.max_position_pct * equity - position),
        ("max_exposure_pct", limits.max_exposure_pct * equity - position - other_positions_value),
        ("cash", portfolio.cash / (1.0 + fee_rate)),
    )
    limit, room = min(rooms, key=lambda r: r[1])
    room = max(0.0, room)
    return Headroom(room, room / price, limit, LIMIT_TEXT[limit])


def check_order(portfolio: PortfolioState, price: float, side: str, quantity: float, limits: RiskLimits, *,
                other_positions_value: float = 0.0, fee_rate: float = 0.0) -> RiskVerdict:
    """The quantity of a ``side`` order for ``quantity`` (base units) that the limits allow at
    ``price``: the same, less (``limit`` names why) or 0 (refused, ``limit`` names why)."""
    requested = max(0.0, float(quantity))
    if side == SELL:
        held = max(0.0, portfolio.quantity)
        if requested > held:
            return RiskVerdict(requested, held, "quantity", LIMIT_TEXT["quantity"])
        return RiskVerdict(requested, requested)
    if side != BUY:
        raise ValueError(f"side must be {BUY} or {SELL}, not {side!r}")
    room = headroom(portfolio, price, limits, other_positions_value=other_positions_value, fee_rate=fee_rate)
    if room.quantity <= MIN_QUANTITY:
        return RiskVerdict(requested, 0.0, room.limit, room.reason)
    if requested > room.quantity:
        return RiskVerdict(requested, room.quantity, room.limit, room.reason)
    return RiskVerdict(requested, requested)
