"""Backtests on the code that trades: a :class:`MarketFrame` replayed bar by bar through a
strategy (by default the council's deterministic path), the same :class:`PaperBroker` and the
same risk limits at the edge that paper trading uses.

Timing, so that no decision sees the future and no fill is better than a real one:

* at the **close** of bar ``i`` the strategy sees a :class:`Snapshot` of bars ``0..i`` and the
  portfolio as it stands; a BUY or SELL becomes a market order;
* the order fills at the **open of bar i + 1**, against :meth:`OrderBook.synthetic_for_bar` of
  that bar (at most ``participation`` of its volume; the rest is cancelled), with slippage and
  fees, after :func:`hilo.packs.council.risk.check_order` at that price;
* equity is marked at every close. A decision on the last bar has no next open and is recorded
  as ``no_next_bar``.

Sizing: a BUY spends ``size_pct`` of equity at the decision's close (quantity = share x equity /
close); a SELL sells ``size_pct`` of the position. The edge then caps a buy by the limits and the
cash at the fill price.

**Escalated decisions** wait for a user who does not exist in a backtest. The rule is
``escalated="skip"`` (default): they are recorded, with status ``escalated_not_executed``, and not
executed, as if the user never answered before the next bar. ``escalated="execute"`` treats every
escalation as approved (an upper bound on what the user could have had).

**Prefix property**: everything at bar ``i`` depends on bars ``0..i`` only (causal indicators,
walk-forward predictions anchored at bar 0, a portfolio built from earlier fills), so a run on
the first ``N`` bars makes exactly the decisions a run on the whole file makes for those bars
(``tests/council/test_backtest.py`` checks it).

**Baselines** (buy and hold, SMA 50/200 cross, MACD cross, RSI 30/70) run through the same
engine and broker, fully invested (``size_pct`` 1) and without the user's risk limits
(:data:`~hilo.packs.council.broker.NO_LIMITS`): they are the classic strategies as usually
quoted, so the council's limits show in its own exposure, not in a handicapped yardstick.

Metrics are annualised with the bars a year actually holds: the timeframe gives the nominal
count (365.25 days of 15-minute bars), and when the data's calendar shows fewer (markets that
close: 252 daily stock bars a year) the observed count is used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from hilo.packs.council.broker import (
    FILLED,
    NO_LIMITS,
    PARTIALLY_FILLED,
    OrderBook,
    OrderRequest,
    OrderResult,
    PaperBroker,
    broker_for,
)
from hilo.packs.council.core import (
    BUY,
    DEFAULT_THRESHOLD,
    HOLD,
    SELL,
    CouncilInputError,
    Decision,
    PortfolioState,
    RiskLimits,
    Snapshot,
    validate_weights,
)
from hilo.packs.council.frame import MarketFrame

Strategy = Callable[[Snapshot], Decision]
ESCALATION_RULES = ("skip", "execute")

# what happened to each decision
EXECUTED, PARTIAL, REJECTED, HELD = "executed", "partially_executed", "rejected", "hold"
ESCALATED_SKIPPED, NO_NEXT_BAR, NO_POSITION, NO_SIZE = ("escalated_not_executed", "no_next_bar",
                                                        "no_position", "size_zero")

TIMEFRAME_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
                     "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200,
                     "1w": 604800}
YEAR_SECONDS = 365.25 * 86400


@dataclass
class BacktestConfig:
    """Everything a run depends on (reported in full so that a report can be replayed)."""

    cash: float = 10_000.0
    fee_bps: float = 10.0
    slippage_bps: float = 5.0
    threshold: float = DEFAULT_THRESHOLD
    weights: dict[str, float] | None = None
    limits: RiskLimits = field(default_factory=RiskLimits)
    rules: list[dict[str, Any]] = field(default_factory=list)
    escalated: str = "skip"  # skip | execute (module docstring)
    participation: float = 0.10  # share of a bar's volume an order may take
    book_levels: int = 5
    book_step_bps: float = 1.0
    volume_in_quote: bool = False  # the file's volume is in the quote currency (Yahoo crypto)
    zero_volume_fills: bool = True  # a zero-volume bar is missing data, not an empty market
    ml: bool = False
    baselines: bool = True

    def validate(self) -> None:
        if not (self.cash > 0 and math.isfinite(self.cash)):
            raise CouncilInputError("cash must be a positive number")
        for name in ("fee_bps", "slippage_bps", "book_step_bps"):
            value = getattr(self, name)
            if not (0 <= value < 10_000):
                raise CouncilInputError(f"{name} must be between 0 and 10000")
        if self.escalated not in ESCALATION_RULES:
            raise CouncilInputError(f"escalated must be one of {', '.join(ESCALATION_RULES)}")
        if not 0 < self.participation <= 1:
            raise CouncilInputError("participation must be greater than 0 and at most 1")
        if self.book_levels < 1:
            raise CouncilInputError("book_levels must be at least 1")
        validate_weights(self.weights)
        from hilo.packs.council.consensus import check_threshold

        self.threshold = check_threshold(self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {"cash": self.cash, "fee_bps": self.fee_bps, "slippage_bps": self.slippage_bps,
                "threshold": self.threshold, "weights": self.weights, "limits": self.limits.to_dict(),
                "rules": self.rules, "escalated": self.escalated, "participation": self.participation,
                "book_levels": self.book_levels, "book_step_bps": self.book_step_bps,
                "volume_in_quote": self.volume_in_quote, "zero_volume_fills": self.zero_volume_fills,
                "ml": self.ml, "baselines": self.baselines}


@dataclass(slots=True)
class DecisionRecord:
    """One bar's decision and what the edge did with it. In JSON a vote is
    ``role: [recommendation, confidence]`` (the weights are in the config): 8,689 decisions of
    seven votes each stay a few megabytes."""

    index: int
    decision: Decision
    status: str
    order_id: str | None = None
    limit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.decision
        return {"index": self.index, "time": d.time.isoformat(), "action": d.action,
                "confidence": round(float(d.confidence), 4), "outcome": d.outcome,
                "size_pct": d.size_pct,
                "votes": {role: [v.get("recommendation"), v.get("confidence")] for role, v in (d.votes or {}).items()},
                "scores": d.scores,
                "model_calls": d.model_calls, "status": self.status, "order_id": self.order_id,
                "limit": self.limit}


@dataclass(slots=True)
class Trade:
    """A round trip: from flat to a position and back to flat (partial sells included)."""

    entry_index: int
    entry_time: datetime
    cost: float = 0.0  # what the buys paid, fees included
    proceeds: float = 0.0  # what the sells returned, fees deducted
    fees: float = 0.0
    bought: float = 0.0  # base quantity bought over the trade
    orders: int = 0
    exit_index: int | None = None
    exit_time: datetime | None = None
    pnl: float = 0.0
    open: bool = True

    @property
    def return_pct(self) -> float:
        return self.pnl / self.cost if self.cost > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"entry_index": self.entry_index, "entry_time": self.entry_time.isoformat(),
                "exit_index": self.exit_index, "exit_time": self.exit_time.isoformat() if self.exit_time else None,
                "quantity": self.bought, "cost": self.cost, "proceeds": self.proceeds, "fees": self.fees,
                "pnl": self.pnl, "return_pct": self.return_pct, "orders": self.orders, "open": self.open}


@dataclass
class Run:
    """One strategy replayed over the frame."""

    name: str
    equity: np.ndarray  # at each close
    quantity: np.ndarray  # held at each close
    orders: list[OrderResult]
    trades: list[Trade]
    decisions: list[DecisionRecord]
    metrics: dict[str, Any]
    seconds: float


@dataclass
class BacktestResult:
    frame: MarketFrame
    config: BacktestConfig
    council: Run
    baselines: dict[str, Run]
    source: str
    strategy: str
    periods_per_year: float
    ml: dict[str, Any] | None
    timings: dict[str, float]
    weights: dict[str, float] = field(default_factory=dict)  # the effective assistant_weights


# --- time and annualisation -------------------------------------------------------------------

def infer_timeframe(bars: pd.DataFrame) -> str:
    """The timeframe label closest to the data's median bar spacing (``1d`` for stock days)."""
    if len(bars) < 2:
        return "1d"
    step = float(np.median(np.diff(bars.index.as_unit("s").asi8)))  # whatever unit pandas stores
    return min(TIMEFRAME_SECONDS, key=lambda k: abs(math.log(TIMEFRAME_SECONDS[k] / max(step, 1.0))))


