"""The exchange edge: one order model and one :class:`Broker` interface for paper trading, live
trading and backtests, so that a backtest exercises the very code that trades on paper.

Paper trading is a branch at this edge, not a second engine (freqtrade's ``dry_run``): the
:class:`PaperBroker` fills a market order by walking an order book's levels, a real book from
the exchange on the live path or :meth:`OrderBook.synthetic` built from a bar in backtests, with
slippage and fees; the :class:`LiveBroker` sends the same request to the exchange through ccxt.
Both pass every order through :func:`hilo.packs.council.risk.check_order` first (the limits at
the edge), and both update the same :class:`~hilo.packs.council.core.PortfolioState`.

A real order needs two things the code cannot grant itself: the operator's switch
(``HILO_COUNCIL_LIVE_TRADING``, passed in as ``live_enabled``) and exchange keys stored
encrypted (:mod:`hilo.packs.council.keys`). :func:`broker_for` is the only way code gets a
broker, and :class:`LiveBroker` refuses to be built without both (:class:`LiveTradingDisabled`).

Rules (long-only spot, market orders, quantities in the base currency, money in the quote one):

* **Slippage** moves every level's price against the order by ``slippage_bps`` (buys pay more,
  sells get less); the book's own depth adds the impact of walking several levels.
* **Fees** are ``fee_bps`` of each fill's notional, in the quote currency: a buy pays
  ``qty * price * (1 + fee)``, a sell receives ``qty * price * (1 - fee)``.
* **Partial fills**: the order takes level after level until it is done or the book side is
  exhausted; the remainder is **cancelled** (never left resting) and reported in
  ``cancelled_quantity`` with the reason. A buy also stops when the cash is spent, fee included,
  so cash and quantity never go negative.
* **Synthetic book** (backtests): the next bar's open is the touch; at most ``participation``
  (default 10 %) of that bar's volume is available, split evenly over ``levels`` (default 5)
  levels spaced ``step_bps`` (default 1 bp) apart. A bar with zero volume is, by default, read as
  missing volume data (public files have many such bars, BTC 15-minute has 2,082 of 8,689) and
  offers unlimited depth at the open; ``zero_volume_fills=False`` makes it offer nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hilo.packs.council.core import BUY, SELL, PortfolioState, RiskLimits
from hilo.packs.council.risk import MIN_QUANTITY, check_order

if TYPE_CHECKING:
    from hilo.packs.council.keys import ExchangeCredentials

FILLED, PARTIALLY_FILLED, REJECTED, FAILED = "filled", "partially_filled", "rejected", "failed"
PAPER, LIVE = "paper", "live"
# Limits of 100 %: only the balances bind (the baselines of a backtest trade with these).
NO_LIMITS = RiskLimits(max_position_pct=1.0, max_daily_loss_pct=1.0, max_drawdown_pct=1.0, max_exposure_pct=1.0)


class BrokerError(ValueError):
    """An order the broker cannot take as written (unknown side, quantity not positive...)."""


class LiveTradingDisabled(RuntimeError):
    """A live broker was asked for while the operator's switch is off or no keys are stored."""


# --- the order book --------------------------------------------------------------------------

