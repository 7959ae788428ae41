"""A bar series with everything the members read, computed once for the whole series.

:class:`MarketFrame` holds the bars, the indicator columns and, when an ensemble is trained,
its walk-forward predictions. :meth:`MarketFrame.snapshot` builds what the council sees at one
bar from plain floats, so a backtest and the live path build snapshots the same way and a
snapshot at bar ``i`` never reads a bar after ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hilo.packs.council import indicators
from hilo.packs.council.core import PortfolioState, RiskLimits, Snapshot


@dataclass
class MarketFrame:
    symbol: str
    timeframe: str
    bars: pd.DataFrame
    columns: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> per-bar values (NaN: none)
    sentiment: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, bars: pd.DataFrame, symbol: str, timeframe: str, *,
              sentiment: dict[str, Any] | None = None) -> MarketFrame:
        frame = cls(symbol, timeframe, bars, indicators.compute(bars), sentiment=dict(sentiment or {}))
        frame._times = bars.index.to_pydatetime()
        frame._close = bars["close"].to_numpy(dtype=float)
        frame._open = bars["open"].to_numpy(dtype=float)
        frame._names = tuple(frame.columns)
        frame._matrix = np.column_stack([frame.columns[n] for n in frame._names]) if frame._names else None
        return frame

    def __len__(self) -> int:
        return len(self.bars)

    @property
    def close(self) -> np.ndarray:
        return self._close

    @property
    def open(self) -> np.ndarray:
        return self._open

    def time(self, i: int):
        return self._times[i]

    def values(self, i: int) -> dict[str, float]:
        return dict(zip(self._names, self._matrix[i].tolist(), strict=True))

    def prediction(self, i: int) -> dict[str, float] | None:
        if not self.predictions:
            return None
        out = {name: float(col[i]) for name, col in self.predictions.items()}
        return None if all(v != v for v in out.values()) else out  # all NaN: no model yet at this bar

    def snapshot(self, i: int, portfolio: PortfolioState | None = None, limits: RiskLimits | None = None,
                 rules: list[dict[str, Any]] | None = None) -> Snapshot:
        if not 0 <= i < len(self):
            raise IndexError(f"bar {i} is outside the series (0..{len(self) - 1})")
        return Snapshot(symbol=self.symbol, timeframe=self.timeframe, index=i, time=self._times[i],
                        price=float(self._close[i]), values=self.values(i), prediction=self.prediction(i),
                        sentiment=self.sentiment, portfolio=portfolio, limits=limits or RiskLimits(),
                        rules=list(rules or []))
