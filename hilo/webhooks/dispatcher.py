"""Deliver engine events to registered endpoints: enqueue in the database, send, retry.

* A bus listener (attached only while some endpoint is enabled, so that runs nobody
  watches still build no event payloads) queues ``(event, payload)`` in memory;
* a writer task turns the queue into ``webhook_deliveries`` rows, one transaction per batch;
* a sender task claims due rows with a conditional UPDATE (see :class:`WebhookDelivery`),
  POSTs them with Standard Webhooks headers, and records the outcome or the next attempt,
  with exponential backoff, until ``HILO_WEBHOOK_MAX_ATTEMPTS``.

Rows are the only state: pending deliveries left by a stopped process are sent by the next
one, and replicas sharing a database share the work without sending an attempt twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update

from hilo.kit.bus import EventBus
from hilo.kit.config import Settings
from hilo.kit.db.session import Database
from hilo.kit.ids import new_id
from hilo.kit.observe import metrics
from hilo.webhooks import events, signing
from hilo.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("hilo.webhooks")

BATCH = 500
CLAIM = 50
CONCURRENCY = 16
ERROR_CHARS = 300


@dataclass(frozen=True)
class _Endpoint:
    id: str
    events: tuple[str, ...]


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def envelope(event: str, data: Any, at: float) -> dict[str, Any]:
    """The Standard Webhooks payload shape: ``{"type", "timestamp", "data"}``."""
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": event, "timestamp": stamp, "data": data}


class WebhookDispatcher:
    def __init__(self, db: Database, bus: EventBus, settings: Settings,
                 client: httpx.AsyncClient | None = None):
        self.db, self.bus, self.settings = db, bus, settings
        self._client = client
        self._endpoints: list[_Endpoint] = []
        self._listening = False
        self._queue: asyncio.Queue[tuple[str, Any, float, tuple[str, ...]]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._inflight: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(CONCURRENCY)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_s, follow_redirects=False,
                                             headers={"user-agent": "hilo-webhooks"})
        await self.refresh()
        self._tasks = [asyncio.create_task(self._write_forever(), name="webhooks:writer"),
                       asyncio.create_task(self._send_forever(), name="webhooks:sender")]

    async def stop(self) -> None:
        self._detach()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Events already queued are written, so the next process delivers them.
        with contextlib.suppress(Exception):
            await self._write_batch(self._drain())
        for task in list(self._inflight):
            task.cancel()  # its claim lapses after the lease and the attempt is retried
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def refresh(self) -> None:
        """Reload the enabled endpoints (after an admin change, and every poll)."""
        async with self.db.sessionmaker() as session:
            rows = (await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))).all()
        self._endpoints = [_Endpoint(r.id, tuple(r.events or ("*",))) for r in rows]
        if self._endpoints:
            self._attach()
        else:
            self._detach()

    def _attach(self) -> None:
        if not self._listening:
            self.bus.add_listener(self._on_event)
            self._listening = True

    def _detach(self) -> None:
        if self._listening:
            self.bus.remove_listener(self._on_event)
            self._listening = False

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ enqueue
    def _on_event(self, run_id: str, event: str, payload: Any) -> None:
        name = events.webhook_event(event)
        if name is None:
            return
        targets = tuple(e.id for e in self._endpoints if events.matches(e.events, name))
        if targets:
            self._queue.put_nowait((name, payload, time.time(), targets))

    def _drain(self) -> list[tuple[str, Any, float, tuple[str, ...]]]:
        items = []
        while not self._queue.empty() and len(items) < BATCH:
            items.append(self._queue.get_nowait())
        return items

    async def _write_forever(self) -> None:
        while True:
            first = await self._queue.get()
            items = [first, *self._drain()]
            try:
                await self._write_batch(items)
            except Exception:
                log.exception("could not store %d webhook deliveries", len(items))
                await asyncio.sleep(1)
                continue
            self._wake.set()

    async def _write_batch(self, items: list[tuple[str, Any, float, tuple[str, ...]]]) -> None:
        if not items:
            return
        async with self.db.sessionmaker() as session:
            for name, data, at, targets in items:
                payload = envelope(name, data, at)
                for endpoint_id in targets:
                    session.add(WebhookDelivery(
                        id=new_id("evt"), endpoint_id=endpoint_id, event=name, payload=payload,
                        status="pending", attempts=0, next_attempt_at=at, created_at=int(at)))
            await session.commit()

    # ------------------------------------------------------------------ send
    async def _send_forever(self) -> None:
        poll = self.settings.webhook_poll_s
        last_refresh = time.monotonic()
        while True:
            self._wake.clear()  # before looking, so that a wake-up during the look is kept
            try:
                if time.monotonic() - last_refresh >= poll:
                    await self.refresh()
                    last_refresh = time.monotonic()
                claimed = await self._claim_due()
                for delivery in claimed:
                    await self._slots.acquire()
                    task = asyncio.create_task(self._attempt(delivery))
                    self._inflight.add(task)
                    task.add_done_callback(self._done)
                delay = 0.0 if len(claimed) == CLAIM else await self._until_next_due(poll)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook sender loop failed; retrying")
                delay = poll
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    def _done(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        self._slots.release()

    async def _until_next_due(self, poll: float) -> float:
        async with self.db.sessionmaker() as session:
            due = await session.scalar(select(func.min(WebhookDelivery.next_attempt_at))
                                       .where(WebhookDelivery.status == "pending"))
        if due is None:
            return poll
        return max(0.0, min(poll, due - time.time()))

    async def _claim_due(self) -> list[WebhookDelivery]:
        now = time.time()
        lease = now + self.settings.webhook_timeout_s + 30
        claimed: list[WebhookDelivery] = []
        async with self.db.sessionmaker() as session:
            rows = (await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(CLAIM)
            )).all()
            for row in rows:
                result = await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == row.id, WebhookDelivery.status == "pending",
                           WebhookDelivery.attempts == row.attempts)
                    .values(attempts=row.attempts + 1, next_attempt_at=lease)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    row.attempts += 1
                    claimed.append(row)
            await session.commit()
        return claimed

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        endpoint = await self._endpoint(delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            await self._settle(delivery, "failed", None, "endpoint deleted or disabled")
            return
        body = body_bytes(delivery.payload)
        headers = signing.headers(endpoint.secret, delivery.id, body)
        code: int | None = None
        try:
            async with self._client.stream("POST", endpoint.url, content=body, headers=headers) as resp:
                code = resp.status_code
                excerpt = ""
                if not 200 <= code < 300:
                    async for chunk in resp.aiter_bytes():
                        excerpt = chunk[:ERROR_CHARS].decode(errors="replace")
                        break
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        else:
            if 200 <= code < 300:
                await self._settle(delivery, "delivered", code, None)
                return
            error = f"HTTP {code}" + (f": {excerpt}" if excerpt else "")
        if delivery.attempts >= self.settings.webhook_max_attempts:
            log.warning("webhook %s to endpoint %s gave up after %d attempts: %s",
                        delivery.id, delivery.endpoint_id, delivery.attempts, error)
            await self._settle(delivery, "failed", code, error)
        else:
            await self._settle(delivery, "pending", code, error, retry_in=self.backoff(delivery.attempts))

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: base * 4^(attempts-1), capped."""
        s = self.settings
        return min(s.webhook_retry_max_s, s.webhook_retry_base_s * 4 ** max(0, attempts - 1))

    async def _endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        async with self.db.sessionmaker() as session:
            return await session.get(WebhookEndpoint, endpoint_id)

    async def _settle(self, delivery: WebhookDelivery, status: str, code: int | None, error: str | None,
                      retry_in: float | None = None) -> None:
        values: dict[str, Any] = {"status": status, "last_status_code": code, "last_error": error,
                                  "next_attempt_at": time.time() + retry_in if retry_in is not None else None}
        if status == "delivered":
            values["delivered_at"] = int(time.time())
        async with self.db.sessionmaker() as session:
            # Only the holder of this attempt may settle it (a lapsed lease was re-claimed).
            result = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id, WebhookDelivery.attempts == delivery.attempts,
                       WebhookDelivery.status == "pending")
                .values(**values).execution_options(synchronize_session=False)
            )
            await session.commit()
        if result.rowcount == 1:  # the attempt this process held (a lapsed lease's is someone else's)
            metrics.webhook_delivery("retry" if status == "pending" else status)
        if retry_in is not None:
            self._wake.set()

    # ------------------------------------------------------------------ health
    async def counts(self) -> dict[str, int]:
        async with self.db.sessionmaker() as session:
            rows = (await session.execute(
                select(WebhookDelivery.status, func.count()).where(WebhookDelivery.status.in_(("pending", "failed")))
                .group_by(WebhookDelivery.status)
            )).all()
        found = dict(rows)
        return {"endpoints": len(self._endpoints), "pending": found.get("pending", 0), "failed": found.get("failed", 0)}
