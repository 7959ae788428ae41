"""Plumbing shared by the fake upstream servers (OpenAI, markets, WhatsApp, webhooks, JWKS)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    # socketserver's default backlog is 5: a burst of concurrent connects overflows it and
    # the dropped SYNs are retried by the kernel after ~1 s, which benchmarks would blame on us
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:
        pass  # a client closing its keep-alive connection is not news


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every keep-alive response waits ~44 ms (DESIGN.md)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass
