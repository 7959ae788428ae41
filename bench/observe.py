"""What metrics and tracing cost a turn, on the path users take (bench/turns.py's load).

    .venv/bin/python bench/observe.py [--baseline REV] [--db sqlite|postgresql] [--duration 8]
        [--rounds 3] [--clients 16]

Three ``hilo serve`` processes run side by side (each its own database), all from ``git archive``
snapshots, answering through hilo's ``openai`` provider from bench/fake_upstream.py:

All three run with ``HILO_PACKS=--packs`` (default ``none``: the turn path is the same, and the
shipped packs' first start embeds documents for minutes on a loaded 2-core machine).

* ``baseline``: ``--baseline`` (default: the merge base with ``main``), hilo before the
  observability code: no metric hooks, no request-id middleware;
* ``metrics``: HEAD as shipped: every hook counting, ``/metrics`` served (scraped once per
  load, as Prometheus would), the request-id middleware, tracing off;
* ``tracing``: HEAD with ``HILO_OTEL_ENDPOINT`` set: every span recorded and exported over
  OTLP/HTTP (to a sink in this process that discards them; the exporter's thread is hilo's CPU).

The ``sdk_stream`` load (bench/turns.py: the SDK's ``messages.create`` + ``runs.stream``,
``--clients`` concurrent clients, a new thread every 10 turns) runs against each in turn,
interleaved over ``--rounds`` rounds after a warm-up, and hilo's CPU per turn (its process tree,
from /proc) is compared. Writes ``bench/results/observe-<db>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.server
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import turns  # noqa: E402
from turns import PY, RESULTS, Cpu, Proc, clean_env, git, load, log, machine, sdk  # noqa: E402

VARIANTS = ("baseline", "metrics", "tracing")


class _Sink(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    spans_bytes = 0

    def do_POST(self):  # noqa: N802
        _Sink.spans_bytes += len(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def snapshot(rev: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(BENCH.parent), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def start_hilo(name: str, src: Path, db: str, tmp: Path, upstream: Proc, extra: dict[str, str], packs: str) -> Proc:
    env = clean_env(str(src))
    env.update({"HILO_DATA_DIR": str(tmp / f"data-{name}"), "HILO_LLM_PROVIDER": "openai",
                "HILO_LLM_BASE_URL": f"{upstream.url}/v1", "HILO_LLM_API_KEY": "bench",
                "HILO_LLM_MODEL": "bench-model", "HILO_PACKS": packs, **extra})
    if db == "sqlite":
        env["HILO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / f'{name}.db'}"
    else:
        env["HILO_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{turns.PG_DB}_{name}"
    hilo = Proc(name, [str(Path(PY).parent / "hilo"), "serve", "--host", "127.0.0.1"], env, "/health", cwd=tmp)
    hilo.start()
    if not hilo.wait_ready(timeout=600):  # a loaded machine starts slowly
        tail = hilo.log_tail()
        hilo.stop()
        raise RuntimeError(f"{name} did not start:\n{tail}")
    return hilo


def settle(servers: dict[str, Proc], limit_s: float = 300.0) -> None:
    """Wait until every server is idle (< 5 % of a core over 2 s): the first start of the shipped
    packs embeds their documents in the background, which would land in the first loads."""
    deadline = time.monotonic() + limit_s
    cpus = {name: Cpu(server=hilo.proc.pid) for name, hilo in servers.items()}
    while time.monotonic() < deadline:
        before = {name: cpu.snap() for name, cpu in cpus.items()}
        time.sleep(2.0)
        busy = {name: Cpu.delta(before[name], cpu.snap())["server"] / 2.0 for name, cpu in cpus.items()}
        if max(busy.values()) < 0.05:
            return
        log("  waiting for idle servers: " + ", ".join(f"{n} {100 * b:.0f} %" for n, b in busy.items()))


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=None, help="revision without the observability code")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--packs", default="none", help="HILO_PACKS of the three servers (the hooks' cost does not "
                        "depend on them; packs that embed documents at first start would load the machine)")
    args = parser.parse_args()
    head = git("rev-parse", "--short", "HEAD")
    base = args.baseline or git("merge-base", "HEAD", "main")[:7]
    RESULTS.mkdir(exist_ok=True)
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    per_turn: dict[str, list[float]] = {v: [] for v in VARIANTS}
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="hilo-observe-") as tmpdir:
        tmp = Path(tmpdir)
        src = {"baseline": snapshot(base, tmp / "baseline"), "metrics": snapshot(head, tmp / "head")}
        src["tracing"] = src["metrics"]
        extra = {"baseline": {}, "metrics": {},
                 "tracing": {"HILO_OTEL_ENDPOINT": f"http://127.0.0.1:{sink.server_port}"}}
        upstream = Proc("upstream", [PY, str(BENCH / "fake_upstream.py"), "--impl", "asgi", "--delay-ms", "0"],
                        clean_env(str(src["metrics"])), "/v1/models", cwd=tmp).start_ready()
        servers: dict[str, Proc] = {}
        try:
            for name in VARIANTS:
                if args.db == "postgresql":
                    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{turns.PG_DB}_{name}" WITH (FORCE)'))
                    asyncio.run(_pg(f'CREATE DATABASE "{turns.PG_DB}_{name}"'))
                servers[name] = start_hilo(name, src[name], args.db, tmp, upstream, extra[name], args.packs)
            settle(servers)
            assistants = {}
            for name, hilo in servers.items():
                with sdk(hilo.url) as oa:
                    assistants[name] = oa.beta.assistants.create(model="bench", instructions="Answer briefly.").id
            log(f"{args.db}: baseline {base}, head {head}; {args.clients} clients, {args.rounds} x {args.duration:g} s")
            for round_ in range(args.rounds + 1):  # round 0 warms up
                for name in (VARIANTS if round_ % 2 else tuple(reversed(VARIANTS))):
                    hilo = servers[name]
                    cpu = Cpu(server=hilo.proc.pid)
                    res = load("sdk_stream", hilo.url, assistants[name], cpu, args.clients, args.client_procs,
                               args.duration if round_ else 3.0)
                    httpx.get(hilo.url + "/metrics", timeout=10)  # a scrape per load (404 on the baseline)
                    if round_ and res["ok"]:
                        per_turn[name].append(res["server_cpu_ms_per_turn"])
                        rates[name].append(res["rate"])
                    log(f"  round {round_} {name}: {res['rate']} turns/s, hilo {res['server_cpu_ms_per_turn']} ms CPU"
                        f"/turn{' (' + str(res['bad']) + ' failed)' if res['bad'] else ''}")
        finally:
            for hilo in servers.values():
                hilo.stop()
            upstream.stop()
            sink.shutdown()
            if args.db == "postgresql":
                for name in VARIANTS:
                    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{turns.PG_DB}_{name}" WITH (FORCE)'))
    med = {v: round(statistics.median(per_turn[v]), 3) for v in VARIANTS}
    out: dict[str, Any] = {
        "bench": "observe", "date": dt.date.today().isoformat(), "db": args.db, "machine": machine(),
        "commit": head, "baseline": base, "packs": args.packs, "clients": args.clients, "rounds": args.rounds, "duration_s": args.duration,
        "server_cpu_ms_per_turn": per_turn, "turns_per_s": rates, "median_cpu_ms_per_turn": med,
        "metrics_added_ms_per_turn": round(med["metrics"] - med["baseline"], 3),
        "tracing_added_ms_per_turn": round(med["tracing"] - med["metrics"], 3),
        "otlp_bytes_exported": _Sink.spans_bytes, "source": "git archive snapshots of both commits",
    }
    (RESULTS / f"observe-{args.db}.json").write_text(json.dumps(out, indent=2) + "\n")
    m = out["machine"]
    print(f"\nobserve bench {out['date']}, {args.db}, {m['nproc']} x {m['cpu']}: hilo CPU per sdk_stream turn "
          f"(median of {args.rounds} rounds of {args.duration:g} s, {args.clients} clients)")
    for v in VARIANTS:
        print(f"  {v:<9} {med[v]:6.3f} ms  ({', '.join(f'{x:.3f}' for x in per_turn[v])}); "
              f"{statistics.median(rates[v]):.0f} turns/s")
    print(f"  metrics add {out['metrics_added_ms_per_turn']:+.3f} ms, tracing adds {out['tracing_added_ms_per_turn']:+.3f} ms"
          f" more; {out['otlp_bytes_exported']} bytes of spans exported")


if __name__ == "__main__":
    main()
