"""The cross-process :class:`~hilo.kit.bus.EventBus`: each run's events in a Redis stream.

API replicas and run workers share it (``HILO_REDIS_URL``). A publisher appends to the stream
``<prefix>:ev:<key>`` (``XADD``); every subscriber, in any process, reads that stream from where
it subscribed (``XREAD BLOCK``), so a stream opened on one replica relays, in order and with
nothing dropped, a run that a worker executes elsewhere. Streams rather than pub/sub: a reader
that is slow, or subscribes a moment late, still gets every event, and a client that comes back
can re-read the run.

* :meth:`publish` is synchronous and cheap: local listeners (webhooks, metrics) run at once,
  the event joins an outbox that one writer task sends in pipelined batches, in order;
* :meth:`subscribe` is awaited: a new run's stream is read from its start (``fresh``), any other
  from its current end (one ``XREVRANGE``), after the outbox is flushed;
* :meth:`flush` waits until everything published so far is in Redis: the queue executor calls it
  before it enqueues a run, so that ``thread.run.created`` precedes the worker's first event.

Streams are capped (``MAXLEN ~``) and expire an hour after their last event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from redis.asyncio import Redis

from hilo.kit.bus import Event, Listener

log = logging.getLogger("hilo.bus")

STREAM_MAXLEN = 5000  # events kept per stream (a long turn has a few hundred deltas)
STREAM_TTL_S = 3600
BLOCK_MS = 1000  # a reader wakes at least this often to notice it was unsubscribed
BATCH = 256


class _Reader:
    __slots__ = ("queue", "task", "stopped")

    def __init__(self, queue: asyncio.Queue[Event]):
        self.queue = queue
        self.task: asyncio.Task | None = None
        self.stopped = False


class RedisBus:
    def __init__(self, url: str, prefix: str = "hilo"):
        self.redis = Redis.from_url(url, max_connections=4096)
        self.prefix = prefix
        self._listeners: list[Listener] = []
        self._readers: dict[asyncio.Queue[Event], _Reader] = {}
        self._outbox: asyncio.Queue[tuple[str, str, bytes] | asyncio.Future] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._reading: set[asyncio.Task] = set()  # reader tasks, also those leaving after an unsubscribe

    def key(self, run_id: str) -> str:
        return f"{self.prefix}:ev:{run_id}"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.redis.ping()
        self._writer = asyncio.create_task(self._write_forever(), name="bus:writer")

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 5)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        tasks = list(self._reading)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.redis.aclose()

    # ------------------------------------------------------------------ publishing
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def wants(self, run_id: str) -> bool:
        return True  # a subscriber may be in another process

    def publish(self, run_id: str, event: str, payload: Any) -> None:
        for listener in self._listeners:
            listener(run_id, event, payload)
        self._outbox.put_nowait((run_id, event, orjson.dumps(payload)))

    async def flush(self) -> None:
        """Return once every event published before this call is in Redis."""
        if self._writer is None or self._writer.done():
            return
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait(done)
        await done

    async def _write_forever(self) -> None:
        while True:
            first = await self._outbox.get()
            batch = [first]
            while len(batch) < BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            events = [item for item in batch if not isinstance(item, asyncio.Future)]
            if events:
                await self._send(events)
            for item in batch:
                if isinstance(item, asyncio.Future) and not item.done():
                    item.set_result(None)

    async def _send(self, events: list[tuple[str, str, bytes]]) -> None:
        for attempt in range(20):  # Redis restarting: keep the order, retry for ~10 s
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    keys = set()
                    for run_id, event, data in events:
                        key = self.key(run_id)
                        keys.add(key)
                        pipe.xadd(key, {"e": event, "p": data}, maxlen=STREAM_MAXLEN, approximate=True)
                    for key in keys:
                        pipe.expire(key, STREAM_TTL_S)
                    await pipe.execute()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == 0:
                    log.warning("event bus: Redis unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.5)
        log.error("event bus: dropped %d event(s): Redis did not come back", len(events))

    # ------------------------------------------------------------------ subscribing
    async def subscribe(self, run_id: str, *, fresh: bool = False) -> asyncio.Queue[Event]:
        """A queue of the run's events from now on; ``fresh``: the run is new, read from its start."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        if fresh:
            start = "0-0"
        else:
            await self.flush()
            last = await self.redis.xrevrange(self.key(run_id), count=1)
            start = last[0][0].decode() if last else "0-0"
        reader = _Reader(queue)
        self._readers[queue] = reader
        reader.task = asyncio.create_task(self._read(run_id, start, reader), name=f"bus:read:{run_id}")
        self._reading.add(reader.task)
        reader.task.add_done_callback(self._reading.discard)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[Event]) -> None:
        reader = self._readers.pop(queue, None)
        if reader is not None:
            reader.stopped = True  # the reader leaves after its current XREAD (at most BLOCK_MS)

    async def _read(self, run_id: str, last: str, reader: _Reader) -> None:
        key = self.key(run_id)
        failing = False
        while not reader.stopped:
            try:
                answer = await self.redis.xread({key: last}, count=BATCH, block=BLOCK_MS)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning("event bus: cannot read %s (%s); retrying", run_id, type(exc).__name__)
                failing = True
                await asyncio.sleep(0.5)
                continue
            for _key, entries in answer or ():
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    reader.queue.put_nowait((fields[b"e"].decode(), orjson.loads(fields[b"p"])))


__all__ = ["RedisBus"]
