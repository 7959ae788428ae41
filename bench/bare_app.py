"""The reference: a bare FastAPI app, served exactly the way ``hilo serve`` serves hilo.

Endpoints:

* ``POST /bare``        parses a small JSON body (a pydantic model) and returns a small JSON object;
* ``POST /bare/stream`` streams a few SSE events and ``event: done``, like a run stream.

Run it as ``python bench/bare_app.py --host 127.0.0.1 --port P --workers N``: the socket is
bound with ``IPPROTO_TCP`` and ``TCP_NODELAY`` (as ``hilo.cli.bind_socket`` does), and with
N > 1 uvicorn's ``Multiprocess`` supervisor shares it between the workers, so both servers
pay the same framework, event loop, HTTP parser and socket costs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

app = FastAPI(title="bare")

EVENTS = 5  # events streamed before ``event: done``


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    assistant_id: str | None = None
    stream: bool | None = None
    additional_messages: list[dict[str, Any]] | None = None


@app.post("/bare")
async def bare(body: Body) -> dict[str, Any]:
    return {"id": "bare_1", "object": "bare", "created_at": 0, "status": "completed", "stream": body.stream}


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@app.post("/bare/stream")
async def bare_stream(body: Body) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        for i in range(EVENTS):
            yield _sse("bare.event", {"id": "bare_1", "index": i, "delta": {"value": "echo: hi"}})
        yield "event: done\ndata: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def bind_socket(host: str, port: int) -> socket.socket:
    """Same as ``hilo.cli.bind_socket`` (kept here so the reference does not import hilo)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)  # spawned workers inherit sys.path and import "bare_app:app"
    sock = bind_socket(args.host, args.port)
    config = uvicorn.Config("bare_app:app", workers=args.workers, log_level=args.log_level,
                            proxy_headers=True, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    if args.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()  # uvicorn >= 0.30: (config, sockets)
    else:
        server.run(sockets=[sock])


if __name__ == "__main__":
    main()
