"""Runs on a Redis queue (saq): API replicas enqueue, run workers execute.

:class:`QueueExecutor` is the :class:`~hilo.runs.executor.Executor` of a scaled-out hilo
(``HILO_REDIS_URL``). ``submit`` enqueues a job keyed by the run id (saq ignores a second enqueue
of a key still queued or running), after the bus has flushed the run's first events. A process
that executes runs (``hilo worker``, or ``hilo serve`` unless ``--no-execute``) consumes the queue
with a saq worker and runs each job through its :class:`~hilo.runs.executor.LocalExecutor`.

The database stays the truth, so that nothing is lost with Redis and nothing runs twice:

* a worker claims a run before executing it: it inserts the run's ``run_leases`` row (the
  primary key makes the claim exclusive) and executes only a run still ``queued``; it renews its
  leases every third of ``HILO_RUN_LEASE_S`` and deletes the row when the run stops;
* every process sweeps: a lease that ran out belongs to a worker that died (SIGKILL, a lost
  machine); its run ends ``failed`` with a clear error, never retried (a tool with side effects
  does not run twice), and the row goes;
* a ``queued`` run with no lease is enqueued again (a no-op while Redis still holds its job):
  after Redis lost its data, or when Redis was down as the run was created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

from saq import Queue, Worker
from sqlalchemy import BigInteger, String, bindparam, delete, exists, select, update

from hilo.kit.bus import EventBus
from hilo.kit.db.session import Database
from hilo.kit.observe import metrics as observed
from hilo.runs.executor import LocalExecutor
from hilo.runs.models import Run, RunLease

log = logging.getLogger("hilo.queue")
# saq logs every job it enqueues and processes at INFO, with the job's repr: two lines per turn.
logging.getLogger("saq").setLevel(logging.WARNING)

JOB = "execute_run"
REQUEUE_EVERY_S = 5.0  # how often a process looks for queued runs whose job Redis lost (and reports the depth)
# Each of a worker's HILO_MAX_CONCURRENT_RUNS slots blocks in BLMOVE this long before asking again:
# a job wakes one at once; a longer wait only saves idle round trips (64 slots: 6 a second).
DEQUEUE_WAIT_S = 10.0
LOST = ("The worker executing this run stopped before it finished (its lease of {lease:g} s ran out); "
        "send the message again.")


_LEASES = RunLease.__table__
_RUNS = Run.__table__
_RELEASE = delete(_LEASES).where(_LEASES.c.run_id == bindparam("b_id"), _LEASES.c.owner == bindparam("b_owner"))
_CLAIMS: dict[str, Any] = {}


def _claim_statement(dialect: str):
    """The claim, built once per dialect (the hot path keys its compiled form by identity)."""
    statement = _CLAIMS.get(dialect)
    if statement is None:
        from sqlalchemy.dialects import postgresql, sqlite

        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        source = select(_RUNS.c.id, bindparam("b_owner", type_=String), bindparam("b_until", type_=BigInteger),
                        bindparam("b_at", type_=BigInteger)).where(_RUNS.c.id == bindparam("b_id"),
                                                                    _RUNS.c.status == "queued")
        statement = _CLAIMS[dialect] = make(_LEASES).from_select(
            ["run_id", "owner", "until_ms", "claimed_at"], source).on_conflict_do_nothing(index_elements=["run_id"])
    return statement


def _values(record: Any) -> dict[str, Any] | None:
    """A turn-path record as its attribute values (JSON: what the job carries), or None."""
    if record is None or not hasattr(record, "_columns"):
        return None
    return {key: getattr(record, key) for key, _column in record._columns}


def _ms() -> int:
    return int(time.time() * 1000)


def worker_name() -> str:
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


class _Worker(Worker):
    SIGNALS: list = []  # the process (uvicorn, or `hilo worker`) owns its signals


class QueueExecutor:
    """Enqueue here; execute wherever a worker consumes the queue (maybe here too)."""

    def __init__(self, local: LocalExecutor, db: Database, bus: EventBus, redis_url: str, *,
                 prefix: str = "hilo", lease_s: float = 15.0, concurrency: int = 16, consume: bool = True):
        self.local, self.db, self.bus = local, db, bus
        self.lease_s = lease_s
        self.concurrency = concurrency
        self.consume = consume
        self.owner = worker_name()
        self.queue = Queue.from_url(redis_url, name=f"{prefix}-runs")
        self._worker: _Worker | None = None
        self._tasks: set[asyncio.Task] = set()
        self._next_requeue = 0.0
        self._next_renew = 0.0
        self._next_lost = 0.0
        self.on_lost = None  # async (run_id, message) -> None: ends a run whose worker died
        self.start_of = None  # (launched, traceparent, run, assistant) -> the engine's Start

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.queue.connect()
        if self.consume:
            self._worker = _Worker(self.queue, functions=[(JOB, self._job)], concurrency=self.concurrency,
                                   dequeue_timeout=DEQUEUE_WAIT_S, timers={"sweep": 30, "abort": 1, "schedule": 1,
                                                                "worker_info": 10})
            self._spawn(self._worker.start(), "queue:worker")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.event.set()  # take no new job
        await self.local.stop()  # the runs here end `failed` (shutdown) and release their leases
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._worker.stop(), 5)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.queue.disconnect()

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ the Executor seam
    def submit(self, run_id: str, snapshot: Any = None) -> None:
        """``snapshot``: the engine's Start. The run and its assistant as just stored travel with
        the job (the worker's claim checks the run is still queued, so they are current: two reads
        fewer there), with the launch time and the trace context."""
        extra = {"launched": getattr(snapshot, "launched", None) or time.time(),
                 "traceparent": getattr(snapshot, "traceparent", None),
                 "run": _values(getattr(snapshot, "run", None)), "assistant": _values(getattr(snapshot, "assistant", None))}
        self._spawn(self._enqueue(run_id, extra), f"enqueue:{run_id}")

    async def _enqueue(self, run_id: str, extra: dict[str, Any]) -> None:
        try:
            await self.bus.flush()  # `thread.run.created` reaches Redis before the worker's first event
            await self.queue.enqueue(JOB, key=run_id, run_id=run_id, timeout=0, retries=1, ttl=60, **extra)
        except Exception as exc:  # the run stays queued in the database: the sweep enqueues it again
            log.warning("could not enqueue run %s (%s); it will be enqueued when Redis answers",
                        run_id, type(exc).__name__)

    def cancel(self, run_id: str, reason: str) -> bool:
        return self.local.cancel(run_id, reason)

    def reason(self, run_id: str) -> str | None:
        return self.local.reason(run_id)

    def running(self) -> frozenset[str]:
        return self.local.running()

    # ------------------------------------------------------------------ executing a job
    async def _job(self, ctx: dict, *, run_id: str, launched: float | None = None, traceparent: str | None = None,
                   run: dict | None = None, assistant: dict | None = None) -> str:
        if not await self.claim(run_id):
            return "not ours"
        start = None
        if self.start_of is not None:
            start = self.start_of(launched=launched, traceparent=traceparent, run=run, assistant=assistant)
        try:
            await asyncio.wait([self.local.submit(run_id, start)])  # a cancelled run is not a failed job
        finally:
            await self.release(run_id)
        return "done"

    async def claim(self, run_id: str) -> bool:
        """Take the run's lease; True when the run is ours and still ``queued``. One statement:
        ``INSERT INTO run_leases SELECT ... FROM runs WHERE id = ? AND status = 'queued'
        ON CONFLICT DO NOTHING`` (a row inserted: claimed)."""
        at = _ms()
        async with self.db.hot.connection() as conn:
            claimed = await conn.execute(_claim_statement(self.db.hot.dialect.name), {
                "b_id": run_id, "b_owner": self.owner, "b_until": at + int(self.lease_s * 1000), "b_at": at})
        return claimed == 1

    async def release(self, run_id: str) -> None:
        for attempt in range(10):
            try:
                async with self.db.hot.connection() as conn:
                    await conn.execute(_RELEASE, {"b_id": run_id, "b_owner": self.owner})
                return
            except Exception:  # the database restarting: the lease must not outlive the run
                await asyncio.sleep(0.5 * (attempt + 1))
        log.error("could not release the lease of run %s; it will be swept", run_id)

    # ------------------------------------------------------------------ sweeping (every process)
    async def sweep(self) -> None:
        now_s = time.monotonic()
        if self.consume and now_s >= self._next_renew and self.local.running():
            self._next_renew = now_s + self.lease_s / 3
            await self.renew()
        if now_s >= self._next_lost:
            self._next_lost = now_s + min(5.0, max(0.5, self.lease_s / 3))
            await self.sweep_lost()
        if now_s >= self._next_requeue:
            self._next_requeue = now_s + REQUEUE_EVERY_S
            await self.requeue()
            waiting, oldest = await self.depth()
            observed.set_queue("runs", waiting, oldest)

    async def renew(self) -> None:
        async with self.db.sessionmaker() as session:
            await session.execute(update(RunLease).where(RunLease.owner == self.owner)
                                  .values(until_ms=_ms() + int(self.lease_s * 1000)))
            await session.commit()

    async def sweep_lost(self) -> int:
        """End the runs whose worker's lease ran out."""
        at = _ms()
        async with self.db.sessionmaker() as session:
            lost = (await session.scalars(select(RunLease.run_id).where(RunLease.until_ms < at).limit(100))).all()
        for run_id in lost:
            log.warning("run %s: its worker stopped renewing its lease; ending it", run_id)
            if self.on_lost is not None:
                await self.on_lost(run_id, LOST.format(lease=self.lease_s))
            async with self.db.sessionmaker() as session:
                await session.execute(delete(RunLease).where(RunLease.run_id == run_id, RunLease.until_ms < at))
                await session.commit()
        return len(lost)

    async def requeue(self) -> int:
        """Enqueue again every queued run no worker holds (saq ignores those it still has)."""
        before = int(time.time()) - 1
        async with self.db.sessionmaker() as session:
            waiting = (await session.scalars(
                select(Run.id).where(Run.status == "queued", Run.created_at < before,
                                     ~exists().where(RunLease.run_id == Run.id)).limit(500))).all()
        for run_id in waiting:
            job = await self.queue.enqueue(JOB, key=run_id, run_id=run_id, timeout=0, retries=1, ttl=60)
            if job is not None:
                log.info("run %s was queued with no job in Redis: enqueued again", run_id)
        return len(waiting)

    async def health(self) -> dict[str, Any]:
        """Redis answers; jobs waiting and running; the workers seen in the last minute."""
        info = await self.queue.info()
        waiting, oldest = await self.depth()
        workers = len(info.get("workers") or {})
        return {"ok": workers > 0, "queued_jobs": info.get("queued", 0), "active_jobs": info.get("active", 0),
                "oldest_queued_run_s": round(oldest, 1), "workers": workers,
                "detail": "no worker consumes the queue" if not workers else f"{workers} worker(s)"}

    async def depth(self) -> tuple[int, float]:
        """Jobs waiting, and the age in seconds of the oldest queued run."""
        waiting = await self.queue.count("queued")
        async with self.db.sessionmaker() as session:
            oldest = await session.scalar(select(Run.created_at).where(Run.status == "queued")
                                          .order_by(Run.created_at).limit(1))
        return waiting, (time.time() - oldest if oldest else 0.0)


__all__ = ["JOB", "QueueExecutor", "worker_name"]
