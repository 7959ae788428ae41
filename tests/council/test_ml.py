"""The ML ensemble: determinism, calibration figures, short frames, the feature groups, and
model versions stored in and loaded from a real database (SQLite, and PostgreSQL when
``HILO_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from sqlalchemy import select

from hilo.kit.db.session import Database
from hilo.packs.council import features, ml
from hilo.packs.council.bars import load_dataset
from hilo.packs.council.frame import MarketFrame
from hilo.packs.council.models import Base, ModelVersion
from tests.conftest import BACKENDS

SETTINGS = dict(horizon=8, retrain_every=300, min_train=250, max_train=600)


@pytest.fixture(scope="module")
def frame() -> MarketFrame:
    return MarketFrame.build(load_dataset("btc-usd-15m").iloc[:2400], "BTC/USD", "15m")


@pytest.fixture(scope="module")
def result(frame) -> ml.WalkForwardResult:
    return ml.walk_forward(frame, attach=False, **SETTINGS)


def test_two_runs_are_identical_bit_for_bit(frame, result):
    again = ml.walk_forward(frame, attach=False, **SETTINGS)
    for name in ml.PREDICTIONS:
        assert np.array_equal(again.predictions[name], result.predictions[name], equal_nan=True)
    assert again.trainings == result.trainings


def test_predictions_are_in_range_and_attached_to_the_frame(frame, result):
    ok = np.isfinite(result.predictions["p_up"])
    assert ok.sum() > 1500
    for name in ml.PREDICTIONS:
        assert np.array_equal(np.isfinite(result.predictions[name]), ok), name
    p, c = result.predictions["p_up"][ok], result.predictions["confidence"][ok]
    assert ((p >= 0) & (p <= 1)).all() and ((c >= 0) & (c <= 1)).all()
    assert (result.predictions["magnitude"][ok] >= 0).all() and (result.predictions["risk"][ok] >= 0).all()
    assert p.std() > 0.005, "a forest that always says the same thing has learnt nothing"
    own = MarketFrame.build(frame.bars, frame.symbol, frame.timeframe)
    assert own.prediction(result.first_prediction) is None
    ml.walk_forward(own, **SETTINGS)  # attach=True is the default
    snap = own.snapshot(result.first_prediction)
    assert set(snap.prediction) == set(ml.PREDICTIONS)
    assert snap.prediction["p_up"] == result.predictions["p_up"][result.first_prediction]
    assert own.prediction(result.first_prediction - 1) is None


def test_calibration_report_is_sane_and_json(frame, result):
    cal = ml.calibration(result, frame)
    json.dumps(cal, allow_nan=False)
    labelled = np.isfinite(result.predictions["p_up"]) & ml.frame_labels(frame, result.horizon).known
    assert cal["samples"] == int(labelled.sum()) > 1000
    assert len(cal["bins"]) == 10
    assert sum(b["count"] for b in cal["bins"]) == cal["samples"]
    assert sum(b["count"] for b in cal["confidence"]["bins"]) == cal["samples"]
    assert 0 <= cal["brier"] <= 1 and 0 <= cal["baseline_brier"] <= 0.25
    assert 0 <= cal["accuracy"] <= 1 and 0.5 <= cal["baseline_accuracy"] <= 1
    assert cal["log_loss"] > 0
    for b in cal["bins"]:
        if b["count"]:
            assert b["lower"] <= b["mean_predicted"] <= b["upper"] and 0 <= b["observed_rate"] <= 1
        else:
            assert b["mean_predicted"] is None
    # the accuracy is the share of calls that went the predicted way
    y = ml.frame_labels(frame, result.horizon).direction[labelled]
    p = result.predictions["p_up"][labelled]
    assert cal["accuracy"] == pytest.approx(np.mean((p > 0.5) == (y > 0.5)))


def test_a_frame_too_short_for_any_model_gives_nan_not_an_error():
    short = MarketFrame.build(load_dataset("aapl-1d").iloc[:300], "AAPL", "1d")
    wf = ml.walk_forward(short)
    assert wf.trainings == [] and wf.first_prediction is None
    for name in ml.PREDICTIONS:
        assert np.isnan(wf.predictions[name]).all() and len(wf.predictions[name]) == 300
    assert short.prediction(299) is None
    cal = ml.calibration(wf, short)
    assert cal["samples"] == 0 and cal["brier"] is None and sum(b["count"] for b in cal["bins"]) == 0
    json.dumps(cal, allow_nan=False)
    tiny = MarketFrame.build(load_dataset("aapl-1d").iloc[:5], "AAPL", "1d")
    assert np.isnan(ml.walk_forward(tiny).predictions["p_up"]).all()
    assert ml.fit_latest(tiny) is None


def test_bad_settings_are_refused(frame):
    with pytest.raises(ValueError, match="horizon"):
        ml.walk_forward(frame, horizon=0)
    with pytest.raises(ValueError, match="max_train"):
        ml.walk_forward(frame, min_train=500, max_train=100)


def test_feature_groups():
    intraday = MarketFrame.build(load_dataset("btc-usd-15m").iloc[:400], "BTC/USD", "15m")
    fs = features.build(intraday)
    assert fs.groups["technical"][:6] == ("rsi_14", "macd_signal", "bb_position", "ema_cross",
                                          "volume_sma_ratio", "price_sma_ratio")
    assert fs.groups["temporal"] == ("hour_of_day", "day_of_week", "volatility_regime")
    assert fs.groups["fundamental"] == ()  # no feed offline: no invented columns
    assert set(fs.names) <= set(features.DESCRIPTIONS)
    assert fs.valid[:100].sum() == 0 and fs.valid[150:].all()
    hours = fs.column("hour_of_day")
    assert hours[0] == intraday.bars.index[0].hour and set(np.unique(hours)) <= set(range(24))
    daily = MarketFrame.build(load_dataset("aapl-1d").iloc[:400], "AAPL", "1d")
    assert "hour_of_day" not in features.build(daily).names
    # a scalar reading is not a series; a per-bar series is used
    assert features.build(daily, {"news_sentiment": 0.4}).groups["fundamental"] == ()
    news = np.linspace(-1, 1, 400)
    with_news = features.build(daily, {"news_sentiment": news})
    assert with_news.groups["fundamental"] == ("news_sentiment",)
    assert np.array_equal(with_news.column("news_sentiment"), news)
    with pytest.raises(ValueError, match="news_sentiment"):
        features.build(daily, {"news_sentiment": news[:10]})


def test_blob_round_trip_and_version_check(frame):
    ensemble = ml.fit_latest(frame, **{k: SETTINGS[k] for k in ("horizon", "min_train", "max_train")})
    assert ensemble is not None and ensemble.samples == SETTINGS["max_train"]
    blob = ensemble.to_bytes()
    loaded = ml.Ensemble.from_bytes(blob)
    X = features.build(frame).matrix[-200:]
    for name in ml.PREDICTIONS:
        assert np.array_equal(loaded.predict(X)[name], ensemble.predict(X)[name])
    head = ml.Ensemble.read_header(blob)
    assert head["features"] == list(ensemble.feature_names) and head["horizon"] == 8
    # a blob another scikit-learn wrote is refused before it is unpickled
    size = struct.unpack(">I", blob[8:12])[0]
    other = dict(head, sklearn="0.0.1")
    new_head = json.dumps(other).encode()
    forged = ml.BLOB_MAGIC + struct.pack(">I", len(new_head)) + new_head + blob[12 + size:]
    with pytest.raises(ml.ModelBlobError, match=r"scikit-learn 0\.0\.1.*retrain"):
        ml.Ensemble.from_bytes(forged)
    with pytest.raises(ml.ModelBlobError, match="not a council model"):
        ml.Ensemble.from_bytes(b"\x80\x04 a pickle, not ours")


def test_a_stored_model_only_predicts_bars_it_has_not_learnt(frame):
    part = MarketFrame.build(frame.bars.iloc[:1800], frame.symbol, frame.timeframe)
    ensemble = ml.fit_latest(part, horizon=8, min_train=250, max_train=600)
    out = ml.predict_frame(frame, ensemble)
    end = ensemble.meta["train_end_ms"]
    times = frame.bars.index.as_unit("ms").asi8
    assert end == times[1799]  # the last label window ends at the prefix's last bar
    assert np.isnan(out["p_up"][times < end]).all()
    assert np.isfinite(out["p_up"][times >= end]).all()
    daily = MarketFrame.build(load_dataset("aapl-1d").iloc[:600], "AAPL", "1d")
    with pytest.raises(ValueError, match="features"):
        ml.predict_frame(daily, ensemble)


@pytest.fixture(params=BACKENDS)
def database_url(request, database_factory) -> str:
    """A fresh database (made outside the test's event loop: the factory runs its own)."""
    return database_factory(request.param)


async def test_versions_are_stored_and_loaded(database_url, frame):
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with db.sessionmaker() as session:
            assert await ml.latest_version(session, "BTC/USD", "15m") is None
            ensemble = ml.fit_latest(frame, horizon=8, min_train=250, max_train=600)
            v1 = await ml.save_version(session, "BTC/USD", "15m", ensemble, {"brier": float("nan"), "n": np.int64(3)})
            v2 = await ml.save_version(session, "BTC/USD", "15m", ensemble, {"note": "second"})
            other = await ml.save_version(session, "AAPL", "1d", ensemble, {})
            await session.commit()
        assert (v1, v2, other) == (1, 2, 1)
        async with db.sessionmaker() as session:
            stored = await ml.latest_version(session, "BTC/USD", "15m")
            assert stored.version == 2 and stored.metrics == {"note": "second"}
            assert stored.samples == ensemble.samples and stored.train_end == ensemble.meta["train_end_ms"]
            X = features.build(frame).matrix[-50:]
            assert np.array_equal(stored.ensemble.predict(X)["p_up"], ensemble.predict(X)["p_up"])
            first = (await session.execute(select(ModelVersion).where(ModelVersion.version == 1,
                                                                      ModelVersion.symbol == "BTC/USD"))).scalar_one()
            assert first.metrics == {"brier": None, "n": 3}  # JSON-safe
            # the daily learning job's step stores version 3 with its walk-forward calibration
            metrics = await ml.retrain(session, frame, horizon=8, min_train=250, max_train=600)
            await session.commit()
        assert metrics["trained"] is True and metrics["version"] == 3
        assert metrics["walk_forward"]["samples"] > 1000 and 0 <= metrics["walk_forward"]["brier"] <= 1
        json.dumps(metrics, allow_nan=False)
        async with db.sessionmaker() as session:
            stored = await ml.latest_version(session, "BTC/USD", "15m")
            assert stored.version == 3 and stored.metrics["walk_forward"]["samples"] == metrics["walk_forward"]["samples"]
            # a frame too short stores nothing and says why
            short = MarketFrame.build(frame.bars.iloc[:200], "BTC/USD", "15m")
            nothing = await ml.retrain(session, short)
            assert nothing["trained"] is False and "bars" in nothing["reason"]
            assert (await ml.latest_version(session, "BTC/USD", "15m")).version == 3
            # a row whose blob another scikit-learn wrote: a clear error, not a crash in unpickling
            row = (await session.execute(select(ModelVersion).where(ModelVersion.version == 3,
                                                                    ModelVersion.symbol == "BTC/USD"))).scalar_one()
            head = ml.Ensemble.read_header(row.blob)
            size = struct.unpack(">I", row.blob[8:12])[0]
            new_head = json.dumps(dict(head, sklearn="0.0.1")).encode()
            row.blob = ml.BLOB_MAGIC + struct.pack(">I", len(new_head)) + new_head + row.blob[12 + size:]
            await session.commit()
        async with db.sessionmaker() as session:
            with pytest.raises(ml.ModelBlobError, match="retrain"):
                await ml.latest_version(session, "BTC/USD", "15m")
    finally:
        await db.dispose()
