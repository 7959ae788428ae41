"""Council backtest bench: wall time of whole backtests and the simulation core's bars per second.

    .venv/bin/python bench/council.py [--repeat 3] [--out bench/results/council.json]

Cases (the issue's targets: 10 years of daily bars under 5 s, the 15-minute BTC series under
2 s, on this 2-core machine):

* ``msft-1d`` whole (3,270 daily bars, 2000-2013) and its last 2,520 bars (10 years),
* ``btc-usd-15m`` (8,689 15-minute bars after de-duplication),

each without and with walk-forward ML. A case's wall time is **everything a backtest does**:
reading the bundled file (the per-process cache is cleared first), the indicators, the ML
walk-forward when on, the council bar by bar through the paper broker and the limits at the
edge, the four baselines through the same engine, and the metrics. Writing the reports is timed
apart (JSON + HTML with three SVG plots), and one run of the real command
(``python -m hilo.packs.council.cli backtest``, interpreter start and imports included) is timed
for the 15-minute series. Each case runs ``--repeat`` times in this process; best and median are
reported (the machine is shared: the best is the cost, the median shows the noise).

Bars per second of the **simulation core** (the engine loop, the broker, the risk check, the
metrics; no decision logic): a strategy that always holds (a snapshot per bar, nothing to
fill), and MACD's cross read from its precomputed series (orders every few bars, no snapshot).
The council's own rate (its seven analysts and the vote) is printed beside, since it is most of
a run's time.
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
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hilo.packs.council import bars as bars_mod  # noqa: E402
from hilo.packs.council import report  # noqa: E402
from hilo.packs.council.backtest import BacktestConfig, MacdCross, run_backtest, simulate  # noqa: E402
from hilo.packs.council.broker import NO_LIMITS  # noqa: E402
from hilo.packs.council.core import HOLD, Decision  # noqa: E402
from hilo.packs.council.frame import MarketFrame  # noqa: E402

OUT = ROOT / "bench" / "results" / "council.json"
CASES = (("msft-1d", None), ("msft-1d", 2520), ("btc-usd-15m", None))
TARGETS = {"msft-1d": 5.0, "btc-usd-15m": 2.0}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version()}


def commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or None
    except OSError:
        return None


def whole(name: str, last: int | None, ml: bool) -> tuple[float, object]:
    """One backtest as the command runs it, from the bundled file to the metrics."""
    bars_mod._cache.clear()
    started = time.perf_counter()
    info = bars_mod.DATASETS[name]
    data = bars_mod.load_dataset(name)
    if last:
        data = data.iloc[-last:]
    frame = MarketFrame.build(data, info.symbol, info.timeframe)
    result = run_backtest(frame, BacktestConfig(ml=ml, volume_in_quote=info.symbol.startswith("BTC/")),
                          source=f"dataset:{name}")
    return time.perf_counter() - started, result


def always_hold(s):
    return Decision(symbol=s.symbol, time=s.time, action=HOLD, confidence=0.0, consensus_reached=True,
                    outcome="hold", votes={}, rounds=[], scores={}, reasoning="", size_pct=0.0)


def core_rates(repeat: int) -> dict:
    data = bars_mod.load_dataset("btc-usd-15m")
    frame = MarketFrame.build(data, "BTC/USD", "15m")
    cfg = BacktestConfig(volume_in_quote=True, baselines=False)
    hold, macd = [], []
    for _ in range(repeat):
        hold.append(simulate(frame, always_hold, cfg, record=True).seconds)
        macd.append(simulate(frame, MacdCross(), cfg, limits=NO_LIMITS, record=False).seconds)
    n = len(frame)
    return {"bars": n,
            "hold_with_snapshots_bars_per_s": round(n / min(hold)),
            "macd_signals_with_orders_bars_per_s": round(n / min(macd))}


def cli_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hilo.packs.council.cli", "backtest", "--dataset", "btc-usd-15m",
                        "--out", f"{tmp}/r.json"], cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    opts = parser.parse_args()
    whole("btc-usd-1d", None, False)  # imports and first-call costs out of the figures
    cases = []
    for name, last in CASES:
        for ml in (False, True):
            times, result = [], None
            for _ in range(opts.repeat):
                seconds, result = whole(name, last, ml)
                times.append(seconds)
            t0 = time.perf_counter()
            data = report.to_json(result)
            json_s = time.perf_counter() - t0
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                report.write_html(result, Path(tmp) / "r.html", data)
                html_s = time.perf_counter() - t0
            council = result.council
            cases.append({
                "dataset": name, "bars": len(result.frame), "last_bars": last, "ml": ml,
                "wall_s_best": round(min(times), 3), "wall_s_median": round(statistics.median(times), 3),
                "target_s": TARGETS[name], "meets_target": min(times) < TARGETS[name],
                "parts_s": {k: round(v, 3) for k, v in result.timings.items()},
                "council_bars_per_s": round(len(result.frame) / council.seconds),
                "report_json_s": round(json_s, 3), "report_html_s": round(html_s, 3),
                "council_total_return": round(council.metrics["total_return"], 4),
                "council_orders": council.metrics["orders"],
            })
            print(json.dumps(cases[-1]), file=sys.stderr)
    out = {
        "bench": "council", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": commit(),
        "machine": machine(), "repeat": opts.repeat, "cases": cases,
        "core": core_rates(opts.repeat),
        "cli_btc_15m_no_ml_s": round(cli_run(), 3),
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