@dataclass(slots=True)
class OrderBook:
    """Price levels, best first: ``bids`` descending, ``asks`` ascending, each ``(price, qty)``."""

    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    synthetic: bool = False

    @classmethod
    def from_ccxt(cls, book: dict[str, Any]) -> OrderBook:
        """ccxt's ``fetch_order_book`` answer (``{"bids": [[p, q], ...], "asks": [...]}``)."""
        def side(rows: Any, reverse: bool) -> list[tuple[float, float]]:
            levels = [(float(r[0]), float(r[1])) for r in rows or () if float(r[0]) > 0 and float(r[1]) > 0]
            return sorted(levels, key=lambda lv: lv[0], reverse=reverse)
        return cls(bids=side(book.get("bids"), True), asks=side(book.get("asks"), False))

    @classmethod
    def synthetic_for_bar(cls, price: float, volume: float, *, participation: float = 0.10, levels: int = 5,
                          step_bps: float = 1.0, volume_in_quote: bool = False,
                          zero_volume_fills: bool = True) -> OrderBook:
        """The book a backtest fills against at a bar's open (rule in the module docstring).
        ``volume_in_quote``: the file's volume is in quote currency (Yahoo's crypto files), so it
        is divided by the price to get base units."""
        base_volume = volume / price if volume_in_quote else volume
        if base_volume <= 0:
            qty = math.inf if zero_volume_fills else 0.0
            levels = 1
        else:
            qty = participation * base_volume / levels
        step = step_bps / 10_000.0
        if qty <= 0:
            return cls(bids=[], asks=[], synthetic=True)
        return cls(bids=[(price * (1.0 - k * step), qty) for k in range(levels)],
                   asks=[(price * (1.0 + k * step), qty) for k in range(levels)], synthetic=True)

    def touch(self, side: str) -> float | None:
        """The price an order of ``side`` meets first (best ask for a buy, best bid for a sell)."""
        levels = self.asks if side == BUY else self.bids
        return levels[0][0] if levels else None


# --- orders ------------------------------------------------------------------------------------

@dataclass(slots=True)
class OrderRequest:
    """A market order: ``quantity`` in the base currency."""

    symbol: str
    side: str  # BUY or SELL
    quantity: float
    type: str = "market"
    client_id: str | None = None
    decision_id: str | None = None

    def validate(self) -> None:
        if self.side not in (BUY, SELL):
            raise BrokerError(f"side must be {BUY} or {SELL}, not {self.side!r}")
        if self.type != "market":
            raise BrokerError(f"only market orders are supported, not {self.type!r}")
        if not (self.quantity > 0 and math.isfinite(self.quantity)):
            raise BrokerError(f"quantity must be a positive number, not {self.quantity!r}")


@dataclass(slots=True)
class Fill:
    price: float  # after slippage
    quantity: float
    fee: float  # in the quote currency

    def to_dict(self) -> dict[str, float]:
        return {"price": self.price, "quantity": self.quantity, "fee": self.fee}


@dataclass(slots=True)
class OrderResult:
    """What happened to one request; ``status`` is one of the ``council_orders`` statuses."""

    order_id: str
    request: OrderRequest
    mode: str  # paper / live
    status: str  # filled / partially_filled / rejected / failed
    fills: list[Fill] = field(default_factory=list)
    allowed_quantity: float = 0.0  # after the limits at the edge
    limit: str | None = None  # the risk limit that reduced or refused it
    reason: str = ""
    time: datetime | None = None
    exchange_order_id: str | None = None

    @property
    def filled_quantity(self) -> float:
        return sum(f.quantity for f in self.fills)

    @property
    def cancelled_quantity(self) -> float:
        return max(0.0, self.request.quantity - self.filled_quantity)

    @property
    def notional(self) -> float:
        return sum(f.quantity * f.price for f in self.fills)

    @property
    def average_price(self) -> float:
        q = self.filled_quantity
        return self.notional / q if q > 0 else 0.0

    @property
    def fee(self) -> float:
        return sum(f.fee for f in self.fills)

    def to_dict(self) -> dict[str, Any]:
        """Keys named as the ``council_orders`` columns, the rest in ``detail``."""
        return {"id": self.order_id, "mode": self.mode, "symbol": self.request.symbol, "side": self.request.side,
                "type": self.request.type, "quantity": self.request.quantity,
                "filled_quantity": self.filled_quantity, "price": self.average_price or None, "fee": self.fee,
                "status": self.status, "exchange_order_id": self.exchange_order_id,
                "decision_id": self.request.decision_id,
                "time": self.time.isoformat() if self.time else None,
                "detail": {"allowed_quantity": self.allowed_quantity, "cancelled_quantity": self.cancelled_quantity,
                           "limit": self.limit, "reason": self.reason,
                           "fills": [f.to_dict() for f in self.fills]}}


