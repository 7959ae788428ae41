"""The seed's ``TradingEnsembleModel`` (section 5.2) with scikit-learn, trained walk-forward.

Four models read the same features (:mod:`hilo.packs.council.features`) at bar ``j`` and learn
what happened over the next ``h`` bars (the *horizon*):

* **direction**, a ``RandomForestClassifier``: was ``close[j+h] > close[j]``? Its probability
  is ``p_up``.
* **magnitude**, a ``GradientBoostingRegressor``: ``|close[j+h] / close[j] - 1|``.
* **risk**, an ``SVR`` (rbf): the largest fall below ``close[j]`` over the next ``h`` bars,
  ``max(0, 1 - min(low[j+1..j+h]) / close[j])`` -- what a buyer at that close would have had
  to sit through. An adverse excursion is what the risk manager sizes against; realised
  volatility over a horizon of a few bars is too noisy to be a label.
* **confidence**, a ``LogisticRegression``: the probability that the direction model is
  *right* at this bar ("meta-labelling"). It must learn from errors on data the forest did not
  fit: a second forest is fitted on the older 70% of the window, judged on the most recent 30%
  (less the first ``h`` samples, whose label windows straddle the cut), and the logistic model
  learns hit-or-miss from that forest's conviction ``|p - 0.5| * 2`` and the features, strongly
  regularised (a few hundred noisy samples). The forest's out-of-bag votes were tried first and
  rejected: neighbours in the bag share most of an out-of-bag sample's label window, so they
  claimed 63% hits where the walk-forward delivered 52%. :func:`calibration` reports the
  confidence against the true walk-forward hit rate, the figure to trust.

**Walk-forward** (:func:`walk_forward`): models are retrained at bars ``retrain_every``,
``2 * retrain_every``, ... counted from the first bar of the series. The model retrained at bar
``t`` learns from samples ``j <= t - h`` (a label needs bars up to ``j + h``, all known at the
close of bar ``t``), at most the last ``max_train`` of them, and predicts bars ``t`` up to the
next retrain point. Because retrain points are anchored to the start of the series and every
fit is deterministic (fixed ``random_state``, one thread), a run on the first ``N`` bars of a
file predicts exactly what a run on the whole file predicts for those bars, bit for bit.

Sizes (trees, depth, window, retrain interval, the SVR's subsample) are chosen so that a
walk-forward over 8,689 15-minute bars takes under a second on two shared cores
(``bench/council_ml.py`` measures it): the backtest of the whole council must fit in 2 s.

**Versions** live in ``council_model_versions`` (:class:`ModelVersion`): :func:`retrain` (the
daily learning job) fits on the latest labelled bars, measures the walk-forward calibration on
the same frame and stores a new version; :func:`latest_version` loads it back. A blob records
the scikit-learn version that wrote it and is refused by another one (pickled estimators are
not portable across versions), with an error that says to retrain.
"""

from __future__ import annotations

import io
import json
import math
import struct
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from threadpoolctl import ThreadpoolController

from hilo.packs.council import features as feature_mod
from hilo.packs.council.core import jsonable
from hilo.packs.council.frame import MarketFrame
from hilo.packs.council.models import ModelVersion

PREDICTIONS = ("p_up", "magnitude", "confidence", "risk")
BLOB_MAGIC = b"HILOENS1"
BLOB_FORMAT = 1


class ModelBlobError(ValueError):
    """A stored model this process cannot use (another scikit-learn version, or not a model)."""


# --- defaults per timeframe ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WalkForwardDefaults:
    horizon: int  # bars ahead the labels look
    retrain_every: int  # bars between retrain points (anchored at bar 0)
    min_train: int  # fewest labelled samples a model is trained on
    max_train: int  # the rolling window: at most this many most recent samples


