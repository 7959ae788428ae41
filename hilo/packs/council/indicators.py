"""The seed's nine indicators (RSI, MACD, Bollinger, EMA, SMA, Stochastic, Williams %R, CCI,
ADX) and the derived values the analysts read, computed by TA-Lib over a whole series at once.

Every value at bar ``i`` depends only on bars ``0..i``: TA-Lib's functions run forward from the
first bar, so the same series cut after bar ``i`` gives the same values up to ``i`` (the
no-look-ahead tests check it). Values are NaN while an indicator warms up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

# name -> what it is, for reports and the assistants' tool output
DESCRIPTIONS = {
    "rsi_14": "RSI (14)", "macd": "MACD (12, 26)", "macd_signal": "MACD signal (9)",
    "macd_hist": "MACD histogram", "macd_hist_prev": "MACD histogram at the bar before", "bb_upper": "Bollinger upper (20, 2)", "bb_middle": "Bollinger middle (20)",
    "bb_lower": "Bollinger lower (20, 2)", "bb_position": "position inside the Bollinger band (0 low, 1 high)",
    "ema_12": "EMA (12)", "ema_26": "EMA (26)", "sma_20": "SMA (20)", "sma_50": "SMA (50)",
    "sma_200": "SMA (200)", "stoch_k": "Stochastic %K (14, 3)", "stoch_d": "Stochastic %D (3)",
    "willr_14": "Williams %R (14)", "cci_20": "CCI (20)", "adx_14": "ADX (14)",
    "atr_14": "ATR (14)", "return_1": "return of the last bar", "return_5": "return of the last 5 bars",
    "volatility_20": "standard deviation of bar returns (20)", "volume_sma_ratio": "volume / its SMA (20)",
    "price_sma_ratio": "close / SMA (20)", "ema_cross": "EMA 12 above EMA 26 (1) or below (-1)",
}
NAMES = tuple(DESCRIPTIONS)
WARMUP = 200  # bars until every indicator has a value (SMA 200)


def compute(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every indicator of :data:`NAMES` over ``bars`` (a frame from :mod:`hilo.packs.council.bars`)."""
    o = np.ascontiguousarray(bars["open"].to_numpy(dtype=np.float64))
    h = np.ascontiguousarray(bars["high"].to_numpy(dtype=np.float64))
    low = np.ascontiguousarray(bars["low"].to_numpy(dtype=np.float64))
    c = np.ascontiguousarray(bars["close"].to_numpy(dtype=np.float64))
    v = np.ascontiguousarray(bars["volume"].to_numpy(dtype=np.float64))
    del o
    out: dict[str, np.ndarray] = {}
    out["rsi_14"] = talib.RSI(c, timeperiod=14)
    out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(c, fastperiod=12, slowperiod=26, signalperiod=9)
    out["macd_hist_prev"] = np.concatenate(([np.nan], out["macd_hist"][:-1])) if len(c) else out["macd_hist"]
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = talib.BBANDS(c, timeperiod=20, nbdevup=2, nbdevdn=2)
    width = out["bb_upper"] - out["bb_lower"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["bb_position"] = np.where(width > 0, (c - out["bb_lower"]) / width, 0.5)
    out["bb_position"][np.isnan(width)] = np.nan
    out["ema_12"] = talib.EMA(c, timeperiod=12)
    out["ema_26"] = talib.EMA(c, timeperiod=26)
    out["sma_20"] = talib.SMA(c, timeperiod=20)
    out["sma_50"] = talib.SMA(c, timeperiod=50)
    out["sma_200"] = talib.SMA(c, timeperiod=200)
    out["stoch_k"], out["stoch_d"] = talib.STOCH(h, low, c, fastk_period=14, slowk_period=3, slowd_period=3)
    out["willr_14"] = talib.WILLR(h, low, c, timeperiod=14)
    out["cci_20"] = talib.CCI(h, low, c, timeperiod=20)
    out["adx_14"] = talib.ADX(h, low, c, timeperiod=14)
    out["atr_14"] = talib.ATR(h, low, c, timeperiod=14)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["return_1"] = _pct_change(c, 1)
        out["return_5"] = _pct_change(c, 5)
        out["volatility_20"] = talib.STDDEV(out["return_1"], timeperiod=20, nbdev=1)
        vol_sma = talib.SMA(v, timeperiod=20)
        out["volume_sma_ratio"] = np.where(vol_sma > 0, v / vol_sma, np.nan)
        out["price_sma_ratio"] = c / out["sma_20"]
    cross = np.sign(out["ema_12"] - out["ema_26"])
    cross[np.isnan(out["ema_26"])] = np.nan
    out["ema_cross"] = cross
    return out


def _pct_change(c: np.ndarray, n: int) -> np.ndarray:
    r = np.full_like(c, np.nan)
    if len(c) > n:
        r[n:] = c[n:] / c[:-n] - 1.0
    return r


def row(columns: dict[str, np.ndarray], i: int) -> dict[str, float]:
    """The values at bar ``i`` as plain floats (NaN kept)."""
    return {name: float(values[i]) for name, values in columns.items()}
