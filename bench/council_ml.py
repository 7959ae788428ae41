"""Council ML bench: the walk-forward ensemble's time and its out-of-sample calibration.

    .venv/bin/python bench/council_ml.py [--repeat 3] [--out bench/results/council-ml.json]

For each bundled data set (``btc-usd-15m``: 8,689 15-minute bars after de-duplication;
``aapl-1d`` and ``msft-1d``: 3,270 daily bars) it builds the :class:`MarketFrame` once and runs
:func:`hilo.packs.council.ml.walk_forward` with the timeframe's defaults ``--repeat`` times in
this single process (scikit-learn with ``n_jobs=1`` and one BLAS thread), reporting the best and
the median time -- the machine has 2 shared cores, so the best is the cost and the median shows
the noise. Budgets (the ensemble's share of the whole backtest's 2 s and 5 s): 0.8 s for the
15-minute series, 1.5 s for a daily one.

Calibration figures come from :func:`hilo.packs.council.ml.calibration` on the same run's
out-of-sample predictions: Brier score beside the base-rate Brier, accuracy beside always
answering the majority direction, log loss, the reliability bins. Two runs are compared bit for
bit (determinism). Prints JSON and writes ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sklearn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hilo.packs.council import ml  # noqa: E402
from hilo.packs.council.bars import DATASETS, load_dataset  # noqa: E402
from hilo.packs.council.frame import MarketFrame  # noqa: E402

CASES = (("btc-usd-15m", 0.8), ("aapl-1d", 1.5), ("msft-1d", 1.5))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def bench_case(name: str, budget: float, repeat: int) -> dict:
    ds = DATASETS[name]
    bars = load_dataset(name)
    frame = MarketFrame.build(bars, ds.symbol, ds.timeframe)
    times = []
    results = []
    for _ in range(repeat):
        t = time.perf_counter()
        results.append(ml.walk_forward(frame, attach=False))
        times.append(time.perf_counter() - t)
    first, last = results[0], results[-1]
    identical = all(np.array_equal(first.predictions[k], last.predictions[k], equal_nan=True)
                    for k in ml.PREDICTIONS)
    cal = ml.calibration(first, frame)
    return {
        "dataset": name, "bars": len(frame), "timeframe": ds.timeframe,
        "settings": {"horizon": first.horizon, "retrain_every": first.retrain_every,
                     "min_train": first.min_train, "max_train": first.max_train,
                     "features": len(first.feature_names),
                     "ensemble": {k: getattr(first.config, k) for k in first.config.__slots__}},
        "retrains": len(first.trainings), "first_prediction_bar": first.first_prediction,
        "seconds_best": round(min(times), 4), "seconds_median": round(statistics.median(times), 4),
        "budget_seconds": budget, "within_budget": min(times) <= budget,
        "deterministic": identical,
        "calibration": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in cal.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "council-ml.json"))
    args = parser.parse_args()
    report = {
        "bench": "council-ml",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                    "sklearn": sklearn.__version__, "numpy": np.__version__},
        "cases": [bench_case(name, budget, max(1, args.repeat)) for name, budget in CASES],
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
