"""A run's events as server-sent events, in the exact sequence the SDK's
``AssistantEventHandler`` reads (the HTTP layer wraps them in a streaming response)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson

from hilo.kit.bus import Event, EventBus
from hilo.runs.states import TERMINAL_EVENTS

DONE = b"event: done\ndata: [DONE]\n\n"


class Encoder:
    """Server-sent events as bytes (compact UTF-8 JSON data); a payload shared by
    consecutive events (``created`` then ``in_progress``) is serialised once."""

    __slots__ = ("_last", "_data")

    def __init__(self) -> None:
        self._last: Any = None
        self._data = b""

    def __call__(self, event: str, payload: Any) -> bytes:
        if payload is not self._last:
            self._last, self._data = payload, orjson.dumps(payload)
        return b"event: " + event.encode() + b"\ndata: " + self._data + b"\n\n"


Rewrite = Callable[[str, Any], Awaitable[Any]]


async def sse(bus: EventBus, run_id: str, queue: asyncio.Queue[Event],
              first: Iterable[tuple[str, Any]] = (), completed_steps: Rewrite | None = None) -> AsyncIterator[bytes]:
    """A run's events until it stops (completed, failed, requires_action, ...), then ``done``.

    Events published together (e.g. step and message created, then the first delta) leave in
    one write: fewer syscalls, same bytes, same order. ``completed_steps``, when given, may
    replace the payload of each ``thread.run.step.completed`` event (runs.create's ``include[]``)."""
    encode = Encoder()
    try:
        chunk = [encode(name, payload) for name, payload in first]
        done = False
        while not done:
            name, payload = await queue.get()
            while True:
                if completed_steps is not None and name == "thread.run.step.completed":
                    payload = await completed_steps(name, payload)
                chunk.append(encode(name, payload))
                done = name in TERMINAL_EVENTS
                if done or queue.empty():
                    break
                name, payload = queue.get_nowait()
            if done:
                chunk.append(DONE)
            yield b"".join(chunk)
            chunk = []
    finally:
        bus.unsubscribe(run_id, queue)


__all__ = ["DONE", "Encoder", "sse"]
