"""The run engine: every channel ends here.

A run is executed by a background task of the process that created it (never inside
the HTTP request). States follow OpenAI's machine::

    queued -> in_progress -> completed | incomplete | failed | requires_action
    requires_action -> queued (tool outputs) ; any active -> cancelling -> cancelled
    any active -> expired (past HILO_RUN_TIMEOUT)

Every transition is a conditional UPDATE (``... WHERE status IN (...)``), so a cancel or
an expiry decided by another request or another replica always wins cleanly over a
task that is still writing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hilo import serialize
from hilo.config import Settings
from hilo.db import hot
from hilo.db import models as m
from hilo.db.session import Database
from hilo.engine import context as ctx
from hilo.engine.events import EventBus
from hilo.ids import new_id
from hilo.providers.base import (
    Finish,
    ModelProvider,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCallDelta,
)
from hilo.providers.registry import Providers
from hilo.tools import ServerTool, ToolContext, ToolRegistry, server_tools_of

log = logging.getLogger("hilo.engine")

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL = ("cancelled", "failed", "completed", "incomplete", "expired")


# A run's first writes wait this long: a fast model finishes before, and its whole turn
# is then stored in one transaction; a slower one shows `in_progress` (and its open
# message) in the database from this moment on. Events are never delayed.
VISIBLE_AFTER = 0.05


def now() -> int:
    return int(time.time())


# Hot-path statements, built once (building a statement costs more than running it).
_RUNS = m.Run.__table__
_RUN_COLUMN = {attr.key: attr.columns[0].name for attr in m.Run.__mapper__.column_attrs}
_TRANSITION = update(_RUNS).where(
    _RUNS.c.id == bindparam("b_id"), _RUNS.c.status.in_(bindparam("b_allowed", expanding=True))
)
_RELEASE = update(m.Thread.__table__).where(
    m.Thread.__table__.c.id == bindparam("b_thread"), m.Thread.__table__.c.active_run_id == bindparam("b_run")
)
_INSERT_MESSAGE = insert(m.Message.__table__)
_INSERT_STEP = insert(m.RunStep.__table__)
_RELEASE_KEYS = ("active_run_id",)
_MESSAGES, _STEPS = m.Message.__table__, m.RunStep.__table__
_UPDATE_MESSAGE = update(_MESSAGES).where(_MESSAGES.c.id == bindparam("b_id"))
_UPDATE_STEP = update(_STEPS).where(_STEPS.c.id == bindparam("b_id"))
_MESSAGE_DONE_KEYS = ("content", "status", "completed_at", "incomplete_at", "incomplete_details")
_STEP_DONE_KEYS = ("status", "completed_at", "cancelled_at", "failed_at", "expired_at", "usage")
# A turn's end: the conditional UPDATE that wins only while the run is still running.
_HOT_FINISH = update(_RUNS).where(_RUNS.c.id == bindparam("b_id"),
                                  _RUNS.c.status.in_([literal("queued"), literal("in_progress")]))
_FINISH_KEYS = ("status", "usage", "required_action", "started_at", "completed_at", "incomplete_details")


@dataclass(slots=True)
class _State:
    """Write-behind bookkeeping of one executing run."""

    run: m.Run
    outs: list = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    persisted: bool = False  # `in_progress` and the open rows are stored
    closed: bool = False  # the final write happened


@dataclass(slots=True)
class _Setup:
    """What stays fixed through a run's rounds: provider, model, tools."""

    provider: ModelProvider
    model_name: str
    server: dict[str, ServerTool]
    schemas: list[dict[str, Any]]


@dataclass(slots=True)
class _Output:
    """What one model call produced."""

    written: bool = False  # its message/step rows are in the database
    message: m.Message | None = None
    message_step: m.RunStep | None = None
    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    tool_step_id: str | None = None
    finish: Finish | None = None


