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
        try:
            for name, payload in first:
                yield sse(name, payload)
            while True:
                name, payload = await queue.get()
                yield sse(name, payload)
                if name in TERMINAL_EVENTS:
                    break
            yield "event: done\ndata: [DONE]\n\n"
        finally:
            bus.unsubscribe(run_id, queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