# Intraday: a horizon of about two hours, retrained about weekly on the last ~2-3 weeks.
# Daily: a horizon of a trading week, retrained yearly on the last ~5 years.
_DEFAULTS = {
    "1m": WalkForwardDefaults(horizon=15, retrain_every=1000, min_train=600, max_train=1500),
    "5m": WalkForwardDefaults(horizon=12, retrain_every=1000, min_train=600, max_train=1500),
    "15m": WalkForwardDefaults(horizon=8, retrain_every=1000, min_train=600, max_train=1500),
    "30m": WalkForwardDefaults(horizon=6, retrain_every=1000, min_train=600, max_train=1500),
    "1h": WalkForwardDefaults(horizon=6, retrain_every=720, min_train=500, max_train=1500),
    "4h": WalkForwardDefaults(horizon=6, retrain_every=360, min_train=400, max_train=1500),
    "1d": WalkForwardDefaults(horizon=5, retrain_every=252, min_train=350, max_train=1260),
    "1w": WalkForwardDefaults(horizon=4, retrain_every=52, min_train=150, max_train=520),
}


def defaults_for(timeframe: str) -> WalkForwardDefaults:
    """Walk-forward settings for a timeframe (``1d`` style for unknown daily-or-longer ones)."""
    tf = (timeframe or "").strip()
    if tf in _DEFAULTS:
        return _DEFAULTS[tf]
    return _DEFAULTS["1h"] if feature_mod.is_intraday(tf) else _DEFAULTS["1d"]


# --- labels --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Labels:
    """What happened after each bar; NaN where the ``h`` bars after it are not known yet."""

    horizon: int
    direction: np.ndarray  # 1.0 up, 0.0 not up
    magnitude: np.ndarray  # |forward return|
    risk: np.ndarray  # forward adverse excursion (fraction of the close)

    @property
    def known(self) -> np.ndarray:
        return np.isfinite(self.direction)


def make_labels(close: np.ndarray, low: np.ndarray, horizon: int) -> Labels:
    """Labels from forward returns: sample ``j`` uses bars ``j+1..j+h`` only."""
    n = len(close)
    h = int(horizon)
    direction = np.full(n, np.nan)
    magnitude = np.full(n, np.nan)
    risk = np.full(n, np.nan)
    if n > h:
        fwd = close[h:] / close[:-h] - 1.0
        direction[: n - h] = (fwd > 0).astype(np.float64)
        magnitude[: n - h] = np.abs(fwd)
        lows = np.lib.stride_tricks.sliding_window_view(low[1:], h).min(axis=1)[: n - h]
        risk[: n - h] = np.maximum(0.0, 1.0 - lows / close[: n - h])
    return Labels(h, direction, magnitude, risk)


def frame_labels(frame: MarketFrame, horizon: int) -> Labels:
    return make_labels(frame.close, frame.bars["low"].to_numpy(dtype=np.float64), horizon)


# --- the ensemble --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EnsembleConfig:
    """Model sizes. Small on purpose: a walk-forward refits them every ``retrain_every`` bars."""

    trees: int = 16
    max_depth: int = 4
    min_samples_leaf: int = 100  # big leaves: smooth probabilities (noisy labels), better Brier
    tree_sample: float = 0.3  # each tree's bootstrap: this share of the window
    boosting_rounds: int = 15
    boosting_depth: int = 3
    boosting_sample: float = 0.5
    boosting_leaf: int = 40
    boosting_features: float = 0.5  # share of features each split considers (speed, less overfit)
    svr_samples: int = 200  # the SVR fits an evenly spaced subsample of the window
    holdout: float = 0.3  # the confidence model learns on this most recent share of the window
    confidence_c: float = 0.003  # its L2 strength: few samples, a noisy target, so strongly regularised
    random_state: int = 7


_controller: ThreadpoolController | None = None


