"""The backtest engine: metrics against hand-computed cases, fills at the next bar's open
through the paper broker and the limits at the edge, the escalation rule, the baselines, the
prefix property (a run on the first N bars decides exactly what the whole run decides for them)
and determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hilo.packs.council import bars
from hilo.packs.council.backtest import (
    BASELINES,
    ESCALATED_SKIPPED,
    EXECUTED,
    NO_NEXT_BAR,
    PARTIAL,
    BacktestConfig,
    cagr,
    infer_timeframe,
    max_drawdown,
    periods_per_year,
    run_backtest,
    sharpe,
    simulate,
    sortino,
)
from hilo.packs.council.broker import NO_LIMITS
from hilo.packs.council.core import BUY, HOLD, SELL, CouncilInputError, Decision, RiskLimits
from hilo.packs.council.frame import MarketFrame


def tiny_frame(opens, closes, volume=1e9, start="2024-01-01", freq="D") -> MarketFrame:
    idx = pd.date_range(start, periods=len(opens), freq=freq, tz="UTC", name="timestamp")
    df = pd.DataFrame({"open": opens, "high": np.maximum(opens, closes) * 1.01,
                       "low": np.minimum(opens, closes) * 0.99, "close": closes,
                       "volume": volume}, index=idx)
    return MarketFrame.build(bars.normalise(df), "X/USD", "1d")


def scripted(plan: dict[int, tuple[str, float, str]]):
    """A strategy that does ``plan[i] = (action, size_pct, outcome)`` at bar i, HOLD otherwise."""
    def strategy(s):
        action, size, outcome = plan.get(s.index, (HOLD, 0.0, "hold"))
        return Decision(symbol=s.symbol, time=s.time, action=action, confidence=0.9, consensus_reached=True,
                        outcome=outcome, votes={"strategist": {"recommendation": action, "confidence": 0.9}},
                        rounds=[], scores={}, reasoning="plan", size_pct=size)
    return strategy


# --- metrics by hand -----------------------------------------------------------------------

def test_sharpe_sortino_drawdown_cagr_by_hand():
    r = np.array([0.01, -0.01, 0.02])
    # mean 0.0066667; sd (ddof 1) = sqrt((0.0033333² + 0.0166667² + 0.0133333²) / 2) = 0.0152753
    assert sharpe(r, 252) == pytest.approx(0.0066667 / 0.0152753 * math.sqrt(252), rel=1e-4)
    r = np.array([0.02, -0.01, 0.03, -0.02])
    # mean 0.005; downside = sqrt((0.01² + 0.02²) / 4) = 0.0111803
    assert sortino(r, 365) == pytest.approx(0.005 / 0.0111803 * math.sqrt(365), rel=1e-4)
    assert sortino(np.array([0.01, 0.02]), 252) is None  # no downside: undefined, not infinite
    assert sharpe(np.array([0.01, 0.01, 0.01]), 252) is None
    assert max_drawdown(np.array([110.0, 99.0, 120.0, 90.0]), 100.0) == pytest.approx(0.25)
    assert max_drawdown(np.array([90.0, 95.0]), 100.0) == pytest.approx(0.10)  # the start is a peak
    assert cagr(121.0, 100.0, 504, 252) == pytest.approx(0.10)


def test_annualisation_follows_the_timeframe_and_the_calendar():
    assert periods_per_year("15m") == pytest.approx(365.25 * 96)
    assert periods_per_year("1d") == pytest.approx(365.25)
    stock = bars.load_dataset("msft-1d").index
    assert 245 < periods_per_year("1d", stock) < 256  # markets close: the calendar's count
    assert periods_per_year("1d", bars.load_dataset("btc-usd-1d").index) == pytest.approx(365.25)
    assert infer_timeframe(bars.load_dataset("btc-usd-15m")) == "15m"
    assert infer_timeframe(bars.load_dataset("msft-1d")) == "1d"


def test_a_round_trip_by_hand_fills_at_the_next_open():
    opens = [100.0, 102.0, 104.0, 110.0, 108.0]
    closes = [101.0, 103.0, 109.0, 107.0, 111.0]
    frame = tiny_frame(opens, closes)
    cfg = BacktestConfig(cash=10_000, fee_bps=10, slippage_bps=0, limits=NO_LIMITS, baselines=False)
    run = simulate(frame, scripted({0: (BUY, 0.5, "execute"), 2: (SELL, 1.0, "execute")}), cfg, ppy=252)
    qty = 0.5 * 10_000 / 101.0  # sized on the decision's close...
    cash = 10_000 - qty * 102.0 * 1.001  # ...filled at the next open, with the fee
    assert [o.time for o in run.orders] == [frame.time(1), frame.time(3)]
    assert run.orders[0].average_price == pytest.approx(102.0)
    assert run.orders[1].average_price == pytest.approx(110.0)
    final_cash = cash + qty * 110.0 * 0.999
    expected = [10_000.0, cash + qty * 103.0, cash + qty * 109.0, final_cash, final_cash]
    assert run.equity.tolist() == pytest.approx(expected)
    m = run.metrics
    assert m["total_return"] == pytest.approx(final_cash / 10_000 - 1)
    assert m["fees_paid"] == pytest.approx(qty * 102.0 * 0.001 + qty * 110.0 * 0.001)
    assert m["exposure"] == pytest.approx(2 / 5) and m["trades"] == 1 and m["win_rate"] == 1.0
    assert run.trades[0].pnl == pytest.approx(final_cash - 10_000)
    assert [d.status for d in run.decisions][:3] == [EXECUTED, "hold", EXECUTED]


def test_a_losing_trade_and_the_last_bar():
    frame = tiny_frame([100.0, 100.0, 90.0, 90.0], [100.0, 95.0, 90.0, 90.0])
    cfg = BacktestConfig(fee_bps=0, slippage_bps=0, limits=NO_LIMITS, baselines=False)
    run = simulate(frame, scripted({0: (BUY, 1.0, "execute"), 1: (SELL, 1.0, "execute"),
                                    3: (BUY, 1.0, "execute")}), cfg, ppy=252)
    assert run.metrics["win_rate"] == 0.0 and run.metrics["trades"] == 1
    assert run.metrics["total_return"] == pytest.approx(-0.10)
    assert run.decisions[3].status == NO_NEXT_BAR and len(run.orders) == 2


def test_the_limits_act_at_the_edge_inside_a_backtest():
    frame = tiny_frame([100.0] * 4, [100.0] * 4)
    cfg = BacktestConfig(fee_bps=0, slippage_bps=0, limits=RiskLimits(max_position_pct=0.25), baselines=False)
    run = simulate(frame, scripted({0: (BUY, 0.9, "execute"), 1: (BUY, 0.5, "execute")}), cfg, ppy=252)
    first, second = run.decisions[0], run.decisions[1]
    assert first.status == PARTIAL and first.limit == "max_position_pct"
    assert run.orders[0].filled_quantity == pytest.approx(25.0)
    assert second.status == "rejected" and second.limit == "max_position_pct"
    assert run.metrics["rejected_by_limit"] == {"max_position_pct": 2}


def test_a_thin_bar_fills_only_its_share_of_the_volume():
    frame = tiny_frame([100.0] * 3, [100.0] * 3, volume=100.0)  # 10 % of 100 units
    cfg = BacktestConfig(fee_bps=0, slippage_bps=0, limits=NO_LIMITS, baselines=False)
    run = simulate(frame, scripted({0: (BUY, 1.0, "execute")}), cfg, ppy=252)
    assert run.orders[0].filled_quantity == pytest.approx(10.0)
    assert run.orders[0].cancelled_quantity == pytest.approx(90.0)
    assert run.decisions[0].status == PARTIAL


def test_escalated_decisions_are_not_executed_unless_configured():
    frame = tiny_frame([100.0] * 3, [100.0] * 3)
    plan = scripted({0: (BUY, 0.2, "escalate")})
    skip = simulate(frame, plan, BacktestConfig(baselines=False), ppy=252)
    assert skip.decisions[0].status == ESCALATED_SKIPPED and skip.orders == []
    take = simulate(frame, plan, BacktestConfig(baselines=False, escalated="execute"), ppy=252)
    assert take.decisions[0].status == EXECUTED and len(take.orders) == 1
    with pytest.raises(CouncilInputError):
        BacktestConfig(escalated="maybe").validate()
    with pytest.raises(CouncilInputError):
        BacktestConfig(weights={"oracle": 1}).validate()


# --- real data: council, baselines, prefix, determinism --------------------------------------

@pytest.fixture(scope="module")
def btc_daily():
    return bars.load_dataset("btc-usd-1d")


@pytest.fixture(scope="module")
def btc_result(btc_daily):
    frame = MarketFrame.build(btc_daily, "BTC/USD", "1d")
    return run_backtest(frame, BacktestConfig(volume_in_quote=True), source="dataset:btc-usd-1d")


def test_the_council_trades_at_the_next_open_with_slippage(btc_result):
    frame, run, cfg = btc_result.frame, btc_result.council, btc_result.config
    assert btc_result.strategy == "council" and len(run.decisions) == len(frame)
    assert run.orders, "the council traded on two years of bitcoin"
    by_id = {d.order_id: d for d in run.decisions if d.order_id}
    slip = cfg.slippage_bps / 1e4
    for order in run.orders:
        decided = by_id[order.order_id].index
        assert order.time == frame.time(decided + 1)
        o = frame.open[decided + 1]
        if order.filled_quantity > 0:
            low, high = (o * (1 + slip), o * (1 + slip) * 1.0005) if order.request.side == BUY else \
                (o * (1 - slip) * 0.9995, o * (1 - slip))
            assert low - 1e-9 <= order.average_price <= high + 1e-9
            assert order.fee == pytest.approx(order.notional * cfg.fee_bps / 1e4)
    assert (run.quantity >= 0).all()


def test_baselines_run_through_the_same_engine(btc_result):
    frame = btc_result.frame
    assert set(btc_result.baselines) == set(BASELINES)
    bh = btc_result.baselines["buy_and_hold"]
    assert len(bh.orders) == 1 and bh.orders[0].time == frame.time(1) and bh.orders[0].mode == "paper"
    fee, slip = 10 / 1e4, 5 / 1e4
    # all in at the second bar's open: the cash buys qty at open*(1+slip)*(1+fee)
    expected = frame.close[-1] / (frame.open[1] * (1 + slip) * (1 + fee)) - 1
    assert bh.metrics["total_return"] == pytest.approx(expected, rel=1e-9)
    rsi = btc_result.baselines["rsi"]
    values = frame.columns["rsi_14"]
    times = {frame.time(i): i for i in range(len(frame))}
    for o in rsi.orders:
        decided = times[o.time] - 1
        assert (values[decided] < 30) if o.request.side == BUY else (values[decided] > 70)
    sma = btc_result.baselines["sma_cross"]
    assert sma.orders and all(times[o.time] >= 200 for o in sma.orders)  # SMA 200 warms up first
    for run in btc_result.baselines.values():
        assert run.metrics["fees_paid"] > 0 and run.metrics["bars"] == len(frame)


def test_prefix_property_first_n_bars_decide_the_same(btc_daily, btc_result):
    n = 400
    short = run_backtest(MarketFrame.build(btc_daily.iloc[:n], "BTC/USD", "1d"),
                         BacktestConfig(volume_in_quote=True, baselines=False))
    full = btc_result.council.decisions[:n]
    part = short.council.decisions
    assert len(part) == n
    for a, b in zip(part, full, strict=True):
        assert (a.decision.time, a.decision.action, a.decision.confidence, a.decision.outcome,
                a.decision.size_pct, a.decision.votes) == \
               (b.decision.time, b.decision.action, b.decision.confidence, b.decision.outcome,
                b.decision.size_pct, b.decision.votes)
    assert [d.status for d in part[:-1]] == [d.status for d in full[:n - 1]]
    assert np.array_equal(short.council.equity, btc_result.council.equity[:n])
    assert sum(d.decision.action != HOLD for d in part) > 5  # the property is about real decisions


def test_prefix_property_with_walk_forward_ml():
    data = bars.load_dataset("btc-usd-15m").iloc[:2600]
    cfg = BacktestConfig(volume_in_quote=True, baselines=False, ml=True)
    full = run_backtest(MarketFrame.build(data, "BTC/USD", "15m"), cfg)
    short = run_backtest(MarketFrame.build(data.iloc[:2100], "BTC/USD", "15m"),
                         BacktestConfig(volume_in_quote=True, baselines=False, ml=True))
    assert full.ml["trainings"] >= 2 and short.ml["trainings"] >= 2
    a = [(d.decision.action, d.decision.confidence, d.decision.votes) for d in short.council.decisions]
    b = [(d.decision.action, d.decision.confidence, d.decision.votes) for d in full.council.decisions[:2100]]
    assert a == b
    assert np.array_equal(short.council.equity, full.council.equity[:2100])


def test_a_run_is_deterministic(btc_daily, btc_result):
    again = run_backtest(MarketFrame.build(btc_daily, "BTC/USD", "1d"), BacktestConfig(volume_in_quote=True))
    assert [d.to_dict() for d in again.council.decisions] == [d.to_dict() for d in btc_result.council.decisions]
    assert [o.to_dict() for o in again.council.orders] == [o.to_dict() for o in btc_result.council.orders]
    strip = ("bars_per_second",)
    assert {k: v for k, v in again.council.metrics.items() if k not in strip} == \
           {k: v for k, v in btc_result.council.metrics.items() if k not in strip}
    for name, run in again.baselines.items():
        assert np.array_equal(run.equity, btc_result.baselines[name].equity)


def test_weights_and_threshold_change_the_council(btc_daily, btc_result):
    frame = MarketFrame.build(btc_daily, "BTC/USD", "1d")
    strict = run_backtest(frame, BacktestConfig(volume_in_quote=True, threshold=0.95, baselines=False))
    acted = sum(d.status == EXECUTED for d in btc_result.council.decisions)
    assert sum(d.status == EXECUTED for d in strict.council.decisions) < acted


def test_the_day_starts_at_the_last_close_before_midnight_utc():
    """max_daily_loss_pct compares with the equity at the previous day's last close."""
    opens = [100.0] * 8
    closes = [100.0, 100.0, 100.0, 90.0, 80.0, 80.0, 80.0, 80.0]
    idx_frame = tiny_frame(opens, closes, start="2024-01-01 12:00", freq="6h")  # 4 bars a day
    seen = []

    def strategy(s):
        seen.append(s.portfolio.day_start_equity)
        return scripted({0: (BUY, 1.0, "execute")})(s)

    cfg = BacktestConfig(fee_bps=0, slippage_bps=0, limits=NO_LIMITS, baselines=False)
    run = simulate(idx_frame, strategy, cfg, ppy=365 * 4)
    # bars 0-1 are on Jan 1st (12:00, 18:00), 2-5 on the 2nd, 6-7 on the 3rd
    assert seen[:2] == [10_000.0, 10_000.0]
    assert seen[2:6] == [pytest.approx(run.equity[1])] * 4
    assert seen[6:] == [pytest.approx(run.equity[5])] * 2


def test_baselines_read_from_their_series_trade_as_bar_by_bar(btc_result):
    """The fast path (a baseline's precomputed signals) and the snapshot path give the same run."""
    frame, cfg = btc_result.frame, btc_result.config
    for name, cls in BASELINES.items():
        slow = simulate(frame, cls(), cfg, limits=NO_LIMITS, name=name, record=False, fast_signals=False)
        fast = btc_result.baselines[name]
        assert np.array_equal(slow.equity, fast.equity), name
        assert [o.to_dict() for o in slow.orders] == [o.to_dict() for o in fast.orders], name
