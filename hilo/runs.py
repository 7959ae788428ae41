"""The one call every channel ends in: create a run on a thread and execute it."""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from sqlalchemy import (
    Text,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hilo import serialize
from hilo.api.errors import bad_request, not_found
from hilo.api.schemas import dump_response_format, dump_tools
from hilo.db import hot
from hilo.db import models as m
from hilo.db.session import Database
from hilo.engine import context as ctx
from hilo.engine.events import EventBus
from hilo.engine.runner import RunEngine
from hilo.ids import new_id
from hilo.store import get_or_404, now

_THREADS = m.Thread.__table__
_CLAIM = update(_THREADS).where(_THREADS.c.id == bindparam("b_thread"), _THREADS.c.active_run_id.is_(None))
_CLAIM_KEYS = ("active_run_id",)


async def claim_thread(session: AsyncSession, thread_id: str, run_id: str) -> None:
    """Mark the thread busy with ``run_id``; one active run per thread, across replicas."""
    result = await session.execute(_CLAIM, {"b_thread": thread_id, "active_run_id": run_id})
    if result.rowcount == 1:
        return
    thread = await session.get(m.Thread, thread_id)
    if thread is None:
        raise not_found("thread", thread_id)
    raise bad_request(f"Thread {thread_id} already has an active run {thread.active_run_id}.")


def run_row(engine: RunEngine, run_id: str, thread_id: str, assistant: m.Assistant, options: Any,
            additional_instructions: str | None = None) -> m.RunRecord:
    """A queued run as ``options`` (a RunCreate-like body) and the assistant define it."""
    fields = options.model_fields_set
    instructions = options.instructions if "instructions" in fields else assistant.instructions
    if additional_instructions:
        instructions = f"{instructions}\n\n{additional_instructions}" if instructions else additional_instructions
    return m.RunRecord(
        id=run_id, thread_id=thread_id, assistant_id=assistant.id, created_at=now(),
        status="queued",
        expires_at=math.ceil(time.time() + engine.settings.run_timeout),  # never before the timeout
        model=options.model or assistant.model,
        instructions=instructions,
        tools=dump_tools(options.tools) if options.tools is not None else (assistant.tools or []),
        metadata_=options.metadata or {},
        temperature=options.temperature if options.temperature is not None else assistant.temperature,
        top_p=options.top_p if options.top_p is not None else assistant.top_p,
        max_prompt_tokens=options.max_prompt_tokens,
        max_completion_tokens=options.max_completion_tokens,
        truncation_strategy=options.truncation_strategy.model_dump() if options.truncation_strategy else {"type": "auto", "last_messages": None},
        response_format=dump_response_format(options.response_format) if options.response_format is not None else assistant.response_format,
        tool_choice=(options.tool_choice if isinstance(options.tool_choice, str) or options.tool_choice is None
                     else options.tool_choice.model_dump(exclude_none=True)) or "auto",
        parallel_tool_calls=True if options.parallel_tool_calls is None else options.parallel_tool_calls,
    )


async def new_run(
    session: AsyncSession,
    engine: RunEngine,
    thread_id: str,
    assistant_id: str,
    options: Any,
    additional_instructions: str | None = None,
) -> m.Run:
    """Insert a queued run in the session's transaction (the caller commits, then calls :func:`launch`)."""
    assistant = await session.get(m.Assistant, assistant_id)
    if assistant is None:
        raise not_found("assistant", assistant_id)
    run_id = new_id("run")
    await claim_thread(session, thread_id, run_id)
    run = run_row(engine, run_id, thread_id, assistant, options, additional_instructions)
    await session.execute(_INSERT_RUN, m.row(run))
    return run


_ASSISTANTS = m.Assistant.__table__
_ASSISTANT_COLUMNS = [_ASSISTANTS.c[name] for name in m.AssistantRecord.columns()]
_ASSISTANT_BY_ID = select(*_ASSISTANT_COLUMNS).where(_ASSISTANTS.c.id == bindparam("id"))
_ACTIVE_RUN_OF = select(_THREADS.c.active_run_id).where(_THREADS.c.id == bindparam("t"))
_INSERT_RUN = insert(m.Run.__table__)
_INSERT_MESSAGE = insert(m.Message.__table__)


# PostgreSQL: a digest of the whole stored row (``md5(assistants::text)``).
_ROW_DIGEST = func.md5(cast(literal_column("assistants"), Text))
_ASSISTANT_WITH_DIGEST = select(*_ASSISTANT_COLUMNS, _ROW_DIGEST).where(_ASSISTANTS.c.id == bindparam("id"))
_ASSISTANT_UNCHANGED = exists(select(literal(1)).select_from(_ASSISTANTS).where(
    _ASSISTANTS.c.id == bindparam("a_id"), _ROW_DIGEST == bindparam("a_digest")))
_ASSISTANT_CACHE_SIZE = 1024


class StaleAssistant(Exception):
    """The assistant changed (or went) since the turn path cached it: read it again."""


async def load_assistant(reader: hot.HotSQL | hot.Unit, assistant_id: str) -> m.AssistantRecord | None:
    """The assistant row as a detached object, read on the turn path (:mod:`hilo.db.hot`)."""
    rows = await reader.fetch(_ASSISTANT_BY_ID, {"id": assistant_id})
    return m.AssistantRecord.from_values(rows[0]) if rows else None


async def turn_assistant(db: Database, engine: RunEngine, reader: hot.HotSQL | hot.Unit, assistant_id: str,
                         fresh: bool = False) -> tuple[m.AssistantRecord | None, str | None]:
    """The assistant a turn runs, and on PostgreSQL the digest its run's start will check.

    On PostgreSQL the row is kept per process with a digest of it; :func:`start_run` claims
    the thread only if the stored row still has that digest (in the same statement), so a
    kept copy is never used stale: a changed or deleted assistant fails the claim with
    :class:`StaleAssistant`, and the turn reads it again (``fresh``). That spares a turn
    one round trip. SQLite reads it every time (microseconds)."""
    if db.hot.sqlite:
        return await load_assistant(reader, assistant_id), None
    kept = engine.assistant_rows
    if not fresh and (hit := kept.get(assistant_id)) is not None:
        kept.move_to_end(assistant_id)
        return hit
    rows = await reader.fetch(_ASSISTANT_WITH_DIGEST, {"id": assistant_id})
    if not rows:
        kept.pop(assistant_id, None)
        return None, None
    hit = kept[assistant_id] = (m.AssistantRecord.from_values(rows[0]), rows[0][-1])
    while len(kept) > _ASSISTANT_CACHE_SIZE:
        kept.popitem(last=False)
    return hit


async def start_run(
    db: Database,
    engine: RunEngine,
    thread_id: str,
    assistant: m.Assistant,
    options: Any,
    additional_instructions: str | None = None,
    messages: list[m.MessageRecord] = (),
    reader: hot.Unit | None = None,
    digest: str | None = None,
) -> m.RunRecord:
    """Claim the thread, insert the run and the turn's messages: one transaction on the turn path.

    An unknown thread answers 404, a busy one 400 (nothing is stored then). ``reader``: a
    connection the caller already holds (:meth:`hilo.db.hot.HotSQL.connection`); ``digest``:
    the assistant row's, from :func:`turn_assistant` (PostgreSQL), checked by the claim."""
    run = run_row(engine, new_id("run"), thread_id, assistant, options, additional_instructions)
    if db.hot.sqlite:
        async with db.hot.unit() as unit:
            claimed = await unit.execute(_CLAIM, {"b_thread": thread_id, "active_run_id": run.id}, _CLAIM_KEYS) == 1
            if claimed:
                await unit.execute(_INSERT_RUN, m.row(run))
                if messages:
                    await unit.executemany(_INSERT_MESSAGE, [m.row(x) for x in messages])
    else:  # one statement, one round trip; it also reads what the run's history lacks
        cursor = engine.history.cursor(thread_id)
        values = {"b_thread": thread_id, "b_run_id": run.id, **hot.bind_row("r_", m.row(run))}
        for i, message in enumerate(messages):
            values.update(hot.bind_row(f"m{i}_", m.row(message)))
        if cursor is not None:
            values.update(t=thread_id, after=cursor[1])
        if digest is not None:
            values.update(a_id=assistant.id, a_digest=digest)
        stmt = _start_statement(len(messages), cursor is not None, digest is not None)
        rows = await (reader or db.hot).fetch(stmt, values)
        claimed = bool(rows) and rows[0][0] == 1
        if claimed and cursor is not None:
            read = [r[2:] for r in rows if r[2] is not None] + [(x.id, x.role, x.content) for x in messages]
            engine.history.prime(thread_id, rows[0][1], read, run.id)
    if not claimed:
        rows = await (reader or db.hot).fetch(_ACTIVE_RUN_OF, {"t": thread_id})
        if not rows:
            raise not_found("thread", thread_id)
        if rows[0][0] is None and digest is not None:
            raise StaleAssistant(assistant.id)
        raise bad_request(f"Thread {thread_id} already has an active run {rows[0][0]}.")
    return run


@functools.cache
def _start_statement(n_messages: int, with_history: bool = False, with_digest: bool = False):
    """PostgreSQL: claim the thread, insert the run and ``n_messages`` messages, in one statement.

    ``with_history``: its rows are also the thread's history version and the messages after
    the cached ones (:data:`hilo.engine.context.NEWER`), as of the moment before this insert.
    ``with_digest``: the claim also needs the assistant row unchanged (:func:`turn_assistant`)."""
    conditions = [_THREADS.c.id == bindparam("b_thread"), _THREADS.c.active_run_id.is_(None)]
    if with_digest:
        conditions.append(_ASSISTANT_UNCHANGED)
    claimed = (update(_THREADS).where(*conditions)
               .values(active_run_id=bindparam("b_run_id")).returning(_THREADS.c.id).cte("claimed"))
    runs = m.Run.__table__
    new = hot.insert_bound(runs, "r_", claimed).returning(runs.c.id).cte("new_run")
    if with_history:
        history = ctx.NEWER.subquery("history")
        stmt = select(select(func.count()).select_from(new).scalar_subquery(), *history.c).select_from(history)
    else:
        stmt = select(func.count()).select_from(new)
    if n_messages:
        messages = m.Message.__table__
        rows = [hot.bound_values(messages, f"m{i}_").select_from(new) for i in range(n_messages)]
        added = insert(messages).from_select([c.name for c in messages.c], union_all(*rows) if n_messages > 1 else rows[0])
        stmt = stmt.add_cte(added.cte("new_messages"))
    return stmt


def launch(engine: RunEngine, bus: EventBus, run: m.Run) -> None:
    """After commit: announce the run and hand it to the engine."""
    if bus.wants(run.id):
        payload = serialize.run(run)
        bus.publish(run.id, "thread.run.created", payload)
        bus.publish(run.id, "thread.run.queued", payload)
    engine.start(run.id, run)


async def run_for(session: AsyncSession, thread_id: str, run_id: str) -> m.Run:
    return await get_or_404(session, m.Run, run_id, thread_id=thread_id)
