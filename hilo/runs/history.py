"""The recent messages of recently active threads, kept in memory for the turn path.

A turn then reads only what changed since the last one, in one query: the messages newer than
the newest cached (usually the one the user just sent) and the thread's ``history_version``,
which every message deletion bumps (a change forces a reload). Other replicas' writes are seen
the same way, so the cache is never stale. A thread the cache does not hold is read newest
first, only as deep as the run needs (``truncation_strategy.last_messages``, else
``HILO_CONTEXT_MAX_MESSAGES``): a turn on a 1,000-message thread reads what a turn on a new one
does. Part of the run store (:mod:`hilo.runs.store`): the engine never queries.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, select

from hilo.kit.db.hot import HotSQL
from hilo.threads.models import Message, Thread

# (id, role, content parts, chat message when text-only, its token estimate)
Row = tuple[str, str, list, dict[str, Any] | None, int]
MESSAGE_OVERHEAD = 4


def text_tokens(text: str) -> int:
    """~4 characters per token; good enough for budgeting, never for billing."""
    return len(text) // 4 + 1


def _row(r) -> Row:
    msg_id, role, content = r
    if all(p.get("type") == "text" for p in content):
        text = "\n".join(p["text"]["value"] for p in content)
        return (msg_id, role, content, {"role": role, "content": text}, MESSAGE_OVERHEAD + text_tokens(text))
    return (msg_id, role, content, None, 0)


_MSG = Message.__table__
_THREADS = Thread.__table__
_COLS = (_MSG.c.id, _MSG.c.role, _MSG.c.content)
# The thread's history version and the messages newer than the newest cached, in one query.
NEWER = (
    select(_THREADS.c.history_version, *_COLS)
    .select_from(_THREADS.outerjoin(_MSG, (_MSG.c.thread_id == _THREADS.c.id) & (_MSG.c.id > bindparam("after"))))
    .where(_THREADS.c.id == bindparam("t"))
    .order_by(_MSG.c.id)
)
_NEWEST = (select(*_COLS).where(_MSG.c.thread_id == bindparam("t"))
           .order_by(_MSG.c.id.desc()).limit(bindparam("n", type_=Integer)))
_VERSION = select(_THREADS.c.history_version).where(_THREADS.c.id == bindparam("t"))


@dataclass(slots=True)
class _Entry:
    version: int
    rows: deque  # of Row, oldest first
    complete: bool  # the thread holds no older message than these (or the deque is full)
    primed_for: str | None = None  # a run whose start already read what is new (see prime)


class HistoryCache:
    def __init__(self, hot: HotSQL, max_threads: int = 512, max_messages: int = 200):
        self.hot = hot
        self.max_threads = max_threads
        self.max_messages = max_messages
        self._threads: OrderedDict[str, _Entry] = OrderedDict()

    def forget(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)

    def cursor(self, thread_id: str) -> tuple[int, str] | None:
        """(history version, newest cached message id) of a cached thread, else None."""
        entry = self._threads.get(thread_id)
        if entry is None or not entry.rows:
            return None
        return entry.version, entry.rows[-1][0]

    def prime(self, thread_id: str, version: int, messages: list[tuple[str, str, list]], run_id: str) -> None:
        """What the statement that started ``run_id`` read past :meth:`cursor` (plus the
        messages it added): that run's :meth:`recent` then needs no query of its own."""
        entry = self._threads.get(thread_id)
        if entry is None or entry.version != version or not entry.rows:
            return  # a deletion happened (or the entry left the cache): the run reads itself
        newest = entry.rows[-1][0]
        entry.rows.extend(_row(r) for r in sorted(messages) if r[0] > newest)
        entry.primed_for = run_id

    async def recent(self, thread_id: str, limit: int, run_id: str | None = None) -> list[Row]:
        """The newest ``limit`` messages of the thread, oldest first."""
        limit = max(1, min(limit, self.max_messages))
        entry = self._threads.get(thread_id)
        if entry is not None and not entry.complete and len(entry.rows) < limit:
            entry = None  # read for a shallower run: read as deep as this one needs
        elif entry is not None and run_id is not None and entry.primed_for == run_id:
            entry.primed_for = None  # read when the run started (prime)
        elif entry is not None and entry.rows:
            result = await self.hot.fetch(NEWER, {"t": thread_id, "after": entry.rows[-1][0]})
            if result and result[0][0] == entry.version:
                entry.rows.extend(_row(r[1:]) for r in result if r[1] is not None)
            else:  # deleted messages (or the thread): read again
                entry = None
        else:
            entry = None
        if entry is None:
            found = await self.hot.fetch(_VERSION, {"t": thread_id})
            version = (found[0][0] if found else 0) or 0
            rows = await self.hot.fetch(_NEWEST, {"t": thread_id, "n": limit})
            entry = _Entry(version, deque((_row(r) for r in reversed(rows)), maxlen=self.max_messages),
                           complete=len(rows) < limit or limit == self.max_messages)
            self._threads[thread_id] = entry
        self._threads.move_to_end(thread_id)
        while len(self._threads) > self.max_threads:
            self._threads.popitem(last=False)
        rows = entry.rows
        if limit >= len(rows):
            return list(rows)
        return [rows[i] for i in range(len(rows) - limit, len(rows))]


__all__ = ["NEWER", "HistoryCache", "Row", "text_tokens"]
