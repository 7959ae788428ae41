"""The event bus: every run state change is published here.

:class:`EventBus` is the seam: SSE streams, WebSockets and the seed facade subscribe per
run; webhooks and metrics listen to every event. :class:`LocalBus` is the in-process bus;
:class:`hilo.kit.redis_bus.RedisBus` crosses processes (API replicas and run workers) with the
same methods, and nothing that publishes or subscribes changes. Subscribing is awaited: across
processes it must learn where the run's stream stands before the caller goes on. Payloads are built only when
someone listens (:meth:`EventBus.wants`), so an unobserved run pays nothing for its events.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

Event = tuple[str, Any]  # (event name, payload dict)
Listener = Callable[[str, str, Any], None]  # (run_id, event, payload)


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, run_id: str, *, fresh: bool = False) -> asyncio.Queue[Event]:
        """A queue that receives the run's events from now on (in publication order);
        ``fresh``: the run was just created, nothing was published for it yet."""
        ...

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[Event]) -> None: ...

    def add_listener(self, listener: Listener) -> None:
        """``listener(run_id, event, payload)`` for every event of every run."""
        ...

    def remove_listener(self, listener: Listener) -> None: ...

    def wants(self, run_id: str) -> bool:
        """Does anyone listen to this run? (Publishers skip building payloads otherwise.)"""
        ...

    def publish(self, run_id: str, event: str, payload: Any) -> None: ...

    async def flush(self) -> None:
        """Return once everything published so far reached every subscriber's process."""
        ...


class LocalBus:
    """The in-process :class:`EventBus`."""

    def __init__(self) -> None:
        self._runs: dict[str, list[asyncio.Queue[Event]]] = defaultdict(list)
        self._listeners: list[Listener] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def subscribe(self, run_id: str, *, fresh: bool = False) -> asyncio.Queue[Event]:
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


__all__ = ["Event", "EventBus", "Listener", "LocalBus"]
