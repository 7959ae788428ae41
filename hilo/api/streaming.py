"""Server-sent events in the exact sequence the SDK's ``AssistantEventHandler`` reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi.responses import StreamingResponse

from hilo.engine.events import TERMINAL_EVENTS, EventBus


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


def stream_run(bus: EventBus, run_id: str, queue, first: Iterable[tuple[str, Any]] = ()) -> StreamingResponse:
    """Stream a run's events until it stops (completed, failed, requires_action, ...)."""

    async def events() -> AsyncIterator[str]:
        # Events published together (e.g. step and message created, then the first delta)
        # leave in one write: fewer syscalls, same bytes, same order.
        try:
            chunk = [sse(name, payload) for name, payload in first]
            done = False
            while not done:
                name, payload = await queue.get()
                while True:
                    chunk.append(sse(name, payload))
                    done = name in TERMINAL_EVENTS
                    if done or queue.empty():
                        break
                    name, payload = queue.get_nowait()
                if done:
                    chunk.append("event: done\ndata: [DONE]\n\n")
                yield "".join(chunk)
                chunk = []
        finally:
            bus.unsubscribe(run_id, queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