@contextmanager
def _lean():
    """Single-threaded BLAS/OpenMP (deterministic sums, no fight for the two shared cores) and
    no per-call re-validation (rows are filtered finite before they get here, the parameters are
    ours). The controller is made once: inspecting the loaded libraries costs ~3 ms a time."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1), sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        yield


class Ensemble:
    """The four models; :meth:`fit` on a feature matrix and labels, :meth:`predict` per row."""

    def __init__(self, config: EnsembleConfig | None = None, *, feature_names: tuple[str, ...] = (),
                 horizon: int = 1) -> None:
        self.config = config or EnsembleConfig()
        self.feature_names = tuple(feature_names)
        self.horizon = int(horizon)
        self.samples = 0
        self.holdout_accuracy = math.nan
        self.meta: dict[str, Any] = {}
        self._direction: RandomForestClassifier | None = None
        self._direction_constant = 0.5
        self._magnitude: GradientBoostingRegressor | None = None
        self._scaler: StandardScaler | None = None
        self._confidence: LogisticRegression | None = None
        self._confidence_constant = 0.5
        self._risk: SVR | None = None
        self._risk_shift = 0.0
        self._risk_scale = 1.0

    @property
    def is_trained(self) -> bool:
        return self._magnitude is not None

    def fit(self, X: np.ndarray, direction: np.ndarray, magnitude: np.ndarray, risk: np.ndarray) -> Ensemble:
        """Fit on rows of finite features with known labels (the caller has filtered them)."""
        cfg = self.config
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = direction.astype(np.int64)
        n = len(X)
        if n < 2:
            raise ValueError("an ensemble needs at least 2 samples")
        self.samples = n
        with _lean():
            self._scaler = StandardScaler().fit(X)
            Xs = self._scaler.transform(X)
            self._direction, self._direction_constant = self._fit_direction(X, y)
            # confidence: P(the direction call is right), learnt on the window's most recent
            # part as judged by a forest fitted only on the older part (purged by h samples so
            # that no label window straddles the cut): errors on data it never saw
            cut = int(n * (1.0 - cfg.holdout))
            held = np.arange(min(n, cut + self.horizon), n)
            right = np.zeros(0, dtype=np.int64)
            if cut >= 2 and len(held) >= 2:
                aux, aux_constant = self._fit_direction(X[:cut], y[:cut])
                p_held = aux.predict_proba(X[held])[:, 1] if aux is not None else np.full(len(held), aux_constant)
                right = ((p_held > 0.5).astype(np.int64) == y[held]).astype(np.int64)
                self.holdout_accuracy = float(right.mean())
            if len(right) and len(np.unique(right)) == 2:
                self._confidence = LogisticRegression(C=cfg.confidence_c, max_iter=300).fit(
                    np.column_stack([np.abs(p_held - 0.5) * 2.0, Xs[held]]), right)
            else:
                self._confidence = None
                self._confidence_constant = float(right.mean()) if len(right) else 0.5
            self._magnitude = GradientBoostingRegressor(
                n_estimators=cfg.boosting_rounds, max_depth=cfg.boosting_depth, subsample=cfg.boosting_sample,
                max_features=cfg.boosting_features, min_samples_leaf=cfg.boosting_leaf, learning_rate=0.1,
                random_state=cfg.random_state).fit(X, magnitude)
            # risk: an rbf SVR on scaled inputs and a standardised target (its epsilon-tube is in
            # target units: on raw drawdowns of ~1% the default tube would swallow everything)
            pick = np.unique(np.linspace(0, n - 1, min(n, cfg.svr_samples)).round().astype(np.int64))
            r = risk[pick]
            self._risk_shift = float(r.mean())
            self._risk_scale = float(r.std()) or 1.0
            self._risk = SVR(kernel="rbf", C=1.0, epsilon=0.1, gamma="scale").fit(
                Xs[pick], (r - self._risk_shift) / self._risk_scale)
        return self

    def _fit_direction(self, X: np.ndarray, y: np.ndarray) -> tuple[RandomForestClassifier | None, float]:
        """The forest, or a constant when the window only went one way (a single class)."""
        if len(np.unique(y)) < 2:
            return None, float(y[0])
        cfg = self.config
        forest = RandomForestClassifier(
            n_estimators=cfg.trees, max_depth=cfg.max_depth, min_samples_leaf=cfg.min_samples_leaf,
            max_samples=cfg.tree_sample, bootstrap=True, random_state=cfg.random_state, n_jobs=1).fit(X, y)
        return forest, 0.5

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``p_up``, ``magnitude``, ``confidence`` (0..1) and ``risk`` for each row of ``X``."""
        if not self.is_trained:
            raise ValueError("the ensemble is not trained")
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self._scaler.scale_):
            raise ValueError(f"expected {len(self._scaler.scale_)} features per row, got {X.shape}")
        m = len(X)
        if m == 0:
            return {name: np.empty(0) for name in PREDICTIONS}
        with _lean():
            Xs = self._scaler.transform(X)
            if self._direction is None:
                p_up = np.full(m, self._direction_constant)
            else:
                p_up = self._direction.predict_proba(X)[:, 1]
            if self._confidence is None:
                confidence = np.full(m, self._confidence_constant)
            else:
                confidence = self._confidence.predict_proba(np.column_stack([np.abs(p_up - 0.5) * 2.0, Xs]))[:, 1]
            magnitude = np.maximum(0.0, self._magnitude.predict(X))
            risk = np.maximum(0.0, self._risk.predict(Xs) * self._risk_scale + self._risk_shift)
        return {"p_up": p_up, "magnitude": magnitude, "confidence": confidence, "risk": risk}

    # -- persistence --

    def header(self) -> dict[str, Any]:
        return {"format": BLOB_FORMAT, "sklearn": sklearn.__version__, "numpy": np.__version__,
                "features": list(self.feature_names), "horizon": self.horizon, "samples": self.samples,
                "config": {k: getattr(self.config, k) for k in self.config.__slots__}, "meta": self.meta}

    def to_bytes(self) -> bytes:
        """A blob for ``ModelVersion.blob``: magic, a JSON header (versions, features), the pickle."""
        buf = io.BytesIO()
        joblib.dump(self, buf, compress=3)
        head = json.dumps(jsonable(self.header()), sort_keys=True).encode()
        return BLOB_MAGIC + struct.pack(">I", len(head)) + head + buf.getvalue()

    @staticmethod
    def read_header(blob: bytes) -> dict[str, Any]:
        if not isinstance(blob, (bytes, bytearray, memoryview)) or bytes(blob[:8]) != BLOB_MAGIC:
            raise ModelBlobError("not a council model blob (it does not start with the ensemble's marker)")
        (size,) = struct.unpack(">I", bytes(blob[8:12]))
        try:
            return json.loads(bytes(blob[12:12 + size]))
        except ValueError:
            raise ModelBlobError("the council model blob's header is damaged") from None

    @classmethod
    def from_bytes(cls, blob: bytes) -> Ensemble:
        """The ensemble in ``blob``; refused (before unpickling) if another scikit-learn wrote it.

        The blob is unpickled: only load blobs from hilo's own database."""
        head = cls.read_header(blob)
        if head.get("format") != BLOB_FORMAT:
            raise ModelBlobError(f"council model blob format {head.get('format')!r} is not {BLOB_FORMAT}")
        if head.get("sklearn") != sklearn.__version__:
            raise ModelBlobError(
                f"this council model was trained with scikit-learn {head.get('sklearn')}, and this process "
                f"runs scikit-learn {sklearn.__version__}; pickled models do not carry across versions: "
                "retrain it (the daily learning job, or hilo.packs.council.ml.retrain) to store a new version")
        start = 12 + struct.unpack(">I", bytes(blob[8:12]))[0]
        model = joblib.load(io.BytesIO(bytes(blob[start:])))
        if not isinstance(model, cls):
            raise ModelBlobError("the council model blob does not hold an ensemble")
        return model


