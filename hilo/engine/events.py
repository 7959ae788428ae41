"""The in-process event bus: every run state change is published here.

SSE streams subscribe per run; webhooks, metrics and WebSockets subscribe to all
events. Payloads are built only when someone listens (``wants``), so an unobserved
run pays nothing for its events.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

Event = tuple[str, Any]  # (event name, payload dict)
Listener = Callable[[str, str, Any], None]  # (run_id, event, payload)

TERMINAL_EVENTS = frozenset(
    {
        "thread.run.completed",
        "thread.run.failed",
        "thread.run.cancelled",
        "thread.run.expired",
        "thread.run.incomplete",
        "thread.run.requires_action",
    }
)


class EventBus:
    def __init__(self) -> None:
        self._runs: dict[str, list[asyncio.Queue[Event]]] = defaultdict(list)
        self._listeners: list[Listener] = []

    def subscribe(self, run_id: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._runs[run_id].append(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[Event]) -> None:
        queues = self._runs.get(run_id)
        if queues and queue in queues:
            queues.remove(queue)
            if not queues:
                del self._runs[run_id]

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def wants(self, run_id: str) -> bool:
        return bool(self._listeners) or run_id in self._runs

    def publish(self, run_id: str, event: str, payload: Any) -> None:
        for queue in self._runs.get(run_id, ()):
            queue.put_nowait((event, payload))
        for listener in self._listeners:
            listener(run_id, event, payload)
