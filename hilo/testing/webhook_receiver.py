"""A real local HTTP server that receives event webhooks and records them.

    with WebhookReceiver() as receiver:
        receiver.fail(500, times=2)            # the next two deliveries answer HTTP 500
        receiver.wait_for(lambda got: len(got) >= 3)
        body, headers = receiver.received[0]
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hilo.testing.http import QuietHandler, QuietServer

__all__ = ["WebhookReceiver"]

Received = tuple[bytes, dict[str, str]]


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802
        owner: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        status = owner._take(body, {k.lower(): v for k, v in self.headers.items()})
        data = b'{"ok": true}' if status < 300 else b'{"error": "receiver told to fail"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class WebhookReceiver:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []  # accepted (2xx) deliveries
        self.attempts: list[Received] = []  # every request, failed ones included
        self._failures: list[int] = []
        self.always: int | None = None  # answer every request with this status
        self._cond = threading.Condition()
        self._httpd = QuietServer(("127.0.0.1", port), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/hooks"

    def fail(self, status: int = 500, times: int = 1) -> None:
        with self._cond:
            self._failures.extend([status] * times)

    def _take(self, body: bytes, headers: dict[str, str]) -> int:
        with self._cond:
            self.attempts.append((body, headers))
            status = self._failures.pop(0) if self._failures else (self.always or 200)
            if status < 300:
                self.received.append((body, headers))
            self._cond.notify_all()
            return status

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 15.0) -> list[Received]:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.received), timeout):
                raise TimeoutError(f"received {len(self.received)} deliveries ({len(self.attempts)} attempts)")
            return list(self.received)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
