"""The turn bench, on the path users take: ``hilo serve`` as shipped, driven by the official ``openai`` SDK and
the WebSocket channel, answering through hilo's ``openai`` provider from a fake upstream.

    .venv/bin/python bench/turns.py --snapshot [--db sqlite|postgresql|both]
        [--duration 8] [--clients 16] [--workers 1] [--rounds 2] [--samples 200]
        [--upstream asgi|fake_openai] [--upstream-delay-ms 0] [--profile] [--client-cost 500]

Processes (each its own, so that only hilo's CPU is counted as hilo's):

* **hilo**: ``hilo serve --workers N`` (the console script; ``--snapshot`` benches a
  ``git archive`` of HEAD made at start into a temporary directory, and records that commit;
  ``--hilo-src DIR`` benches the package in DIR, e.g. such an archive made by hand; either is
  put first on the server's PYTHONPATH, so the working tree can change meanwhile), log level as shipped (``info``: uvicorn's access log and the SDK's
  request log are on), SQLite in a fresh temporary file or PostgreSQL database
  ``hilo_bench_real`` (dropped and created). Model: hilo's ``openai`` provider with
  ``HILO_LLM_BASE_URL`` pointing at
* **the upstream**: ``bench/fake_upstream.py`` (uvicorn + a plain ASGI app; ``--upstream
  fake_openai`` serves ``hilo.testing.fake_openai.FakeOpenAIServer`` instead), streaming the
  echo ``"echo: <the user's text>"`` in 8 content chunks as OpenAI does;
* **the reference**: ``bench/bare_app.py`` (a bare FastAPI app, no hilo), ``POST /bare``;
* **clients**: ``--client-procs`` forked processes holding ``--clients`` threads in all, one
  client (and one hilo thread at a time) per thread.

Cases, one turn each:

* ``sdk_stream``: ``client.beta.threads.messages.create(...)`` then
  ``client.beta.threads.runs.stream(...)`` read to the end (``until_done``); the run must be
  ``completed`` and the reply the echo;
* ``sdk_poll``: ``messages.create``, ``runs.create_and_poll`` (the SDK's default poll
  interval), then ``messages.list(limit=1)`` to read the reply;
* ``http_stream`` (latency only): the same two requests as ``sdk_stream`` with plain
  ``httpx`` (``POST .../messages``, then ``POST .../runs`` with ``stream: true`` read to
  ``event: done``), so that the SDK's own client work is not counted as hilo's;
* ``websocket``: ``/ws/assistant/?assistant=<id>`` (``websockets``' sync client): send
  ``{"type": "message", ...}``, read ``delta`` frames up to the ``response`` frame;
* ``bare``: ``POST /bare`` with httpx (kept-alive connection per thread).

Under load each client starts a new hilo thread every 10 turns (``threads.create``; the
WebSocket sends ``{"type": "reset"}``), so threads stay short, as in bench/shortcut.py; that
request is part of the measured load.

Figures per database:

1. **server CPU per turn** (utime+stime of hilo's process tree from /proc, over ``--rounds``
   interleaved loads of ``--duration`` s each at ``--clients`` concurrency, after a warm-up
   round), beside the bare request's in the same rounds: ratio turn / bare (target <= 20);
   also the upstream's, the clients' and (PostgreSQL) the backends' CPU per turn;
2. **latency at concurrency 1**: one client per case, sequential, cases interleaved in 5
   rounds after a warm-up; p50/p99; the upstream's own p50 for the same streamed call made
   directly with httpx; **p50 added** = turn p50 - upstream p50, judged on ``http_stream``
   (target < 3 ms; the SDK cases print theirs too, which include several ms of the SDK's
   own CPU per turn: see the client CPU column);
3. **thread length**: the sequential ``sdk_stream`` turn on fresh threads (a new one every 10
   turns) and on a thread pre-filled with 1,000 messages, with
   ``truncation_strategy={"type": "last_messages", "last_messages": 10}`` and with the default
   (auto), interleaved in rounds; ratio long / fresh of p50 and of server CPU per turn
   (target: at most 1.10, i.e. a long thread costs at most 10 % more; cheaper is not a miss).

``--profile`` then runs one more ``sdk_stream`` load with ``py-spy record --nonblocking``
attached to hilo and summarises self time by function and package (bench/shortcut.py's
``summarize_profile``). ``--client-cost K`` (default 500, 0: skip) measures, in a child
process and one asyncio loop (uvloop), the client-side CPU of one streamed chat-completions
call against the upstream through ``openai.AsyncOpenAI``, plain ``httpx.AsyncClient``, plain
``httpx2.AsyncClient`` (the SDK's transport) and ``aiohttp``: K sequential calls each,
interleaved in 5 rounds, ``time.process_time`` per call.

Writes ``bench/results/turns-<db>.json`` (with the machine, versions, hilo commit, date).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import shortcut  # noqa: E402  (bench/shortcut.py: process, /proc and PostgreSQL helpers)
from shortcut import (  # noqa: E402
    cpu_seconds,
    drop_pg,
    hilo_version,
    log,
    reset_pg,
    summary_ms,
    tree,
)

PY = sys.executable
RESULTS = BENCH / "results"
PG_DB = "hilo_bench_real"
shortcut.PG_DB = PG_DB  # shortcut.reset_pg / drop_pg / pg_backends read this module global
TEXT = "one two three four five six seven"
ECHO = "echo: " + TEXT  # 8 words: the upstream streams it in 8 content chunks
INSTRUCTIONS = "Answer briefly."
TURNS_PER_THREAD = 10
IDLE_S = 4.0
LONG_THREAD_MESSAGES = 1000
LAST_10 = {"type": "last_messages", "last_messages": 10}
LOAD_CASES = ("bare", "sdk_stream", "websocket", "sdk_poll")
TARGETS = {"cpu_ratio_max": 20.0, "p50_added_ms_max": 3.0, "long_fresh_pct_max": 10.0}

warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks the Assistants API deprecated


# --------------------------------------------------------------------------- processes
class Proc(shortcut.Server):
    """bench/shortcut.py's Server, run from a directory of our choosing (no stray ``.env``)."""

    def __init__(self, *args: Any, cwd: Path, **kw: Any):
        super().__init__(*args, **kw)
        self.cwd = cwd

    def start(self) -> None:
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv + ["--port", str(self.port)], env=self.env, cwd=self.cwd,
                                     stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def start_ready(self) -> Proc:
        self.start()
        if not self.wait_ready():
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{tail}")
        return self