def periods_per_year(timeframe: str, times: pd.DatetimeIndex | None = None) -> float:
    """Bars in a year for annualising: nominal from the timeframe, the calendar's count when the
    data shows markets closing (fewer bars than nominal over at least 30 days)."""
    seconds = TIMEFRAME_SECONDS.get(timeframe)
    nominal = YEAR_SECONDS / seconds if seconds else 252.0
    if times is not None and len(times) > 2:
        span = (times[-1] - times[0]).total_seconds()
        if span >= 30 * 86400:
            observed = (len(times) - 1) / (span / YEAR_SECONDS)
            if observed < 0.9 * nominal:
                return observed
    return nominal


# --- metrics ----------------------------------------------------------------------------------

def period_returns(equity: np.ndarray, initial: float) -> np.ndarray:
    prev = np.concatenate(([initial], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev > 0, equity / prev - 1.0, 0.0)
    return r


def sharpe(returns: np.ndarray, ppy: float) -> float | None:
    """Mean over standard deviation (ddof 1) of period returns, times sqrt(periods a year);
    risk-free rate 0. None when undefined (fewer than 2 returns or no variation)."""
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    return None if sd <= 0 else float(np.mean(returns)) / sd * math.sqrt(ppy)


def sortino(returns: np.ndarray, ppy: float) -> float | None:
    """Mean over downside deviation (root mean square of the negative returns over all
    periods), annualised; None when there is no downside."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return None if downside <= 0 else float(np.mean(returns)) / downside * math.sqrt(ppy)


def max_drawdown(equity: np.ndarray, initial: float) -> float:
    """The largest fall from a running peak (the starting cash counts as the first peak), 0..1."""
    if len(equity) == 0:
        return 0.0
    peaks = np.maximum.accumulate(np.concatenate(([initial], equity)))
    return float(np.max(1.0 - np.concatenate(([initial], equity)) / peaks))


def cagr(final: float, initial: float, periods: int, ppy: float) -> float | None:
    years = periods / ppy
    if years <= 0 or initial <= 0:
        return None
    if final <= 0:
        return -1.0
    return (final / initial) ** (1.0 / years) - 1.0


def compute_metrics(equity: np.ndarray, quantity: np.ndarray, initial: float, ppy: float,
                    trades: list[Trade], orders: list[OrderResult]) -> dict[str, Any]:
    returns = period_returns(equity, initial)
    closed = [t for t in trades if not t.open]
    wins = sum(1 for t in closed if t.pnl > 0)
    final = float(equity[-1]) if len(equity) else initial
    executed = [o for o in orders if o.status in (FILLED, PARTIALLY_FILLED)]
    return {
        "initial_cash": initial,
        "final_equity": final,
        "total_return": final / initial - 1.0,
        "cagr": cagr(final, initial, len(equity), ppy),
        "sharpe": sharpe(returns, ppy),
        "sortino": sortino(returns, ppy),
        "max_drawdown": max_drawdown(equity, initial),
        "win_rate": (wins / len(closed)) if closed else None,
        "exposure": float(np.mean(quantity > 0)) if len(quantity) else 0.0,
        "trades": len(closed),
        "open_trade": any(t.open for t in trades),
        "orders": len(executed),
        "orders_partial": sum(1 for o in executed if o.status == PARTIALLY_FILLED),
        "orders_rejected": sum(1 for o in orders if o not in executed),
        "rejected_by_limit": _count_limits(orders),
        "fees_paid": float(sum(o.fee for o in orders)),
        "bars": len(equity),
    }


def _count_limits(orders: list[OrderResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for o in orders:
        if o.limit:
            out[o.limit] = out.get(o.limit, 0) + 1
    return dict(sorted(out.items()))


# --- baselines --------------------------------------------------------------------------------

class SignalStrategy:
    """A classic rule over indicator values: in the market while :meth:`want` says BUY, out when
    it says SELL. :meth:`signals` is the same rule over the whole series at once (+1 in, -1 out,
    0 no opinion), which the engine reads instead of building a snapshot per bar; a test checks
    that both give the same run."""

    name = "signal"
    label = ""

    def want(self, s: Snapshot) -> str:
        raise NotImplementedError

    def signals(self, frame: MarketFrame) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, s: Snapshot) -> Decision:
        holding = s.portfolio is not None and s.portfolio.quantity > 0
        action = self.want(s)
        if (action == BUY and holding) or (action == SELL and not holding):
            action = HOLD
        return Decision(symbol=s.symbol, time=s.time, action=action, confidence=1.0, consensus_reached=True,
                        outcome="hold" if action == HOLD else "execute", votes={}, rounds=[], scores={},
                        reasoning=self.label, size_pct=0.0 if action == HOLD else 1.0)


def _above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """+1 where a > b, -1 where a <= b, 0 while either is NaN (warming up)."""
    out = np.where(a > b, 1, -1).astype(np.int8)
    out[np.isnan(a) | np.isnan(b)] = 0
    return out


class BuyAndHold(SignalStrategy):
    name, label = "buy_and_hold", "Comprar y mantener"

    def want(self, s: Snapshot) -> str:
        return BUY

    def signals(self, frame: MarketFrame) -> np.ndarray:
        return np.ones(len(frame), dtype=np.int8)


def _up(a: float, b: float) -> bool | None:
    if a != a or b != b:  # NaN while warming up
        return None
    return a > b


class SmaCross(SignalStrategy):
    name, label = "sma_cross", "Cruce de medias SMA 50/200"

    def want(self, s: Snapshot) -> str:
        up = _up(s.values["sma_50"], s.values["sma_200"])
        return HOLD if up is None else (BUY if up else SELL)

    def signals(self, frame: MarketFrame) -> np.ndarray:
        return _above(frame.columns["sma_50"], frame.columns["sma_200"])


class MacdCross(SignalStrategy):
    name, label = "macd_cross", "Cruce MACD / señal"

    def want(self, s: Snapshot) -> str:
        up = _up(s.values["macd"], s.values["macd_signal"])
        return HOLD if up is None else (BUY if up else SELL)

    def signals(self, frame: MarketFrame) -> np.ndarray:
        return _above(frame.columns["macd"], frame.columns["macd_signal"])


class RsiReversion(SignalStrategy):
    name, label = "rsi", "RSI 30/70"

    def want(self, s: Snapshot) -> str:
        rsi = s.values["rsi_14"]
        if rsi != rsi:
            return HOLD
        return BUY if rsi < 30 else SELL if rsi > 70 else HOLD

    def signals(self, frame: MarketFrame) -> np.ndarray:
        rsi = frame.columns["rsi_14"]
        with np.errstate(invalid="ignore"):
            return np.where(rsi < 30, 1, np.where(rsi > 70, -1, 0)).astype(np.int8)


BASELINES: dict[str, type[SignalStrategy]] = {c.name: c for c in (BuyAndHold, SmaCross, MacdCross, RsiReversion)}
BASELINE_LABELS = {name: cls.label for name, cls in BASELINES.items()}


def default_strategy(config: BacktestConfig) -> tuple[Strategy, str]:
    """The council's deterministic path with the config's weights and threshold."""
    from hilo.packs.council.consensus import DeterministicCouncil

    return DeterministicCouncil(weights=config.weights, threshold=config.threshold).decide, "council"


# --- the simulation core ----------------------------------------------------------------------

def simulate(frame: MarketFrame, strategy: Strategy, config: BacktestConfig, *, limits: RiskLimits | None = None,
             broker: PaperBroker | None = None, name: str = "council", record: bool = True,
             progress: Callable[[int, int], None] | None = None, ppy: float | None = None,
             fast_signals: bool = True) -> Run:
    """Replay ``frame`` through ``strategy`` (module docstring for the timing rules). A strategy
    with ``signals(frame)`` (the baselines) is read from that series when decisions are not
    recorded (``fast_signals``): no snapshot per bar, the same orders through the same broker."""
    started = time.perf_counter()
    limits = limits if limits is not None else config.limits
    broker = broker or broker_for("backtest", live_enabled=False, fee_bps=config.fee_bps,
                                  slippage_bps=config.slippage_bps)
    n = len(frame)
    opens = frame.open.tolist()
    closes = frame.close.tolist()
    volumes = frame.bars["volume"].to_numpy(dtype=float).tolist()
    times = frame._times
    days = (frame.bars.index.as_unit("s").asi8 // 86_400).tolist()  # UTC days
    symbol = frame.symbol
    rules = config.rules
    execute_escalated = config.escalated == "execute"
    book_args = {"participation": config.participation, "levels": config.book_levels,
                 "step_bps": config.book_step_bps, "volume_in_quote": config.volume_in_quote,
                 "zero_volume_fills": config.zero_volume_fills}
    cash = float(config.cash)
    pf = PortfolioState(cash=cash, quantity=0.0, avg_price=0.0, peak_equity=cash, day_start_equity=cash)
    equity = np.empty(n)
    held = np.empty(n)
    orders: list[OrderResult] = []
    trades: list[Trade] = []
    decisions: list[DecisionRecord] = []
    trade: Trade | None = None
    pending: tuple[OrderRequest, DecisionRecord | None] | None = None
    last_equity = cash
    day = days[0] if n else 0
    step = max(1, n // 100)
    fast = getattr(strategy, "signals", None) if fast_signals and not record else None
    signals = fast(frame).tolist() if fast is not None else None
    for i in range(n):
        if days[i] != day:
            day = days[i]
            pf.day_start_equity = last_equity
        if pending is not None:
            request, rec = pending
            pending = None
            before = pf.quantity
            result = broker.execute(request, pf, OrderBook.synthetic_for_bar(opens[i], volumes[i], **book_args),
                                    limits, at=times[i])
            orders.append(result)
            filled = result.filled_quantity
            if rec is not None:
                rec.order_id = result.order_id
                rec.limit = result.limit
                rec.status = (EXECUTED if result.status == FILLED else PARTIAL if result.status == PARTIALLY_FILLED
                              else REJECTED)
            if filled > 0:
                if request.side == BUY:
                    if trade is None:
                        trade = Trade(entry_index=i, entry_time=times[i])
                        trades.append(trade)
                    trade.cost += result.notional + result.fee
                    trade.bought += filled
                elif trade is not None:
                    trade.proceeds += result.notional - result.fee
                if trade is not None:
                    trade.fees += result.fee
                    trade.orders += 1
                    if before > 0 and pf.quantity <= 0:
                        trade.exit_index, trade.exit_time, trade.open = i, times[i], False
                        trade.pnl = trade.proceeds - trade.cost
                        trade = None
        close = closes[i]
        eq = pf.cash + pf.quantity * close
        equity[i] = eq
        held[i] = pf.quantity
        last_equity = eq
        if eq > pf.peak_equity:
            pf.peak_equity = eq
        if signals is not None:  # a baseline's rule, read from its precomputed series
            sig = signals[i]
            d = None
            if sig > 0 and pf.quantity <= 0:
                action, size, outcome = BUY, 1.0, "execute"
            elif sig < 0 and pf.quantity > 0:
                action, size, outcome = SELL, 1.0, "execute"
            else:
                action, size, outcome = HOLD, 0.0, "hold"
        else:
            view = PortfolioState(pf.cash, pf.quantity, pf.avg_price, pf.peak_equity, pf.day_start_equity)
            d = strategy(frame.snapshot(i, view, limits, rules))
            action, size, outcome = d.action, d.size_pct, d.outcome
        status = HELD
        request = None
        if action == HOLD or outcome == "hold":
            pass
        elif outcome == "escalate" and not execute_escalated:
            status = ESCALATED_SKIPPED
        elif i == n - 1:
            status = NO_NEXT_BAR
        elif action == BUY:
            qty = size * eq / close
            if qty > 0:
                request = OrderRequest(symbol, BUY, qty, client_id=f"{name}-{i}")
            else:
                status = NO_SIZE
        elif action == SELL:
            qty = size * pf.quantity
            if pf.quantity <= 0:
                status = NO_POSITION
            elif qty > 0:
                request = OrderRequest(symbol, SELL, qty, client_id=f"{name}-{i}")
            else:
                status = NO_SIZE
        rec = DecisionRecord(i, d, status) if record and d is not None else None
        if rec is not None:
            decisions.append(rec)
        if request is not None:
            pending = (request, rec)
        if progress is not None and i % step == 0:
            progress(i, n)
    if trade is not None and n:
        trade.pnl = trade.proceeds + pf.quantity * closes[-1] - trade.cost
    if progress is not None:
        progress(n, n)
    seconds = time.perf_counter() - started
    ppy = ppy or periods_per_year(frame.timeframe, frame.bars.index)
    metrics = compute_metrics(equity, held, cash, ppy, trades, orders)
    metrics["bars_per_second"] = n / seconds if seconds > 0 else None
    return Run(name, equity, held, orders, trades, decisions, metrics, seconds)


def run_backtest(frame: MarketFrame, config: BacktestConfig | None = None, *, strategy: Strategy | None = None,
                 strategy_name: str | None = None, source: str = "", progress: Callable[[int, int], None] | None = None,
                 ) -> BacktestResult:
    """The council (or ``strategy``) and the baselines over ``frame``; ``config.ml`` trains the
    ensemble walk-forward first, so that every snapshot carries the prediction of a model that
    saw only earlier bars."""
    config = config or BacktestConfig()
    config.validate()
    if len(frame) < 2:
        raise CouncilInputError("a backtest needs at least 2 bars")
    timings: dict[str, float] = {}
    ml_info = None
    if config.ml:
        from hilo.packs.council import ml

        t0 = time.perf_counter()
        wf = ml.walk_forward(frame)
        timings["ml"] = time.perf_counter() - t0
        ml_info = {"trainings": len(wf.trainings), "first_prediction": wf.first_prediction,
                   "horizon": wf.horizon, "retrain_every": wf.retrain_every, "seconds": wf.seconds,
                   "features": list(wf.feature_names)}
    if strategy is None:
        strategy, default_name = default_strategy(config)
        strategy_name = strategy_name or default_name
    ppy = periods_per_year(frame.timeframe, frame.bars.index)
    total = len(frame) * (1 + (len(BASELINES) if config.baselines else 0))
    done_before = [0]

    def step(done: int, _n: int) -> None:
        if progress is not None:
            progress(done_before[0] + done, total)

    council = simulate(frame, strategy, config, name="council", progress=step, ppy=ppy)
    timings["council"] = council.seconds
    baselines: dict[str, Run] = {}
    if config.baselines:
        t0 = time.perf_counter()
        for bname, cls in BASELINES.items():
            done_before[0] += len(frame)
            baselines[bname] = simulate(frame, cls(), config, limits=NO_LIMITS, name=bname, record=False,
                                        progress=step, ppy=ppy)
        timings["baselines"] = time.perf_counter() - t0
    return BacktestResult(frame=frame, config=config, council=council, baselines=baselines, source=source,
                          strategy=strategy_name or getattr(strategy, "__name__", "strategy"),
                          periods_per_year=ppy, ml=ml_info, timings=timings,
                          weights=validate_weights(config.weights))