@runtime_checkable
class Broker(Protocol):
    """What the council's executor, the paper service and the backtest call."""

    mode: str

    def execute(self, request: OrderRequest, portfolio: PortfolioState, book: OrderBook,
                limits: RiskLimits | None = None, *, at: datetime | None = None,
                other_positions_value: float = 0.0) -> OrderResult:
        """Check ``request`` against ``limits`` at ``book``'s price, execute what is allowed and
        update ``portfolio`` in place."""
        ...

    async def aexecute(self, request: OrderRequest, portfolio: PortfolioState, book: OrderBook,
                       limits: RiskLimits | None = None, *, at: datetime | None = None,
                       other_positions_value: float = 0.0) -> OrderResult:
        ...


def _apply_fills(portfolio: PortfolioState, side: str, fills: list[Fill]) -> None:
    """Move cash and quantity; tiny negative float residues are clamped to zero."""
    qty = sum(f.quantity for f in fills)
    if qty <= 0:
        return
    notional = sum(f.quantity * f.price for f in fills)
    fee = sum(f.fee for f in fills)
    if side == BUY:
        held = portfolio.quantity
        portfolio.avg_price = (held * portfolio.avg_price + notional) / (held + qty)
        portfolio.quantity = held + qty
        portfolio.cash -= notional + fee
    else:
        portfolio.quantity -= qty
        portfolio.cash += notional - fee
        if portfolio.quantity <= MIN_QUANTITY:
            portfolio.quantity = 0.0
            portfolio.avg_price = 0.0
    if portfolio.cash < 0:
        portfolio.cash = 0.0  # float residue only: the walk never spends more than it has


class PaperBroker:
    """Fills orders against a book in memory: the paper account live, and every backtest."""

    mode = PAPER

    def __init__(self, *, fee_bps: float = 10.0, slippage_bps: float = 5.0, id_prefix: str = "paper"):
        if not (0 <= fee_bps < 10_000 and 0 <= slippage_bps < 10_000):
            raise BrokerError("fee_bps and slippage_bps must be between 0 and 10000")
        self.fee_bps = float(fee_bps)
        self.slippage_bps = float(slippage_bps)
        self.fee_rate = self.fee_bps / 10_000.0
        self.slip_rate = self.slippage_bps / 10_000.0
        self._ids = itertools.count(1)
        self._prefix = id_prefix

    def __repr__(self) -> str:
        return f"PaperBroker(fee_bps={self.fee_bps}, slippage_bps={self.slippage_bps})"

    def execute(self, request: OrderRequest, portfolio: PortfolioState, book: OrderBook,
                limits: RiskLimits | None = None, *, at: datetime | None = None,
                other_positions_value: float = 0.0) -> OrderResult:
        request.validate()
        order_id = request.client_id or f"{self._prefix}-{next(self._ids)}"
        result = OrderResult(order_id=order_id, request=request, mode=PAPER, status=REJECTED, time=at)
        side = request.side
        touch = book.touch(side)
        if touch is None:
            result.reason = "sin liquidez en el libro: la orden se cancela"
            return result
        slipped = touch * (1.0 + self.slip_rate) if side == BUY else touch * (1.0 - self.slip_rate)
        verdict = check_order(portfolio, slipped, side, request.quantity, limits or NO_LIMITS,
                              other_positions_value=other_positions_value, fee_rate=self.fee_rate)
        result.allowed_quantity = verdict.quantity
        result.limit = verdict.limit
        result.reason = verdict.reason
        if verdict.rejected:
            return result
        remaining = verdict.quantity
        fills: list[Fill] = []
        if side == BUY:
            cash = portfolio.cash
            cash_bound = False
            for price, available in book.asks:
                p = price * (1.0 + self.slip_rate)
                unit = p * (1.0 + self.fee_rate)
                affordable = cash / unit
                take = min(remaining, available, affordable)
                cash_bound = take >= affordable and take < remaining
                if take <= MIN_QUANTITY:
                    break
                fills.append(Fill(p, take, take * p * self.fee_rate))
                cash -= take * unit
                remaining -= take
                if remaining <= MIN_QUANTITY or cash_bound:
                    break
            if cash_bound and not result.limit:
                # deeper levels cost more than the touch the limits were checked at
                result.limit, result.reason = "cash", "el efectivo se agotó al recorrer el libro: el resto se cancela"
        else:
            for price, available in book.bids:
                p = price * (1.0 - self.slip_rate)
                take = min(remaining, available)
                if take <= MIN_QUANTITY:
                    break
                fills.append(Fill(p, take, take * p * self.fee_rate))
                remaining -= take
                if remaining <= MIN_QUANTITY:
                    break
        result.fills = fills
        _apply_fills(portfolio, side, fills)
        filled = result.filled_quantity
        if filled <= MIN_QUANTITY:
            result.status = REJECTED
            result.reason = result.reason or "sin liquidez en el libro: la orden se cancela"
        elif filled >= request.quantity * (1.0 - 1e-9):
            result.status = FILLED
        else:
            result.status = PARTIALLY_FILLED
            if not result.reason:
                result.reason = "el libro no tenía más cantidad: el resto se cancela"
        return result

    async def aexecute(self, request: OrderRequest, portfolio: PortfolioState, book: OrderBook,
                       limits: RiskLimits | None = None, *, at: datetime | None = None,
                       other_positions_value: float = 0.0) -> OrderResult:
        return self.execute(request, portfolio, book, limits, at=at, other_positions_value=other_positions_value)


