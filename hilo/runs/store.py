"""The run store: the only code that writes run rows, ``runs.status`` and the rows a run
produces (its messages and steps), and the turn path's reads.

Every status change is a conditional ``UPDATE ... WHERE status IN (...)`` from
:data:`hilo.runs.states.ALLOWED`, so a cancel or an expiry decided by another request or
another process always wins cleanly over a task that is still writing; a thread is claimed by
its run the same way, so two requests (or two replicas) never start two runs on one thread.

The statements are SQLAlchemy Core, compiled once per dialect and run on the driver's
connection (:mod:`hilo.kit.db.hot`), behind one interface on SQLite and PostgreSQL. On
PostgreSQL the turn's two hot writes are one statement each (data-modifying CTEs): the start
(claim the thread, insert the run and its messages, read what the history cache lacks, check
the kept assistant row is unchanged) and the end (the run's end, its answer and step, the
thread's release, with a commit that does not wait for the disk). The engine composes no SQL.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Text,
    bindparam,
    cast,
    delete,
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

from hilo.assistants.models import Assistant, AssistantRecord
from hilo.kit.db import hot
from hilo.kit.db.session import Database
from hilo.kit.errors import InvalidRequest, not_found
from hilo.kit.ids import now
from hilo.runs.history import NEWER, HistoryCache
from hilo.runs.models import Run, RunRecord, RunStep, RunStepRecord
from hilo.runs.states import ACTIVE, ALLOWED, RUNNING, STAMP
from hilo.threads.models import Message, MessageRecord, Thread


class ThreadBusy(InvalidRequest):
    """The thread already has an active run (OpenAI answers 400)."""

    def __init__(self, thread_id: str, run_id: str):
        super().__init__(f"Thread {thread_id} already has an active run {run_id}.", code="thread_busy")
        self.thread_id, self.run_id = thread_id, run_id


class StaleAssistant(Exception):
    """The assistant changed (or went) since this process kept it: read it again."""


@dataclass(slots=True)
class OpenRows:
    """An assistant message being written and its ``message_creation`` step."""

    message: MessageRecord
    step: RunStepRecord
    written: bool = False  # the rows are in the database (the write-behind stored them open)


_RUNS, _THREADS = Run.__table__, Thread.__table__
_MESSAGES, _STEPS = Message.__table__, RunStep.__table__
_ASSISTANTS = Assistant.__table__
_RUN_COLUMNS = [_RUNS.c[name] for name in RunRecord.columns()]
_STEP_COLUMNS = [_STEPS.c[name] for name in RunStepRecord.columns()]
_ASSISTANT_COLUMNS = [_ASSISTANTS.c[name] for name in AssistantRecord.columns()]

_RUN_BY_ID = select(*_RUN_COLUMNS).where(_RUNS.c.id == bindparam("id"))
_RUNS_IN = {status: select(*_RUN_COLUMNS).where(_RUNS.c.status == literal(status)) for status in ACTIVE}
_RUNS_DUE = select(*_RUN_COLUMNS).where(_RUNS.c.status.in_([literal(s) for s in ACTIVE]),
                                        _RUNS.c.expires_at < bindparam("now"))
_CANCELLING = select(_RUNS.c.id).where(_RUNS.c.status == literal("cancelling"))
_TOOL_STEPS = (select(*_STEP_COLUMNS).where(_STEPS.c.run_id == bindparam("run"), _STEPS.c.type == literal("tool_calls"))
               .order_by(_STEPS.c.id))
# The tool steps of a thread's last runs before this one (both reads are indexed: runs by
# thread and id, steps by run).
_EARLIER_RUNS = (select(_RUNS.c.id).where(_RUNS.c.thread_id == bindparam("thread"), _RUNS.c.id < bindparam("run"))
                 .order_by(_RUNS.c.id.desc()).limit(bindparam("runs")).scalar_subquery())
_EARLIER_TOOL_STEPS = (select(_STEPS.c.step_details).where(_STEPS.c.run_id.in_(_EARLIER_RUNS),
                                                           _STEPS.c.type == literal("tool_calls"))
                       .order_by(_STEPS.c.id))
_OPEN_TOOL_STEP = select(*_STEP_COLUMNS).where(
    _STEPS.c.run_id == bindparam("run"), _STEPS.c.type == literal("tool_calls"), _STEPS.c.status == literal("in_progress"))
_ASSISTANT_BY_ID = select(*_ASSISTANT_COLUMNS).where(_ASSISTANTS.c.id == bindparam("id"))
_ACTIVE_RUN_OF = select(_THREADS.c.active_run_id).where(_THREADS.c.id == bindparam("t"))

_CLAIM = update(_THREADS).where(_THREADS.c.id == bindparam("b_thread"), _THREADS.c.active_run_id.is_(None))
_CLAIM_KEYS = ("active_run_id",)
_RELEASE = update(_THREADS).where(_THREADS.c.id == bindparam("b_thread"), _THREADS.c.active_run_id == bindparam("b_run"))
_RELEASE_KEYS = ("active_run_id",)
_INSERT_RUN = insert(_RUNS)
_INSERT_THREAD = insert(_THREADS)
_INSERT_MESSAGE = insert(_MESSAGES)
_INSERT_STEP = insert(_STEPS)
_UPDATE_MESSAGE = update(_MESSAGES).where(_MESSAGES.c.id == bindparam("b_id"))
_UPDATE_STEP = update(_STEPS).where(_STEPS.c.id == bindparam("b_id"))
_MESSAGE_DONE_KEYS = ("content", "status", "completed_at", "incomplete_at", "incomplete_details")
_STEP_DONE_KEYS = ("status", "completed_at", "cancelled_at", "failed_at", "expired_at", "usage")
_STEP_OUTPUTS_KEYS = ("step_details", "status", "completed_at")
_FINISH_KEYS = ("status", "usage", "required_action", "started_at", "completed_at", "incomplete_details")
_METADATA_KEYS = ("metadata",)
_STEPS_OF_ENDED = update(_STEPS).where(_STEPS.c.run_id == bindparam("b_run"), _STEPS.c.status == literal("in_progress"))
_MESSAGES_OF_ENDED = update(_MESSAGES).where(_MESSAGES.c.run_id == bindparam("b_run"),
                                              _MESSAGES.c.status == literal("in_progress"))

# PostgreSQL: a digest of the whole stored assistant row (``md5(assistants::text)``).
_ROW_DIGEST = func.md5(cast(literal_column("assistants"), Text))
_ASSISTANT_WITH_DIGEST = select(*_ASSISTANT_COLUMNS, _ROW_DIGEST).where(_ASSISTANTS.c.id == bindparam("id"))
_ASSISTANT_UNCHANGED = exists(select(literal(1)).select_from(_ASSISTANTS).where(
    _ASSISTANTS.c.id == bindparam("a_id"), _ROW_DIGEST == bindparam("a_digest")))
_ASSISTANT_CACHE_SIZE = 1024


@functools.cache
def _transition(target: str):
    """``UPDATE runs ... WHERE id = :b_id AND status IN <those ALLOWED to reach target>``."""
    return update(_RUNS).where(_RUNS.c.id == bindparam("b_id"),
                               _RUNS.c.status.in_([literal(s) for s in ALLOWED[target]]))


def _params(values: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Record attribute names -> column names (``metadata_`` -> ``metadata``), and the keys."""
    params = {("metadata" if k == "metadata_" else k): v for k, v in values.items()}
    return params, tuple(params)


