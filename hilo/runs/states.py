"""A run's states, the allowed transitions, and the events that end a stream.

OpenAI's machine::

    queued -> in_progress -> completed | incomplete | failed | requires_action
    requires_action -> queued (tool outputs) ; queued | in_progress -> cancelling -> cancelled
    any active -> cancelled | failed | expired

:data:`ALLOWED` is the one table of who may move a run where; :mod:`hilo.runs.store`, the only
writer of run rows, applies it as ``UPDATE ... WHERE status IN (...)``, so a cancel or an expiry
decided by another request or another process always wins cleanly over a task still writing.
"""

from __future__ import annotations

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL = ("cancelled", "failed", "completed", "incomplete", "expired")
RUNNING = ("queued", "in_progress")  # what the executing task may still end by itself

# target status -> the statuses it may be reached from
ALLOWED: dict[str, tuple[str, ...]] = {
    "in_progress": ("queued",),
    "requires_action": RUNNING,
    "queued": ("requires_action",),  # tool outputs submitted
    "cancelling": RUNNING,
    "completed": RUNNING,
    "incomplete": RUNNING,
    "failed": ACTIVE,
    "cancelled": ACTIVE,
    "expired": ACTIVE,
}

# The timestamp column each terminal status stamps.
STAMP = {"failed": "failed_at", "cancelled": "cancelled_at", "completed": "completed_at"}

TERMINAL_EVENTS = frozenset({f"thread.run.{s}" for s in (*TERMINAL, "requires_action")})

__all__ = ["ACTIVE", "ALLOWED", "RUNNING", "STAMP", "TERMINAL", "TERMINAL_EVENTS"]