class RunEngine:
    def __init__(
        self,
        db: Database,
        providers: Providers,
        bus: EventBus,
        settings: Settings,
        tools: ToolRegistry | None = None,
        fallback: ModelProvider | None = None,
    ):
        self.db = db
        self.tools = tools or ToolRegistry()
        self.fallback = fallback
        # What server-side tools may use (database, settings, providers, ...).
        self.services: dict[str, Any] = {"db": db, "settings": settings, "providers": providers}
        self.providers = providers
        self.bus = bus
        self.settings = settings
        self.tasks: dict[str, asyncio.Task] = {}
        self._cancel_reason: dict[str, str] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_runs)
        self._states: dict[str, _State] = {}
        self._persisting: set[asyncio.Task] = set()  # write-behind tasks under way
        self.history = ctx.HistoryCache(max_messages=settings.context_max_messages)
        # PostgreSQL: assistants the turn path read, with their row digest (hilo.runs.turn_assistant)
        self.assistant_rows: OrderedDict[str, tuple[m.AssistantRecord, str]] = OrderedDict()
        self._sweeper: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start_background(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        tasks = list(self.tasks.items())
        for run_id, task in tasks:
            self._cancel_reason[run_id] = "shutdown"
            task.cancel()
        tasks = [t for _, t in tasks]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def start(self, run_id: str, snapshot: m.Run | None = None) -> None:
        """Execute (or resume) a queued run in the background.

        ``snapshot``: the run as the caller just stored it, to spare a read."""
        if snapshot is not None:
            snapshot = _detached_copy(snapshot)
        task = asyncio.create_task(self._drive(run_id, snapshot), name=f"run:{run_id}")
        self.tasks[run_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(run_id, None))

    # ------------------------------------------------------------------ events
    def _emit(self, run: m.Run, event: str, obj: Any = None, payload: Any = None) -> None:
        if not self.bus.wants(run.id):
            return
        if payload is None:
            if isinstance(obj, m.Message | m.MessageRecord):
                payload = serialize.message(obj)
            elif isinstance(obj, m.RunStep | m.RunStepRecord):
                payload = serialize.step(obj)
            else:
                payload = serialize.run(run)
        self.bus.publish(run.id, event, payload)

    # ------------------------------------------------------------------ transitions
    async def transition(
        self, session: AsyncSession, run: m.Run, allowed: tuple[str, ...], **values: Any
    ) -> bool:
        params = {_RUN_COLUMN.get(k, k): v for k, v in values.items()}
        result = await session.execute(_TRANSITION, {**params, "b_id": run.id, "b_allowed": list(allowed)})
        if result.rowcount != 1:
            return False
        for key, value in values.items():
            setattr(run, key, value)
        return True

    async def _release_thread(self, session: AsyncSession, run: m.Run) -> None:
        await session.execute(_RELEASE, {"b_thread": run.thread_id, "b_run": run.id, "active_run_id": None})

    async def _current_status(self, run_id: str) -> m.Run | None:
        async with self.db.sessionmaker() as session:
            return await session.get(m.Run, run_id)

    # ------------------------------------------------------------------ execution
    async def _drive(self, run_id: str, snapshot: m.Run | None) -> None:
        try:
            async with self._slots:
                await self._execute(run_id, snapshot)
        except asyncio.CancelledError:
            # Cancelled before _execute took over (e.g. waiting for a slot).
            reason = self._cancel_reason.pop(run_id, None)
            run = await self._current_status(run_id) if reason else None
            if run is not None:
                await self._end_for(run, reason)
        except Exception:  # the engine must never die with a run left hanging
            log.exception("run %s crashed", run_id)
            run = await self._current_status(run_id)
            if run is not None:
                await self._end(run, "failed", {"code": "server_error", "message": "Internal error while executing the run."})

    async def _execute(self, run_id: str, snapshot: m.Run | None) -> None:
        # One read takes the run and what the model needs; the first write waits
        # (VISIBLE_AFTER) so that a fast turn costs a single write transaction.
        run = snapshot if snapshot is not None else await self._current_status(run_id)
        if run is None or run.status != "queued":
            return
        setup: _Setup | None = None
        try:
            setup = self._setup(run)
            first: ctx.Context | Exception = await self._context(run, setup)
        except (ctx.PromptTooLong, ProviderError) as exc:
            first = exc
        run.status, run.started_at = "in_progress", run.started_at or now()
        state = _State(run)
        self._states[run.id] = state
        self._emit(run, "thread.run.in_progress")
        # A timer, not a task: a fast turn ends before it fires and pays only for its cancel.
        reveal = asyncio.get_running_loop().call_later(VISIBLE_AFTER, self._reveal, state)
        remaining = (run.expires_at or (now() + self.settings.run_timeout)) - time.time()
        outs = state.outs
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                if isinstance(first, Exception):
                    raise first
                await self._loop(run, outs, setup, first)
        except TimeoutError:
            await self._end_for(run, "expired", outs[-1] if outs else None)
        except asyncio.CancelledError:
            await self._end_for(run, self._cancel_reason.pop(run.id, "cancelled"), outs[-1] if outs else None)
            raise
        except ProviderError as exc:
            log.warning("run %s: model failed: %s", run.id, exc)
            await self._end(run, "failed", {"code": exc.code, "message": f"The model failed: {exc}"},
                            outs[-1] if outs else None)
        except ctx.PromptTooLong as exc:
            await self._end(run, "incomplete", incomplete={"reason": "max_prompt_tokens"}, note=str(exc))
        finally:
            reveal.cancel()
            self._states.pop(run.id, None)

    @asynccontextmanager
    async def _final_write(self, run: m.Run):
        """Serialise a run's last write with its write-behind task, which then stands down."""
        state = self._states.get(run.id)
        if state is None:
            yield
            return
        async with state.lock:
            yield
            state.closed = True

    def _reveal(self, state: _State) -> None:
        if state.closed:
            return
        task = asyncio.create_task(self._persist(state), name=f"persist:{state.run.id}")
        self._persisting.add(task)
        task.add_done_callback(self._persisted)

    def _persisted(self, task: asyncio.Task) -> None:
        self._persisting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("could not store the progress of a run", exc_info=task.exception())

    async def _persist(self, state: _State) -> None:
        """Store `in_progress` and the open message/step rows of a run still going."""
        async with state.lock:
            if state.closed:
                return
            async with self.db.background() as session:
                if not state.persisted:
                    run = state.run
                    await session.execute(
                        update(m.Run).where(m.Run.id == run.id, m.Run.status == "queued")
                        .values(status="in_progress", started_at=run.started_at)
                    )
                for out in state.outs:
                    await self._write_open(session, out)
                await session.commit()
            state.persisted = True

    async def _write_open(self, session: AsyncSession, out: _Output) -> None:
        if out.message is not None and not out.written:
            await session.execute(_INSERT_MESSAGE, m.row(out.message))
            await session.execute(_INSERT_STEP, m.row(out.message_step))
            out.written = True

    async def _end_for(self, run: m.Run, reason: str, out: _Output | None = None) -> None:
        if reason == "expired":
            await self._end(run, "expired", self._expired_error(), out)
        elif reason == "shutdown":
            await self._end(run, "failed", {"code": "server_error", "message": "The server shut down while this run was in progress; send the message again."}, out)
        else:
            await self._end(run, "cancelled", None, out)

    def _expired_error(self) -> dict[str, str]:
        return {"code": "server_error", "message": f"The run expired: it did not finish within {self.settings.run_timeout:g} seconds."}

    def _setup(self, run: m.Run) -> _Setup:
        provider, model_name = self.providers.resolve(run.model)
        server = server_tools_of(run.tools, self.tools)
        schemas = []
        for t in run.tools or ():
            if t.get("type") != "function":
                continue
            tool = server.get(t["function"]["name"])
            fn = ({"name": tool.name, "description": tool.description, "parameters": tool.parameters}
                  if tool is not None else t["function"])
            schemas.append({"type": "function", "function": fn})
        return _Setup(provider, model_name, server, schemas)

    async def _context(self, run: m.Run, setup: _Setup) -> ctx.Context:
        return await ctx.build(
            self.db, run,
            context_tokens=setup.provider.context_tokens,
            supports_images=setup.provider.supports_images,
            tools=setup.schemas,
            history=self.history,
            files_dir=self.settings.files_dir,
            # a run has tool steps only once a model round has happened
            with_steps=run.usage is not None,
        )

    async def _loop(self, run: m.Run, outs: list[_Output], setup: _Setup, context: ctx.Context) -> None:
        provider, model_name, server, schemas = setup.provider, setup.model_name, setup.server, setup.schemas
        for round_ in range(self.settings.max_tool_rounds):
            if round_:
                context = await self._context(run, setup)
            request = ModelRequest(
                model=model_name,
                messages=context.messages,
                tools=schemas,
                tool_choice=_tool_choice(run.tool_choice) if schemas else None,
                parallel_tool_calls=run.parallel_tool_calls,
                temperature=run.temperature,
                top_p=run.top_p,
                max_tokens=run.max_completion_tokens,
                response_format=run.response_format if isinstance(run.response_format, dict) else None,
            )
            out = _Output()
            outs.append(out)
            provider = setup.provider = await self._call_with_fallback(run, provider, request, out)
            finish = out.finish or Finish()
            run.usage = _add_usage(
                run.usage, finish.prompt_tokens or context.prompt_tokens,
                finish.completion_tokens if finish.completion_tokens is not None
                else ctx.estimate_tokens("".join(out.text)),
            )
            if not out.calls:
                incomplete = None
                if finish.reason == "length" and run.max_completion_tokens:
                    incomplete = {"reason": "max_completion_tokens"}
                return await self._complete(run, out, run.usage, incomplete)
            calls = [out.calls[i] for i in sorted(out.calls)]
            if not run.parallel_tool_calls and len(calls) > 1:
                calls = calls[:1]
                out.calls = {0: calls[0]}
            ours = [c for c in calls if c["function"]["name"] in server]
            if ours:
                await self._run_server_tools(run, ours, server)
            if any(c["function"]["name"] not in server for c in calls):
                return await self._require_action(run, out, run.usage)
            await self._record_tool_round(run, out)
        raise ProviderError(
            f"the model kept calling tools for {self.settings.max_tool_rounds} rounds without answering",
            code="server_error",
        )

    async def _call_with_fallback(
        self, run: m.Run, provider: ModelProvider, request: ModelRequest, out: _Output
    ) -> ModelProvider:
        """Call the model; when it fails before saying anything, the fallback answers.

        Returns the provider that answered, which stays in charge for the rest of the run.
        """
        try:
            await self._call_model(run, provider, request, out)
            return provider
        except ProviderError as exc:
            fallback = self.fallback
            if fallback is None or provider is fallback or out.message is not None or out.calls:
                raise
            log.warning("run %s: %s failed (%s); the %s provider answers instead",
                        run.id, provider.name, exc, fallback.name)
            code = exc.code  # ``exc`` is unbound after the except block
        meta = dict(run.metadata_ or {})
        if len(meta) < 16 or "hilo_fallback" in meta:
            meta["hilo_fallback"] = f"{fallback.name}: {provider.name} failed ({code})"[:512]
            async with self.db.background() as session:
                await session.execute(update(m.Run).where(m.Run.id == run.id).values(metadata_=meta))
                await session.commit()
            run.metadata_ = meta
        await self._call_model(run, fallback, request, out)
        return fallback

    async def _run_server_tools(self, run: m.Run, calls: list[dict], server: dict[str, ServerTool]) -> None:
        context = ToolContext(run.id, run.thread_id, run.assistant_id, self.services)

        async def one(call: dict) -> None:
            tool = server[call["function"]["name"]]
            try:
                output = await asyncio.wait_for(tool.invoke(call["function"]["arguments"], context), tool.timeout)
            except TimeoutError:
                output = json.dumps({"error": f"the tool {tool.name} did not answer within {tool.timeout:g} s"})
            except Exception as exc:  # a tool failure is the model's business, not a crash
                log.exception("tool %s failed in run %s", tool.name, run.id)
                output = json.dumps({"error": f"the tool {tool.name} failed: {type(exc).__name__}: {exc}"})
            call["function"]["output"] = output

        await asyncio.gather(*(one(c) for c in calls))

    async def _record_tool_round(self, run: m.Run, out: _Output) -> None:
        """All calls of this round ran server-side: store the step and go on."""
        step = self._tool_step(run, out, "completed")
        step.completed_at = now()
        state = self._states.get(run.id)
        if state is not None:
            await self._persist(state)  # tool rounds take time: show the run as it goes
        async with self.db.background() as session:
            if out.message is not None:
                await self._close_message(session, out, "completed", None)
            await session.execute(_INSERT_STEP, m.row(step))
            await session.commit()
        if out.message is not None:
            self._emit(run, "thread.message.completed", out.message)
            self._emit(run, "thread.run.step.completed", out.message_step)
        self._emit(run, "thread.run.step.completed", step)

    async def _call_model(self, run: m.Run, provider: ModelProvider, request: ModelRequest, out: _Output) -> None:
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                if not event.text:
                    continue
                first = out.message is None
                if first:
                    await self._open_message(run, out)
                out.text.append(event.text)
                if self.bus.wants(run.id):
                    self.bus.publish(run.id, "thread.message.delta", {
                        "id": out.message.id,
                        "object": "thread.message.delta",
                        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": event.text, "annotations": []}}]},
                    })
                    if first:
                        # Let the streams send the first token now, before a fast model's
                        # whole answer and its final write (one loop turn).
                        await asyncio.sleep(0)
            elif isinstance(event, ToolCallDelta):
                self._tool_delta(run, out, event)
            elif isinstance(event, Finish):
                out.finish = event

    async def _open_message(self, run: m.Run, out: _Output) -> None:
        ts = now()
        message = m.MessageRecord(
            id=new_id("msg"), thread_id=run.thread_id, created_at=ts, role="assistant",
            content=[], status="in_progress", assistant_id=run.assistant_id, run_id=run.id,
            attachments=[], metadata_={},
        )
        step = m.RunStepRecord(
            id=new_id("step"), run_id=run.id, thread_id=run.thread_id, assistant_id=run.assistant_id,
            created_at=ts, type="message_creation", status="in_progress",
            step_details={"type": "message_creation", "message_creation": {"message_id": message.id}},
            metadata_={},
        )
        out.message, out.message_step = message, step
        state = self._states.get(run.id)
        if state is not None and state.persisted:
            await self._persist(state)
        if self.bus.wants(run.id):
            step_payload, message_payload = serialize.step(step), serialize.message(message)
            self._emit(run, "thread.run.step.created", payload=step_payload)
            self._emit(run, "thread.run.step.in_progress", payload=step_payload)
            self._emit(run, "thread.message.created", payload=message_payload)
            self._emit(run, "thread.message.in_progress", payload=message_payload)

    def _tool_delta(self, run: m.Run, out: _Output, delta: ToolCallDelta) -> None:
        call = out.calls.get(delta.index)
        if call is None:
            call = out.calls[delta.index] = {
                "id": delta.id or new_id("call"),
                "type": "function",
                "function": {"name": delta.name or "", "arguments": "", "output": None},
            }
        elif delta.name:
            call["function"]["name"] += delta.name
        call["function"]["arguments"] += delta.arguments
        if out.tool_step_id is None:
            out.tool_step_id = new_id("step")
            self._emit(run, "thread.run.step.created", payload=self._tool_step_payload(run, out, "in_progress"))
        if self.bus.wants(run.id):
            self.bus.publish(run.id, "thread.run.step.delta", {
                "id": out.tool_step_id,
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{
                    "index": delta.index, "id": call["id"], "type": "function",
                    "function": {"name": delta.name or call["function"]["name"], "arguments": delta.arguments, "output": None},
                }]}},
            })

    def _tool_step_payload(self, run: m.Run, out: _Output, status: str) -> dict[str, Any]:
        return serialize.step(self._tool_step(run, out, status))

    def _tool_step(self, run: m.Run, out: _Output, status: str) -> m.RunStep:
        return m.RunStepRecord(
            id=out.tool_step_id, run_id=run.id, thread_id=run.thread_id, assistant_id=run.assistant_id,
            created_at=now(), type="tool_calls", status=status,
            step_details={"type": "tool_calls", "tool_calls": [out.calls[i] for i in sorted(out.calls)]},
            metadata_={},
        )

    async def _close_message(self, session: AsyncSession, out: _Output, status: str, usage: dict | None) -> None:
        """Final content and status of the output's message and step (inserted if still unsaved)."""
        if out.message is None:
            return
        _close(out, status, usage)
        for stmt, values, _keys in _row_writes(out):
            await session.execute(stmt, values)
        out.written = True

    async def _complete(self, run: m.Run, out: _Output, usage: dict, incomplete: dict | None) -> None:
        """The turn's last write, on the turn path (:mod:`hilo.db.hot`): run, message, step, thread."""
        status = "incomplete" if incomplete else "completed"
        values: dict[str, Any] = {"status": status, "usage": usage, "required_action": None,
                                  "started_at": run.started_at, "completed_at": None, "incomplete_details": None}
        if status == "completed":
            values["completed_at"] = now()
        else:
            values["incomplete_details"] = incomplete
        async with self._final_write(run):
            if out.message is not None:
                _close(out, status, usage)
            if not self.db.hot.sqlite and not out.written:  # PostgreSQL: one statement
                params = {**hot.bind_row("f_", values), "b_id": run.id, "b_thread": run.thread_id}
                if out.message is not None:
                    params.update(hot.bind_row("m_", m.row(out.message)))
                    params.update(hot.bind_row("s_", m.row(out.message_step)))
                won = (await self.db.hot.fetch(_finish_statement(out.message is not None), params))[0][0] == 1
                out.written = won and out.message is not None
            else:
                won = await self._finish_in_unit(run, out, values)
        if not won:
            return await self._lost_race(run, out)
        for key, value in values.items():
            setattr(run, key, value)
        if out.message is not None:
            self._emit(run, "thread.message.completed" if status == "completed" else "thread.message.incomplete", out.message)
            self._emit(run, "thread.run.step.completed", out.message_step)
        self._emit(run, f"thread.run.{status}")

    async def _finish_in_unit(self, run: m.Run, out: _Output, values: dict[str, Any]) -> bool:
        """:meth:`_complete`'s statements one by one, in a transaction (SQLite; or rows that
        the write-behind already stored)."""
        try:
            async with self.db.hot.unit(durable=False) as unit:
                if await unit.execute(_HOT_FINISH, {**values, "b_id": run.id}, _FINISH_KEYS) != 1:
                    raise _LostRace
                if out.message is not None:
                    for stmt, values_, keys in _row_writes(out):
                        await unit.execute(stmt, values_, keys)
                    out.written = True
                await unit.execute(_RELEASE, {"b_thread": run.thread_id, "b_run": run.id, "active_run_id": None},
                                   _RELEASE_KEYS)
            return True
        except _LostRace:
            return False

    async def _require_action(self, run: m.Run, out: _Output, usage: dict) -> None:
        calls = [c for i in sorted(out.calls) if (c := out.calls[i])["function"].get("output") is None]
        step = self._tool_step(run, out, "in_progress")
        required = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
                for c in calls
            ]},
        }
        async with self._final_write(run), self.db.background() as session:
            won = await self.transition(session, run, ("queued", "in_progress"), status="requires_action",
                                        required_action=required, usage=usage, started_at=run.started_at)
            if won:
                if out.message is not None:
                    await self._close_message(session, out, "completed", None)
                await session.execute(_INSERT_STEP, m.row(step))
                await session.commit()
        if not won:
            return await self._lost_race(run, out)
        if out.message is not None:
            self._emit(run, "thread.message.completed", out.message)
            self._emit(run, "thread.run.step.completed", out.message_step)
        self._emit(run, "thread.run.requires_action")

    async def _lost_race(self, run: m.Run, out: _Output) -> None:
        """Someone else (cancel, expiry, another replica) ended the run first."""
        current = await self._current_status(run.id)
        if current is not None:
            async with self.db.background() as session:
                await self._close_message(session, out, current.status, None)
                await session.commit()
            self._emit(current, f"thread.run.{current.status}")

    async def _end(
        self,
        run: m.Run,
        status: str,
        error: dict | None = None,
        out: _Output | None = None,
        incomplete: dict | None = None,
        note: str | None = None,
    ) -> None:
        ts = now()
        values: dict[str, Any] = {"status": status, "required_action": None}
        if error:
            values["last_error"] = error
        if incomplete:
            values["incomplete_details"] = incomplete
        stamp = {"failed": "failed_at", "cancelled": "cancelled_at", "completed": "completed_at"}.get(status)
        if stamp:
            values[stamp] = ts
        async with self._final_write(run), self.db.background() as session:
            if not await self.transition(session, run, ACTIVE, **values):
                return
            if out is not None:
                await self._close_message(session, out, status, None)
            await session.execute(
                update(m.RunStep)
                .where(m.RunStep.run_id == run.id, m.RunStep.status == "in_progress")
                .values(status=status if status in ("failed", "cancelled", "expired") else "failed",
                        **{("expired_at" if status == "expired" else "cancelled_at" if status == "cancelled" else "failed_at"): ts})
            )
            await session.execute(
                update(m.Message)
                .where(m.Message.run_id == run.id, m.Message.status == "in_progress")
                .values(status="incomplete", incomplete_at=ts, incomplete_details={"reason": f"run_{status}"})
            )
            await self._release_thread(session, run)
            await session.commit()
        if note:
            log.info("run %s %s: %s", run.id, status, note)
        self._emit(run, f"thread.run.{status}")

    # ------------------------------------------------------------------ API hooks
    async def cancel(self, run_id: str) -> m.Run | None:
        """Request cancellation; returns the run as it stands afterwards."""
        async with self.db.background() as session:
            run = await session.get(m.Run, run_id)
            if run is None or run.status not in ACTIVE:
                return run
            if run.status == "cancelling":
                return run
            task = self.tasks.get(run_id)
            if run.status == "requires_action" or (run.status == "queued" and task is None):
                # Nothing executes it right now (a task that just stopped for tool outputs
                # may still be winding down): cancel outright.
                await session.commit()
                await self._end(run, "cancelled")
                return run
            await self.transition(session, run, ("queued", "in_progress"), status="cancelling")
            await session.commit()
        self._emit(run, "thread.run.cancelling")
        if task is not None:
            self._cancel_reason[run_id] = "cancelled"
            task.cancel()
        return run

    async def recover(self) -> int:
        """At start-up: nothing a crash left behind hangs. Returns how many runs were touched."""
        async with self.db.sessionmaker() as session:
            runs = (await session.scalars(select(m.Run).where(m.Run.status.in_(("queued", "in_progress", "cancelling"))))).all()
        for run in runs:
            if run.status == "cancelling":
                await self._end(run, "cancelled")
            else:
                await self._end(run, "failed", {
                    "code": "server_error",
                    "message": "The server restarted while this run was in progress; send the message again.",
                })
        return len(runs)

    async def expire_due(self) -> int:
        """Expire every active run past its ``expires_at`` (all replicas may call this)."""
        async with self.db.sessionmaker() as session:
            due = (await session.scalars(
                select(m.Run).where(m.Run.status.in_(ACTIVE), m.Run.expires_at < now())
            )).all()
        for run in due:
            task = self.tasks.get(run.id)
            if task is not None:
                self._cancel_reason[run.id] = "expired"
                task.cancel()
            else:
                await self._end(run, "expired", self._expired_error())
        return len(due)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.expire_due()
            except Exception:  # keep sweeping; the database may be back next second
                log.exception("expiry sweep failed")


