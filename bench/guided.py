"""Guided provider bench: routing and argument accuracy on held-out utterances, turn latency.

    .venv/bin/python bench/guided.py [--threshold T] [--threads 2] [--sweep] [--data FILE [--split S]]

Routes every utterance of ``tests/data/guided_utterances.jsonl`` (or of ``--data``, optionally
only its rows of ``--split``) among all the built-in tools plus the help reply (harder than any
one assistant, which has two to four tools), with the installed packs' vocabularies. Uses the
installed packs' tools (entry points) and the test stand-ins for any tool not installed. A
free-text argument counts as right when it contains the expected words. Writes
``bench/results/guided.json`` (``guided-<data file>[-<split>].json`` with ``--data``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hilo.nlu import embed  # noqa: E402
from hilo.nlu.lang import fold  # noqa: E402
from hilo.packs.loader import discover  # noqa: E402
from hilo.providers.base import ModelRequest  # noqa: E402
from hilo.providers.guided import HELP, GuidedProvider, for_embedding  # noqa: E402
from hilo.tools import ToolRegistry  # noqa: E402
from tests import guided_tools  # noqa: E402

NAMES = ["get_crypto_price", "get_forex_price", "analyze_image", "buscar_curso", "detalle_curso"]
OPTIONAL = ["explicar_concepto"]  # built-in tools with no stand-in: routed among when installed
DATA = ROOT / "tests" / "data" / "guided_utterances.jsonl"
OUT = ROOT / "bench" / "results" / "guided.json"


def tools() -> tuple[ToolRegistry, dict[str, str]]:
    installed = {t.name: (t, p.name) for p in discover().values() for t in p.tools}
    stand_ins = {t.name: t for t in guided_tools.TOOLS}
    registry, source = ToolRegistry(), {}
    NAMES.extend(n for n in OPTIONAL if n in installed and n not in NAMES)
    for name in NAMES:
        tool, pack = installed[name] if name in installed else (stand_ins[name], "tests/guided_tools.py (stand-in)")
        registry.register(tool)
        source[name] = pack
    return registry, source


def request(text: str, schemas: list[dict], messages: list[dict] | None = None) -> ModelRequest:
    return ModelRequest(model="guided", messages=(messages or []) + [{"role": "user", "content": text}],
                        tools=schemas, tool_choice="auto")


def arguments_right(row: dict, decision, schemas: dict[str, dict], provider: GuidedProvider) -> bool:
    if "missing" in row:
        params = {p.name: p for p in provider.parsers.params_of(schemas[row["tool"]]["parameters"])}
        return not decision.call and decision.text == provider.question(params[row["missing"]], decision.lang)
    if not decision.call:
        return False
    for key, want in row["arguments"].items():
        got = decision.arguments.get(key)
        if key == "query":
            if got is None or not set(fold(want).split()) <= set(fold(str(got)).split()):
                return False
        elif got != want:
            return False
    return True


async def turn_latency(provider: GuidedProvider, req: ModelRequest) -> float:
    start = time.perf_counter()
    async for _ in provider.stream(req):
        pass
    return (time.perf_counter() - start) * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version()}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sweep", action="store_true", help="accuracy at several thresholds")
    parser.add_argument("--data", type=Path, default=DATA, help="a JSONL file of labelled utterances")
    parser.add_argument("--split", default=None, help="only the rows whose 'split' is this")
    opts = parser.parse_args()
    from hilo.kit.config import Settings

    threshold = opts.threshold if opts.threshold is not None else Settings(_env_file=None).guided_threshold
    registry, source = tools()
    provider = GuidedProvider(registry, threshold=threshold, threads=opts.threads)
    for pack in discover().values():  # the packs' words: tickers, pairs, levels ... (as at start-up)
        if pack.vocabulary is not None:
            provider.parsers.add(pack.vocabulary)
    rows = [json.loads(line) for line in opts.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if opts.split is None or r.get("split") == opts.split]
    schemas = [registry.get(n).schema() for n in NAMES]
    by_name = {s["function"]["name"]: s["function"] for s in schemas}
    await provider.warm()
    provider.decide(request("hola", schemas))  # build the index before timing

    decisions = [provider.decide(request(r["text"], schemas)) for r in rows]
    expected = [r.get("tool", HELP) for r in rows]
    routed = [d.route for d in decisions]
    right = [e == g for e, g in zip(expected, routed, strict=True)]
    with_args = [i for i, r in enumerate(rows) if "arguments" in r or "missing" in r]
    args_ok = [arguments_right(rows[i], decisions[i], by_name, provider) for i in with_args]

    embed.forget_recent()  # the decisions above embedded every utterance: each timed turn pays its own again
    latencies = [await turn_latency(provider, request(r["text"], schemas)) for r in rows]
    embed.forget_recent()
    embedding_ms = []
    for r in rows:
        start = time.perf_counter()
        provider.embedder.query(for_embedding(r["text"]))
        embedding_ms.append((time.perf_counter() - start) * 1000)
    phrase = request("x", schemas, [])
    phrase.messages = [{"role": "user", "content": "precio de bitcoin"},
                       {"role": "assistant", "content": None, "tool_calls": [
                           {"id": "c1", "type": "function", "function": {"name": "get_crypto_price", "arguments": "{}"}}]},
                       {"role": "tool", "tool_call_id": "c1", "content": json.dumps(
                           {"base": "BTC", "quote": "USDT", "price": 1.5, "price_text": "1.50", "change_text": "+1 %",
                            "source": "x", "quoted_at": "now", "change_24h_pct": 1.0})}]
    phrase_ms = [await turn_latency(provider, phrase) for _ in range(50)]

    per_tool = {}
    for name in [*NAMES, HELP]:
        idx = [i for i, e in enumerate(expected) if e == name]
        per_tool[name] = {"n": len(idx), "routing": round(sum(right[i] for i in idx) / len(idx), 3) if idx else None}
    misses = [{"text": rows[i]["text"], "expected": expected[i], "got": routed[i], "score": round(decisions[i].score, 3)}
              for i in range(len(rows)) if not right[i]]
    arg_misses = [{"text": rows[i]["text"], "expected": rows[i].get("arguments") or f"ask {rows[i]['missing']}",
                   "got": decisions[i].arguments or decisions[i].text}
                  for i, ok in zip(with_args, args_ok, strict=True) if not ok and right[i]]
    result = {
        "utterances": len(rows), "languages": dict(Counter(r["lang"] for r in rows)),
        "threshold": threshold, "threads": opts.threads,
        "routing_accuracy": round(sum(right) / len(right), 4),
        "argument_accuracy": round(sum(args_ok) / len(args_ok), 4), "argument_cases": len(args_ok),
        "turn_latency_ms": {"p50": round(statistics.median(latencies), 2), "p99": round(percentile(latencies, 0.99), 2)},
        "embedding_ms": {"p50": round(statistics.median(embedding_ms), 2), "p99": round(percentile(embedding_ms, 0.99), 2)},
        "phrasing_latency_ms": {"p50": round(statistics.median(phrase_ms), 2), "p99": round(percentile(phrase_ms, 0.99), 2)},
        "per_tool": per_tool, "tools_from": source, "machine": machine(),
        "routing_misses": misses, "argument_misses": arg_misses,
    }
    if opts.sweep:
        scores = [(d.score, d.route, e) for d, e in zip(decisions, expected, strict=True)]
        result["sweep"] = {f"{t:.2f}": round(sum((g if s >= t else HELP) == e for s, g, e in scores) / len(scores), 4)
                           for t in (0.78, 0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.88)}
    out = OUT if opts.data == DATA else OUT.with_name(
        f"guided-{opts.data.stem}{'-' + opts.split if opts.split else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"utterances {len(rows)} ({result['languages']}), tools from {sorted(set(source.values()))}")
    print(f"routing accuracy  {result['routing_accuracy']:.1%}   (target >= 95%)")
    print(f"argument accuracy {result['argument_accuracy']:.1%}   ({len(args_ok)} cases)")
    print(f"turn latency p50 {result['turn_latency_ms']['p50']} ms, p99 {result['turn_latency_ms']['p99']} ms "
          f"(target p50 < 10 ms); of which the query embedding p50 {result['embedding_ms']['p50']} ms; "
          f"phrasing a tool result p50 {result['phrasing_latency_ms']['p50']} ms")
    print(f"machine: {result['machine']}")
    for miss in misses:
        print(f"  route miss: {miss}")
    for miss in arg_misses:
        print(f"  argument miss: {miss}")
    if opts.sweep:
        print("threshold sweep:", result["sweep"])


if __name__ == "__main__":
    asyncio.run(main())
