"""The seed's ``FeatureEngineer``: the ensemble's inputs, built from a :class:`MarketFrame`'s
indicator columns for the whole series at once (vectorised numpy, no per-bar Python loop).

Groups, as the seed names them (section 5.1):

* **technical**: ``rsi_14``, ``macd_signal``, ``bb_position``, ``ema_cross``,
  ``volume_sma_ratio``, ``price_sma_ratio``, plus returns and volatility that a price-only model
  needs (``return_1``, ``return_5``, ``return_20``, ``volatility_20``, ``atr_pct``, ``adx_14``,
  ``stoch_k``). Every value is price-free (ratios, oscillators, returns): a model trained when
  BTC cost 30,000 must read the same numbers when it costs 60,000, so MACD and ATR are divided by
  the close.
* **fundamental**: ``news_sentiment``, ``social_sentiment``, ``market_cap_change``. hilo has no
  news or social feed offline, and a column that is constant (or invented) teaches a model
  nothing and hides that fact, so these columns exist **only** when the caller passes a
  per-bar series for them (``sentiment=``, or arrays of the frame's length in
  ``frame.sentiment``). The caller vouches that the value at bar ``i`` was known at bar ``i``.
* **temporal**: ``hour_of_day`` (intraday timeframes only: on daily bars it is a constant),
  ``day_of_week``, ``volatility_regime`` (the 20-bar volatility over its own 100-bar average:
  above 1, a more agitated market than usual).
* **interactions**: products the trees would otherwise need several splits to find
  (``rsi_x_regime``, ``bb_x_volume``, ``trend_strength`` = EMA cross times ADX,
  ``momentum_per_vol`` = 5-bar return over volatility).

Causality: every indicator column is causal (TA-Lib runs forward from the first bar), and every
operation here is either element-wise at the same bar or a trailing window (TA-Lib's SMA/STDDEV).
So the value at bar ``i`` uses only bars ``0..i``; ``tests/council/test_no_lookahead.py`` changes
every bar after ``t`` and checks that rows ``<= t`` do not move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import talib

from hilo.packs.council.frame import MarketFrame

TECHNICAL = ("rsi_14", "macd_signal", "bb_position", "ema_cross", "volume_sma_ratio", "price_sma_ratio",
             "return_1", "return_5", "return_20", "volatility_20", "atr_pct", "adx_14", "stoch_k")
FUNDAMENTAL = ("news_sentiment", "social_sentiment", "market_cap_change")
TEMPORAL = ("hour_of_day", "day_of_week", "volatility_regime")
INTERACTIONS = ("rsi_x_regime", "bb_x_volume", "trend_strength", "momentum_per_vol")

DESCRIPTIONS = {
    "rsi_14": "RSI (14), 0..100",
    "macd_signal": "MACD signal line (9) as a fraction of the close",
    "bb_position": "position inside the Bollinger band (0 lower, 1 upper)",
    "ema_cross": "EMA 12 above EMA 26 (1) or below (-1)",
    "volume_sma_ratio": "volume over its 20-bar SMA",
    "price_sma_ratio": "close over its 20-bar SMA",
    "return_1": "return of the last bar",
    "return_5": "return of the last 5 bars",
    "return_20": "return of the last 20 bars",
    "volatility_20": "standard deviation of bar returns over 20 bars",
    "atr_pct": "ATR (14) as a fraction of the close",
    "adx_14": "ADX (14), trend strength",
    "stoch_k": "Stochastic %K (14, 3)",
    "news_sentiment": "news sentiment (-1..1), only with a news feed",
    "social_sentiment": "social sentiment (-1..1), only with a social feed",
    "market_cap_change": "market capitalisation change, only with a fundamentals feed",
    "hour_of_day": "UTC hour of the bar's open (intraday timeframes only)",
    "day_of_week": "UTC day of the week, Monday 0",
    "volatility_regime": "20-bar volatility over its 100-bar average (above 1: more agitated than usual)",
    "rsi_x_regime": "(RSI - 50) times the volatility regime",
    "bb_x_volume": "(Bollinger position - 0.5) times the volume ratio",
    "trend_strength": "EMA cross times ADX: signed trend strength",
    "momentum_per_vol": "5-bar return over the 20-bar volatility",
}

REGIME_WINDOW = 100


@dataclass(frozen=True)
class FeatureSet:
    """The feature matrix of a whole series: row ``i`` is bar ``i``; NaN while warming up.

    ``valid[i]`` says every feature at bar ``i`` is a finite number (the ensemble trains and
    predicts only on valid rows)."""

    names: tuple[str, ...]
    matrix: np.ndarray  # (bars, features), float64
    groups: dict[str, tuple[str, ...]]

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.matrix).all(axis=1)

    def column(self, name: str) -> np.ndarray:
        return self.matrix[:, self.names.index(name)]

    def row(self, i: int) -> dict[str, float]:
        return dict(zip(self.names, self.matrix[i].tolist(), strict=True))


def is_intraday(timeframe: str) -> bool:
    """``15m``, ``1h``... are intraday; ``1d``, ``1w``, ``1M`` are not (an hour is then constant)."""
    tf = (timeframe or "").strip()
    return not tf.endswith(("d", "D", "w", "W", "M", "y", "Y"))


def _sentiment_series(frame: MarketFrame, sentiment: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """The fundamental columns the caller has a real per-bar series for (nothing else)."""
    n = len(frame)
    found: dict[str, np.ndarray] = {}
    for source in (frame.sentiment or {}, sentiment or {}):
        for name in FUNDAMENTAL:
            value = source.get(name)
            if value is None or isinstance(value, (str, bytes, int, float, dict)):
                continue  # a scalar "now" reading is not a series a model can learn from
            arr = np.asarray(value, dtype=np.float64)
            if arr.ndim != 1 or len(arr) != n:
                raise ValueError(f"sentiment series {name!r} has {arr.shape} values; the frame has {n} bars")
            found[name] = arr
    return found


def build(frame: MarketFrame, sentiment: Mapping[str, Any] | None = None) -> FeatureSet:
    """Every feature group for ``frame``; see the module docstring for what each group holds."""
    col = frame.columns
    close = frame.close
    n = len(frame)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rsi_14"] = col["rsi_14"]
        out["macd_signal"] = col["macd_signal"] / close
        out["bb_position"] = col["bb_position"]
        out["ema_cross"] = col["ema_cross"]
        out["volume_sma_ratio"] = col["volume_sma_ratio"]
        out["price_sma_ratio"] = col["price_sma_ratio"]
        out["return_1"] = col["return_1"]
        out["return_5"] = col["return_5"]
        r20 = np.full(n, np.nan)
        if n > 20:
            r20[20:] = close[20:] / close[:-20] - 1.0
        out["return_20"] = r20
        vol = col["volatility_20"]
        out["volatility_20"] = vol
        out["atr_pct"] = col["atr_14"] / close
        out["adx_14"] = col["adx_14"]
        out["stoch_k"] = col["stoch_k"]

        fundamental = _sentiment_series(frame, sentiment)
        out.update(fundamental)

        temporal: list[str] = []
        index = frame.bars.index
        if is_intraday(frame.timeframe):
            out["hour_of_day"] = index.hour.to_numpy(dtype=np.float64)
            temporal.append("hour_of_day")
        out["day_of_week"] = index.day_of_week.to_numpy(dtype=np.float64)
        temporal.append("day_of_week")
        vol_mean = talib.SMA(np.ascontiguousarray(vol), timeperiod=REGIME_WINDOW) if n else vol
        regime = np.where(vol_mean > 0, vol / vol_mean, np.nan)
        regime[np.isnan(vol_mean)] = np.nan
        out["volatility_regime"] = regime
        temporal.append("volatility_regime")

        out["rsi_x_regime"] = (out["rsi_14"] - 50.0) * regime
        out["bb_x_volume"] = (out["bb_position"] - 0.5) * out["volume_sma_ratio"]
        out["trend_strength"] = out["ema_cross"] * out["adx_14"]
        out["momentum_per_vol"] = np.where(vol > 0, out["return_5"] / vol, 0.0)
        out["momentum_per_vol"][np.isnan(vol) | np.isnan(out["return_5"])] = np.nan

    groups = {"technical": TECHNICAL, "fundamental": tuple(n for n in FUNDAMENTAL if n in fundamental),
              "temporal": tuple(temporal), "interactions": INTERACTIONS}
    names = tuple(name for g in groups.values() for name in g)
    matrix = np.empty((n, len(names)), dtype=np.float64)
    for k, name in enumerate(names):
        matrix[:, k] = out[name]
    matrix[~np.isfinite(matrix)] = np.nan  # an inf (a zero divisor) is "no value", like warm-up
    return FeatureSet(names=names, matrix=matrix, groups=groups)
