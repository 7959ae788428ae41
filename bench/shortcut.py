"""A shortcut profile of the turn path, not the path users take (that is bench/turns.py):
turns per second, turn latency and time-to-first-token with hilo's zero-latency ``scripted``
model and wrk as the client, next to a bare FastAPI endpoint measured in the same run on the
same machine (ratios, not absolutes). Use it to see hilo's own cost with nothing else in the way.

    .venv/bin/python bench/shortcut.py [--db sqlite|postgresql|both] [--duration S]
                                    [--concurrency C] [--workers N] [--samples K] [--profile]

One turn = one ``POST /v1/threads/{id}/runs`` with ``stream: true`` and one user message in
``additional_messages``, read to ``event: done``; the model is hilo's ``scripted`` echo
double (zero latency), so the figures are hilo's own cost. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PY = sys.executable
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DB = "hilo_bench"
TURN_BODY_TMPL = {"assistant_id": None, "stream": True,
                  "additional_messages": [{"role": "user", "content": "hi"}]}
TARGETS = {"ratio_pct": 5.0, "p50_overhead_ms": 5.0, "ttft_extra_ms": 2.0}


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return out


def pg_backends() -> list[int]:
    """PostgreSQL backends serving the bench database (their title names it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"postgres:") and f" {PG_DB} ".encode() in cmd:
                pids.append(int(entry))
    return pids


class CpuMeter:
    """CPU seconds used by a server's process tree (and the database's backends) over a span."""

    def __init__(self, root_pid: int, with_pg: bool):
        self.root_pid, self.with_pg = root_pid, with_pg

    def _pids(self) -> tuple[list[int], list[int]]:
        return tree(self.root_pid), (pg_backends() if self.with_pg else [])

    def __enter__(self) -> CpuMeter:
        server, db = self._pids()
        self.s0, self.d0 = cpu_seconds(server), cpu_seconds(db)
        return self

    def __exit__(self, *exc) -> None:
        server, db = self._pids()
        s1, d1 = cpu_seconds(server), cpu_seconds(db)
        self.server = sum(v - self.s0.get(p, 0.0) for p, v in s1.items())
        self.db = sum(v - self.d0.get(p, 0.0) for p, v in d1.items())


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready_path: str,
                 ready_method: str = "GET", ready_body: Any = None):
        self.name, self.argv, self.env = name, argv, env
        self.ready_path, self.ready_method, self.ready_body = ready_path, ready_method, ready_body
        self.port = free_port()
        self.log_path = Path(tempfile.gettempdir()) / f"hilo-bench-{name}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv + ["--port", str(self.port)], env=self.env, cwd=ROOT,
                                     stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                r = httpx.request(self.ready_method, self.url + self.ready_path, json=self.ready_body, timeout=2)
                if r.status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session only
                self.proc.wait(5)
        self.log_file.close()


