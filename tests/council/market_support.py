"""Bars for the market-data tests: a seeded random walk in the bar frame shape."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

HOUR_MS = 3_600_000


def walk(n: int, *, end_ms: int | None = None, step_ms: int = HOUR_MS, seed: int = 7,
         start_price: float = 30_000.0) -> pd.DataFrame:
    """``n`` bars ``step_ms`` apart whose last bar opens at ``end_ms`` (default: the last whole
    step that has already closed, so every bar is closed)."""
    if end_ms is None:
        now = int(time.time() * 1000)
        end_ms = (now // step_ms) * step_ms - step_ms
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[start_price], close[:-1]])
    spread = np.abs(rng.normal(0, 0.004, n)) * close
    index = pd.DatetimeIndex(pd.to_datetime([end_ms - (n - 1 - i) * step_ms for i in range(n)], unit="ms",
                                            utc=True), name="timestamp")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close,
                         "volume": rng.uniform(1, 50, n)}, index=index)


def epoch_ms(ts: pd.Timestamp) -> int:
    return round(ts.timestamp() * 1000)


def same_bars(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal times and prices (the fake sends 8 decimals, as Binance does)."""
    assert [epoch_ms(t) for t in a.index] == [epoch_ms(t) for t in b.index]
    np.testing.assert_allclose(a[["open", "high", "low", "close", "volume"]].to_numpy(),
                               b[["open", "high", "low", "close", "volume"]].to_numpy(), rtol=0, atol=1e-8)