class RunStore:
    def __init__(self, db: Database, max_messages: int = 200):
        self.db = db
        self.hot = db.hot
        self.history = HistoryCache(db.hot, max_messages=max_messages)
        # PostgreSQL: assistants the turn path read, with their row digest (see assistant())
        self._assistants: OrderedDict[str, tuple[AssistantRecord, str]] = OrderedDict()

    # ------------------------------------------------------------------ the turn path's reads
    async def assistant(self, reader: hot.HotSQL | hot.Unit, assistant_id: str,
                        fresh: bool = False) -> tuple[AssistantRecord | None, str | None]:
        """The assistant a turn runs, and on PostgreSQL the digest its start will check.

        On PostgreSQL the row is kept per process with a digest of it; :meth:`start` claims the
        thread only if the stored row still has that digest (in the same statement), so a kept
        copy is never used stale: a changed or deleted assistant fails the claim with
        :class:`StaleAssistant`, and the turn reads it again (``fresh``). That spares a turn one
        round trip. SQLite reads it every time (microseconds)."""
        if self.hot.sqlite:
            rows = await reader.fetch(_ASSISTANT_BY_ID, {"id": assistant_id})
            return (AssistantRecord.from_values(rows[0]) if rows else None), None
        kept = self._assistants
        if not fresh and (hit := kept.get(assistant_id)) is not None:
            kept.move_to_end(assistant_id)
            return hit
        rows = await reader.fetch(_ASSISTANT_WITH_DIGEST, {"id": assistant_id})
        if not rows:
            kept.pop(assistant_id, None)
            return None, None
        hit = kept[assistant_id] = (AssistantRecord.from_values(rows[0]), rows[0][-1])
        while len(kept) > _ASSISTANT_CACHE_SIZE:
            kept.popitem(last=False)
        return hit

    async def get(self, run_id: str) -> RunRecord | None:
        rows = await self.hot.fetch(_RUN_BY_ID, {"id": run_id})
        return RunRecord.from_values(rows[0]) if rows else None

    async def recent(self, thread_id: str, limit: int, run_id: str | None = None):
        """The thread's newest ``limit`` messages as history rows (:mod:`hilo.runs.history`)."""
        return await self.history.recent(thread_id, limit, run_id)

    async def tool_steps(self, run_id: str) -> list[RunStepRecord]:
        rows = await self.hot.fetch(_TOOL_STEPS, {"run": run_id})
        return [RunStepRecord.from_values(r) for r in rows]

    async def earlier_tool_calls(self, thread_id: str, run_id: str, runs: int = 3) -> list[dict[str, Any]]:
        """The tool calls (name, arguments, output) of the thread's last ``runs`` runs before
        this one, oldest first: what a stateless provider needs to resolve a follow-up."""
        rows = await self.hot.fetch(_EARLIER_TOOL_STEPS, {"thread": thread_id, "run": run_id, "runs": runs})
        calls = []
        for (details,) in rows:
            for call in (details or {}).get("tool_calls", []):
                function = call.get("function") or {}
                if function.get("name"):
                    calls.append({"name": function["name"], "arguments": function.get("arguments") or "",
                                  "output": function.get("output")})
        return calls

    async def thread_resources(self, thread_id: str) -> dict[str, Any]:
        """The thread's ``tool_resources`` (read only by runs whose tools use them: file_search)."""
        async with self.db.sessionmaker() as session:
            value = await session.scalar(select(Thread.tool_resources).where(Thread.id == thread_id))
        return dict(value or {})

    async def cancelling(self) -> set[str]:
        """Ids of the runs someone asked to cancel (a handful at most: an indexed read)."""
        return {r[0] for r in await self.hot.fetch(_CANCELLING, {})}

    async def due(self) -> list[RunRecord]:
        """Active runs past their ``expires_at``."""
        return [RunRecord.from_values(r) for r in await self.hot.fetch(_RUNS_DUE, {"now": now()})]

    async def left_active(self) -> list[RunRecord]:
        """Runs a crash left queued, in progress or cancelling (start-up recovery)."""
        found = []
        for status in ("queued", "in_progress", "cancelling"):
            found += [RunRecord.from_values(r) for r in await self.hot.fetch(_RUNS_IN[status], {})]
        return found

    # ------------------------------------------------------------------ starting a run
    async def start(self, run: RunRecord, messages: Sequence[MessageRecord] = (), *, thread: Any = None,
                    reader: hot.Unit | None = None, digest: str | None = None) -> None:
        """Claim the thread, insert the run and the turn's messages: one transaction.

        ``thread``: a new thread's record (create-and-run), inserted already claimed by the run.
        An unknown thread is a 404, a busy one :class:`ThreadBusy` (nothing is stored then).
        ``reader``: a connection the caller already holds; ``digest``: the assistant row's, from
        :meth:`assistant` (PostgreSQL), checked by the claim."""
        if thread is not None:
            async with self.hot.unit() as unit:
                await unit.execute(_INSERT_THREAD, thread.row())
                await unit.execute(_INSERT_RUN, run.row())
                if messages:
                    await unit.executemany(_INSERT_MESSAGE, [x.row() for x in messages])
            return
        if self.hot.sqlite:
            async with self.hot.unit() as unit:
                claimed = await unit.execute(_CLAIM, {"b_thread": run.thread_id, "active_run_id": run.id},
                                             _CLAIM_KEYS) == 1
                if claimed:
                    await unit.execute(_INSERT_RUN, run.row())
                    if messages:
                        await unit.executemany(_INSERT_MESSAGE, [x.row() for x in messages])
        else:  # one statement, one round trip; it also reads what the run's history lacks
            thread_id = run.thread_id
            cursor = self.history.cursor(thread_id)
            values = {"b_thread": thread_id, "b_run_id": run.id, **hot.bind_row("r_", run.row())}
            for i, message in enumerate(messages):
                values.update(hot.bind_row(f"m{i}_", message.row()))
            if cursor is not None:
                values.update(t=thread_id, after=cursor[1])
            if digest is not None:
                values.update(a_id=run.assistant_id, a_digest=digest)
            stmt = _start_statement(len(messages), cursor is not None, digest is not None)
            rows = await (reader or self.hot).fetch(stmt, values)
            claimed = bool(rows) and rows[0][0] == 1
            if claimed and cursor is not None:
                read = [r[2:] for r in rows if r[2] is not None] + [(x.id, x.role, x.content) for x in messages]
                self.history.prime(thread_id, rows[0][1], read, run.id)
        if not claimed:
            rows = await (reader or self.hot).fetch(_ACTIVE_RUN_OF, {"t": run.thread_id})
            if not rows:
                raise not_found("thread", run.thread_id)
            if rows[0][0] is None and digest is not None:
                raise StaleAssistant(run.assistant_id)
            raise ThreadBusy(run.thread_id, rows[0][0] or "")

    # ------------------------------------------------------------------ the engine's writes
    async def reveal(self, run: RunRecord, outputs: Sequence[OpenRows], first: bool) -> None:
        """The write-behind of a run still going: ``in_progress`` (``first``) and the open
        message/step rows not stored yet."""
        async with self.hot.unit(durable=False) as unit:
            if first:
                await unit.execute(_transition("in_progress"),
                                   {"b_id": run.id, "status": "in_progress", "started_at": run.started_at},
                                   ("status", "started_at"))
            for out in outputs:
                if not out.written:
                    await unit.execute(_INSERT_MESSAGE, out.message.row())
                    await unit.execute(_INSERT_STEP, out.step.row())
                    out.written = True

    async def complete(self, run: RunRecord, out: OpenRows | None, usage: dict,
                       incomplete: dict | None = None) -> bool:
        """The turn's last write: the run ``completed`` (or ``incomplete``), its answer and step,
        the thread released. False when someone else ended the run first."""
        status = "incomplete" if incomplete else "completed"
        values: dict[str, Any] = {"status": status, "usage": usage, "required_action": None,
                                  "started_at": run.started_at, "completed_at": now() if not incomplete else None,
                                  "incomplete_details": incomplete}
        if not self.hot.sqlite and (out is None or not out.written):  # PostgreSQL: one statement
            params = {**hot.bind_row("f_", values), "b_id": run.id, "b_thread": run.thread_id}
            if out is not None:
                params.update(hot.bind_row("m_", out.message.row()))
                params.update(hot.bind_row("s_", out.step.row()))
            won = (await self.hot.fetch(_finish_statement(out is not None), params))[0][0] == 1
            if won and out is not None:
                out.written = True
        else:
            async with self.hot.unit(durable=False) as unit:
                won = await unit.execute(_transition(status), {**values, "b_id": run.id}, _FINISH_KEYS) == 1
                if won:
                    if out is not None:
                        await _write_rows(unit, out)
                    await unit.execute(_RELEASE, {"b_thread": run.thread_id, "b_run": run.id, "active_run_id": None},
                                       _RELEASE_KEYS)
        if won:
            for key, value in values.items():
                setattr(run, key, value)
        return won

    async def require_action(self, run: RunRecord, required: dict, usage: dict, out: OpenRows | None,
                             step: RunStepRecord) -> bool:
        """Stop for client-side tool outputs: the run ``requires_action``, its tool step stored."""
        values = {"status": "requires_action", "required_action": required, "usage": usage,
                  "started_at": run.started_at}
        async with self.hot.unit(durable=False) as unit:
            won = await unit.execute(_transition("requires_action"), {**values, "b_id": run.id}, tuple(values)) == 1
            if won:
                if out is not None:
                    await _write_rows(unit, out)
                await unit.execute(_INSERT_STEP, step.row())
        if won:
            for key, value in values.items():
                setattr(run, key, value)
        return won

    async def tool_round(self, out: OpenRows | None, step: RunStepRecord) -> None:
        """A round whose calls all ran server-side: its message (if any) and its tool step."""
        async with self.hot.unit(durable=False) as unit:
            if out is not None:
                await _write_rows(unit, out)
            await unit.execute(_INSERT_STEP, step.row())

    async def end(self, run: RunRecord, status: str, error: dict | None = None, out: OpenRows | None = None,
                  incomplete: dict | None = None) -> bool:
        """End an active run (failed, cancelled, expired, or incomplete before any answer):
        its open message and steps closed, the thread released. False if it had ended."""
        ts = now()
        values: dict[str, Any] = {"status": status, "required_action": None}
        if error:
            values["last_error"] = error
        if incomplete:
            values["incomplete_details"] = incomplete
        if status in STAMP:
            values[STAMP[status]] = ts
        step_status = status if status in ("failed", "cancelled", "expired") else "failed"
        stamp = {"expired": "expired_at", "cancelled": "cancelled_at"}.get(step_status, "failed_at")
        async with self.hot.unit(durable=False) as unit:
            won = await unit.execute(_transition(status), {**values, "b_id": run.id}, tuple(values)) == 1
            if won:
                if out is not None:
                    await _write_rows(unit, out)
                await unit.execute(_STEPS_OF_ENDED, {"b_run": run.id, "status": step_status, stamp: ts},
                                   ("status", stamp))
                await unit.execute(_MESSAGES_OF_ENDED, {
                    "b_run": run.id, "status": "incomplete", "incomplete_at": ts,
                    "incomplete_details": {"reason": f"run_{status}"}}, ("status", "incomplete_at", "incomplete_details"))
                await unit.execute(_RELEASE, {"b_thread": run.thread_id, "b_run": run.id, "active_run_id": None},
                                   _RELEASE_KEYS)
        if won:
            for key, value in values.items():
                setattr(run, key, value)
        return won

    async def close_rows(self, out: OpenRows) -> None:
        """Store an output's closed rows after someone else ended its run."""
        async with self.hot.unit(durable=False) as unit:
            await _write_rows(unit, out)

    async def set_metadata(self, run_id: str, metadata: dict[str, str]) -> None:
        async with self.hot.unit() as unit:
            await unit.execute(update(_RUNS).where(_RUNS.c.id == bindparam("b_id")),
                               {"b_id": run_id, "metadata": metadata}, _METADATA_KEYS)

    # ------------------------------------------------------------------ requests
    async def request_cancel(self, run_id: str) -> tuple[RunRecord | None, bool]:
        """Ask to cancel: a run waiting for tool outputs ends ``cancelled`` at once (nothing
        executes it); a queued or running one becomes ``cancelling`` and the process executing
        it ends it. Returns the run as it stands and whether it changed."""
        for _attempt in range(3):
            run = await self.get(run_id)
            if run is None or run.status not in ACTIVE or run.status == "cancelling":
                return run, False
            if run.status == "requires_action":
                if await self.end(run, "cancelled"):
                    return run, True
                continue
            async with self.hot.unit() as unit:
                won = await unit.execute(_transition("cancelling"), {"b_id": run.id, "status": "cancelling"},
                                         ("status",)) == 1
            if won:
                run.status = "cancelling"
                return run, True
        return await self.get(run_id), False

    async def submit_tool_outputs(self, run: RunRecord, outputs: dict[str, str]) -> RunStepRecord | None:
        """Record the outputs on the run's open tool step and queue the run again. Raises 400 if
        the run stopped waiting meanwhile. Returns the completed step."""
        async with self.hot.unit() as unit:
            found = await unit.fetch(_OPEN_TOOL_STEP, {"run": run.id})
            step = RunStepRecord.from_values(found[0]) if found else None
            won = await unit.execute(_transition("queued"), {"b_id": run.id, "status": "queued",
                                                              "required_action": None},
                                     ("status", "required_action")) == 1
            if not won:
                raise InvalidRequest("The run is no longer waiting for tool outputs.")
            if step is not None:
                details = dict(step.step_details)
                details["tool_calls"] = [
                    {**c, "function": {**c["function"], "output": outputs.get(c["id"], c["function"].get("output"))}}
                    for c in details["tool_calls"]]
                step.step_details, step.status, step.completed_at = details, "completed", now()
                await unit.execute(_UPDATE_STEP, {"b_id": step.id, "step_details": details, "status": "completed",
                                                  "completed_at": step.completed_at}, _STEP_OUTPUTS_KEYS)
        run.status, run.required_action = "queued", None
        return step

    async def delete_thread_runs(self, session: AsyncSession, thread_id: str) -> None:
        """A deleted thread's runs and steps (in the caller's transaction)."""
        for model in (RunStep, Run):
            await session.execute(delete(model).where(model.thread_id == thread_id))
        self.history.forget(thread_id)


