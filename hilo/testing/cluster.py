"""A scaled-out hilo made of plain processes, as ``compose.yaml`` deploys it (tests and benches).

:class:`Cluster` starts ``hilo serve`` replicas and ``hilo worker`` processes sharing one
PostgreSQL database and one Redis, each a real subprocess on loopback, and can kill, stop or
restart any of them. :class:`PrivateRedis` and :class:`PrivatePostgres` are servers of this test's
own (a free port, a temporary directory) that a fault test may stop and start again without
touching the machine's shared ones.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not there yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


@dataclass
class Process:
    """One hilo process; its output is kept (the last lines) for failure messages."""

    kind: str  # serve | worker
    proc: subprocess.Popen
    url: str | None = None
    lines: deque = field(default_factory=lambda: deque(maxlen=400))

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return "\n".join(self.lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash, a lost machine)."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close()

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=5)
        if not self.proc.stdout.closed:
            self.proc.stdout.close()


class Cluster:
    """Replicas and workers on one database and one Redis, with ``env`` added to each."""

    def __init__(self, database_url: str, redis_url: str, env: dict[str, str] | None = None,
                 data_dir: str | Path | None = None):
        self.database_url, self.redis_url = database_url, redis_url
        self.data_dir = str(data_dir or tempfile.mkdtemp(prefix="hilo-cluster-"))
        self.env = {**os.environ, "HILO_DATABASE_URL": database_url, "HILO_REDIS_URL": redis_url,
                    "HILO_DATA_DIR": self.data_dir, "HILO_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1",
                    **(env or {})}
        self.processes: list[Process] = []

    def _spawn(self, kind: str, args: list[str], env: dict[str, str] | None) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "hilo.cli", kind, *args], env={**self.env, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def replica(self, *args: str, execute: bool = False, env: dict[str, str] | None = None,
                port: int | None = None) -> Process:
        port = port or free_port()
        flag = "--execute" if execute else "--no-execute"
        p = Process("serve", self._spawn("serve", ["--host", "127.0.0.1", "--port", str(port), flag, *args], env),
                    url=f"http://127.0.0.1:{port}")
        self.processes.append(p)
        _started(p, lambda: httpx.get(p.url + "/health", timeout=1).status_code == 200)
        return p

    def worker(self, env: dict[str, str] | None = None, ready: bool = True) -> Process:
        p = Process("worker", self._spawn("worker", [], env))
        self.processes.append(p)
        if ready:
            _started(p, lambda: any(" worker ready" in line for line in p.lines))
        return p

    def close(self) -> None:
        for p in self.processes:
            p.stop(timeout=10)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _started(p: Process, ready, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not p.alive():
            raise RuntimeError(f"hilo {p.kind} exited with {p.proc.returncode}:\n{p.output()}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"hilo {p.kind} did not start within {timeout:g} s:\n{p.output()}")
        time.sleep(0.05)


class PrivateRedis:
    """``redis-server`` on a free loopback port, without persistence (a restart loses every key)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hilo-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _ping_redis(self.port), 20, "redis start")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _ping_redis(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def postgres_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (initdb, pg_ctl), if installed."""
    root = Path("/usr/lib/postgresql")
    found = sorted(root.glob("*/bin/pg_ctl")) if root.exists() else []
    if found:
        return found[-1].parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


class PrivatePostgres:
    """A PostgreSQL cluster of its own (``initdb`` in a temporary directory, trust auth, a free
    port) that a test may stop and start. As root, the server runs as the ``postgres`` user."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hilo-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        if self._as_postgres:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        return subprocess.run(cmd, check=check, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> PrivatePostgres:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ["Cluster", "PrivatePostgres", "PrivateRedis", "Process", "free_port", "postgres_bin", "wait_for"]