# --- the real exchange -------------------------------------------------------------------------

class LiveBroker:
    """Market orders on a real exchange through ccxt's ``create_order``.

    Built only by :func:`broker_for` with the operator's switch on and stored keys; the limits at
    the edge run before anything is sent, on the book's price. Each order opens its own ccxt
    async object (:func:`hilo.kit.ccxt_client.new_exchange`: its HTTP session belongs to the
    calling event loop) with the keys set, and closes it. ``api_url`` points it elsewhere (the
    fake exchange on 127.0.0.1 in tests, ``HILO_COUNCIL_EXCHANGE_URL``).
    """

    mode = LIVE

    def __init__(self, *, live_enabled: bool, keys: ExchangeCredentials | None, exchange: str = "binance",
                 api_url: str | None = None, timeout: float = 10.0, fee_bps: float = 10.0):
        if not live_enabled:
            raise LiveTradingDisabled(
                "El trading real está desactivado: el operador debe activar HILO_COUNCIL_LIVE_TRADING "
                "(mientras tanto las órdenes se ejecutan en papel).")
        if keys is None or not keys.api_key or not keys.secret:
            raise LiveTradingDisabled(
                f"No hay claves de {exchange} guardadas: el trading real necesita claves del exchange "
                "cifradas en la base de datos.")
        self._keys = keys
        self.exchange = exchange
        self.api_url = api_url
        self.timeout = timeout
        self.fee_rate = fee_bps / 10_000.0
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"LiveBroker(exchange={self.exchange!r})"

    def _scrub(self, text: str) -> str:
        for secret in (self._keys.api_key, self._keys.secret):
            text = text.replace(secret, "***")
        return re.sub(r"signature=[0-9A-Fa-f]+", "signature=***", text)[:500]

    def execute(self, request: OrderRequest, portfolio: PortfolioState, book: OrderBook,
                limits: RiskLimits | None = None, *, at: datetime | None = None,
                other_positions_value: float = 0.0) -> OrderResult:
        """For synchronous callers (scripts); from async code await :meth:`aexecute`."""
        return asyncio.run(self.aexecute(request, portfolio, book, limits, at=at,
                                         other_positions_value=other_positions_value))

    async def aexecute(self, request: OrderRequest, portfolio: PortfolioState, book: OrderBook,
                       limits: RiskLimits | None = None, *, at: datetime | None = None,
                       other_positions_value: float = 0.0) -> OrderResult:
        request.validate()
        order_id = request.client_id or f"live-{next(self._ids)}"
        result = OrderResult(order_id=order_id, request=request, mode=LIVE, status=REJECTED, time=at)
        touch = book.touch(request.side)
        if touch is None:
            result.reason = "sin precio en el libro del exchange: no se envía la orden"
            return result
        verdict = check_order(portfolio, touch, request.side, request.quantity, limits or NO_LIMITS,
                              other_positions_value=other_positions_value, fee_rate=self.fee_rate)
        result.allowed_quantity, result.limit, result.reason = verdict.quantity, verdict.limit, verdict.reason
        if verdict.rejected:
            return result
        from hilo.kit.ccxt_client import new_exchange

        client = new_exchange(self.exchange, api_url=self.api_url, timeout=self.timeout,
                              config={"apiKey": self._keys.api_key, "secret": self._keys.secret})
        try:
            await client.load_markets()
            amount = float(client.amount_to_precision(request.symbol, verdict.quantity))
            order = await client.create_order(request.symbol, "market", request.side.lower(), amount)
        except Exception as exc:  # noqa: BLE001 - every exchange failure is reported, never raised mid-trade
            result.status = FAILED
            result.reason = self._scrub(f"el exchange no aceptó la orden: {type(exc).__name__}: {exc}")
            return result
        finally:
            await client.close()
        result.exchange_order_id = str(order.get("id")) if order.get("id") is not None else None
        result.fills = _fills_from_ccxt(order, request.symbol, request.side)
        _apply_fills(portfolio, request.side, result.fills)
        gross = float(order.get("filled") or 0.0) or sum(f.quantity for f in result.fills)
        if gross <= MIN_QUANTITY:
            result.status = REJECTED
            result.reason = result.reason or f"el exchange no ejecutó la orden (estado {order.get('status')})"
        elif gross >= request.quantity * (1.0 - 1e-9):
            result.status = FILLED
        else:
            result.status = PARTIALLY_FILLED
            result.reason = result.reason or "ejecución parcial en el exchange: el resto se cancela"
        return result


