"""No look-ahead in the ML ensemble: what the council sees at bar ``t`` never depends on a bar
after ``t``.

Every bar after ``t`` is changed (prices shifted, prices and volumes scaled, rows shuffled) and
the features and walk-forward predictions at bars ``<= t`` must not move by a single bit; ``t``
is put right on and right before retrain points, where an off-by-one would leak. A run on the
first ``N`` bars of a file must predict what a run on the whole file predicts for those bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hilo.packs.council import features, ml
from hilo.packs.council.bars import load_dataset
from hilo.packs.council.frame import MarketFrame

# small, quick settings: 8 retrains over 3,000 bars
SETTINGS = dict(horizon=8, retrain_every=300, min_train=250, max_train=600)
N_BARS = 3000


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_dataset("btc-usd-15m").iloc[:N_BARS]


@pytest.fixture(scope="module")
def reference(bars):
    frame = MarketFrame.build(bars, "BTC/USD", "15m")
    return frame, features.build(frame), ml.walk_forward(frame, **SETTINGS)


def _changed_after(bars: pd.DataFrame, t: int, how: str) -> pd.DataFrame:
    out = bars.copy()
    tail = out.iloc[t + 1:]
    prices = ["open", "high", "low", "close"]
    if how == "shift":
        out.iloc[t + 1:, [out.columns.get_loc(c) for c in prices]] = tail[prices].to_numpy() + 5000.0
    elif how == "scale":
        out.iloc[t + 1:, [out.columns.get_loc(c) for c in prices]] = tail[prices].to_numpy() * 1.7
        out.iloc[t + 1:, out.columns.get_loc("volume")] = tail["volume"].to_numpy() * 0.3
    elif how == "shuffle":
        order = np.random.default_rng(11).permutation(len(tail))
        out.iloc[t + 1:] = tail.to_numpy()[order]
    else:
        raise AssertionError(how)
    assert not np.array_equal(out["close"].to_numpy()[t + 1:], bars["close"].to_numpy()[t + 1:])
    return out


# right before and right on retrain points (300 * k), and between them
@pytest.mark.parametrize("t", [899, 900, 1507, 2399])
@pytest.mark.parametrize("how", ["shift", "scale", "shuffle"])
def test_changing_the_future_leaves_the_past_unchanged(bars, reference, t, how):
    frame0, feats0, wf0 = reference
    frame = MarketFrame.build(_changed_after(bars, t, how), "BTC/USD", "15m")
    feats = features.build(frame)
    assert np.array_equal(feats.matrix[:t + 1], feats0.matrix[:t + 1], equal_nan=True)
    wf = ml.walk_forward(frame, **SETTINGS)
    for name in ml.PREDICTIONS:
        before, after = wf0.predictions[name], wf.predictions[name]
        assert np.isfinite(before[t]), "the bar under test must have a prediction"
        assert np.array_equal(after[:t + 1], before[:t + 1], equal_nan=True), name
    # and the change is visible later on: the test would catch a model that ignored its input
    later = slice(t + SETTINGS["retrain_every"] + 1, None)
    assert not np.array_equal(wf.predictions["p_up"][later], wf0.predictions["p_up"][later], equal_nan=True)


def test_no_model_is_trained_on_a_label_that_ends_after_the_bar_it_predicts(reference):
    frame, feats, wf = reference
    h = wf.horizon
    trainings = {tr.at: tr for tr in wf.trainings}
    assert len(trainings) >= 5
    for tr in wf.trainings:
        assert tr.at % SETTINGS["retrain_every"] == 0  # anchored at bar 0
        assert tr.label_end == tr.last + h <= tr.at
        assert tr.last - tr.first + 1 <= SETTINGS["max_train"]
        assert tr.samples >= SETTINGS["min_train"]
    predicted = np.flatnonzero(wf.model_at >= 0)
    assert len(predicted) > 1500
    for i in predicted:
        tr = trainings[int(wf.model_at[i])]
        assert tr.at <= i and tr.label_end <= i
    # bars with a prediction are exactly the valid bars from the first retrain point on
    first = wf.trainings[0].at
    assert np.array_equal(np.isfinite(wf.predictions["p_up"]), feats.valid & (np.arange(len(frame)) >= first))


def test_labels_use_only_the_next_h_bars():
    close = np.array([10.0, 11.0, 9.0, 12.0, 12.0, 8.0])
    low = np.array([9.5, 10.0, 8.0, 11.0, 11.5, 7.0])
    labels = ml.make_labels(close, low, 2)
    assert np.array_equal(labels.direction, [0.0, 1.0, 1.0, 0.0, np.nan, np.nan], equal_nan=True)
    assert np.allclose(labels.magnitude[:4], [0.1, 1 / 11, 1 / 3, 1 / 3])
    # risk: the lowest low of bars j+1..j+2 below close[j]
    assert np.allclose(labels.risk[:4], [0.2, 1 - 8 / 11, 0.0, 1 - 7 / 12])
    # the last h labels are unknown, so no training sample can be taken from them
    assert labels.known.tolist() == [True, True, True, True, False, False]


def test_a_prefix_of_the_file_predicts_what_the_whole_file_predicts():
    """The issue's requirement, on the whole 15-minute file with the timeframe's defaults."""
    bars = load_dataset("btc-usd-15m")
    whole = ml.walk_forward(MarketFrame.build(bars, "BTC/USD", "15m"))
    assert np.isfinite(whole.predictions["p_up"]).sum() > 7000
    for n in (1000, 1001, 2999, 5432, len(bars) - 1):
        part = ml.walk_forward(MarketFrame.build(bars.iloc[:n], "BTC/USD", "15m"))
        for name in ml.PREDICTIONS:
            assert np.array_equal(part.predictions[name], whole.predictions[name][:n], equal_nan=True), (n, name)
        assert part.trainings == [tr for tr in whole.trainings if tr.at < n]


def test_daily_prefix_matches_the_whole_series():
    bars = load_dataset("aapl-1d")
    whole = ml.walk_forward(MarketFrame.build(bars, "AAPL", "1d"))
    n = 1700
    part = ml.walk_forward(MarketFrame.build(bars.iloc[:n], "AAPL", "1d"))
    assert np.isfinite(part.predictions["p_up"]).sum() > 1000
    for name in ml.PREDICTIONS:
        assert np.array_equal(part.predictions[name], whole.predictions[name][:n], equal_nan=True), name