def clean_env(src: str | None) -> dict[str, str]:
    """Our environment without HILO_* (hilo runs as shipped), with ``src`` first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HILO_")}
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(src).resolve()), env.get("PYTHONPATH")]))
    return env


class Cpu:
    """CPU seconds (utime + stime from /proc) of named process groups over a span."""

    def __init__(self, **groups: Any):  # name -> a root pid (its whole tree) or a callable giving pids
        self.groups = groups

    def _pids(self, what: Any) -> list[int]:
        return what() if callable(what) else tree(what)

    def snap(self) -> dict[str, dict[int, float]]:
        return {name: cpu_seconds(self._pids(what)) for name, what in self.groups.items()}

    @staticmethod
    def delta(a: dict[str, dict[int, float]], b: dict[str, dict[int, float]]) -> dict[str, float]:
        return {name: sum(v - a[name].get(pid, 0.0) for pid, v in b[name].items()) for name in b}


def wait_settled(cpu: Cpu, group: str = "server", busy_ms_per_s: float = 50.0, timeout: float = 300.0) -> float:
    """Seconds until ``group`` idles (under ``busy_ms_per_s`` of CPU over a second). A first start does
    work in the background (the tax pack's documents are ingested, a shop's vectors made): turns
    measured meanwhile would carry it, and the idle figure would be that work's."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu.snap()
        time.sleep(1.0)
        if 1000 * Cpu.delta(before, cpu.snap())[group] < busy_ms_per_s:
            return time.monotonic() - started
    raise RuntimeError(f"hilo was still busy {timeout:.0f} s after it started (no request was sent)")


# --------------------------------------------------------------------------- one client per case
def sdk(url: str, **kw: Any):
    import openai

    return openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, **kw)


class TurnFailed(Exception):
    pass


class SdkTurns:
    """One SDK client's turns: ``messages.create`` + ``runs.stream`` (or ``create_and_poll``).

    A new hilo thread every TURNS_PER_THREAD turns unless ``thread_id`` is given.
    """

    def __init__(self, url: str, assistant_id: str, mode: str = "stream", thread_id: str | None = None,
                 truncation: dict | None = None):
        self.requests = 0
        hooks = {"request": [self._count]}
        import openai

        self.client = sdk(url, http_client=openai.DefaultHttpxClient(event_hooks=hooks))
        self.assistant_id, self.mode, self.truncation = assistant_id, mode, truncation
        self.fixed, self.thread_id, self.n = thread_id is not None, thread_id, 0
        self.last_create_s = 0.0
        self.prepared = -1

    def _count(self, request: Any) -> None:
        self.requests += 1

    def prepare(self) -> None:
        """A new hilo thread when one is due (timed under load, not in the latency figures)."""
        if not self.fixed and self.n % TURNS_PER_THREAD == 0 and self.prepared != self.n:
            self.thread_id = self.client.beta.threads.create().id
            self.prepared = self.n

    def turn(self) -> None:
        threads = self.client.beta.threads
        self.prepare()
        self.n += 1
        extra = {"truncation_strategy": self.truncation} if self.truncation else {}
        t0 = time.perf_counter()
        threads.messages.create(self.thread_id, role="user", content=TEXT)
        self.last_create_s = time.perf_counter() - t0
        if self.mode == "stream":
            with threads.runs.stream(thread_id=self.thread_id, assistant_id=self.assistant_id, **extra) as stream:
                stream.until_done()
            run = stream.get_final_run()
            messages = stream.get_final_messages()
            text = messages[-1].content[0].text.value if messages and messages[-1].content else None
        else:
            run = threads.runs.create_and_poll(thread_id=self.thread_id, assistant_id=self.assistant_id, **extra)
            last = threads.messages.list(self.thread_id, limit=1, order="desc").data
            text = last[0].content[0].text.value if last and last[0].content else None
        if run.status != "completed" or text != ECHO:
            raise TurnFailed(f"run {run.id} {run.status} {run.last_error}, reply {text!r}")

    def close(self) -> None:
        self.client.close()


class WsTurns:
    """One WebSocket session on ``/ws/assistant/``: a message, its deltas, its response frame."""

    def __init__(self, url: str, assistant_id: str):
        from websockets.sync.client import connect

        self.ws = connect(url.replace("http://", "ws://") + f"/ws/assistant/?assistant={assistant_id}",
                          open_timeout=30, close_timeout=5)
        hello = json.loads(self.ws.recv(timeout=30))
        if hello.get("type") != "connection":
            raise TurnFailed(f"no connection frame: {hello}")
        self.n = self.deltas = 0
        self.requests = 0

    def _frame(self) -> dict:
        return json.loads(self.ws.recv(timeout=30))

    def turn(self) -> None:
        if self.n and self.n % TURNS_PER_THREAD == 0:  # a new hilo thread, as under the SDK load
            self.ws.send('{"type":"reset"}')
            while (frame := self._frame())["type"] != "reset":
                if frame["type"] == "error":
                    raise TurnFailed(f"reset: {frame}")
        self.n += 1
        self.ws.send(json.dumps({"type": "message", "message": TEXT}))
        while True:
            frame = self._frame()
            kind = frame.get("type")
            if kind == "delta":
                self.deltas += 1
            elif kind == "response":
                if frame.get("message") != ECHO:
                    raise TurnFailed(f"reply {frame.get('message')!r}")
                return
            elif kind == "error":
                raise TurnFailed(f"error frame: {frame}")

    def close(self) -> None:
        self.ws.close()