# --------------------------------------------------------------------------- latency client
class RawClient:
    """A minimal keep-alive HTTP/1.1 client on one TCP_NODELAY socket; times first marker and end."""

    def __init__(self, port: int):
        self.port = port
        self._connect()

    def _connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reconnect_if_closed(self) -> None:
        """uvicorn closes connections idle for 5 s (keep-alive timeout): open a new one, untimed."""
        import select

        if select.select([self.sock], [], [], 0)[0] and not self.sock.recv(1, socket.MSG_PEEK):
            self.sock.close()
            self._connect()

    def close(self) -> None:
        self.sock.close()

    def post(self, path: str, body: bytes, marker: bytes) -> tuple[int, bytes, float | None, float]:
        """-> (status, body, seconds to first ``marker`` byte or None, seconds to the end)."""
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self._reconnect_if_closed()
        clock = time.perf_counter
        t0 = clock()
        self.sock.sendall(head + body)
        self.buf, self.first, self.marker = b"", None, marker
        while b"\r\n\r\n" not in self.buf:
            self._more()
        header, _, rest = self.buf.partition(b"\r\n\r\n")
        start = len(header) + 4
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
        if b"content-length" in headers:
            size = int(headers[b"content-length"])
            while len(self.buf) < start + size:
                self._more()
            t_end = clock()
            return status, self.buf[start:start + size], (self.first - t0 if self.first else None), t_end - t0
        out, pos = [], start  # chunked
        while True:
            end = self.buf.find(b"\r\n", pos)
            while end < 0:
                self._more()
                end = self.buf.find(b"\r\n", pos)
            size = int(self.buf[pos:end].split(b";")[0], 16)
            need = end + 2 + size + 2
            while len(self.buf) < need:
                self._more()
            if size == 0:
                t_end = clock()
                break
            out.append(self.buf[end + 2:end + 2 + size])
            pos = need
        return status, b"".join(out), (self.first - t0 if self.first else None), t_end - t0

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        # only the new bytes (and a marker's length before them) can hold the first marker
        tail = len(self.buf) - len(self.marker)
        self.buf += chunk
        if self.first is None and self.marker in self.buf[max(0, tail):]:
            self.first = time.perf_counter()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p90_ms": round(pct(ms, 90), 3),
            "p99_ms": round(pct(ms, 99), 3), "min_ms": round(min(ms), 3) if ms else None}


TURNS_PER_SHORT_THREAD = 10
LONG_THREAD_MESSAGES = 240  # above HILO_CONTEXT_MAX_MESSAGES' default (200): the longest context read


