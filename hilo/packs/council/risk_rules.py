"""The arithmetic of the user's risk limits over a portfolio, shared by the risk manager's
analysis and the broker edge (so a limit is applied twice by the same rule)."""

from __future__ import annotations

from hilo.packs.council.core import PortfolioState, RiskLimits


def drawdown(p: PortfolioState, price: float) -> float:
    eq = p.equity(price)
    return 0.0 if p.peak_equity <= 0 else max(0.0, 1.0 - eq / p.peak_equity)


def daily_loss(p: PortfolioState, price: float) -> float:
    eq = p.equity(price)
    return 0.0 if p.day_start_equity <= 0 else max(0.0, 1.0 - eq / p.day_start_equity)


def limit_breaches(p: PortfolioState, price: float, limits: RiskLimits) -> list[str]:
    """The limits the portfolio is beyond now, each named with its figure (Spanish, for users)."""
    out = []
    dd = drawdown(p, price)
    if dd >= limits.max_drawdown_pct:
        out.append(f"drawdown {dd:.1%} ≥ máximo {limits.max_drawdown_pct:.0%} (max_drawdown_pct)")
    loss = daily_loss(p, price)
    if loss >= limits.max_daily_loss_pct:
        out.append(f"pérdida del día {loss:.1%} ≥ máximo {limits.max_daily_loss_pct:.0%} (max_daily_loss_pct)")
    return out


def buy_room(p: PortfolioState, price: float, limits: RiskLimits) -> float:
    """The largest share of equity a new buy may add: the position and exposure limits, and
    nothing at all while a loss limit is breached."""
    eq = p.equity(price)
    if eq <= 0 or limit_breaches(p, price, limits):
        return 0.0
    held = p.quantity * price / eq
    room = min(limits.max_position_pct, limits.max_exposure_pct) - held
    return max(0.0, min(room, p.cash / eq))
