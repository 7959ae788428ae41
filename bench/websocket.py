"""WebSocket bench: idle connections held by one hilo process, and the reply overhead while
some of them chat.

    .venv/bin/python bench/websocket.py [--connections 5000] [--chatters 500] [--rounds 4] [--think 10]

Starts ``hilo serve`` (one process, SQLite in a temporary directory, HILO_PACKS=none,
HILO_LLM_PROVIDER=scripted: the scripted model echoes at zero latency, so every millisecond
measured is hilo's), creates one assistant, then

1. opens ``--connections`` WebSockets to ``/ws/assistant/`` (each a new user: an identity row
   is written on connect), waits for every ``connection`` frame, and reports the server's
   RSS growth per connection (target < 30 KB);
2. lets ``--chatters`` of them chat, ``--rounds`` messages each, twice: *paced* (one
   message per ``--think`` seconds each, as people type: 50 messages/s offered by default)
   and *flat out* (each sends its next message as soon as the reply arrives: the server's
   capacity). Reply time is from sending the frame to receiving the ``response`` frame
   (p50/p90/p99/max), next to one lone chatter's on the idle server.

Both this process and the server raise their open-files limit (resource.setrlimit). The
figures go to bench/results/websocket.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
TARGET_KB = 30.0


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def raise_fd_limit(need: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def start_server(tmp: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "HILO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db", "HILO_DATA_DIR": str(tmp),
           "HILO_LLM_PROVIDER": "scripted", "HILO_PACKS": "none", "HILO_AUTH": "off", "HILO_LOG_LEVEL": "warning",
           "HILO_MAX_CONCURRENT_RUNS": "512"}
    hilo = shutil.which("hilo", path=str(Path(sys.executable).parent)) or "hilo"
    out = open(tmp / "server.log", "wb")
    return subprocess.Popen([hilo, "serve", "--port", str(port)], env=env, cwd=tmp, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("hilo exited during start-up")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("hilo did not start")


async def open_one(url: str) -> object:
    ws = await connect(url, ping_interval=None, open_timeout=60, max_queue=64)
    hello = json.loads(await ws.recv())
    if hello["type"] != "connection":
        raise RuntimeError(hello)
    return ws


async def open_many(url: str, n: int, parallel: int) -> list:
    slots = asyncio.Semaphore(parallel)
    done = 0

    async def one(i: int):
        nonlocal done
        async with slots:
            ws = await open_one(f"{url}&user=bench-{i}")
            done += 1
            if done % 1000 == 0:
                log(f"  {done} connected")
            return ws

    return await asyncio.gather(*(one(i) for i in range(n)))


ERRORS: list[str] = []


async def chat(ws, rounds: int, samples: list[float], think: float = 0.0) -> int:
    """``rounds`` messages, each after the previous reply (and ``think`` seconds, when paced)."""
    errors = 0
    if think:
        await asyncio.sleep(random.uniform(0, think))
    for r in range(rounds):
        if think and r:
            await asyncio.sleep(think)
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "message": f"hola {r}"}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("response", "error"):
                break
        samples.append((time.perf_counter() - sent) * 1000)
        if frame["type"] == "error":
            errors += 1
            ERRORS.append(frame["message"])
    return errors


async def measure(url: str, pid: int, args) -> dict:
    # warm-up: code paths, caches, the first thread and run
    warm = [await open_one(f"{url}&user=warm-{i}") for i in range(20)]
    lone: list[float] = []
    await chat(warm[0], 30, lone)
    for ws in warm:
        await ws.close()
    await asyncio.sleep(1.0)
    rss0 = rss_kb(pid)
    t0 = time.perf_counter()
    conns = await open_many(url, args.connections, args.parallel)
    connect_s = time.perf_counter() - t0
    await asyncio.sleep(2.0)  # let the server settle (identity writes, GC)
    rss1 = rss_kb(pid)
    health = httpx.get(url.replace("ws://", "http://").split("/ws/")[0] + "/", timeout=30).json()
    held = health["channels"]["websocket"]["connections"]
    per_conn_kb = (rss1 - rss0) / args.connections
    log(f"{args.connections} idle connections: RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB, "
        f"{per_conn_kb:.1f} KB per connection (server counts {held})")
    chatters = conns[: args.chatters]
    paced: list[float] = []
    t1 = time.perf_counter()
    paced_errors = sum(await asyncio.gather(*(chat(ws, args.rounds, paced, args.think) for ws in chatters)))
    paced_s = time.perf_counter() - t1
    log(f"{args.chatters} chatters, one message each per {args.think:g} s: p50 {statistics.median(paced):.1f} ms, "
        f"p99 {pct(paced, 99):.1f} ms, {paced_errors} errors")
    samples: list[float] = []
    t1 = time.perf_counter()
    errors = sum(await asyncio.gather(*(chat(ws, args.rounds, samples) for ws in chatters)))
    chat_s = time.perf_counter() - t1
    rss2 = rss_kb(pid)
    log(f"{args.chatters} chatters flat out x {args.rounds} messages: p50 {statistics.median(samples):.1f} ms, "
        f"p99 {pct(samples, 99):.1f} ms, {len(samples) / chat_s:.0f} replies/s, {errors} errors")
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    return {
        "idle": {"connections": args.connections, "held_by_server": held, "connect_seconds": round(connect_s, 2),
                 "rss_before_mib": round(rss0 / 1024, 1), "rss_after_mib": round(rss1 / 1024, 1),
                 "kb_per_connection": round(per_conn_kb, 2), "target_kb": TARGET_KB,
                 "meets_target": per_conn_kb < TARGET_KB},
        "chat_paced": {"chatters": args.chatters, "think_s": args.think, "messages_each": args.rounds,
                       "offered_per_s": round(args.chatters / args.think, 1), "replies": len(paced),
                       "errors": paced_errors, "p50_ms": round(statistics.median(paced), 2),
                       "p90_ms": round(pct(paced, 90), 2), "p99_ms": round(pct(paced, 99), 2),
                       "max_ms": round(max(paced), 2), "seconds": round(paced_s, 1)},
        "chat_flat_out": {"chatters": args.chatters, "messages_each": args.rounds, "replies": len(samples), "errors": errors,
                 "p50_ms": round(statistics.median(samples), 2), "p90_ms": round(pct(samples, 90), 2),
                 "p99_ms": round(pct(samples, 99), 2), "max_ms": round(max(samples), 2),
                 "replies_per_s": round(len(samples) / chat_s, 1), "rss_after_mib": round(rss2 / 1024, 1),
                 "error_samples": sorted(set(ERRORS))[:5]},
        "lone_chatter": {"replies": len(lone), "p50_ms": round(statistics.median(lone), 2),
                         "p99_ms": round(pct(lone, 99), 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--chatters", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--think", type=float, default=10.0, help="seconds between a paced chatter's messages")
    parser.add_argument("--parallel", type=int, default=200, help="connection attempts in flight")
    args = parser.parse_args()
    limit = raise_fd_limit(args.connections + 1000)
    if limit < args.connections + 100:
        sys.exit(f"open-files limit {limit} is too low for {args.connections} connections")
    tmp = Path(tempfile.mkdtemp(prefix="hilo-ws-bench-"))
    port = free_port()
    proc = start_server(tmp, port)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)
        assistant = httpx.post(base + "/v1/assistants", json={"model": "scripted/bench", "name": "Bench"},
                               timeout=30).json()
        url = f"ws://127.0.0.1:{port}/ws/assistant/?assistant={assistant['id']}"
        figures = asyncio.run(measure(url, proc.pid, args))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "bench": "websocket", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "note": "2 cores shared with other work; server and clients on the same machine"},
        "server": "hilo serve (1 process), SQLite, scripted echo model, heartbeat 20 s",
        **figures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "websocket.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