# --- walk-forward --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Training:
    """One retrain point: the model fitted at bar ``at`` saw samples ``first..last`` (bar indices)
    whose labels end at bar ``last + horizon <= at``."""

    at: int
    first: int
    last: int
    samples: int
    label_end: int


@dataclass
class WalkForwardResult:
    predictions: dict[str, np.ndarray]  # p_up, magnitude, confidence, risk: per bar, NaN before a model
    model_at: np.ndarray  # per bar, the retrain bar whose model predicted it (-1: none)
    trainings: list[Training]
    horizon: int
    retrain_every: int
    min_train: int
    max_train: int
    feature_names: tuple[str, ...]
    seconds: float
    config: EnsembleConfig = field(default_factory=EnsembleConfig)

    def attach(self, frame: MarketFrame) -> None:
        """Put the predictions in ``frame.predictions`` (what :meth:`MarketFrame.snapshot` reads)."""
        frame.predictions = dict(self.predictions)

    @property
    def first_prediction(self) -> int | None:
        hit = np.flatnonzero(self.model_at >= 0)
        return int(hit[0]) if len(hit) else None


def walk_forward(frame: MarketFrame, *, horizon: int | None = None, retrain_every: int | None = None,
                 min_train: int | None = None, max_train: int | None = None,
                 config: EnsembleConfig | None = None, sentiment: dict[str, Any] | None = None,
                 attach: bool = True) -> WalkForwardResult:
    """Out-of-sample predictions for every bar of ``frame`` (see the module docstring).

    Settings left ``None`` come from :func:`defaults_for` the frame's timeframe. With
    ``attach`` (the default) the predictions also go to ``frame.predictions``. A frame too
    short for any model gets all-NaN predictions."""
    started = time.perf_counter()
    d = defaults_for(frame.timeframe)
    h = int(horizon if horizon is not None else d.horizon)
    every = int(retrain_every if retrain_every is not None else d.retrain_every)
    least = int(min_train if min_train is not None else d.min_train)
    window = int(max_train if max_train is not None else d.max_train)
    if h < 1 or every < 1 or least < 2 or window < least:
        raise ValueError(f"walk_forward needs horizon >= 1, retrain_every >= 1, min_train >= 2 and "
                         f"max_train >= min_train (got {h}, {every}, {least}, {window})")
    cfg = config or EnsembleConfig()
    fs = feature_mod.build(frame, sentiment)
    labels = frame_labels(frame, h)
    n = len(frame)
    valid = fs.valid
    out = {name: np.full(n, np.nan) for name in PREDICTIONS}
    model_at = np.full(n, -1, dtype=np.int64)
    trainings: list[Training] = []
    model: Ensemble | None = None
    model_bar = -1
    for t in range(every, n, every):
        last = t - h
        first = max(0, last - window + 1)
        if last >= 0:
            rows = first + np.flatnonzero(valid[first:last + 1])
            if len(rows) >= least:
                model = Ensemble(cfg, feature_names=fs.names, horizon=h).fit(
                    fs.matrix[rows], labels.direction[rows], labels.magnitude[rows], labels.risk[rows])
                model_bar = t
                trainings.append(Training(at=t, first=int(rows[0]), last=int(rows[-1]), samples=len(rows),
                                          label_end=int(rows[-1]) + h))
        if model is None:
            continue
        stop = min(n, t + every)
        rows = t + np.flatnonzero(valid[t:stop])
        if len(rows):
            pred = model.predict(fs.matrix[rows])
            for name in PREDICTIONS:
                out[name][rows] = pred[name]
            model_at[rows] = model_bar
    result = WalkForwardResult(predictions=out, model_at=model_at, trainings=trainings, horizon=h,
                               retrain_every=every, min_train=least, max_train=window,
                               feature_names=fs.names, seconds=time.perf_counter() - started, config=cfg)
    if attach:
        result.attach(frame)
    return result