async def _write_rows(unit: hot.Unit, out: OpenRows) -> None:
    """An output's closed message and step: an UPDATE of rows the write-behind stored, else
    their INSERT."""
    if out.written:
        msg, step = out.message, out.step
        await unit.execute(_UPDATE_MESSAGE, {
            "b_id": msg.id, "content": msg.content, "status": msg.status, "completed_at": msg.completed_at,
            "incomplete_at": msg.incomplete_at, "incomplete_details": msg.incomplete_details}, _MESSAGE_DONE_KEYS)
        await unit.execute(_UPDATE_STEP, {
            "b_id": step.id, "status": step.status, "completed_at": step.completed_at,
            "cancelled_at": step.cancelled_at, "failed_at": step.failed_at, "expired_at": step.expired_at,
            "usage": step.usage}, _STEP_DONE_KEYS)
    else:
        await unit.execute(_INSERT_MESSAGE, out.message.row())
        await unit.execute(_INSERT_STEP, out.step.row())
        out.written = True


@functools.cache
def _start_statement(n_messages: int, with_history: bool = False, with_digest: bool = False):
    """PostgreSQL: claim the thread, insert the run and ``n_messages`` messages, in one statement.

    ``with_history``: its rows are also the thread's history version and the messages after
    the cached ones (:data:`hilo.runs.history.NEWER`), as of the moment before this insert.
    ``with_digest``: the claim also needs the assistant row unchanged (:meth:`RunStore.assistant`)."""
    conditions = [_THREADS.c.id == bindparam("b_thread"), _THREADS.c.active_run_id.is_(None)]
    if with_digest:
        conditions.append(_ASSISTANT_UNCHANGED)
    claimed = (update(_THREADS).where(*conditions)
               .values(active_run_id=bindparam("b_run_id")).returning(_THREADS.c.id).cte("claimed"))
    new = hot.insert_bound(_RUNS, "r_", claimed).returning(_RUNS.c.id).cte("new_run")
    if with_history:
        history = NEWER.subquery("history")
        stmt = select(select(func.count()).select_from(new).scalar_subquery(), *history.c).select_from(history)
    else:
        stmt = select(func.count()).select_from(new)
    if n_messages:
        rows = [hot.bound_values(_MESSAGES, f"m{i}_").select_from(new) for i in range(n_messages)]
        added = insert(_MESSAGES).from_select([c.name for c in _MESSAGES.c],
                                              union_all(*rows) if n_messages > 1 else rows[0])
        stmt = stmt.add_cte(added.cte("new_messages"))
    return stmt


@functools.cache
def _finish_statement(with_message: bool):
    """PostgreSQL: end the run (only while it still runs), store its message and step, free
    the thread, in one statement whose commit does not wait for the disk."""
    finished = (update(_RUNS).where(_RUNS.c.id == bindparam("b_id"), _RUNS.c.status.in_([literal(s) for s in RUNNING]))
                .values({k: bindparam("f_" + k, type_=_RUNS.c[k].type) for k in _FINISH_KEYS})
                .returning(_RUNS.c.id).cte("finished"))
    released = (update(_THREADS)
                .where(_THREADS.c.id == bindparam("b_thread"), _THREADS.c.active_run_id.in_(select(finished.c.id)))
                .values(active_run_id=None).cte("released"))
    stmt = select(select(func.count()).select_from(finished).scalar_subquery(), hot.relax_commit()).add_cte(released)
    if with_message:
        stmt = stmt.add_cte(hot.insert_bound(_MESSAGES, "m_", finished).cte("message"),
                            hot.insert_bound(_STEPS, "s_", finished).cte("step"))
    return stmt


__all__ = ["OpenRows", "RunStore", "StaleAssistant", "ThreadBusy"]
