"""Model calls per council decision on the LLM path, through ``hilo serve`` as shipped.

    python bench/council_calls.py [--decisions 40] [--disagree 0.3]

hilo runs as users start it (the console script, SQLite in a temp dir, only the council pack),
with its ``openai`` provider talking over real HTTP to a fake model, and its market data from a
fake Binance over real HTTP. Each decision is asked for on ``POST /council/trading/decide``
for a symbol whose bars end at a different day of the bundled BTC daily series, so no two
decisions see the same inputs (and the answer cache never helps).

The fake model reads its prompt: it answers the rule analysis it was given, except that for a
share ``--disagree`` of the questions (chosen by a hash of the prompt, so a run repeats) it
answers the opposite action with high confidence, as a model with its own view would; in a
debate it keeps its view or withdraws by the same hash. That is what makes the council debate.

Prints JSON (model calls per decision: median, p90, max, the share with a debate; decision
latency) and writes ``bench/results/council-calls.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hilo.packs.council.bars import load_dataset  # noqa: E402
from hilo.testing.fake_markets import FakeBinance  # noqa: E402
from hilo.testing.fake_openai import FakeOpenAIServer  # noqa: E402

RULES = re.compile(r"Análisis por reglas \(referencia\): (\{.*\})")
OPPOSITE = {"BUY": "SELL", "SELL": "BUY", "HOLD": "BUY"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def responder(disagree: float):
    def answer(body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        rule = json.loads(RULES.search(prompt).group(1))
        share = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        rec, conf = rule["recommendation"], rule["confidence"]
        if "Objeciones" in prompt:  # a debate: keep the view or withdraw, by the same hash
            rec, conf, why = (("HOLD", 0.2, "Acepto las objeciones.") if share < 0.5
                              else (rec, conf, "Mantengo mi análisis."))
        elif share < disagree:
            rec, conf, why = OPPOSITE.get(rec, "HOLD"), 0.8, "Mi lectura es la contraria."
        else:
            why = "Coincido con el análisis por reglas."
        return {"text": json.dumps({"recommendation": rec, "confidence": conf, "reasoning": why,
                                    "supporting_data": {}})}
    return answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=40)
    ap.add_argument("--disagree", type=float, default=0.3)
    args = ap.parse_args()
    bars = load_dataset("btc-usd-1d")
    with tempfile.TemporaryDirectory() as tmp_name, FakeBinance() as binance, FakeOpenAIServer() as model:
        tmp = Path(tmp_name)
        model.responder = responder(args.disagree)
        symbols = []
        for k in range(args.decisions):  # each symbol's series ends on a different day
            symbol = f"B{k}/USDT"
            binance.set_bars(symbol, "1d", bars.iloc[: 300 + 7 * k])
            symbols.append(symbol)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HILO_")}
        env.update({"HILO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/hilo.db", "HILO_DATA_DIR": str(tmp / "data"),
                    "HILO_PACKS": "council", "HILO_LOG_LEVEL": "warning", "HILO_LLM_BASE_URL": model.base_url,
                    "HILO_LLM_API_KEY": "sk-bench", "HILO_COUNCIL_EXCHANGE_URL": binance.url,
                    "HILO_COUNCIL_SCHEDULES": "false", "HILO_COUNCIL_TIMEFRAME": "1d"})
        port = free_port()
        log = open(tmp / "hilo.log", "wb")
        proc = subprocess.Popen([str(Path(sys.executable).parent / "hilo"), "serve", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((tmp / "hilo.log").read_text(errors="replace")[-2000:])
                time.sleep(0.3)
            calls, latency, debated, actions = [], [], 0, {}
            with httpx.Client(base_url=url, timeout=120) as http:
                for symbol in symbols:
                    t = time.perf_counter()
                    r = http.post("/council/trading/decide", json={"symbol": symbol})
                    latency.append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
                    d = r.json()
                    calls.append(d["model_calls"])
                    debated += len(d["rounds"]) > 1
                    actions[d["action"]] = actions.get(d["action"], 0) + 1
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    result = {
        "bench": "council_calls", "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "decisions": len(calls), "disagree_share": args.disagree,
        "model_calls": {"median": pct(calls, 50), "p90": pct(calls, 90), "max": max(calls), "mean": sum(calls) / len(calls),
                        "target_median": 4, "meets_target": pct(calls, 50) <= 4},
        "debated_share": round(debated / len(calls), 3), "actions": actions,
        "decision_ms": {"p50": round(pct(latency, 50), 1), "p90": round(pct(latency, 90), 1),
                        "max": round(max(latency), 1)},
        "model_requests": len(model.requests),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    out = ROOT / "bench" / "results" / "council-calls.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
