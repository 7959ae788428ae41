"""Bar frames (bundled data sets, user CSV files, ccxt rows) and the indicators' no-look-ahead
property: a value at bar i is the same whether the series ends at i or goes on, and whatever
the later bars are."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from hilo.packs.council import indicators
from hilo.packs.council.bars import (
    DATASETS,
    BarsError,
    from_ccxt,
    load_dataset,
    normalise,
    read_csv,
)
from tests.council.market_support import walk


def _documented_rows(description: str) -> int:
    match = re.search(r"\(([\d,]+) (?:distinct )?bars", description)
    assert match, description
    return int(match.group(1).replace(",", ""))


@pytest.mark.parametrize("name", list(DATASETS))
def test_bundled_datasets_load_with_their_documented_row_counts(name):
    frame = load_dataset(name)
    assert len(frame) == _documented_rows(DATASETS[name].description)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    values = frame.to_numpy()
    assert np.isfinite(values).all() and (frame[["open", "high", "low", "close"]].to_numpy() > 0).all()
    assert (frame["high"] >= frame[["open", "close", "low"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()


def test_split_adjusted_stocks_have_no_split_crash():
    aapl = load_dataset("aapl-1d")
    # AAPL split 2:1 on 2000-06-21 and 2005-02-28: unadjusted, the close halves on those days
    # (its real one-day crash, -52% on 2000-09-29, stays)
    returns = aapl["close"].pct_change()
    for day in ("2000-06-21", "2005-02-28"):
        assert abs(returns.loc[pd.Timestamp(day, tz="UTC")]) < 0.15, day
    assert returns.loc[pd.Timestamp("2000-09-29", tz="UTC")] == pytest.approx(-0.519, abs=0.001)


def test_load_dataset_gives_copies_and_names_the_bundled_sets():
    a = load_dataset("btc-usd-1d")
    a["close"] = 0.0
    assert (load_dataset("BTC-USD-1d")["close"] > 0).all()
    with pytest.raises(BarsError, match="btc-usd-1d"):
        load_dataset("nope")


CSV = """timestamp,open,high,low,close,volume
2024-01-01T00:00:00Z,100,101,99,100.5,10
2024-01-01T01:00:00Z,100.5,102,100,101.5,11
2024-01-01T02:00:00Z,101.5,103,101,102.5,12
2024-01-01T03:00:00Z,102.5,104,102,103.5,13
"""


def _write(tmp_path, text: str, name: str = "bars.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_csv_reads(tmp_path):
    frame = read_csv(_write(tmp_path, CSV))
    assert len(frame) == 4 and frame["close"].iloc[-1] == 103.5
    assert frame.index[1] == pd.Timestamp("2024-01-01T01:00:00Z")
    semicolons = read_csv(_write(tmp_path, CSV.replace(",", ";"), "semi.csv"))
    pd.testing.assert_frame_equal(frame, semicolons)


@pytest.mark.parametrize("rows", [4, 30_000])  # under and over 1 MB: two read paths
def test_a_csv_with_a_byte_order_mark_reads(tmp_path, rows):
    """Excel's "CSV UTF-8" starts with a BOM (a bug found here: it hid the timestamp column)."""
    start = 1_704_067_200
    lines = "".join(f"{start + i * 60},100,101,99,100.5,{i}\r\n" for i in range(rows))
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufefftimestamp,open,high,low,close,volume\r\n" + lines).encode())
    assert (path.stat().st_size >= 1_000_000) == (rows > 4)
    frame = read_csv(path)
    assert len(frame) == rows and frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("102.5,12", "abc,12"), r"bars.csv: row 3: close 'abc' is not a number"),
    (lambda t: t.replace("2024-01-01T01:00:00Z", "yesterday"), r"row 2: timestamp 'yesterday' is not a date"),
    (lambda t: t.replace(",13\n", ",-13\n"), r"row 4: volume must not be negative"),
    (lambda t: t.replace("100,101,99", "0,101,99"), r"row 1: prices must be greater than 0"),
    (lambda t: t.replace("102.5,104,102", "102.5,101,104"), r"row 4: high is below low"),
    (lambda t: t.replace("2024-01-01T03:00:00Z", "2024-01-01T02:00:00Z"), r"2024-01-01T02:00:00\+00:00 appears twice"),
    (lambda t: t.replace(",volume", ",vol"), r"missing column\(s\) volume"),
    (lambda t: t.replace("timestamp,", "when,"), r"no timestamp column"),
    (lambda t: t.splitlines()[0] + "\n", r"no rows"),
])
def test_a_bad_csv_names_the_row_and_why(tmp_path, edit, message):
    with pytest.raises(BarsError, match=message):
        read_csv(_write(tmp_path, edit(CSV)))


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(BarsError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    (tmp_path / "x.csv").write_bytes(b"\xff\xfe\x00\x00garbage\x00")
    with pytest.raises(BarsError):
        read_csv(tmp_path / "x.csv")


def test_epoch_seconds_and_milliseconds_and_ccxt_rows():
    ms = 1_704_067_200_000  # 2024-01-01
    rows = [[ms + i * 3_600_000, 1.0, 2.0, 0.5, 1.5, 10.0] for i in range(3)]
    frame = from_ccxt(rows)
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC") and len(frame) == 3
    seconds = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    seconds["timestamp"] //= 1000
    pd.testing.assert_index_equal(normalise(seconds).index, frame.index, check_exact=True)
    with pytest.raises(BarsError, match="no bars"):
        from_ccxt([])


# --- indicators -----------------------------------------------------------------------------


def test_every_indicator_is_computed_and_warms_up():
    frame = load_dataset("btc-usd-1d")
    columns = indicators.compute(frame)
    assert set(columns) == set(indicators.NAMES)
    for name, values in columns.items():
        assert len(values) == len(frame), name
        assert np.isfinite(values[indicators.WARMUP:]).all(), name  # a value once warmed up
    assert np.isnan(columns["sma_200"][:199]).all() and np.isfinite(columns["sma_200"][199])
    rsi = columns["rsi_14"][indicators.WARMUP:]
    assert ((rsi >= 0) & (rsi <= 100)).all()


@pytest.mark.parametrize("name", ["btc-usd-1d", "aapl-1d"])
def test_no_look_ahead_indicators_at_bar_i_ignore_later_bars(name):
    frame = load_dataset(name)
    full = indicators.compute(frame)
    for i in (30, 199, 250, len(frame) // 2, len(frame) - 2):
        cut = indicators.compute(frame.iloc[: i + 1])
        changed = frame.copy()
        changed.iloc[i + 1:, :4] *= 1.5  # a different future
        changed.iloc[i + 1:, 4] *= 3
        other = indicators.compute(changed)
        for key in indicators.NAMES:
            np.testing.assert_array_equal(cut[key], full[key][: i + 1], err_msg=f"{key} cut at {i}")
            np.testing.assert_array_equal(other[key][: i + 1], full[key][: i + 1], err_msg=f"{key} at {i}")


def test_no_look_ahead_on_a_random_walk_bar_by_bar():
    frame = walk(260, seed=11)
    full = indicators.compute(frame)
    for i in range(200, 260):
        cut = indicators.compute(frame.iloc[: i + 1])
        assert indicators.row(cut, i) == pytest.approx(indicators.row(full, i), nan_ok=True, rel=0, abs=0)


def test_a_spanish_locale_spreadsheet_csv_reads(tmp_path):
    """Excel in a Spanish locale saves ';' between fields and ',' as the decimal mark."""
    from hilo.packs.council.bars import read_csv

    path = tmp_path / "barras.csv"
    path.write_text("timestamp;open;high;low;close;volume\n"
                    "2024-01-01;100,5;101,25;99,75;100,0;1200\n"
                    "2024-01-02;100,0;102,0;99,5;101,5;900,5\n", encoding="utf-8-sig")
    frame = read_csv(path)
    assert list(frame["open"]) == [100.5, 100.0] and frame["volume"].iloc[1] == 900.5
