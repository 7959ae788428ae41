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

# The SDKs' pollers (``create_and_poll``, ``poll``) wait ``openai-poll-after-ms`` between reads
# of an active run (1 s when absent). hilo says a quarter of the run's age, 25 ms to 1 s: a
# run done in milliseconds is read back in about 25 ms, a long one costs about 16 reads per
# 25-fold of its duration, and no answer waits more than a fifth of its time to be seen.
POLL_AFTER_MIN_MS, POLL_AFTER_MAX_MS = 25, 1000


def poll_after_ms(age_ms: int) -> int:
    return max(POLL_AFTER_MIN_MS, min(POLL_AFTER_MAX_MS, age_ms // 4))


TERMINAL_EVENTS = frozenset({f"thread.run.{s}" for s in (*TERMINAL, "requires_action")})

__all__ = ["ACTIVE", "ALLOWED", "POLL_AFTER_MAX_MS", "POLL_AFTER_MIN_MS", "RUNNING", "STAMP", "TERMINAL",
           "TERMINAL_EVENTS", "poll_after_ms"]