@functools.cache
def _finish_statement(with_message: bool):
    """PostgreSQL: end the run (only while it still runs), store its message and step, free
    the thread, in one statement whose commit does not wait for the disk."""
    finished = (update(_RUNS).where(_RUNS.c.id == bindparam("b_id"),
                                    _RUNS.c.status.in_([literal("queued"), literal("in_progress")]))
                .values({k: bindparam("f_" + k, type_=_RUNS.c[k].type) for k in _FINISH_KEYS})
                .returning(_RUNS.c.id).cte("finished"))
    threads = m.Thread.__table__
    released = (update(threads)
                .where(threads.c.id == bindparam("b_thread"), threads.c.active_run_id.in_(select(finished.c.id)))
                .values(active_run_id=None).cte("released"))
    stmt = select(select(func.count()).select_from(finished).scalar_subquery(), hot.relax_commit()).add_cte(released)
    if with_message:
        stmt = stmt.add_cte(hot.insert_bound(_MESSAGES, "m_", finished).cte("message"),
                            hot.insert_bound(_STEPS, "s_", finished).cte("step"))
    return stmt


class _LostRace(Exception):
    """The run's conditional UPDATE matched nothing: someone else ended it first."""


def _close(out: _Output, status: str, usage: dict | None) -> None:
    """Final content and status of the output's message and step, in memory."""
    ts = now()
    msg, step = out.message, out.message_step
    msg.content = [{"type": "text", "text": {"value": "".join(out.text), "annotations": []}}]
    msg.status = "completed" if status == "completed" else "incomplete"
    if status == "completed":
        msg.completed_at = ts
    else:
        msg.incomplete_at = ts
        msg.incomplete_details = {"reason": "run_" + status if status in ("cancelled", "expired", "failed") else "max_tokens"}
    step.status = {"completed": "completed", "incomplete": "completed"}.get(status, status)
    stamp = {"completed": "completed_at", "cancelled": "cancelled_at", "failed": "failed_at", "expired": "expired_at"}
    setattr(step, stamp.get(step.status, "completed_at"), ts)
    step.usage = usage


