"""Where the time of one turn goes: counts and a profile of hilo's turn path, in-process.

    .venv/bin/python bench/profile_turn.py [--db sqlite|postgresql] [--turns N] [--fresh-threads]
                                           [--hilo-src DIR] [--html FILE]

Serves hilo (one worker, scripted echo model) in a thread of this process, sends N
sequential streamed turns from the main thread over one keep-alive connection, and
reports per turn:

* SQL statements by kind and table, transactions committed, sessions opened;
* how often the serializers and the SSE encoder ran;
* the server thread's CPU per turn (``time.thread_time`` of that thread) and the main
  loop's wall time per stage of the engine;
* a pyinstrument profile of the server thread: the heaviest functions by self time and
  by total time, in % of the thread's busy (non-idle) time.

Nothing in hilo is changed: the counters are SQLAlchemy event listeners and wrappers
installed on the live objects for the duration of the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--fresh-threads", action="store_true",
                        help="one new thread per turn (default: all turns on one thread, as a chat does)")
    parser.add_argument("--hilo-src", help="directory holding the hilo package to profile")
    parser.add_argument("--interval", type=float, default=0.0002, help="pyinstrument sampling interval (s)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--html", help="also write pyinstrument's HTML report here")
    args = parser.parse_args()
    if args.hilo_src:
        sys.path.insert(0, str(Path(args.hilo_src).resolve()))
    sys.path.insert(0, str(BENCH))

    import uvicorn
    from hilo.engine import context as ctx
    from hilo.engine.runner import RunEngine
    from pyinstrument import Profiler
    from sqlalchemy import event
    from turns import PG_DB, RawClient, create_objects, drop_pg, reset_pg, summary_ms

    import hilo
    from hilo import serialize
    from hilo.api import streaming
    from hilo.app import create_app
    from hilo.cli import bind_socket
    from hilo.kit.config import Settings
    from hilo.migrations import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="hilo-profile-"))
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'profile.db'}"
    else:
        asyncio.run(reset_pg())
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
    settings = Settings(database_url=url, llm_provider="scripted", log_level="warning", data_dir=tmp / "data")
    upgrade(url)
    app = create_app(settings)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    profiler = Profiler(interval=args.interval, async_mode="disabled")
    def serve() -> None:
        server.run(sockets=[sock])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    print(f"hilo {hilo.__version__} from {Path(hilo.__file__).parent} on {args.db}, port {port}", file=sys.stderr)

    # ------------------------------------------------------------------ counters
    counts: collections.Counter[str] = collections.Counter()
    stage_time: collections.Counter[str] = collections.Counter()
    counting = {"on": False}
    sync_engine = app.state.db.engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _sql(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if counting["on"]:
            s = " ".join(statement.split())
            verb = s.split(" ", 1)[0].upper()
            m = re.search(r"(?:FROM|INTO|UPDATE)\s+\"?(\w+)", s, re.I)
            counts[f"sql {verb} {m.group(1) if m else '?'}"] += 1
            counts["sql statements"] += 1

    @event.listens_for(sync_engine, "commit")
    def _commit(conn):  # noqa: ANN001
        if counting["on"]:
            counts["transactions committed"] += 1

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_conn, record, proxy):  # noqa: ANN001
        if counting["on"]:
            counts["pool checkouts"] += 1

    def count_calls(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*a, **kw):
            if counting["on"]:
                counts[label] += 1
            return original(*a, **kw)

        setattr(owner, name, wrapper)

    for name in ("run", "message", "step"):
        count_calls(serialize, name, f"serialize.{name}")
    count_calls(streaming._Encoder, "__call__", "sse events encoded")

    # The turn path's statements (hilo.db.hot) bypass the engine's events: count them here.
    from hilo.db import hot

    original_args = hot.Prepared.args

    def counted_args(self, values):  # noqa: ANN001
        if counting["on"]:
            s = " ".join(self.sql.split())
            verb = s.split(" ", 1)[0].upper()
            m = re.search(r"(?:FROM|INTO|UPDATE)\s+\"?(\w+)", s, re.I)
            counts[f"sql {verb} {m.group(1) if m else '?'} (hot)"] += 1
            counts["sql statements"] += 1
        return original_args(self, values)

    hot.Prepared.args = counted_args

    def time_async(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        async def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return await original(*a, **kw)
            finally:
                if counting["on"]:
                    stage_time[label] += time.perf_counter() - t0
                    counts[f"calls {label}"] += 1

        setattr(owner, name, wrapper)

    for name in ("_execute", "_open_message", "_complete", "_call_model"):
        if hasattr(RunEngine, name):
            time_async(RunEngine, name, f"engine.{name}")
    time_async(ctx, "build", "context.build")
    from sqlalchemy.ext.asyncio import AsyncSession

    for name in ("commit", "execute", "get", "scalars", "scalar"):
        time_async(AsyncSession, name, f"AsyncSession.{name}")

    # ------------------------------------------------------------------ load
    base = f"http://127.0.0.1:{port}"
    n_threads = args.turns + 50 if args.fresh_threads else 1
    assistant_id, thread_ids = create_objects(base, n_threads)
    body = json.dumps({"assistant_id": assistant_id, "stream": True,
                       "additional_messages": [{"role": "user", "content": "hi"}]}).encode()
    client = RawClient(port)
    marker = b"event: thread.message.delta"

    def turn(i: int) -> tuple[float, float]:
        tid = thread_ids[i] if args.fresh_threads else thread_ids[0]
        status, text, first, total = client.post(f"/v1/threads/{tid}/runs", body, marker)
        if status != 200 or b"thread.run.completed" not in text:
            raise RuntimeError(f"turn failed: {status} {text[:300]!r}")
        return first or float("nan"), total

    for i in range(min(50, args.turns)):  # warm-up (statement caches, pools)
        turn(args.turns + i if args.fresh_threads else 0)

    loop = _find_loop()
    cpu_box: dict[str, float] = {}

    async def _cpu_now() -> None:
        cpu_box["t"] = time.thread_time()  # runs in the server thread

    def server_cpu() -> float:
        asyncio.run_coroutine_threadsafe(_cpu_now(), loop).result(5)
        return cpu_box["t"]

    async def _start_profiler() -> None:
        profiler.start()

    async def _stop_profiler() -> None:
        profiler.stop()

    asyncio.run_coroutine_threadsafe(_start_profiler(), loop).result(5)
    cpu0 = server_cpu()
    counting["on"] = True
    firsts, totals = [], []
    t0 = time.perf_counter()
    for i in range(args.turns):
        f, t = turn(i)
        firsts.append(f)
        totals.append(t)
    wall = time.perf_counter() - t0
    counting["on"] = False
    cpu1 = server_cpu()
    asyncio.run_coroutine_threadsafe(_stop_profiler(), loop).result(5)
    client.close()

    n = args.turns
    print(f"\n{n} sequential turns on {'fresh threads' if args.fresh_threads else 'one thread'} ({args.db}), "
          f"{n / wall:.1f} turns/s; latency {summary_ms(totals)}; first delta {summary_ms(firsts)}")
    print(f"server thread CPU per turn: {1000 * (cpu1 - cpu0) / n:.2f} ms (with the profiler attached)")
    print("\nper turn:")
    for key, value in sorted(counts.items(), key=lambda kv: (not kv[0].startswith("sql statements"), kv[0])):
        if not key.startswith("calls "):
            print(f"  {value / n:7.2f}  {key}")
    print("\nwall time per turn (ms) inside (nested: engine._execute holds the others; AsyncSession.* may nest):")
    for key, value in stage_time.items():
        print(f"  {1000 * value / n:7.2f}  {key}  ({counts[f'calls {key}'] / n:.1f} calls)")

    session = profiler.last_session
    root = session.root_frame()
    self_t: collections.Counter[str] = collections.Counter()
    total_t: collections.Counter[str] = collections.Counter()
    idle = 0.0

    def label(fr) -> str:
        path = fr.file_path or ""
        if "/hilo/" in path:
            path = "hilo/" + path.split("/hilo/", 1)[1]
        elif "site-packages/" in path:
            path = path.split("site-packages/", 1)[1]
        else:
            path = os.path.basename(path)
        return f"{path}:{fr.function}"

    idle_names = ("runners.py:run", "base_events.py:_run_once", "selectors.py:select", "base_events.py:run_forever")

    def walk(fr, stack: tuple[str, ...]) -> None:
        nonlocal idle
        synthetic = fr.is_synthetic_leaf or fr.function.startswith("[")
        name = stack[-1] if synthetic and stack else label(fr)
        own = fr.time - sum(c.time for c in fr.children)
        if name.endswith(idle_names):
            idle += own  # the event loop waiting for I/O (and uvloop's own C code)
        else:
            self_t[name] += own
        if not synthetic and name not in stack:
            total_t[name] += fr.time
        for c in fr.children:
            walk(c, stack if synthetic else stack + (name,))

    walk(root, ())
    if os.environ.get("PROFILE_DEBUG"):
        def show(fr, depth, maxdepth):
            if fr.time / root.time < 0.01 or depth > maxdepth:
                return
            print("   " * depth, f"{100 * fr.time / root.time:5.1f}%", label(fr))
            for c in sorted(fr.children, key=lambda c: -c.time):
                show(c, depth + 1, maxdepth)
        show(root, 0, int(os.environ["PROFILE_DEBUG"]))
    busy = root.time - idle
    print(f"\npyinstrument, server thread: {root.time:.2f} s sampled, {busy:.2f} s busy "
          f"({1000 * busy / n:.2f} ms per turn); % of busy time")
    by_pkg: collections.Counter[str] = collections.Counter()
    for name, t in self_t.items():
        by_pkg[_package(name)] += t
    print("  self time by package: " + ", ".join(f"{k} {100 * v / busy:.0f}%" for k, v in by_pkg.most_common(12)))
    print("  self time:")
    for name, t in self_t.most_common(args.top):
        print(f"    {100 * t / busy:5.1f}%  {name}")
    print("  total time (hilo and selected library frames):")
    shown = 0
    for name, t in total_t.most_common():
        if shown >= args.top:
            break
        if name.startswith(("hilo/", "sqlalchemy/", "aiosqlite/", "asyncpg/", "fastapi/", "starlette/", "pydantic",
                            "json", "uvicorn/protocols", "greenlet")) and 100 * t / busy < 99:
            print(f"    {100 * t / busy:5.1f}%  {name}")
            shown += 1
    if args.html:
        Path(args.html).write_text(profiler.output_html())
        print(f"\nHTML profile: {args.html}")

    server.should_exit = True
    thread.join(10)
    if args.db == "postgresql":
        asyncio.run(drop_pg())


def _package(name: str) -> str:
    path = name.rsplit(":", 1)[0]
    if path.startswith("<built-in>"):
        fn = name.rsplit(":", 1)[1]
        return {"SimpleQueue.put_nowait": "aiosqlite", "_AsyncIoGreenlet.switch": "greenlet"}.get(fn, "builtins")
    if "/" not in path:
        return {"encoder.py": "json", "decoder.py": "json", "__init__.py": "stdlib"}.get(path, "stdlib")
    top = path.split("/", 1)[0]
    if top == "hilo":
        return "/".join(path.split("/")[:2]).removesuffix(".py")
    return top


def _find_loop() -> asyncio.AbstractEventLoop:
    """The event loop uvicorn runs in its thread (found through a server task's loop)."""
    import gc

    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop) and obj.is_running():
            return obj
    raise RuntimeError("server loop not found")


if __name__ == "__main__":
    main()
