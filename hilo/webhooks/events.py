"""Which engine events become webhook events, and which endpoints want them.

An engine event ``thread.run.completed`` is delivered as ``run.completed``; streaming
deltas are never delivered. An endpoint subscribes to names (``run.completed``), to a
family (``run.*``, ``message.*``, ``run.step.*``) or to everything (``*``).

Packs add their own events (``council.decision.pending``) through :func:`register`; they are
published on the bus under their own name and delivered as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

RUN = ("created", "queued", "in_progress", "requires_action", "completed", "incomplete",
       "failed", "cancelling", "cancelled", "expired")
STEP = ("created", "in_progress", "completed", "failed", "cancelled", "expired")
MESSAGE = ("created", "in_progress", "completed", "incomplete")

EVENT_TYPES: tuple[str, ...] = (
    tuple(f"run.{s}" for s in RUN) + tuple(f"run.step.{s}" for s in STEP) + tuple(f"message.{s}" for s in MESSAGE)
)
PATTERNS = set(EVENT_TYPES) | {"*", "run.*", "run.step.*", "message.*"}
_KNOWN = set(EVENT_TYPES)
_EXTRA: set[str] = set()


def register(names: Iterable[str]) -> None:
    """Let webhooks deliver a pack's events (``family.thing.happened``), by name or ``family.*``."""
    for name in names:
        family = name.split(".", 1)[0]
        if not family or "." not in name or name in _KNOWN and name not in _EXTRA:
            raise ValueError(f"a pack event needs a name of the form family.event, not {name!r}")
        _EXTRA.add(name)
        _KNOWN.add(name)
        PATTERNS.update((name, f"{family}.*"))


def webhook_event(engine_event: str) -> str | None:
    """``thread.run.completed`` -> ``run.completed``; a pack event as it is; None for events
    never delivered."""
    if engine_event in _EXTRA:
        return engine_event
    name = engine_event.removeprefix("thread.")
    return name if name in _KNOWN else None


def matches(patterns: Iterable[str], event: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event:
            return True
        if pattern.endswith(".*"):
            family = pattern[:-1]  # "run." / "run.step." / "message."
            rest = event[len(family):] if event.startswith(family) else None
            # "run.*" means the run's own events, not its steps' ("run.step.*" for those)
            if rest is not None and (family != "run." or not rest.startswith("step.")):
                return True
    return False


def invalid(patterns: Iterable[str]) -> list[str]:
    return [p for p in patterns if p not in PATTERNS]