def _fills_from_ccxt(order: dict[str, Any], symbol: str, side: str) -> list[Fill]:
    """ccxt's unified order as fills: its trades when the exchange lists them, else one fill at
    the average. A buy's fee charged in the base asset (Binance) arrives as less quantity, so
    the fill holds what was credited and the fee is valued in the quote currency: cash and
    quantity then match the exchange's balances."""
    base = symbol.split("/")[0]
    legs = [(float(t.get("price") or 0), float(t.get("amount") or 0), t.get("fee"))
            for t in order.get("trades") or ()]
    legs = [leg for leg in legs if leg[0] > 0 and leg[1] > 0]
    if not legs:
        qty = float(order.get("filled") or 0)
        price = float(order.get("average") or order.get("price") or 0)
        if qty <= 0 or price <= 0:
            return []
        fee = order.get("fee")
        if not fee and order.get("fees"):
            fee = {"cost": sum(float(f.get("cost") or 0) for f in order["fees"]),
                   "currency": order["fees"][0].get("currency")}
        legs = [(price, qty, fee)]
    fills = []
    for price, qty, fee in legs:
        cost = float(fee["cost"]) if fee and fee.get("cost") is not None else 0.0
        if fee and fee.get("currency") == base:
            if side == BUY:
                qty -= cost
            fills.append(Fill(price, qty, cost * price))
        else:
            fills.append(Fill(price, qty, cost))
    return fills


def broker_for(mode: str, *, live_enabled: bool, keys: ExchangeCredentials | None = None,
               exchange: str = "binance", fee_bps: float = 10.0, slippage_bps: float = 5.0,
               api_url: str | None = None, timeout: float = 10.0) -> Broker:
    """The one way to get a broker: ``"paper"`` (also for backtests) or ``"live"``, which raises
    :class:`LiveTradingDisabled` unless ``live_enabled`` (the operator's switch) and ``keys``."""
    if mode in (PAPER, "backtest"):
        return PaperBroker(fee_bps=fee_bps, slippage_bps=slippage_bps)
    if mode == LIVE:
        return LiveBroker(live_enabled=live_enabled, keys=keys, exchange=exchange, api_url=api_url,
                          timeout=timeout, fee_bps=fee_bps)
    raise BrokerError(f"unknown broker mode {mode!r} (paper or live)")
