"""Scale-out bench, on the path users take: the official ``openai`` SDK (and plain httpx for
latency) against ``hilo serve`` as shipped, hilo's ``openai`` provider streaming from a fake
upstream over HTTP, on PostgreSQL, in three topologies on the same machine:

* ``one``: one ``hilo serve`` process, no Redis (runs execute as tasks of the process);
* ``queue_one``: one ``hilo serve`` with ``HILO_REDIS_URL``: the runs go through the saq queue
  and the Redis event bus, and the same process executes them (the queue hop without a process hop);
* ``scaled``: two ``hilo serve --no-execute`` replicas and two ``hilo worker`` processes on
  PostgreSQL and Redis: every run crosses from a replica to a worker and its events come back.

    .venv/bin/python bench/scale.py [--duration 8] [--rounds 2] [--clients 16] [--samples 200]

Figures per topology: turns per second under ``--clients`` SDK streaming clients (the clients
split over the replicas), hilo CPU per turn (every hilo process; Redis and the PostgreSQL
backends apart), and at concurrency 1 (plain httpx, so the SDK's own CPU is not counted) the
turn's p50/p99 and its time to first delta (``POST .../runs`` to the first
``thread.message.delta``). **queue hop** = the p50 of ``scaled`` (and of ``queue_one``) minus the
p50 of ``one``: target under 2 ms.

Redis is a private ``redis-server`` of the bench's own (hilo.testing.cluster.PrivateRedis).
Writes ``bench/results/scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import shortcut  # noqa: E402
import turns  # noqa: E402
from shortcut import log, summary_ms  # noqa: E402
from turns import ECHO, INSTRUCTIONS, PY, TEXT, Cpu, HttpTurns, Proc, clean_env, machine, sdk  # noqa: E402

from hilo.testing.cluster import PrivateRedis  # noqa: E402

PG_DB = "hilo_bench_scale"
shortcut.PG_DB = PG_DB
RESULTS = BENCH / "results"
TARGET_HOP_MS = 2.0


class TimedHttpTurns(HttpTurns):
    """HttpTurns that also records the time from ``POST .../runs`` to the first message delta."""

    def __init__(self, url: str, assistant_id: str):
        super().__init__(url, assistant_id)
        self.ttft: list[float] = []

    def turn(self) -> None:
        self.prepare()
        self.n += 1
        r = self.client.post(f"/threads/{self.thread_id}/messages", json={"role": "user", "content": TEXT})
        if r.status_code != 200:
            raise turns.TurnFailed(f"messages {r.status_code}")
        text, event, status, first = None, "", None, None
        t0 = time.perf_counter()
        with self.client.stream("POST", f"/threads/{self.thread_id}/runs",
                                json={"assistant_id": self.assistant_id, "stream": True}) as resp:
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "thread.message.delta" and first is None:
                        first = time.perf_counter() - t0
                elif line.startswith("data: ") and event == "thread.message.completed":
                    text = json.loads(line[6:])["content"][0]["text"]["value"]
                elif line.startswith("data: ") and event == "thread.run.completed":
                    status = "completed"
        if status != "completed" or text != ECHO:
            raise turns.TurnFailed(f"run {status}, reply {text!r}")
        if first is not None:
            self.ttft.append(first)


def routed(urls: list[str]):
    """turns.make_client, with each new client on the next replica."""
    counter = itertools.count()
    original = turns.make_client

    def make(case: str, _url: str, assistant_id: str):
        return original(case, urls[next(counter) % len(urls)], assistant_id)

    return make


def topology(name: str, args: argparse.Namespace, tmp: Path, upstream: Proc, redis: PrivateRedis) -> dict[str, Any]:
    asyncio.run(shortcut.reset_pg())
    env = clean_env(None)
    env.update({"HILO_DATA_DIR": str(tmp / f"data-{name}"), "HILO_LLM_PROVIDER": "openai",
                "HILO_LLM_BASE_URL": f"{upstream.url}/v1", "HILO_LLM_API_KEY": "bench", "HILO_LLM_MODEL": "bench-model",
                "HILO_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"})
    if name != "one":
        env.update({"HILO_REDIS_URL": redis.url, "HILO_REDIS_PREFIX": f"bench-{name}-{time.time_ns()}"})
    hilo_bin = str(Path(PY).parent / "hilo")
    procs: list[Proc] = []
    try:
        if name == "scaled":
            for _ in range(2):
                procs.append(Proc("replica", [hilo_bin, "serve", "--host", "127.0.0.1", "--no-execute"], env,
                                  "/health", cwd=tmp).start_ready())
            for i in range(2):
                worker = Proc(f"worker{i}", [hilo_bin, "worker"], env, "/health", cwd=tmp)
                worker.log_file = open(worker.log_path, "wb")  # no port, no /health: its log says when it is ready
                worker.proc = subprocess.Popen(worker.argv, env=env, cwd=tmp, stdout=worker.log_file,
                                               stderr=subprocess.STDOUT, start_new_session=True)
                procs.append(worker)
            deadline = time.monotonic() + 90
            while not all(" worker ready" in p.log_path.read_text(errors="replace") for p in procs[2:]):
                if time.monotonic() > deadline or any(p.proc.poll() is not None for p in procs[2:]):
                    raise RuntimeError("a worker did not start:\n" + "\n".join(f"{p.proc.poll()}: {p.log_tail(40)}" for p in procs[2:]))
                time.sleep(0.2)
        else:
            procs.append(Proc("hilo", [hilo_bin, "serve", "--host", "127.0.0.1"], env, "/health", cwd=tmp).start_ready())
        urls = [p.url for p in procs if p.name in ("hilo", "replica")]
        groups: dict[str, Any] = {"server": lambda: [pid for p in procs for pid in shortcut.tree(p.proc.pid)],
                                  "upstream": upstream.proc.pid, "postgres": shortcut.pg_backends}
        if name != "one":
            groups["redis"] = lambda: [redis.proc.pid]
        cpu = Cpu(**groups)
        oa = sdk(urls[0])
        assistant_id = oa.beta.assistants.create(model="bench", instructions=INSTRUCTIONS).id
        oa.close()
        log(f"[{name}] {len(procs)} process(es): {', '.join(p.name for p in procs)}")

        timed = [TimedHttpTurns(u, assistant_id) for u in urls]
        for c in timed:  # warm-up
            for _ in range(10):
                c.turn()
            c.ttft.clear()
        walls: list[float] = []
        before = cpu.snap()
        for i in range(args.samples):
            client = timed[i % len(timed)]
            client.prepare()
            t0 = time.perf_counter()
            client.turn()
            walls.append(time.perf_counter() - t0)
        sequential_cpu = Cpu.delta(before, cpu.snap())
        ttft = [t for c in timed for t in c.ttft]
        for c in timed:
            c.close()
        turns.make_client = routed(urls)
        rounds = []
        for r in range(args.rounds + 1):
            res = turns.load("sdk_stream", urls[0], assistant_id, cpu, args.clients, args.client_procs,
                             min(2.0, args.duration) if r == 0 else args.duration)
            log(f"[{name}] load {'warm-up' if r == 0 else f'round {r}'}: {res['rate']}/s, ok {res['ok']}, "
                f"bad {res['bad']}, hilo CPU {res['server_cpu_ms_per_turn']} ms/turn")
            if r:
                rounds.append(res)
    finally:
        for p in procs:
            p.stop()
        asyncio.run(shortcut.drop_pg())
    ok = sum(x["ok"] for x in rounds)
    seconds = sum(x["seconds"] for x in rounds)
    per_turn = {key[:-len("_cpu_s")]: round(1000 * sum(x[key] for x in rounds) / max(1, ok), 3)
                for key in rounds[0] if key.endswith("_cpu_s")}
    latency = summary_ms(walls)
    return {"processes": [p.name for p in procs], "turns_per_s": round(ok / seconds, 1), "ok": ok,
            "bad": sum(x["bad"] for x in rounds), "cpu_ms_per_turn": per_turn,
            "first_error": next((x["first_error"] for x in rounds if x["first_error"]), None),
            "sequential": {"turn": latency, "ttft": summary_ms(ttft),
                           "hilo_cpu_ms_per_turn": round(1000 * sequential_cpu["server"] / len(walls), 3)},
            "turn_p50_ms": latency["p50_ms"], "turn_p99_ms": latency["p99_ms"], "ttft": summary_ms(ttft)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--topologies", default="one,queue_one,scaled")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hilo-bench-scale-"))
    upstream = Proc("upstream", [PY, str(BENCH / "fake_upstream.py"), "--impl", "asgi"], clean_env(None), "/v1/models",
                    cwd=tmp)
    upstream.start_ready()
    redis = PrivateRedis().start()
    results: dict[str, Any] = {}
    try:
        for name in args.topologies.split(","):
            results[name] = topology(name, args, tmp, upstream, redis)
    finally:
        upstream.stop()
        redis.close()
    base = results.get("one")
    summary = {}
    for name, res in results.items():
        row = {"turns_per_s": res["turns_per_s"], "hilo_cpu_ms_per_turn": res["cpu_ms_per_turn"].get("server"),
               "redis_cpu_ms_per_turn": res["cpu_ms_per_turn"].get("redis"),
               "postgres_cpu_ms_per_turn": res["cpu_ms_per_turn"].get("postgres"),
               "turn_p50_ms": res["turn_p50_ms"], "turn_p99_ms": res["turn_p99_ms"],
               "ttft_p50_ms": res["ttft"]["p50_ms"], "ttft_p99_ms": res["ttft"]["p99_ms"]}
        if base is not None and name != "one":
            row["queue_hop_p50_ms"] = round(res["turn_p50_ms"] - base["turn_p50_ms"], 3)
            row["ttft_extra_p50_ms"] = round(res["ttft"]["p50_ms"] - base["ttft"]["p50_ms"], 3)
            row["meets_hop_target"] = row["queue_hop_p50_ms"] < TARGET_HOP_MS
        summary[name] = row
        log(f"{name:>10}: {row}")
    out = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
           "commit": turns.git("rev-parse", "--short", "HEAD"),
           "config": {"clients": args.clients, "client_procs": args.client_procs, "duration_s": args.duration,
                      "rounds": args.rounds, "samples": args.samples, "database": "postgresql 15 (local)",
                      "model": "hilo's openai provider -> bench/fake_upstream.py echo, 8 content chunks"},
           "target_queue_hop_p50_ms": TARGET_HOP_MS, "summary": summary, "topologies": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {RESULTS / 'scale.json'}")


if __name__ == "__main__":
    main()