def measure_latency(bare: Server, hilo: Server, assistant_id: str, short_ids: list[str], long_id: str,
                    samples: int, rounds: int = 5) -> dict[str, Any]:
    """Sequential requests, one keep-alive connection per case, interleaved in rounds (noise hits all).

    ``turn`` cycles through short threads (at most TURNS_PER_SHORT_THREAD turns each, so the history
    stays small); ``turn_long`` runs on a thread that already holds LONG_THREAD_MESSAGES messages.
    """
    turn_body = json.dumps({**TURN_BODY_TMPL, "assistant_id": assistant_id}).encode()
    short = iter(i for tid in short_ids for i in [tid] * TURNS_PER_SHORT_THREAD)
    cases = {
        "bare_post": (bare, lambda: "/bare", b'"object"', 1),
        "bare_sse": (bare, lambda: "/bare/stream", b"event: ", 1),
        "turn": (hilo, lambda: f"/v1/threads/{next(short)}/runs", b"event: thread.message.delta", 1),
        "turn_long": (hilo, lambda: f"/v1/threads/{long_id}/runs", b"event: thread.message.delta", 2),
    }
    clients = {name: RawClient(srv.port) for name, (srv, *_r) in cases.items()}
    totals: dict[str, list[float]] = {k: [] for k in cases}
    firsts: dict[str, list[float]] = {k: [] for k in cases}
    failures = 0
    try:
        for warm in (True,) + (False,) * rounds:
            for name, (_srv, path, marker, divisor) in cases.items():
                n = max(5, samples // 20) if warm else max(1, samples // rounds // divisor)
                client = clients[name]
                for _ in range(n):
                    status, text, first, total = client.post(path(), turn_body, marker)
                    ok = status == 200 and (not name.startswith("turn") or (
                        b"thread.run.completed" in text and b"event: done" in text and b"echo: hi" in text))
                    if not ok:
                        failures += 1
                        if failures <= 3:
                            log(f"  {name}: unexpected response {status}: {text[:300]!r}")
                        continue
                    if not warm:
                        totals[name].append(total)
                        if first is not None:
                            firsts[name].append(first)
    finally:
        for c in clients.values():
            c.close()
    out: dict[str, Any] = {name: {"total": summary_ms(totals[name]), "first_event": summary_ms(firsts[name])}
                           for name in cases}
    out["failures"] = failures
    return out


def short_threads_needed(samples: int, rounds: int = 5) -> int:
    return (max(5, samples // 20) + samples) // TURNS_PER_SHORT_THREAD + 2


def fill_thread(url: str, thread_id: str, messages: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(messages):
            r = client.post(f"/v1/threads/{thread_id}/messages",
                            json={"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 8})
            r.raise_for_status()


# --------------------------------------------------------------------------- throughput (wrk)
LUA = r"""
local ids = {%(ids)s}
local path_fmt = "%(path)s"
local marker = "%(marker)s"
local body = '%(body)s'
local threads = {}
local n = 0

function setup(thread)
  n = n + 1
  thread:set("id", ids[(n - 1) %% #ids + 1])
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  bad = 0
  req = wrk.format("POST", string.format(path_fmt, id), {["Content-Type"] = "application/json"}, body)
end

function request()
  return req
end

function response(status, headers, resp)
  if status == 200 and string.find(resp, marker, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == nil then first_bad = status .. " " .. string.sub(resp, 1, 200) end
  end
end

function done(summary, latency, requests)
  local okt, badt = 0, 0
  for _, t in ipairs(threads) do
    okt = okt + t:get("ok")
    badt = badt + t:get("bad")
    local fb = t:get("first_bad")
    if fb ~= nil and not shown then
      shown = true
      io.write("FIRSTBAD " .. string.gsub(fb, "\n", " ") .. "\n")
    end
  end
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%%d,"duration_us":%%d,"ok":%%d,"bad":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"p50_ms":%%.3f,"p99_ms":%%.3f,"mean_ms":%%.3f}\n',
    summary.requests, summary.duration, okt, badt, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


def wrk_run(server: Server, path_fmt: str, ids: list[str], body: str, marker: str, connections: int,
            duration: float, with_pg: bool, tmp: Path) -> dict[str, Any]:
    script = tmp / f"wrk-{abs(hash((path_fmt, marker)))}.lua"
    script.write_text(LUA % {"ids": ", ".join(f'"{i}"' for i in ids), "path": path_fmt,
                             "marker": marker.replace('"', '\\"'), "body": body})
    # One wrk thread per connection: each connection has its own thread id for its whole life,
    # so a connection never starts a run on a thread that another connection keeps busy.
    argv = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{duration:g}s",
            "--timeout", "10s", "-s", str(script), server.url]
    with CpuMeter(server.proc.pid, with_pg) as cpu:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")
    res = json.loads(line[len("BENCHJSON "):])
    bad = next((ln for ln in out.stdout.splitlines() if ln.startswith("FIRSTBAD ")), None)
    if bad:
        res["first_bad_response"] = bad[len("FIRSTBAD "):]
        log(f"  {server.name}: first unexpected response: {res['first_bad_response']}")
    seconds = res["duration_us"] / 1e6
    res["rate"] = round(res["ok"] / seconds, 1)
    res["server_cpu_s"] = round(cpu.server, 2)
    res["server_cpu_ms_per_req"] = round(cpu.server * 1000 / max(1, res["ok"]), 3)
    if with_pg:
        res["db_cpu_s"] = round(cpu.db, 2)
        res["db_cpu_ms_per_req"] = round(cpu.db * 1000 / max(1, res["ok"]), 3)
    return res


# --------------------------------------------------------------------------- setup
async def reset_pg() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PG_DB}")
    finally:
        await conn.close()


async def drop_pg() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    finally:
        await conn.close()


def create_objects(url: str, threads: int) -> tuple[str, list[str]]:
    with httpx.Client(base_url=url, timeout=30) as client:
        assistant = client.post("/v1/assistants", json={"model": "bench", "instructions": "Answer briefly."})
        assistant.raise_for_status()
        ids = []
        for _ in range(threads):
            r = client.post("/v1/threads", json={})
            r.raise_for_status()
            ids.append(r.json()["id"])
    return assistant.json()["id"], ids


def wait_idle(url: str, thread_ids: list[str], timeout: float = 30) -> None:
    """Until no thread has an active run (so the next load does not meet 'already has an active run')."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=10) as client:
        pending = list(thread_ids)
        while pending and time.monotonic() < deadline:
            still = []
            for tid in pending:
                runs = client.get(f"/v1/threads/{tid}/runs", params={"limit": 1}).json().get("data", [])
                if runs and runs[0]["status"] in ("queued", "in_progress", "cancelling"):
                    still.append(tid)
            pending = still
            if pending:
                time.sleep(0.05)


def hilo_version(src: str | None) -> dict[str, Any]:
    """Which hilo was measured: the commit, and whether hilo/ had uncommitted changes (read-only git)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "source": str(Path(src).resolve()) if src else "working tree (installed package)",
            "working_tree_dirty": bool(git("status", "--porcelain", "--", "hilo")) if not src else None}


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import fastapi
    import sqlalchemy
    import uvicorn

    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "fastapi": fastapi.__version__, "uvicorn": uvicorn.__version__, "sqlalchemy": sqlalchemy.__version__,
            "wrk": (subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split() or ["?"])[1]}


def start_hilo(env: dict[str, str], workers: int) -> tuple[Server, str]:
    """``hilo serve`` as shipped: the bench measures what users run."""
    argv = [str(Path(PY).parent / "hilo"), "serve", "--host", "127.0.0.1", "--workers", str(workers)]
    server = Server("hilo", argv, env, "/health")
    server.start()
    if not server.wait_ready():
        tail = server.log_tail()
        server.stop()
        raise RuntimeError(f"hilo serve did not start:\n{tail}")
    return server, "hilo serve"


# --------------------------------------------------------------------------- one database
def bench_db(db: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    env = {**os.environ, "HILO_LLM_PROVIDER": "scripted", "HILO_LOG_LEVEL": "warning",
           "HILO_DATA_DIR": str(tmp / f"data-{db}")}
    if args.hilo_src:  # bench another checkout of hilo (e.g. `git archive HEAD hilo | tar -x -C DIR`)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(args.hilo_src).resolve()), env.get("PYTHONPATH")]))
    if db == "sqlite":
        path = tmp / "hilo-bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        env["HILO_DATABASE_URL"] = f"sqlite+aiosqlite:///{path}"
    else:
        asyncio.run(reset_pg())
        env["HILO_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
    with_pg = db == "postgresql"

    bare = Server("bare", [PY, str(BENCH / "bare_app.py"), "--host", "127.0.0.1", "--workers", str(args.workers)],
                  dict(os.environ), "/bare", "POST", {"stream": False})
    bare.start()
    hilo = None
    try:
        if not bare.wait_ready():
            raise RuntimeError(f"bare app did not start:\n{bare.log_tail()}")
        hilo, launcher = start_hilo(env, args.workers)
        log(f"[{db}] bare on :{bare.port}, hilo on :{hilo.port} via {launcher}, {args.workers} worker(s)")
        n_short = short_threads_needed(args.samples)
        assistant_id, ids = create_objects(hilo.url, args.concurrency + n_short + 1)
        load_threads, short_ids, long_id = ids[:args.concurrency], ids[args.concurrency:-1], ids[-1]
        fill_thread(hilo.url, long_id, LONG_THREAD_MESSAGES)

        log(f"[{db}] latency: {args.samples} sequential requests per endpoint on one connection")
        latency = measure_latency(bare, hilo, assistant_id, short_ids, long_id, args.samples)

        body = json.dumps({**TURN_BODY_TMPL, "assistant_id": assistant_id}, separators=(",", ":"))
        plans = {
            "bare_post": (bare, "/bare", ["-"], '"object"'),
            "bare_sse": (bare, "/bare/stream", ["-"], "event: done"),
            "turns": (hilo, "/v1/threads/%s/runs", load_threads, "thread.run.completed"),
        }
        throughput: dict[str, Any] = {}
        for name, (srv, path, tids, marker) in plans.items():
            wrk_run(srv, path, tids, body, marker, args.concurrency, 1, with_pg, tmp)  # warm-up
            if srv is hilo:
                wait_idle(hilo.url, tids)  # wrk cut streams at its deadline; their runs finish on their own
            throughput[name] = wrk_run(srv, path, tids, body, marker, args.concurrency, args.duration, with_pg, tmp)
            if srv is hilo:
                wait_idle(hilo.url, tids)
            t = throughput[name]
            log(f"[{db}] {name}: {t['rate']}/s, ok {t['ok']}, bad {t['bad']}, errors {t['errors']}, "
                f"server CPU {t['server_cpu_ms_per_req']} ms/req")

        profile = None
        if args.profile:
            profile = profile_turns(db, hilo, load_threads, body, args, with_pg, tmp)
    finally:
        if hilo is not None:
            hilo.stop()
        bare.stop()
        if with_pg:
            asyncio.run(drop_pg())

    bare_rate = throughput["bare_post"]["rate"]
    turn_rate = throughput["turns"]["rate"]
    lat_turn, lat_bare, lat_sse = latency["turn"], latency["bare_post"], latency["bare_sse"]
    result = {
        "db": db,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "hilo": hilo_version(args.hilo_src),
        "config": {"hilo_src": args.hilo_src or "installed", "workers": args.workers, "concurrency": args.concurrency, "duration_s": args.duration,
                   "latency_samples": args.samples, "hilo_launcher": launcher, "log_level": "warning",
                   "model": "scripted echo (zero latency)"},
        "throughput": throughput,
        "latency": latency,
        "summary": {
            "turns_per_s": turn_rate,
            "bare_post_per_s": bare_rate,
            "bare_sse_per_s": throughput["bare_sse"]["rate"],
            "ratio_turns_bare_pct": round(100 * turn_rate / bare_rate, 2) if bare_rate else None,
            "turn_p50_ms": lat_turn["total"]["p50_ms"],
            "turn_p99_ms": lat_turn["total"]["p99_ms"],
            "bare_p50_ms": lat_bare["total"]["p50_ms"],
            "bare_p99_ms": lat_bare["total"]["p99_ms"],
            "p50_overhead_ms": round(lat_turn["total"]["p50_ms"] - lat_bare["total"]["p50_ms"], 3),
            "turn_long_thread_p50_ms": latency["turn_long"]["total"]["p50_ms"],
            "turn_ttft_p50_ms": lat_turn["first_event"]["p50_ms"],
            "bare_sse_first_event_p50_ms": lat_sse["first_event"]["p50_ms"],
            "ttft_extra_ms": round(lat_turn["first_event"]["p50_ms"] - lat_sse["first_event"]["p50_ms"], 3),
            "server_cpu_ms_per_turn": throughput["turns"]["server_cpu_ms_per_req"],
            "server_cpu_ms_per_bare": throughput["bare_post"]["server_cpu_ms_per_req"],
            # noise-resistant form of the ratio: what the turn costs in server CPU next to the bare request
            "ratio_by_cpu_pct": round(100 * throughput["bare_post"]["server_cpu_ms_per_req"]
                                      / max(1e-9, throughput["turns"]["server_cpu_ms_per_req"]), 2),
        },
        "targets": TARGETS,
    }
    if profile:
        result["profile"] = profile
    s = result["summary"]
    s["meets"] = {"ratio": (s["ratio_turns_bare_pct"] or 0) >= TARGETS["ratio_pct"],
                  "p50_overhead": s["p50_overhead_ms"] < TARGETS["p50_overhead_ms"],
                  "ttft_extra": s["ttft_extra_ms"] < TARGETS["ttft_extra_ms"]}
    return result


# --------------------------------------------------------------------------- profiling
def profile_turns(db: str, hilo: Server, ids: list[str], body: str, args: argparse.Namespace,
                  with_pg: bool, tmp: Path) -> dict[str, Any] | None:
    """An extra (unmeasured) turn load with py-spy attached to every hilo process."""
    spy = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
    if spy is None:
        log("  --profile: py-spy not found (pip install py-spy)")
        return None
    raw = tmp / f"profile-{db}.txt"
    svg = Path(tempfile.gettempdir()) / f"hilo-shortcut-{db}.svg"
    seconds = max(3, int(args.duration))
    procs = []
    for fmt, out in (("raw", raw), ("flamegraph", svg)):
        procs.append(subprocess.Popen([spy, "record", "--pid", str(hilo.proc.pid), "--subprocesses", "--nonblocking",
                                       "--rate", "250", "--threads", "--duration", str(seconds + 2), "--format", fmt, "-o", str(out)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if fmt == "raw":
            time.sleep(1)
    time.sleep(1)
    load = wrk_run(hilo, "/v1/threads/%s/runs", ids, body, "thread.run.completed", args.concurrency, seconds, with_pg, tmp)
    wait_idle(hilo.url, ids)
    for p in procs:
        p.wait(60)
    if not raw.exists():
        log("  --profile: py-spy wrote nothing (ptrace permission?)")
        return None
    top = summarize_profile(raw.read_text(), 400)
    copy = RESULTS / f"profile-{db}.txt.tmp"
    shutil.copy(raw, copy)
    log(f"[{db}] profile under load ({load['rate']} turns/s with py-spy attached): {copy}, flame graph {svg}")
    return {"turns_per_s_under_profiler": load["rate"], "flamegraph": str(svg), **top}


def summarize_profile(collapsed: str, top: int) -> dict[str, Any]:
    """Collapsed stacks -> the heaviest functions of the event-loop threads, inclusive and self.

    Only MainThread stacks count (the event loop: about 90% of a worker's CPU; the rest is
    aiosqlite's and anyio's threads, whose waits py-spy cannot tell from work here), and a
    sample whose innermost Python frame is ``Runner.run`` is the loop waiting in epoll: idle.
    """
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = idle = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "")
        if "MainThread" not in thread:
            continue
        n = int(count)
        names = [_frame(f) for f in frames if not f.startswith(("process ", "thread "))]
        if not names or names[-1].endswith(("runners.py:Runner.run", "threading.py:Condition.wait", "--multiprocessing-fork\"")):
            idle += n
            continue
        total += n
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + n
        own[names[-1]] = own.get(names[-1], 0) + n

    def rank(d: dict[str, int]) -> list[list[Any]]:
        return [[k, round(100 * v / max(1, total), 1)] for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]
                if 100 * v / max(1, total) >= 0.3]

    by_package: dict[str, int] = {}
    for name, n in own.items():
        path = name.rsplit(":", 1)[0]
        pkg = "/".join(path.split("/")[:2]) if path.startswith("hilo/") else path.split("/", 1)[0] if "/" in path else "(main)"
        by_package[pkg] = by_package.get(pkg, 0) + n
    return {"busy_samples": total, "idle_samples": idle, "self_by_package_pct": rank(by_package),
            "top_inclusive_pct": rank(inclusive), "top_self_pct": rank(own)}


def _frame(frame: str) -> str:
    """py-spy's ``func (pkg/module.py:123)`` -> ``pkg/module.py:func``."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/hilo/" in path:
        path = "hilo/" + path.split("/hilo/", 1)[1]
    elif path.startswith("/"):
        path = os.path.basename(path)
    return f"{path}:{func}"


# --------------------------------------------------------------------------- report
def table(results: list[dict[str, Any]]) -> str:
    rows = []
    head = f"{'':34}" + "".join(f"{r['db']:>22}" for r in results)
    rows.append(head)

    def row(label: str, fn) -> None:
        rows.append(f"{label:34}" + "".join(f"{fn(r):>22}" for r in results))

    ok = lambda b: "ok" if b else "MISS"  # noqa: E731
    row("bare POST req/s (C conns)", lambda r: f"{r['summary']['bare_post_per_s']:.0f}")
    row("bare SSE req/s", lambda r: f"{r['summary']['bare_sse_per_s']:.0f}")
    row("hilo turns/s", lambda r: f"{r['summary']['turns_per_s']:.0f}")
    row("  turns/bare POST  (>= 5 %)", lambda r: f"{r['summary']['ratio_turns_bare_pct']:.2f} % {ok(r['summary']['meets']['ratio'])}")
    row("  same, by server CPU per request", lambda r: f"{r['summary']['ratio_by_cpu_pct']:.2f} %")
    row("  turn failures (bad+errors)", lambda r: str(r['throughput']['turns']['bad'] + sum(r['throughput']['turns']['errors'].values())))
    row("server CPU ms/bare POST", lambda r: f"{r['summary']['server_cpu_ms_per_bare']:.3f}")
    row("server CPU ms/turn", lambda r: f"{r['summary']['server_cpu_ms_per_turn']:.3f}")
    row("postgres CPU ms/turn", lambda r: f"{r['throughput']['turns'].get('db_cpu_ms_per_req', '-')}")
    row("bare POST p50 / p99 ms (1 conn)", lambda r: f"{r['summary']['bare_p50_ms']:.2f} / {r['summary']['bare_p99_ms']:.2f}")
    row("bare SSE p50 / p99 ms", lambda r: f"{r['latency']['bare_sse']['total']['p50_ms']:.2f} / {r['latency']['bare_sse']['total']['p99_ms']:.2f}")
    row("turn p50 / p99 ms", lambda r: f"{r['summary']['turn_p50_ms']:.2f} / {r['summary']['turn_p99_ms']:.2f}")
    row("  p50 overhead ms  (< 5)", lambda r: f"{r['summary']['p50_overhead_ms']:.2f} {ok(r['summary']['meets']['p50_overhead'])}")
    row(f"turn p50 ms, {LONG_THREAD_MESSAGES}+ msg thread", lambda r: f"{r['summary']['turn_long_thread_p50_ms']:.2f}")
    row("bare SSE first event p50 ms", lambda r: f"{r['summary']['bare_sse_first_event_p50_ms']:.2f}")
    row("turn first delta p50 ms", lambda r: f"{r['summary']['turn_ttft_p50_ms']:.2f}")
    row("  extra TTFT ms    (< 2)", lambda r: f"{r['summary']['ttft_extra_ms']:.2f} {ok(r['summary']['meets']['ttft_extra'])}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="hilo turns per second, latency and TTFT vs a bare FastAPI endpoint")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=8, help="seconds per throughput measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="wrk connections (one thread each)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes, both servers")
    parser.add_argument("--samples", type=int, default=300, help="sequential latency samples per endpoint")
    parser.add_argument("--profile", action="store_true", help="then profile an extra turn load with py-spy")
    parser.add_argument("--hilo-src", help="directory holding the hilo package to bench (default: the installed one)")
    parser.add_argument("--top", type=int, default=12, help="hilo functions listed by --profile")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")

    RESULTS.mkdir(exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="hilo-bench-") as tmpdir:
        for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
            result = bench_db(db, args, Path(tmpdir))
            (RESULTS / f"shortcut-{db}.json").write_text(json.dumps(result, indent=2) + "\n")
            results.append(result)
    m = results[0]["machine"]
    print(f"\nhilo turns bench, {dt.date.today()}: {m['nproc']} x {m['cpu']}, {args.workers} worker(s) per server, "
          f"{args.concurrency} connections, {args.duration:g} s per load, {args.samples} latency samples, "
          f"scripted echo model")
    print(table(results))
    for r in results:
        if "profile" in r:
            p = r["profile"]
            print(f"\n[{r['db']}] py-spy, {p['busy_samples']} busy samples of the workers' event-loop threads (%)")
            print("  self:", "; ".join(f"{n} {v}%" for n, v in p["top_self_pct"][:12]))
            print("  by package (self):", "; ".join(f"{n} {v}%" for n, v in p["self_by_package_pct"][:8]))
            hilo_frames = [f"{n} {v}%" for n, v in p["top_inclusive_pct"] if n.startswith("hilo/")]
            print("  hilo functions (inclusive):", "; ".join(hilo_frames[:args.top]))
    print("\nresults: " + ", ".join(str(RESULTS / ("shortcut-" + r["db"] + ".json")) for r in results))


if __name__ == "__main__":
    main()