class HttpTurns:
    """The SDK stream turn's two requests made with plain httpx (one kept-alive connection):
    ``POST .../messages``, then ``POST .../runs`` with ``stream: true`` read to ``done``. The
    same server work as ``sdk_stream`` without the SDK's client-side cost (its request
    building, pydantic models and event accumulation), which lands in the SDK's latency."""

    def __init__(self, url: str, assistant_id: str):
        self.client = httpx.Client(base_url=url + "/v1", timeout=30,
                                   headers={"Authorization": "Bearer bench", "OpenAI-Beta": "assistants=v2"})
        self.assistant_id, self.n, self.thread_id, self.prepared = assistant_id, 0, "", -1
        self.requests = 0

    def prepare(self) -> None:
        if self.n % TURNS_PER_THREAD == 0 and self.prepared != self.n:
            self.thread_id = self.client.post("/threads", json={}).json()["id"]
            self.prepared = self.n

    def turn(self) -> None:
        self.prepare()
        self.n += 1
        r = self.client.post(f"/threads/{self.thread_id}/messages", json={"role": "user", "content": TEXT})
        if r.status_code != 200:
            raise TurnFailed(f"messages {r.status_code}")
        text, event, status = None, "", None
        with self.client.stream("POST", f"/threads/{self.thread_id}/runs",
                                json={"assistant_id": self.assistant_id, "stream": True}) as resp:
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "thread.message.completed":
                    text = json.loads(line[6:])["content"][0]["text"]["value"]
                elif line.startswith("data: ") and event == "thread.run.completed":
                    status = "completed"
        if status != "completed" or text != ECHO:
            raise TurnFailed(f"run {status}, reply {text!r}")

    def close(self) -> None:
        self.client.close()


class BareRequests:
    """The reference: ``POST /bare`` on one kept-alive httpx connection."""

    def __init__(self, url: str, _assistant_id: str = ""):
        self.client = httpx.Client(base_url=url, timeout=30)
        self.requests = 0

    def turn(self) -> None:
        r = self.client.post("/bare", json={"stream": False})
        if r.status_code != 200 or r.json().get("object") != "bare":
            raise TurnFailed(f"bare {r.status_code}")

    def close(self) -> None:
        self.client.close()