def _row_writes(out: _Output) -> list[tuple[Any, dict[str, Any], tuple[str, ...] | None]]:
    """(statement, values, columns set) storing the output's closed message and step: an
    UPDATE of rows the write-behind already stored, else their INSERT."""
    if out.written:
        return [(_UPDATE_MESSAGE, _message_done(out.message), _MESSAGE_DONE_KEYS),
                (_UPDATE_STEP, _step_done(out.message_step), _STEP_DONE_KEYS)]
    return [(_INSERT_MESSAGE, m.row(out.message), None), (_INSERT_STEP, m.row(out.message_step), None)]


def _message_done(msg: m.Message) -> dict[str, Any]:
    return {"b_id": msg.id, "content": msg.content, "status": msg.status, "completed_at": msg.completed_at,
            "incomplete_at": msg.incomplete_at, "incomplete_details": msg.incomplete_details}


def _step_done(step: m.RunStep) -> dict[str, Any]:
    return {"b_id": step.id, "status": step.status, "completed_at": step.completed_at,
            "cancelled_at": step.cancelled_at, "failed_at": step.failed_at, "expired_at": step.expired_at,
            "usage": step.usage}


def _detached_copy(run: m.Run | m.RunRecord) -> m.RunRecord:
    return m.RunRecord.copy_of(run)




def _tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    return "auto"


def _add_usage(previous: dict | None, prompt: int, completion: int) -> dict[str, int]:
    prev = previous or {"prompt_tokens": 0, "completion_tokens": 0}
    p = prev.get("prompt_tokens", 0) + int(prompt or 0)
    c = prev.get("completion_tokens", 0) + int(completion or 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


__all__ = ["ACTIVE", "TERMINAL", "RunEngine"]
