"""Which queue library carries hilo's runs: the hop from enqueue to the job starting, measured.

    .venv/bin/python bench/queue_libs.py [--jobs 300] [--redis redis://127.0.0.1:6379/15]

For each library installed (saq, which hilo uses; arq, if installed, for comparison), one worker in
this process (as ``hilo serve`` runs its own), jobs enqueued one at a time, each waited for:
enqueue-to-start latency p50/p99, and the CPU per job of enqueue + dequeue + bookkeeping. The
library's defaults, except what hilo sets (saq: ``dequeue_timeout=1``; arq: its default
``poll_delay`` of 0.5 s and then 0.001 s, the fastest it allows to be configured sensibly).
Writes ``bench/results/queue_libs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def bench_saq(url: str, jobs: int) -> dict:
    from saq import Queue

    from hilo.runs.queue import _Worker

    queue = Queue.from_url(url, name=f"bench-{uuid.uuid4().hex[:6]}")
    await queue.connect()
    started: dict[int, float] = {}
    done = asyncio.Event()

    async def job(ctx, *, n: int) -> None:
        started[n] = time.perf_counter()
        done.set()

    worker = _Worker(queue, functions=[("job", job)], concurrency=4, dequeue_timeout=1.0)
    task = asyncio.create_task(worker.start())
    await asyncio.sleep(0.3)
    hops, cpu0 = [], time.process_time()
    for n in range(jobs):
        done.clear()
        t0 = time.perf_counter()
        await queue.enqueue("job", key=f"j{n}", n=n, timeout=0)
        await done.wait()
        hops.append((started[n] - t0) * 1000)
    cpu = (time.process_time() - cpu0) / jobs * 1000
    worker.event.set()
    await worker.stop()
    task.cancel()
    await queue.disconnect()
    return {"p50_ms": round(pct(hops, 50), 3), "p99_ms": round(pct(hops, 99), 3), "cpu_ms_per_job": round(cpu, 3)}


async def bench_arq(url: str, jobs: int, poll_delay: float) -> dict:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    started: dict[int, float] = {}
    done = asyncio.Event()

    async def job(ctx, n: int) -> None:
        started[n] = time.perf_counter()
        done.set()

    settings = RedisSettings.from_dsn(url)
    name = f"bench-arq-{uuid.uuid4().hex[:6]}"
    pool = await create_pool(settings, default_queue_name=name)
    worker = Worker(functions=[func(job, name="job")], redis_settings=settings, queue_name=name, poll_delay=poll_delay,
                    handle_signals=False, max_jobs=4)
    task = asyncio.create_task(worker.async_run())
    await asyncio.sleep(0.3)
    hops, cpu0 = [], time.process_time()
    for n in range(jobs):
        done.clear()
        t0 = time.perf_counter()
        await pool.enqueue_job("job", n, _queue_name=name)
        await done.wait()
        hops.append((started[n] - t0) * 1000)
    cpu = (time.process_time() - cpu0) / jobs * 1000
    await worker.close()
    task.cancel()
    await pool.aclose()
    return {"p50_ms": round(pct(hops, 50), 3), "p99_ms": round(pct(hops, 99), 3), "cpu_ms_per_job": round(cpu, 3),
            "poll_delay_s": poll_delay}


async def main(args: argparse.Namespace) -> dict:
    out: dict = {"saq": await bench_saq(args.redis, args.jobs)}
    try:
        import arq  # noqa: F401
    except ImportError:
        out["arq"] = "not installed (pip install arq to compare)"
    else:
        out["arq_default_poll"] = await bench_arq(args.redis, max(20, args.jobs // 10), 0.5)
        out["arq_poll_1ms"] = await bench_arq(args.redis, args.jobs, 0.001)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = ap.parse_args()
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    result = asyncio.run(main(args))
    result.update({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nproc": os.cpu_count(),
                   "loadavg": os.getloadavg()})
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "queue_libs.json").write_text(json.dumps(result, indent=2) + "\n")