class UpstreamDirect:
    """The upstream's own latency: the streamed call hilo makes, made directly with httpx."""

    def __init__(self, base_url: str):
        self.client = httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": "Bearer bench"})
        self.body = {"model": "bench-model", "stream": True, "stream_options": {"include_usage": True},
                     "messages": [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": TEXT}]}

    def turn(self) -> None:
        text = []
        with self.client.stream("POST", "/chat/completions", json=self.body) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    data = line[6:]
                    if data == "[DONE]":
                        break
                    for choice in json.loads(data)["choices"]:
                        text.append(choice["delta"].get("content") or "")
        if "".join(text) != ECHO:
            raise TurnFailed(f"upstream said {''.join(text)!r}")

    def close(self) -> None:
        self.client.close()


def make_client(case: str, url: str, assistant_id: str):
    if case == "sdk_stream":
        return SdkTurns(url, assistant_id, "stream")
    if case == "sdk_poll":
        return SdkTurns(url, assistant_id, "poll")
    if case == "websocket":
        return WsTurns(url, assistant_id)
    if case == "bare":
        return BareRequests(url)
    raise ValueError(case)


# --------------------------------------------------------------------------- loads
def _load_child(case: str, url: str, assistant_id: str, n_threads: int, warmup: int, go: Any,
                deadline: Any, ready: Any, out: Any) -> None:
    """A client process: n_threads clients, warmed up, then turns until the shared deadline."""
    barrier = threading.Barrier(n_threads + 1)
    results: list[dict[str, Any]] = [{} for _ in range(n_threads)]

    def run(i: int) -> None:
        res = results[i]
        res.update(ok=0, bad=0, requests=0, error=None)
        client = None
        try:
            client = make_client(case, url, assistant_id)
            for _ in range(warmup):
                client.turn()
        except Exception as exc:  # noqa: BLE001  (reported, the barrier must still be reached)
            res["error"] = f"setup: {type(exc).__name__}: {exc}"[:300]
        barrier.wait()
        go.wait()
        end = deadline.value
        if client is not None and res["error"] is None:
            requests0 = client.requests
            while time.monotonic() < end:
                try:
                    client.turn()
                    res["ok"] += 1
                except Exception as exc:  # noqa: BLE001
                    res["bad"] += 1
                    res["error"] = res["error"] or f"{type(exc).__name__}: {exc}"[:300]
                    if res["bad"] > 50:
                        break
            res["requests"] = client.requests - requests0
        try:
            if client is not None:
                client.close()
        except Exception:  # noqa: BLE001
            pass

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    ready.put(os.getpid())
    go.wait()
    cpu0 = time.process_time()
    for t in threads:
        t.join()
    out.put({"cpu_s": time.process_time() - cpu0, "threads": results})


def load(case: str, url: str, assistant_id: str, cpu: Cpu, clients: int, procs: int, duration: float,
         warmup: int = 2) -> dict[str, Any]:
    """``clients`` concurrent clients (in ``procs`` forked processes) for ``duration`` seconds."""
    ctx = mp.get_context("fork")
    go, deadline, ready, out = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue(), ctx.Queue()
    procs = max(1, min(procs, clients))
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    children = [ctx.Process(target=_load_child, args=(case, url, assistant_id, n, warmup, go, deadline, ready, out),
                            daemon=True) for n in shares]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=120)
        before = cpu.snap()
        t0 = time.monotonic()
        deadline.value = t0 + duration
        go.set()
        parts = [out.get(timeout=duration + 120) for _ in children]
        t1 = time.monotonic()
        used = Cpu.delta(before, cpu.snap())
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
    rows = [r for p in parts for r in p["threads"]]
    ok, bad = sum(r["ok"] for r in rows), sum(r["bad"] for r in rows)
    errors = [r["error"] for r in rows if r["error"]]
    res: dict[str, Any] = {"ok": ok, "bad": bad, "seconds": round(t1 - t0, 3), "rate": round(ok / (t1 - t0), 1),
                           "first_error": errors[0] if errors else None,
                           "client_cpu_ms_per_turn": round(1000 * sum(p["cpu_s"] for p in parts) / max(1, ok), 3)}
    for name, seconds in used.items():
        res[f"{name}_cpu_s"] = round(seconds, 3)
        res[f"{name}_cpu_ms_per_turn"] = round(1000 * seconds / max(1, ok), 3)
    if case.startswith("sdk"):
        res["http_requests_per_turn"] = round(sum(r["requests"] for r in rows) / max(1, ok), 2)
    if errors:
        log(f"  {case}: {bad} failures, first: {errors[0]}")
    return res


def loads(url: str, bare_url: str, assistant_id: str, cpu: Cpu, args: argparse.Namespace, db: str) -> dict[str, Any]:
    """The load cases interleaved in ``--rounds`` rounds, after a (shorter) warm-up round."""
    rounds: dict[str, list[dict[str, Any]]] = {c: [] for c in LOAD_CASES}
    for r in range(args.rounds + 1):
        warm = r == 0
        for case in LOAD_CASES:
            res = load(case, bare_url if case == "bare" else url, assistant_id, cpu, args.clients, args.client_procs,
                       min(2.0, args.duration) if warm else args.duration)
            tag = "warm-up" if warm else f"round {r}"
            own = res["bare_cpu_ms_per_turn"] if case == "bare" else res["server_cpu_ms_per_turn"]
            log(f"[{db}] load {tag} {case}: {res['rate']}/s, ok {res['ok']}, bad {res['bad']}, "
                f"server CPU {own} ms/turn, client CPU {res['client_cpu_ms_per_turn']} ms/turn")
            if not warm:
                rounds[case].append(res)
    out: dict[str, Any] = {}
    for case, rs in rounds.items():
        ok = sum(x["ok"] for x in rs)
        seconds = sum(x["seconds"] for x in rs)
        agg: dict[str, Any] = {"ok": ok, "bad": sum(x["bad"] for x in rs), "rate": round(ok / seconds, 1),
                               "first_error": next((x["first_error"] for x in rs if x["first_error"]), None)}
        for key in rs[0]:
            if key.endswith("_cpu_s"):
                name = key[:-len("_cpu_s")]
                total = sum(x[key] for x in rs)
                agg[f"{name}_cpu_ms_per_turn"] = round(1000 * total / max(1, ok), 3)
        agg["client_cpu_ms_per_turn"] = round(sum(x["client_cpu_ms_per_turn"] * x["ok"] for x in rs) / max(1, ok), 3)
        if "http_requests_per_turn" in rs[0]:
            agg["http_requests_per_turn"] = round(sum(x["http_requests_per_turn"] * x["ok"] for x in rs) / max(1, ok), 2)
        own = "bare_cpu_ms_per_turn" if case == "bare" else "server_cpu_ms_per_turn"
        agg["own_cpu_ms_per_turn_by_round"] = [x[own] for x in rs]  # the measured server's (hilo's, or bare's)
        agg["rounds"] = rs
        out[case] = agg
    return out


# --------------------------------------------------------------------------- sequential cases
def sequential(cases: dict[str, tuple[Any, int]], cpu: Cpu, rounds: int = 5) -> dict[str, Any]:
    """Each case: (client, samples); one client each, cases interleaved in rounds after a warm-up.

    Records each turn's wall time and, per case, hilo's CPU over its blocks of turns.
    """
    times: dict[str, list[float]] = {k: [] for k in cases}
    creates: dict[str, list[float]] = {k: [] for k in cases}
    cpu_s = {k: 0.0 for k in cases}
    client_s = {k: 0.0 for k in cases}
    failures: dict[str, int] = {k: 0 for k in cases}
    first_error: dict[str, str] = {}
    requests0: dict[str, int] = {}
    for r in range(rounds + 1):
        for name, (client, samples) in cases.items():
            n = max(3, samples // 10) if r == 0 else max(1, samples // rounds)
            if r == 1:
                requests0[name] = getattr(client, "requests", 0)
            before, client0 = cpu.snap(), time.process_time()
            for _ in range(n):
                if hasattr(client, "prepare"):
                    client.prepare()
                t0 = time.perf_counter()
                try:
                    client.turn()
                except Exception as exc:  # noqa: BLE001
                    failures[name] += 1
                    first_error.setdefault(name, f"{type(exc).__name__}: {exc}"[:300])
                    continue
                if r:
                    times[name].append(time.perf_counter() - t0)
                    if isinstance(client, SdkTurns):
                        creates[name].append(client.last_create_s)
            if r:
                client_s[name] += time.process_time() - client0
                cpu_s[name] += Cpu.delta(before, cpu.snap())["server"]
    out: dict[str, Any] = {}
    for name, (client, _samples) in cases.items():
        n = len(times[name])
        row: dict[str, Any] = {"total": summary_ms(times[name]), "failures": failures[name],
                               "server_cpu_ms_per_turn": round(1000 * cpu_s[name] / max(1, n), 3),
                               "client_cpu_ms_per_turn": round(1000 * client_s[name] / max(1, n), 3)}
        if creates[name]:
            row["messages_create"] = summary_ms(creates[name])
        if isinstance(client, SdkTurns) and n:
            row["http_requests_per_turn"] = round((client.requests - requests0[name]) / n, 2)
        if name in first_error:
            row["first_error"] = first_error[name]
            log(f"  {name}: {failures[name]} failures, first: {first_error[name]}")
        out[name] = row
    return out


def fill_thread(url: str, messages: int) -> str:
    """A thread holding ``messages`` messages, filled quickly through the API: ``threads.create``
    with 32, then runs with 32 ``additional_messages`` each (33 with the reply), then
    ``messages.create`` for the rest."""
    client = sdk(url)
    threads = client.beta.threads

    def msg(i: int) -> dict[str, str]:
        return {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 8}

    thread = threads.create(messages=[msg(i) for i in range(32)])
    have = 32
    assistant_id = client.beta.assistants.create(model="bench", instructions=INSTRUCTIONS).id
    while messages - have >= 33:
        batch = [msg(have + i) for i in range(31)] + [{"role": "user", "content": TEXT}]
        with threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id, additional_messages=batch) as s:
            s.until_done()
        if s.get_final_run().status != "completed":
            raise RuntimeError(f"fill run failed: {s.get_final_run().last_error}")
        have += 33
    for i in range(have, messages):
        threads.messages.create(thread.id, **msg(i))
    page = threads.messages.list(thread.id, limit=100)
    client.close()
    if len(page.data) < min(100, messages) or (messages > 100 and not page.has_more):
        raise RuntimeError("the long thread did not fill")
    return thread.id


# --------------------------------------------------------------------------- profile
def profile_load(db: str, hilo: Proc, assistant_id: str, cpu: Cpu, args: argparse.Namespace) -> dict[str, Any] | None:
    spy = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
    if spy is None:
        log("  --profile: py-spy not found (pip install py-spy)")
        return None
    raw = Path(tempfile.gettempdir()) / f"real_path-{db}.txt"
    raw.unlink(missing_ok=True)
    seconds = 10
    argv = [spy, "record", "--nonblocking", "--format", "raw", "-o", str(raw), "-p", str(hilo.proc.pid),
            "-d", str(seconds), "--rate", "200", "--threads"] + (["--subprocesses"] if args.workers > 1 else [])
    spy_proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    res = load("sdk_stream", hilo.url, assistant_id, cpu, args.clients, args.client_procs, seconds + 1)
    _out, err = spy_proc.communicate(timeout=60)
    if not raw.exists():
        log(f"  --profile: py-spy wrote nothing: {err.decode(errors='replace')[-300:]}")
        return None
    top = shortcut.summarize_profile(raw.read_text(), 100000)
    top["self_by_package_pct"] = by_package(top["top_self_pct"])
    top["top_self_pct"], top["top_inclusive_pct"] = top["top_self_pct"][:60], top["top_inclusive_pct"][:120]
    log(f"[{db}] profile: {raw} ({res['rate']} turns/s under py-spy)")
    return {"raw": str(raw), "turns_per_s_under_profiler": res["rate"], **top}


def by_package(self_pct: list[list[Any]]) -> list[list[Any]]:
    """Self time by package from functions' self times (``pkg/mod.py:func``; the standard
    library's modules, which shortcut.summarize_profile lumps as "(main)", by module)."""
    out: dict[str, float] = {}
    for name, pct_ in self_pct:
        path = name.rsplit(":", 1)[0]
        if path.startswith("hilo/"):
            pkg = "/".join(path.split("/")[:2])
        elif "/" in path:
            pkg = path.split("/", 1)[0]
        else:
            pkg = "stdlib " + path.removesuffix(".py")
        out[pkg] = out.get(pkg, 0.0) + pct_
    return [[k, round(v, 1)] for k, v in sorted(out.items(), key=lambda kv: -kv[1])]


# --------------------------------------------------------------------------- client cost (child process)
CLIENT_KINDS = ("openai.AsyncOpenAI", "httpx.AsyncClient", "httpx2.AsyncClient", "aiohttp")


async def _client_cost(base_url: str, calls: int, rounds: int = 5) -> dict[str, Any]:
    import orjson

    body = {"model": "bench-model", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": TEXT}]}
    url = base_url + "/chat/completions"
    headers = {"Authorization": "Bearer bench"}

    def parse_sse_line(line: str | bytes, text: list[str]) -> bool:
        """One SSE line into ``text``; False at ``[DONE]``."""
        if isinstance(line, bytes):
            line = line.decode()
        if not line.startswith("data: "):
            return True
        data = line[6:].strip()
        if data == "[DONE]":
            return False
        for choice in orjson.loads(data)["choices"]:
            text.append(choice["delta"].get("content") or "")
        return True

    import aiohttp
    import httpx2
    import openai

    sdk_client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", timeout=60, max_retries=2)  # as hilo's provider
    hx = httpx.AsyncClient(timeout=60, headers=headers)
    hx2 = httpx2.AsyncClient(timeout=60, headers=headers)
    session = aiohttp.ClientSession(headers=headers)

    async def via_sdk() -> str:
        params = {k: v for k, v in body.items()}
        stream = await sdk_client.chat.completions.create(**params)
        text = []
        try:
            async for chunk in stream:
                for choice in chunk.choices or []:
                    if choice.delta is not None and choice.delta.content:
                        text.append(choice.delta.content)
        finally:
            await stream.close()
        return "".join(text)

    async def via_httpx(client: Any) -> str:
        text: list[str] = []
        async with client.stream("POST", url, json=body) as r:
            async for line in r.aiter_lines():
                if not parse_sse_line(line, text):
                    break
        return "".join(text)

    async def via_aiohttp() -> str:
        text: list[str] = []
        async with session.post(url, json=body) as r:
            async for line in r.content:
                if not parse_sse_line(line, text):
                    break
        return "".join(text)

    calls_of = {"openai.AsyncOpenAI": via_sdk, "httpx.AsyncClient": lambda: via_httpx(hx),
                "httpx2.AsyncClient": lambda: via_httpx(hx2), "aiohttp": via_aiohttp}
    cpu = {k: 0.0 for k in calls_of}
    wall: dict[str, list[float]] = {k: [] for k in calls_of}
    for r in range(rounds + 1):
        for kind, call in calls_of.items():
            n = 20 if r == 0 else calls // rounds
            c0 = time.process_time()
            for _ in range(n):
                t0 = time.perf_counter()
                if await call() != ECHO:
                    raise RuntimeError(f"{kind}: wrong echo")
                if r:
                    wall[kind].append(time.perf_counter() - t0)
            if r:
                cpu[kind] += time.process_time() - c0
    await sdk_client.close()
    await hx.aclose()
    await hx2.aclose()
    await session.close()
    return {kind: {"calls": len(wall[kind]), "cpu_ms_per_call": round(1000 * cpu[kind] / len(wall[kind]), 3),
                   "wall": summary_ms(wall[kind])} for kind in calls_of}


def client_cost(upstream_base: str, calls: int) -> dict[str, Any]:
    out = subprocess.run([PY, __file__, "--client-cost-child", upstream_base, "--client-cost", str(calls)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"client cost child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def client_cost_child(base_url: str, calls: int) -> None:
    try:
        import uvloop
        loop_name = f"uvloop {uvloop.__version__}"
        runner = uvloop.run
    except ImportError:
        loop_name, runner = "asyncio", asyncio.run
    res = runner(_client_cost(base_url, calls))
    print(json.dumps({"loop": loop_name, "clients": res}))


# --------------------------------------------------------------------------- one database
def bench_db(db: str, args: argparse.Namespace, tmp: Path, upstream: Proc, bare: Proc) -> dict[str, Any]:
    env = clean_env(args.hilo_src)
    env.update({"HILO_DATA_DIR": str(tmp / f"data-{db}"), "HILO_LLM_PROVIDER": "openai",
                "HILO_LLM_BASE_URL": f"{upstream.url}/v1", "HILO_LLM_API_KEY": "bench", "HILO_LLM_MODEL": "bench-model"})
    if db == "sqlite":
        env["HILO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / f'real-path-{time.time_ns()}.db'}"
    else:
        asyncio.run(reset_pg())
        env["HILO_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
    hilo_bin = str(Path(PY).parent / "hilo")
    hilo = Proc("hilo", [hilo_bin, "serve", "--host", "127.0.0.1", "--workers", str(args.workers)], env, "/health",
                cwd=tmp)
    result: dict[str, Any] = {}
    clients: list[Any] = []
    try:
        hilo.start_ready()
        groups: dict[str, Any] = {"server": hilo.proc.pid, "upstream": upstream.proc.pid, "bare": bare.proc.pid}
        if db == "postgresql":
            groups["postgres"] = shortcut.pg_backends
        cpu = Cpu(**groups)  # "server" is hilo's process tree
        log(f"[{db}] hilo on :{hilo.port} ({args.workers} worker(s), log {hilo.log_path}), "
            f"upstream :{upstream.port}, bare :{bare.port}")
        oa = sdk(hilo.url)
        assistant_id = oa.beta.assistants.create(model="bench", instructions=INSTRUCTIONS).id
        oa.close()
        settled = wait_settled(cpu)
        log(f"[{db}] hilo idle {settled:.1f} s after it was ready (first-start background work)")
        before = cpu.snap()
        time.sleep(IDLE_S)  # what hilo spends with nothing to do (timers, pollers): it lands in every figure
        idle_ms_per_s = round(1000 * Cpu.delta(before, cpu.snap())["server"] / IDLE_S, 2)

        log(f"[{db}] latency at concurrency 1: {args.samples} sequential turns per case")
        clients = [UpstreamDirect(f"{upstream.url}/v1"), SdkTurns(hilo.url, assistant_id, "stream"),
                   WsTurns(hilo.url, assistant_id), SdkTurns(hilo.url, assistant_id, "poll"),
                   HttpTurns(hilo.url, assistant_id)]
        latency = sequential({"upstream": (clients[0], args.samples), "sdk_stream": (clients[1], args.samples),
                              "http_stream": (clients[4], args.samples), "websocket": (clients[2], args.samples),
                              "sdk_poll": (clients[3], args.poll_samples)}, cpu)

        log(f"[{db}] thread length: filling two threads with {LONG_THREAD_MESSAGES} messages")
        long_last10, long_auto = fill_thread(hilo.url, LONG_THREAD_MESSAGES), fill_thread(hilo.url, LONG_THREAD_MESSAGES)
        more = [SdkTurns(hilo.url, assistant_id, "stream", truncation=LAST_10),
                SdkTurns(hilo.url, assistant_id, "stream", thread_id=long_last10, truncation=LAST_10),
                SdkTurns(hilo.url, assistant_id, "stream"),
                SdkTurns(hilo.url, assistant_id, "stream", thread_id=long_auto)]
        clients += more
        length = sequential({"fresh_last10": (more[0], args.samples), "long_last10": (more[1], args.samples),
                             "fresh_auto": (more[2], args.samples), "long_auto": (more[3], args.samples)}, cpu)
        for c in clients:
            c.close()
        clients = []

        log(f"[{db}] loads: {args.clients} clients in {args.client_procs} process(es), {args.rounds} round(s) "
            f"of {args.duration:g} s per case")
        load_res = loads(hilo.url, bare.url, assistant_id, cpu, args, db)
        profile = profile_load(db, hilo, assistant_id, cpu, args) if args.profile else None
    finally:
        for c in clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        hilo.stop()
        if db == "postgresql":
            asyncio.run(drop_pg())

    bare_cpu = load_res["bare"]["bare_cpu_ms_per_turn"]  # the bare app's own tree under its own load
    summary: dict[str, Any] = {"bare_cpu_ms_per_request": bare_cpu, "bare_requests_per_s": load_res["bare"]["rate"],
                               "hilo_idle_cpu_ms_per_s": idle_ms_per_s, "settled_after_s": round(settled, 1)}
    for case in ("sdk_stream", "sdk_poll", "websocket"):
        lr = load_res[case]
        summary[case] = {"turns_per_s": lr["rate"], "server_cpu_ms_per_turn": lr["server_cpu_ms_per_turn"],
                         "cpu_ratio_to_bare": round(lr["server_cpu_ms_per_turn"] / max(1e-9, bare_cpu), 1),
                         "turn_p50_ms": latency[case]["total"]["p50_ms"], "turn_p99_ms": latency[case]["total"]["p99_ms"],
                         "p50_added_ms": round(latency[case]["total"]["p50_ms"] - latency["upstream"]["total"]["p50_ms"], 3)}
    for kind in ("last10", "auto"):
        fresh, long_ = length[f"fresh_{kind}"], length[f"long_{kind}"]
        summary[f"thread_length_{kind}"] = {
            "p50_ratio": round(long_["total"]["p50_ms"] / fresh["total"]["p50_ms"], 3),
            "cpu_ratio": round(long_["server_cpu_ms_per_turn"] / max(1e-9, fresh["server_cpu_ms_per_turn"]), 3)}
    upstream_p50 = latency["upstream"]["total"]["p50_ms"]
    summary["http_stream"] = {"turn_p50_ms": latency["http_stream"]["total"]["p50_ms"],
                              "turn_p99_ms": latency["http_stream"]["total"]["p99_ms"],
                              "p50_added_ms": round(latency["http_stream"]["total"]["p50_ms"] - upstream_p50, 3)}
    # Added latency is judged on the plain HTTP client: the SDK's own client work (several ms
    # per turn here, see client CPU) is in its latency and is not hilo's.
    summary["meets"] = {
        "cpu_ratio": summary["sdk_stream"]["cpu_ratio_to_bare"] <= TARGETS["cpu_ratio_max"],
        "p50_added": summary["http_stream"]["p50_added_ms"] < TARGETS["p50_added_ms_max"],
        "thread_length": all((summary[f"thread_length_{k}"][m] - 1) * 100 <= TARGETS["long_fresh_pct_max"]
                             for k in ("last10", "auto") for m in ("p50_ratio", "cpu_ratio"))}
    result.update({
        "db": db, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
        "hilo": {**hilo_version(args.hilo_src), "commit": args.commit, "commit_note": args.commit_note},
        "config": {"workers": args.workers, "clients": args.clients, "client_procs": args.client_procs,
                   "duration_s": args.duration, "rounds": args.rounds, "samples": args.samples,
                   "poll_samples": args.poll_samples, "upstream": args.upstream,
                   "upstream_delay_ms": args.upstream_delay_ms, "log_level": "as shipped (HILO_LOG_LEVEL unset)",
                   "model": "hilo's openai provider -> fake upstream echo, 8 content chunks",
                   "turns_per_thread_under_load": TURNS_PER_THREAD, "long_thread_messages": LONG_THREAD_MESSAGES,
                   "user_text": TEXT},
        "summary": summary, "targets": TARGETS, "loads": load_res, "latency": latency, "thread_length": length})
    if profile:
        result["profile"] = profile
    return result


def git(*argv: str) -> str:
    return subprocess.run(["git", "-C", str(BENCH.parent), *argv], capture_output=True, text=True).stdout.strip()


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    versions = {}
    for pkg in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "aiosqlite", "asyncpg",
                "openai", "httpx", "httpx2", "websockets", "aiohttp", "pydantic", "orjson"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "loadavg_at_end": os.getloadavg(), "versions": versions}


# --------------------------------------------------------------------------- report
def table(results: list[dict[str, Any]], cost: dict[str, Any] | None) -> str:
    rows = [f"{'':44}" + "".join(f"{r['db']:>22}" for r in results)]

    def row(label: str, fn) -> None:
        rows.append(f"{label:44}" + "".join(f"{fn(r):>22}" for r in results))

    ok = lambda b: "ok" if b else "MISS"  # noqa: E731
    s = lambda r: r["summary"]  # noqa: E731
    L = lambda r, c: r["loads"][c]  # noqa: E731
    row("hilo idle CPU ms/s (no requests)", lambda r: f"{s(r)['hilo_idle_cpu_ms_per_s']:.2f}")
    row("bare POST req/s (load)", lambda r: f"{L(r, 'bare')['rate']:.0f}")
    row("bare server CPU ms/request", lambda r: f"{s(r)['bare_cpu_ms_per_request']:.3f}")
    row("  by round", lambda r: " / ".join(f"{v:.3f}" for v in L(r, 'bare')['own_cpu_ms_per_turn_by_round']))
    row("  client CPU ms/request", lambda r: f"{L(r, 'bare')['client_cpu_ms_per_turn']:.3f}")
    for case, label in (("sdk_stream", "SDK stream"), ("sdk_poll", "SDK create_and_poll"), ("websocket", "WebSocket")):
        rows.append(label)
        row("  turns/s (load)", lambda r, c=case: f"{L(r, c)['rate']:.1f}")
        row("  hilo CPU ms/turn", lambda r, c=case: f"{L(r, c)['server_cpu_ms_per_turn']:.3f}")
        row("    by round", lambda r, c=case: " / ".join(f"{v:.2f}" for v in L(r, c)['own_cpu_ms_per_turn_by_round']))
        target = " (<= 20)" if case == "sdk_stream" else ""
        row(f"  turn CPU / bare request CPU{target}",
            lambda r, c=case: f"{s(r)[c]['cpu_ratio_to_bare']:.1f}" + (f" {ok(s(r)['meets']['cpu_ratio'])}" if c == "sdk_stream" else ""))
        row("  upstream CPU ms/turn", lambda r, c=case: f"{L(r, c)['upstream_cpu_ms_per_turn']:.3f}")
        row("  client CPU ms/turn", lambda r, c=case: f"{L(r, c)['client_cpu_ms_per_turn']:.3f}")
        if case.startswith("sdk"):
            row("  HTTP requests/turn", lambda r, c=case: f"{L(r, c)['http_requests_per_turn']:.2f}")
        row("  postgres CPU ms/turn", lambda r, c=case: f"{L(r, c).get('postgres_cpu_ms_per_turn', '-')}")
        row("  failures (load + latency)", lambda r, c=case: f"{L(r, c)['bad']} + {r['latency'][c]['failures']}")
        row("  turn p50 / p99 ms (1 client)", lambda r, c=case: f"{r['latency'][c]['total']['p50_ms']:.2f} / {r['latency'][c]['total']['p99_ms']:.2f}")
        if case != "sdk_poll":
            row("  p50 added to the upstream's ms", lambda r, c=case: f"{s(r)[c]['p50_added_ms']:.2f}")
        if case == "sdk_stream":
            row("    of which messages.create p50 ms", lambda r: f"{r['latency']['sdk_stream']['messages_create']['p50_ms']:.2f}")
            row("  same two requests, plain httpx: p50 / p99 ms",
                lambda r: f"{s(r)['http_stream']['turn_p50_ms']:.2f} / {s(r)['http_stream']['turn_p99_ms']:.2f}")
            row("    p50 added to the upstream's ms (< 3)",
                lambda r: f"{s(r)['http_stream']['p50_added_ms']:.2f} {ok(s(r)['meets']['p50_added'])}")
            row("    hilo / client CPU ms/turn (1 client)",
                lambda r: f"{r['latency']['http_stream']['server_cpu_ms_per_turn']:.2f} / {r['latency']['http_stream']['client_cpu_ms_per_turn']:.2f}")
        row("  hilo / client CPU ms/turn (1 client)", lambda r, c=case: f"{r['latency'][c]['server_cpu_ms_per_turn']:.2f} / {r['latency'][c]['client_cpu_ms_per_turn']:.2f}")
    row("upstream direct p50 / p99 ms (httpx)", lambda r: f"{r['latency']['upstream']['total']['p50_ms']:.2f} / {r['latency']['upstream']['total']['p99_ms']:.2f}")
    row("  its client CPU ms/call", lambda r: f"{r['latency']['upstream']['client_cpu_ms_per_turn']:.2f}")
    rows.append(f"thread of {LONG_THREAD_MESSAGES} messages vs fresh (SDK stream, 1 client)")
    for kind, label in (("last10", "last_messages 10"), ("auto", "auto (default)")):
        row(f"  {label}: p50 ms fresh / long", lambda r, k=kind: f"{r['thread_length']['fresh_' + k]['total']['p50_ms']:.2f} / {r['thread_length']['long_' + k]['total']['p50_ms']:.2f}")
        row(f"  {label}: CPU ms fresh / long", lambda r, k=kind: f"{r['thread_length']['fresh_' + k]['server_cpu_ms_per_turn']:.2f} / {r['thread_length']['long_' + k]['server_cpu_ms_per_turn']:.2f}")
        row(f"  {label}: long/fresh p50, CPU (<= 1.1)", lambda r, k=kind: f"{s(r)['thread_length_' + k]['p50_ratio']:.2f}, {s(r)['thread_length_' + k]['cpu_ratio']:.2f}")
    row("  thread-length target", lambda r: ok(s(r)["meets"]["thread_length"]))
    out = "\n".join(rows)
    if cost:
        out += f"\n\nclient-side cost of one streamed chat-completions call ({cost['loop']}, sequential)\n"
        out += f"{'':24}{'CPU ms/call':>14}{'wall p50 ms':>14}{'calls':>8}\n"
        for kind, c in cost["clients"].items():
            out += f"{kind:24}{c['cpu_ms_per_call']:>14.3f}{c['wall']['p50_ms']:>14.3f}{c['calls']:>8}\n"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--duration", type=float, default=8, help="seconds per load case per round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved load rounds (after a warm-up round)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients under load")
    parser.add_argument("--client-procs", type=int, default=2, help="processes holding the client threads")
    parser.add_argument("--workers", type=int, default=1, help="hilo serve --workers (and the bare app's)")
    parser.add_argument("--samples", type=int, default=200, help="sequential turns per latency case")
    parser.add_argument("--poll-samples", type=int, default=20, help="sequential create_and_poll turns")
    parser.add_argument("--upstream", choices=["asgi", "fake_openai"], default="asgi")
    parser.add_argument("--upstream-delay-ms", type=float, default=0, help="per content chunk (asgi upstream)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--snapshot", action="store_true", help="bench a git archive of HEAD (made at start)")
    where.add_argument("--hilo-src", help="directory holding the hilo package to bench (default: the installed one)")
    parser.add_argument("--profile", action="store_true", help="then an SDK stream load under py-spy")
    parser.add_argument("--client-cost", type=int, default=500, help="calls per client kind (0: skip)")
    parser.add_argument("--client-cost-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_cost_child:
        return client_cost_child(args.client_cost_child, args.client_cost)

    RESULTS.mkdir(exist_ok=True)
    results = []
    cost = None
    with tempfile.TemporaryDirectory(prefix="hilo-real-path-") as tmpdir:
        tmp = Path(tmpdir)
        head = git("rev-parse", "--short", "HEAD")
        if args.snapshot:  # the last commit, whatever happens to the working tree during the run
            snap = tmp / "snapshot"
            snap.mkdir()
            archive = subprocess.run(["git", "-C", str(BENCH.parent), "archive", head], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(snap)], input=archive.stdout, check=True)
            args.hilo_src, args.commit, args.commit_note = str(snap), head, "git archive of this commit"
        elif args.hilo_src:
            args.commit, args.commit_note = head, f"HEAD when the run started; {args.hilo_src} holds the code benched"
        else:
            args.commit, args.commit_note = head, "the installed package (the working tree)"
        log(f"benching hilo {args.commit_note} ({head})" if args.snapshot else f"benching {args.commit_note}")
        up_env = clean_env(args.hilo_src)
        upstream = Proc("upstream", [PY, str(BENCH / "fake_upstream.py"), "--impl", args.upstream,
                                     "--delay-ms", str(args.upstream_delay_ms)], up_env, "/v1/models", cwd=tmp)
        bare = Proc("bare", [PY, str(BENCH / "bare_app.py"), "--host", "127.0.0.1", "--workers", str(args.workers)],
                    clean_env(None), "/bare", "POST", {"stream": False}, cwd=tmp)
        try:
            upstream.start_ready()
            bare.start_ready()
            for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
                result = bench_db(db, args, tmp, upstream, bare)
                results.append(result)
            if args.client_cost:
                log(f"client cost: {args.client_cost} sequential streamed calls per client kind")
                cost = client_cost(f"{upstream.url}/v1", args.client_cost)
        finally:
            bare.stop()
            upstream.stop()
    for result in results:
        if cost:
            result["client_cost"] = cost
        (RESULTS / f"turns-{result['db']}.json").write_text(json.dumps(result, indent=2) + "\n")
    m = results[0]["machine"]
    print(f"\nhilo real-path bench, {dt.date.today()}, commit {args.commit} ({args.commit_note}): {m['nproc']} x {m['cpu']}, "
          f"hilo serve --workers {args.workers} (log level as shipped), {args.clients} clients, "
          f"{args.rounds} x {args.duration:g} s per load case, {args.samples} latency samples, "
          f"upstream {args.upstream} (+{args.upstream_delay_ms:g} ms/chunk)")
    print(table(results, cost))
    for r in results:
        if "profile" in r:
            p = r["profile"]
            print(f"\n[{r['db']}] py-spy, {p['busy_samples']} busy samples of hilo's event-loop thread "
                  f"({p['idle_samples']} idle), self time %")
            print("  by package:", "; ".join(f"{n} {v}%" for n, v in p["self_by_package_pct"][:14]))
            print("  functions:", "; ".join(f"{n} {v}%" for n, v in p["top_self_pct"][:25]))
    print("\nresults: " + ", ".join(str(RESULTS / f"turns-{r['db']}.json") for r in results))


if __name__ == "__main__":
    main()