# --- calibration ---------------------------------------------------------------------------

def _reliability(predicted: np.ndarray, observed: np.ndarray, bins: int) -> list[dict[str, Any]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = which == b
        count = int(sel.sum())
        rows.append({"lower": round(float(edges[b]), 4), "upper": round(float(edges[b + 1]), 4), "count": count,
                     "mean_predicted": float(predicted[sel].mean()) if count else None,
                     "observed_rate": float(observed[sel].mean()) if count else None})
    return rows


def calibration(result: WalkForwardResult, frame: MarketFrame, *, bins: int = 10) -> dict[str, Any]:
    """How good the walk-forward's out-of-sample predictions were, for JSON and a reliability plot.

    Only bars with a prediction and a known outcome count. ``baseline_accuracy`` and
    ``baseline_brier`` are what always answering the period's base rate would score (a
    hindsight baseline: a model that does not beat it has learnt nothing usable).
    ``confidence`` compares the confidence model's claimed hit rate with the direction
    model's actual hits on the same bars."""
    labels = frame_labels(frame, result.horizon)
    p = result.predictions["p_up"]
    mask = np.isfinite(p) & labels.known
    y = labels.direction[mask]
    pm = p[mask]
    count = int(mask.sum())
    report: dict[str, Any] = {"horizon": result.horizon, "samples": count, "bins": _reliability(pm, y, bins)}
    if count == 0:
        report.update({"base_rate": None, "accuracy": None, "baseline_accuracy": None, "brier": None,
                       "baseline_brier": None, "log_loss": None, "confidence": None, "magnitude": None,
                       "risk": None})
        return report
    base = float(y.mean())
    clipped = np.clip(pm, 1e-6, 1 - 1e-6)
    right = ((pm > 0.5) == (y > 0.5)).astype(np.float64)
    conf = result.predictions["confidence"][mask]
    mag_pred = result.predictions["magnitude"][mask]
    mag_true = labels.magnitude[mask]
    risk_pred = result.predictions["risk"][mask]
    risk_true = labels.risk[mask]
    report.update({
        "base_rate": base,
        "accuracy": float(right.mean()),
        "baseline_accuracy": max(base, 1.0 - base),
        "brier": float(np.mean((pm - y) ** 2)),
        "baseline_brier": base * (1.0 - base),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "confidence": {"mean": float(conf.mean()), "hit_rate": float(right.mean()),
                       "brier": float(np.mean((conf - right) ** 2)), "bins": _reliability(conf, right, bins)},
        "magnitude": {"mae": float(np.mean(np.abs(mag_pred - mag_true))),
                      "baseline_mae": float(np.mean(np.abs(mag_true - np.median(mag_true)))),
                      "correlation": _corr(mag_pred, mag_true)},
        "risk": {"mae": float(np.mean(np.abs(risk_pred - risk_true))),
                 "baseline_mae": float(np.mean(np.abs(risk_true - np.median(risk_true)))),
                 "correlation": _corr(risk_pred, risk_true)},
    })
    return report


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


# --- live use of a stored model ------------------------------------------------------------

def predict_frame(frame: MarketFrame, ensemble: Ensemble, *, sentiment: dict[str, Any] | None = None,
                  attach: bool = False) -> dict[str, np.ndarray]:
    """A stored ensemble's predictions for the bars of ``frame`` it has not learnt from.

    Bars up to the end of its last label window (``meta["train_end_ms"]``) stay NaN: there the
    model would be repeating what it was fitted on, not forecasting."""
    fs = feature_mod.build(frame, sentiment)
    if tuple(ensemble.feature_names) != fs.names:
        raise ValueError(f"the model was trained on features {list(ensemble.feature_names)}, this frame has "
                         f"{list(fs.names)} (another timeframe or sentiment feed): retrain it")
    n = len(frame)
    out = {name: np.full(n, np.nan) for name in PREDICTIONS}
    times_ms = frame.bars.index.as_unit("ms").asi8
    end = ensemble.meta.get("train_end_ms")
    usable = fs.valid & (times_ms >= end if end is not None else True)
    rows = np.flatnonzero(usable)
    if len(rows):
        pred = ensemble.predict(fs.matrix[rows])
        for name in PREDICTIONS:
            out[name][rows] = pred[name]
    if attach:
        frame.predictions = dict(out)
    return out


def _bar_ms(frame: MarketFrame, i: int) -> int:
    return int(frame.bars.index.as_unit("ms").asi8[i])


# --- versions ------------------------------------------------------------------------------

@dataclass
class StoredModel:
    version: int
    ensemble: Ensemble
    metrics: dict[str, Any]
    trained_at: int
    train_end: int
    samples: int


async def save_version(session: AsyncSession, symbol: str, timeframe: str, ensemble: Ensemble,
                       metrics: dict[str, Any]) -> int:
    """Store ``ensemble`` as the next version for ``symbol``/``timeframe``; returns the version.

    Flushes, does not commit: the caller's transaction decides (hilo commits at the boundary)."""
    if not ensemble.is_trained:
        raise ValueError("only a trained ensemble can be stored")
    current = (await session.execute(select(func.max(ModelVersion.version)).where(
        ModelVersion.symbol == symbol, ModelVersion.timeframe == timeframe))).scalar()
    version = int(current or 0) + 1
    session.add(ModelVersion(symbol=symbol, timeframe=timeframe, version=version, trained_at=int(time.time()),
                             train_end=int(ensemble.meta.get("train_end_ms") or 0), samples=ensemble.samples,
                             metrics=jsonable(dict(metrics)), blob=ensemble.to_bytes()))
    await session.flush()
    return version


async def latest_version(session: AsyncSession, symbol: str, timeframe: str) -> StoredModel | None:
    """The newest stored version, or ``None``; :class:`ModelBlobError` if this process cannot load it."""
    row = (await session.execute(select(ModelVersion).where(
        ModelVersion.symbol == symbol, ModelVersion.timeframe == timeframe)
        .order_by(ModelVersion.version.desc()).limit(1))).scalar_one_or_none()
    if row is None:
        return None
    return StoredModel(version=row.version, ensemble=Ensemble.from_bytes(row.blob), metrics=dict(row.metrics or {}),
                       trained_at=row.trained_at, train_end=row.train_end, samples=row.samples)


def fit_latest(frame: MarketFrame, *, horizon: int | None = None, max_train: int | None = None,
               min_train: int | None = None, config: EnsembleConfig | None = None,
               sentiment: dict[str, Any] | None = None) -> Ensemble | None:
    """An ensemble on the latest labelled bars of ``frame`` (at most ``max_train`` samples, the
    walk-forward's window, so that its walk-forward calibration describes this model too), or
    ``None`` when fewer than ``min_train`` samples are labelled."""
    d = defaults_for(frame.timeframe)
    h = int(horizon if horizon is not None else d.horizon)
    window = int(max_train if max_train is not None else d.max_train)
    least = int(min_train if min_train is not None else d.min_train)
    fs = feature_mod.build(frame, sentiment)
    labels = frame_labels(frame, h)
    last = len(frame) - 1 - h
    if last < 0:
        return None
    first = max(0, last - window + 1)
    rows = first + np.flatnonzero(fs.valid[first:last + 1])
    if len(rows) < least:
        return None
    ensemble = Ensemble(config, feature_names=fs.names, horizon=h).fit(
        fs.matrix[rows], labels.direction[rows], labels.magnitude[rows], labels.risk[rows])
    ensemble.meta = {"symbol": frame.symbol, "timeframe": frame.timeframe,
                     "train_start_ms": _bar_ms(frame, int(rows[0])),
                     "train_end_ms": _bar_ms(frame, int(rows[-1]) + h)}
    return ensemble


async def retrain(session: AsyncSession, frame: MarketFrame, *, horizon: int | None = None,
                  max_train: int | None = None, min_train: int | None = None,
                  config: EnsembleConfig | None = None) -> dict[str, Any]:
    """The daily learning job's step: fit on the latest labelled bars, measure the walk-forward
    calibration on the same frame, store a new version. Returns the metrics (with ``version``;
    ``trained: False`` and a ``reason`` when the frame is too short, nothing stored).

    Flushes, does not commit (see :func:`save_version`)."""
    ensemble = fit_latest(frame, horizon=horizon, max_train=max_train, min_train=min_train, config=config)
    if ensemble is None:
        d = defaults_for(frame.timeframe)
        return {"trained": False, "version": None, "bars": len(frame),
                "reason": f"{len(frame)} bars give fewer than {min_train or d.min_train} labelled samples "
                          f"with every feature (indicators warm up for about {feature_mod.REGIME_WINDOW + 20} bars)"}
    wf = walk_forward(frame, horizon=ensemble.horizon, max_train=max_train, min_train=min_train, config=config,
                      attach=False)
    metrics = {"trained": True, "samples": ensemble.samples, "horizon": ensemble.horizon,
               "holdout_accuracy": ensemble.holdout_accuracy, "train_start_ms": ensemble.meta["train_start_ms"],
               "train_end_ms": ensemble.meta["train_end_ms"], "sklearn": sklearn.__version__,
               "walk_forward": calibration(wf, frame)}
    metrics = jsonable(metrics)
    metrics["version"] = await save_version(session, frame.symbol, frame.timeframe, ensemble, metrics)
    return metrics
