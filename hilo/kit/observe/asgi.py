"""The outermost ASGI middleware: a request id for every request, and its span when tracing.

* ``X-Request-ID``: an incoming one is kept when it is 1-128 characters of ``[A-Za-z0-9._:-]``
  (anything else is replaced, never echoed); otherwise hilo makes one. Either way it is the
  response's ``X-Request-ID`` header and :data:`~hilo.kit.observe.logs.REQUEST_ID` while the
  request (and the runs it starts) runs.
* With tracing on, a server span per HTTP request, continuing an incoming ``traceparent``.

Pure ASGI (no framework): it sits below FastAPI's own middleware stack.
"""

from __future__ import annotations

import os
import re

from hilo.kit.observe import tracing
from hilo.kit.observe.logs import REQUEST_ID

HEADER = b"x-request-id"
_VALID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == HEADER:
            if _VALID.fullmatch(value):
                return value.decode()
            break
    return os.urandom(12).hex()


class ObserveMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            return await self.app(scope, receive, send)
        rid = request_id(scope["headers"])
        token = REQUEST_ID.set(rid)
        try:
            if kind == "websocket":
                return await self.app(scope, receive, send)
            header = (b"x-request-id", rid.encode())

            async def send_with_id(message):
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            if not tracing.ON:
                return await self.app(scope, receive, send_with_id)
            await self._traced(scope, receive, send_with_id, rid)
        finally:
            REQUEST_ID.reset(token)

    async def _traced(self, scope, receive, send, rid: str) -> None:
        method = scope.get("method", "GET")
        status = [0]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        attributes = {"http.request.method": method, "url.path": scope.get("path", ""), "hilo.request_id": rid}
        with tracing.span(method, "server", attributes, context=tracing.extract_headers(scope["headers"])) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)
                if template:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                if status[0]:
                    span.set_attribute("http.response.status_code", status[0])
                    if status[0] >= 500:
                        from opentelemetry.trace import Status, StatusCode

                        span.set_status(Status(StatusCode.ERROR))


__all__ = ["HEADER", "ObserveMiddleware", "request_id"]
