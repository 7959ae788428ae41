"""Where runs execute: the seam between starting a run and running it.

The turn service hands every queued run to an :class:`Executor`; the engine's
:meth:`~hilo.runs.engine.RunEngine.execute` is what it runs. :class:`LocalExecutor` runs them as
tasks of this process, at most ``HILO_MAX_CONCURRENT_RUNS`` at once (the rest wait queued).
:class:`hilo.runs.queue.QueueExecutor` (a Redis queue of worker processes) implements the same
methods and executes through a :class:`LocalExecutor` in whichever process takes the job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("hilo.runs")

Execute = Callable[[str, Any], Awaitable[None]]  # (run id, the run as stored, or None) -> done
Abandon = Callable[[str, str], Awaitable[None]]  # (run id, reason): cancelled before it started


class Executor(Protocol):
    def submit(self, run_id: str, snapshot: Any = None) -> Any:
        """Execute (or resume) a queued run; ``snapshot``: the run as just stored (spares a read)."""
        ...

    def reason(self, run_id: str) -> str | None:
        """Why the run's task was interrupted here (cancelled | expired | shutdown), if it was."""
        ...

    async def start(self) -> None: ...

    async def sweep(self) -> None:
        """Periodic upkeep (the engine's sweeper calls it a few times a second)."""
        ...

    def cancel(self, run_id: str, reason: str) -> bool:
        """Interrupt the run if this executor runs it here; False when it does not."""
        ...

    def running(self) -> frozenset[str]:
        """The runs executing (or waiting for a slot) here."""
        ...

    async def stop(self) -> None:
        """Interrupt everything (reason ``shutdown``) and wait for the runs to record it."""
        ...


class LocalExecutor:
    """Runs as tasks of this process."""

    def __init__(self, execute: Execute, abandon: Abandon, max_concurrent: int):
        self._execute = execute
        self._abandon = abandon
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task] = {}
        self.reasons: dict[str, str] = {}  # why a task was cancelled: cancelled | expired | shutdown

    async def start(self) -> None:
        pass

    async def sweep(self) -> None:
        pass

    def submit(self, run_id: str, snapshot: Any = None) -> asyncio.Task:
        task = asyncio.create_task(self._run(run_id, snapshot), name=f"run:{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _t: self._forget(run_id, _t))
        return task

    def _forget(self, run_id: str, task: asyncio.Task) -> None:
        if self._tasks.get(run_id) is task:
            del self._tasks[run_id]
        self.reasons.pop(run_id, None)

    async def _run(self, run_id: str, snapshot: Any) -> None:
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:  # cancelled while waiting for a slot: it never started
            await self._abandon(run_id, self.reasons.get(run_id, "cancelled"))
            raise
        try:
            await self._execute(run_id, snapshot)
        finally:
            self._slots.release()

    def cancel(self, run_id: str, reason: str) -> bool:
        """Cancel a task once: a second cancel (the sweeper seeing ``cancelling``, an expiry)
        would interrupt the task while it writes its end, leaving the run ``cancelling``."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        if run_id not in self.reasons:
            self.reasons[run_id] = reason
            task.cancel()
        return True

    def reason(self, run_id: str) -> str | None:
        return self.reasons.get(run_id)

    def running(self) -> frozenset[str]:
        return frozenset(self._tasks)

    async def stop(self) -> None:
        tasks = list(self._tasks.items())
        for run_id, task in tasks:
            self.reasons[run_id] = "shutdown"
            task.cancel()
        if tasks:
            await asyncio.gather(*(t for _, t in tasks), return_exceptions=True)


__all__ = ["Abandon", "Execute", "Executor", "LocalExecutor"]
