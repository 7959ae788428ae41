"""Streamed runs as ``text/event-stream`` responses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.responses import StreamingResponse

from hilo.runs.service import Turn
from hilo.runs.streaming import Rewrite, sse


def stream_turn(bus, turn: Turn, first: Iterable[tuple[str, Any]] = (),
                completed_steps: Rewrite | None = None) -> StreamingResponse:
    return StreamingResponse(
        sse(bus, turn.run.id, turn.events, first, completed_steps),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
