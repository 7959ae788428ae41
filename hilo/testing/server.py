"""Run hilo in a background thread on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from hilo.app import create_app
from hilo.channels import server_options
from hilo.kit.config import Settings
from hilo.kit.net import bind_socket
from hilo.migrations import upgrade


@dataclass
class LiveServer:
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self):
        return self.server.config.app

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def kill(self) -> None:
        """Stop without a graceful shutdown of running tasks (a crash, as far as runs go)."""
        self.server.force_exit = True
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(settings: Settings, migrate: bool = True, packs: list | None = None,
                 timeout: float = 30.0) -> LiveServer:
    """hilo on a free loopback port, in a thread; ``packs``: instead of the installed ones;
    ``timeout``: seconds the start-up may take (packs seeding demo data take longer on a busy machine)."""
    if migrate:
        upgrade(settings.database_url)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings, packs=packs), log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2, **server_options(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("hilo test server did not start")
        time.sleep(0.01)
    return LiveServer(settings, server, thread, port)
