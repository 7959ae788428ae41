"""The run engine: executes a queued run through OpenAI's states.

A run is handed to the executor (:mod:`hilo.runs.executor`) by the turn service
(:mod:`hilo.runs.service`), never executed inside the HTTP request. The engine builds the
context (:mod:`hilo.runs.context`), calls the model (with the fallback provider when it fails
before saying anything), runs server-side tool calls or stops in ``requires_action`` for
client-side ones, and publishes every state change on the bus. It composes no SQL: every read
and write goes through the run store (:mod:`hilo.runs.store`), whose conditional updates make
a cancel or an expiry decided elsewhere win cleanly over a task that is still writing.

A cancel that reaches another process only marks the run ``cancelling``; the process executing
it sees that within :data:`CANCEL_POLL_S` and ends it ``cancelled`` (a final write that loses to
``cancelling`` ends it ``cancelled`` too).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from hilo.assistants.models import AssistantRecord
from hilo.files.models import File
from hilo.identity import Principal
from hilo.kit.bus import EventBus
from hilo.kit.config import Settings
from hilo.kit.ids import new_id, now
from hilo.kit.observe import metrics, tracing
from hilo.kit.observe.logs import RUN_ID, THREAD_ID
from hilo.nlu.fair import CALLER
from hilo.providers.base import (
    Finish,
    ModelProvider,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCallDelta,
)
from hilo.providers.registry import Providers
from hilo.runs import context as ctx
from hilo.runs import objects
from hilo.runs.executor import LocalExecutor
from hilo.runs.models import RunRecord, RunStepRecord
from hilo.runs.store import OpenRows, RunStore
from hilo.threads import objects as thread_objects
from hilo.threads.models import MessageRecord
from hilo.tools import (
    AssistantInfo,
    ServerTool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    ToolServices,
)
from hilo.tools.permissions import refusal

log = logging.getLogger("hilo.engine")

# A run's first writes wait this long: a fast model finishes before, and its whole turn
# is then stored in one transaction; a slower one shows `in_progress` (and its open
# message) in the database from this moment on. Events are never delayed.
VISIBLE_AFTER = 0.05
CANCEL_POLL_S = 0.25  # how soon a cancel sent to another process is seen by the one executing
EXPIRY_EVERY = 4  # expiry sweeps, in cancel polls


@dataclass(slots=True)
class Start:
    """What the turn service hands the executor: the run as stored and its assistant;
    ``launched``: when (``time.time()``), the start of the turn's latency; ``traceparent``: the
    trace context of the request that started it (tracing on), the run span's parent."""

    run: RunRecord | None  # None: read it (a worker taking the run from a queue)
    assistant: AssistantRecord | None = None
    launched: float = field(default_factory=time.time)
    traceparent: str | None = None


@dataclass(slots=True)
class _State:
    """Write-behind bookkeeping of one executing run."""

    run: RunRecord
    outs: list = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    persisted: bool = False  # `in_progress` and the open rows are stored
    closed: bool = False  # the final write happened
    annotations: list[dict[str, Any]] = field(default_factory=list)  # from tool results, for the answer
    launched: float = 0.0  # Start.launched: turn latency and time to first token count from it
    answered: bool = False  # the first text delta was seen (time to first token observed)


@dataclass(slots=True)
class _Setup:
    """What stays fixed through a run's rounds: provider, model, tools, assistant."""

    provider: ModelProvider
    model_name: str
    server: dict[str, ServerTool]
    refused: set[str]
    schemas: list[dict[str, Any]]
    tools_tokens: int
    assistant: AssistantInfo
    earlier: list[dict[str, Any]] | None = None  # the thread's earlier tool calls, once read
    resources: dict[str, Any] = field(default_factory=dict)  # tool_resources (assistant + thread)


@dataclass(slots=True)
class _Output:
    """What one model call produced."""

    rows: OpenRows | None = None  # its assistant message and message_creation step
    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    tool_step_id: str | None = None
    finish: Finish | None = None
    tool_errors: list[str] = field(default_factory=list)  # what failed inside server tools (the step's last_error)


class RunEngine:
    def __init__(self, store: RunStore, providers: Providers, bus: EventBus, settings: Settings,
                 tools: ToolRegistry | None = None, fallback: ModelProvider | None = None):
        self.store = store
        self.tools = tools or ToolRegistry()
        self.fallback = fallback
        self.providers = providers
        self.bus = bus
        self.settings = settings
        self.services = ToolServices(db=store.db, settings=settings, providers=providers)
        self.executor = LocalExecutor(self.execute, self.abandon, settings.max_concurrent_runs)
        self._states: dict[str, _State] = {}
        self._persisting: set[asyncio.Task] = set()  # write-behind tasks under way
        self._sweeper: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle
    def use_queue(self, executor: Any) -> None:
        """Execute through a queue of workers (:class:`hilo.runs.queue.QueueExecutor`)."""
        self.executor = executor
        executor.on_lost = self.lost
        executor.start_of = self._start_of

    @staticmethod
    def _start_of(launched: float | None, traceparent: str | None, run: dict | None,
                  assistant: dict | None) -> Start:
        """A job's Start: the run and assistant it carries (or None: read them), its launch and trace."""
        return Start(RunRecord(**run) if run else None, AssistantRecord(**assistant) if assistant else None,
                     launched=launched or time.time(), traceparent=traceparent)

    async def start_background(self) -> None:
        await self.executor.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="runs:sweeper")

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        await self.executor.stop()

    def launch(self, run: RunRecord, assistant: AssistantRecord | None = None) -> None:
        """After the run is stored: announce it and hand it to the executor."""
        if self.bus.wants(run.id):
            payload = objects.run(run)
            self.bus.publish(run.id, "thread.run.created", payload)
            self.bus.publish(run.id, "thread.run.queued", payload)
        # The request's log lines from here on, and the run's task (a copy of this context)
        THREAD_ID.set(run.thread_id)
        RUN_ID.set(run.id)
        self.executor.submit(run.id, Start(RunRecord.copy_of(run), assistant,
                                           traceparent=tracing.traceparent() if tracing.ON else None))

    def resume(self, run: RunRecord) -> None:
        """A run queued again (tool outputs submitted): execute it."""
        THREAD_ID.set(run.thread_id)
        RUN_ID.set(run.id)
        self.executor.submit(run.id, Start(RunRecord.copy_of(run),
                                           traceparent=tracing.traceparent() if tracing.ON else None))

    # ------------------------------------------------------------------ events
    def _emit(self, run: RunRecord, event: str, obj: Any = None, payload: Any = None) -> None:
        if not self.bus.wants(run.id):
            return
        if payload is None:
            if isinstance(obj, MessageRecord):
                payload = thread_objects.message(obj)
            elif isinstance(obj, RunStepRecord):
                payload = objects.step(obj)
            else:
                payload = objects.run(run)
        self.bus.publish(run.id, event, payload)

    # ------------------------------------------------------------------ execution
    async def execute(self, run_id: str, start: Start | None) -> None:
        """Execute a queued run. A process that takes runs from a queue passes ``Start(run,
        launched=..., traceparent=...)`` when it has them, or wraps this in
        :func:`hilo.kit.observe.tracing.continued`."""
        if tracing.ON:
            known = start.run if start is not None else None
            with tracing.run_span(run_id, known.thread_id if known is not None else None,
                                  metrics.assistant_label(known.assistant_id) if known is not None else "custom",
                                  start.traceparent if start is not None else None):
                return await self._execute_safely(run_id, start)
        await self._execute_safely(run_id, start)

    async def _execute_safely(self, run_id: str, start: Start | None) -> None:
        try:
            await self._execute(run_id, start)
        except Exception:  # the engine must never die with a run left hanging
            log.exception("run %s crashed", run_id)
            run = await self.store.get(run_id)
            if run is not None:
                await self._end(run, "failed", {"code": "server_error", "message": "Internal error while executing the run."})

    async def abandon(self, run_id: str, reason: str) -> None:
        """The run was cancelled before it started executing here."""
        run = await self.store.get(run_id)
        if run is not None:
            await self._end_for(run, reason)

    async def _execute(self, run_id: str, start: Start | None) -> None:
        # One read takes the run and what the model needs; the first write waits
        # (VISIBLE_AFTER) so that a fast turn costs a single write transaction.
        run = start.run if start is not None and start.run is not None else await self.store.get(run_id)
        if run is None or run.status != "queued":
            return
        THREAD_ID.set(run.thread_id)  # this task's log lines
        RUN_ID.set(run.id)
        # Whose turn this is for the embedding engine's fair scheduler (this task's context only).
        CALLER.set(f"user:{run.user_id}" if run.user_id else f"thread:{run.thread_id}")
        setup: _Setup | None = None
        try:
            setup = await self._setup(run, start.assistant if start is not None else None)
            first: ctx.Context | Exception = await self._context(run, setup)
        except (ctx.PromptTooLong, ProviderError) as exc:
            first = exc
        run.status, run.started_at = "in_progress", run.started_at or now()
        state = _State(run, launched=start.launched if start is not None else time.time())
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
                await self._loop(run, state, setup, first)
        except TimeoutError:
            await self._end_for(run, "expired", outs[-1] if outs else None)
        except asyncio.CancelledError:
            await self._end_for(run, self.executor.reason(run.id) or "cancelled", outs[-1] if outs else None)
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
            metrics.turn_ended(metrics.assistant_label(run.assistant_id), time.time() - state.launched)

    @asynccontextmanager
    async def _final_write(self, run: RunRecord):
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
            await self.store.reveal(state.run, [o.rows for o in state.outs if o.rows is not None],
                                    first=not state.persisted)
            state.persisted = True

    async def _end_for(self, run: RunRecord, reason: str, out: _Output | None = None) -> None:
        if reason == "expired":
            await self._end(run, "expired", self._expired_error(), out)
        elif reason == "shutdown":
            await self._end(run, "failed", {"code": "server_error", "message": "The server shut down while this run was in progress; send the message again."}, out)
        else:
            await self._end(run, "cancelled", None, out)

    def _expired_error(self) -> dict[str, str]:
        return {"code": "server_error", "message": f"The run expired: it did not finish within {self.settings.run_timeout:g} seconds."}

    async def _setup(self, run: RunRecord, assistant: AssistantRecord | None) -> _Setup:
        if assistant is None:
            assistant, _digest = await self.store.assistant(self.store.hot, run.assistant_id)
        info = AssistantInfo.of(assistant) if assistant is not None else AssistantInfo(run.assistant_id)
        provider, model_name = self.providers.resolve(run.model)
        server = self.tools.server_tools(run.tools)
        # A grant revoked since the assistant (or run) was created: the tool answers an error.
        refused = await self.tools.refused(server, info.owner) if server else set()
        schemas = self.tools.model_schemas(run.tools)
        resources: dict[str, Any] = {}
        if any(_step_type(t) != "function" for t in server.values()):
            # built-in kinds (file_search) read the assistant's and the thread's resources
            resources = _merge_resources(getattr(assistant, "tool_resources", None),
                                         await self.store.thread_resources(run.thread_id))
        return _Setup(provider, model_name, server, refused, schemas,
                      ctx.estimate_tokens(schemas) if schemas else 0, info, resources=resources)

    async def _context(self, run: RunRecord, setup: _Setup) -> ctx.Context:
        provider = setup.provider
        rows = await self.store.recent(run.thread_id, ctx.history_limit(run.truncation_strategy,
                                                                        self.store.history.max_messages), run.id)
        # a run has tool steps only once a model round has happened
        steps = await self.store.tool_steps(run.id) if run.usage is not None else ()
        files: dict[str, Any] = {}
        if provider.supports_images and (file_ids := ctx.image_file_ids(rows)):
            async with self.store.db.sessionmaker() as session:
                files = {f.id: f for f in await session.scalars(select(File).where(File.id.in_(file_ids)))}
        return ctx.build(run, rows, steps, files, context_tokens=provider.context_tokens,
                         supports_images=provider.supports_images, tools=setup.schemas,
                         tools_tokens=setup.tools_tokens, files_dir=self.settings.files_dir)

    async def _loop(self, run: RunRecord, state: _State, setup: _Setup, context: ctx.Context) -> None:
        outs = state.outs
        for round_ in range(self.settings.max_tool_rounds):
            if round_:
                context = await self._context(run, setup)
            schemas = setup.schemas
            request = ModelRequest(
                model=setup.model_name,
                messages=context.messages,
                tools=schemas,
                tool_choice=_tool_choice(run.tool_choice) if schemas else None,
                parallel_tool_calls=run.parallel_tool_calls,
                temperature=run.temperature,
                top_p=run.top_p,
                max_tokens=run.max_completion_tokens,
                response_format=run.response_format if isinstance(run.response_format, dict) else None,
                assistant=setup.assistant,
                earlier_tools=await self._earlier(run, setup, setup.provider),
            )
            out = _Output()
            outs.append(out)
            setup.provider = await self._call_with_fallback(run, setup, request, out)
            finish = out.finish or Finish()
            prompt_tokens = finish.prompt_tokens or context.prompt_tokens
            completion_tokens = (finish.completion_tokens if finish.completion_tokens is not None
                                 else ctx.estimate_tokens("".join(out.text)))
            run.usage = _add_usage(run.usage, prompt_tokens, completion_tokens)
            metrics.model_tokens(metrics.provider_label(setup.provider), prompt_tokens, completion_tokens)
            if not out.calls:
                incomplete = None
                if finish.reason == "length" and run.max_completion_tokens:
                    incomplete = {"reason": "max_completion_tokens"}
                return await self._complete(run, state, out, run.usage, incomplete)
            calls = [out.calls[i] for i in sorted(out.calls)]
            if not run.parallel_tool_calls and len(calls) > 1:
                calls = calls[:1]
                out.calls = {0: calls[0]}
            ours = [c for c in calls if c["function"]["name"] in setup.server]
            if ours:
                await self._run_server_tools(run, state, ours, setup, out)
            if any(c["function"]["name"] not in setup.server for c in calls):
                return await self._require_action(run, state, out, run.usage)
            await self._record_tool_round(run, state, out)
        raise ProviderError(
            f"the model kept calling tools for {self.settings.max_tool_rounds} rounds without answering",
            code="server_error",
        )

    async def _earlier(self, run: RunRecord, setup: _Setup, provider: ModelProvider) -> list[dict[str, Any]]:
        if not getattr(provider, "wants_earlier_tools", False):
            return []
        if setup.earlier is None:
            setup.earlier = await self.store.earlier_tool_calls(run.thread_id, run.id)
        return setup.earlier

    async def _call_with_fallback(
        self, run: RunRecord, setup: _Setup, request: ModelRequest, out: _Output
    ) -> ModelProvider:
        """Call the model; when it fails before saying anything, the fallback answers.

        Returns the provider that answered, which stays in charge for the rest of the run.
        """
        provider = setup.provider
        try:
            await self._call_model(run, provider, request, out, setup)
            return provider
        except ProviderError as exc:
            fallback = self.fallback
            if fallback is None or provider is fallback or out.rows is not None or out.calls:
                raise
            log.warning("run %s: %s failed (%s); the %s provider answers instead",
                        run.id, provider.name, exc, fallback.name)
            code = exc.code  # ``exc`` is unbound after the except block
        meta = dict(run.metadata_ or {})
        if len(meta) < 16 or "hilo_fallback" in meta:
            meta["hilo_fallback"] = f"{fallback.name}: {provider.name} failed ({code})"[:512]
            await self.store.set_metadata(run.id, meta)
            run.metadata_ = meta
        if not request.earlier_tools:
            request.earlier_tools = await self._earlier(run, setup, fallback)
        await self._call_model(run, fallback, request, out, setup)
        return fallback

    def _caller(self, run: RunRecord) -> Principal:
        scope = run.caller_scope or ("admin" if run.user_id is None else "user")
        return Principal(user_id=run.user_id, scope=scope, via="run")

    def _scrub(self, text: str, limit: int = 1000) -> str:
        """A failure's text with no configured secret in it, cut to ``limit`` characters."""
        for name, info in type(self.settings).model_fields.items():
            secret = getattr(self.settings, name, None) if info.repr is False else None
            if isinstance(secret, str) and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text if len(text) <= limit else text[:limit] + "..."

    async def _run_server_tools(self, run: RunRecord, state: _State, calls: list[dict], setup: _Setup,
                                out: _Output) -> None:
        context = ToolContext(caller=self._caller(run), assistant=setup.assistant, run_id=run.id,
                              thread_id=run.thread_id, services=self.services, resources=setup.resources,
                              round=max(0, len(state.outs) - 1))

        async def one(call: dict) -> None:
            tool = setup.server[call["function"]["name"]]
            if tool.name in setup.refused:
                call["function"]["output"] = json.dumps({"error": refusal(tool.name)}, ensure_ascii=False)
                metrics.tool_call(tool.name, error="refused")
                return
            began, error = time.perf_counter(), None
            try:
                if tracing.ON:
                    with tracing.span(f"tool {tool.name}", "internal", {"hilo.tool": tool.name}):
                        output = await asyncio.wait_for(tool.invoke(call["function"]["arguments"], context),
                                                        tool.timeout)
                else:
                    output = await asyncio.wait_for(tool.invoke(call["function"]["arguments"], context), tool.timeout)
            except TimeoutError:
                error = "timeout"
                out.tool_errors.append(f"{tool.name}: no answer within {tool.timeout:g} s")
                output = json.dumps({"error": f"the tool {tool.name} did not answer in time", "error_type": "timeout"})
            except Exception as exc:  # a tool failure is the model's business, not a crash
                error = "error"
                # The detail goes to the log and the step's last_error; the model (and so the
                # customer) gets a sentence with no internals in it.
                log.exception("tool %s failed in run %s", tool.name, run.id)
                out.tool_errors.append(self._scrub(f"{tool.name}: {type(exc).__name__}: {exc}"))
                output = json.dumps({"error": f"the tool {tool.name} failed because of an internal problem",
                                     "error_type": "internal"})
            metrics.tool_call(tool.name, time.perf_counter() - began, error)
            if isinstance(output, ToolResult):
                state.annotations.extend(output.annotations)
                if output.details is not None and call["type"] != "function":
                    call[call["type"]] = output.details
                output = output.output
            call["function"]["output"] = output

        await asyncio.gather(*(one(c) for c in calls))

    async def _record_tool_round(self, run: RunRecord, state: _State, out: _Output) -> None:
        """All calls of this round ran server-side: store the step and go on."""
        step = self._tool_step(run, out, "completed")
        step.completed_at = now()
        await self._persist(state)  # tool rounds take time: show the run as it goes
        if out.rows is not None:
            self._close(state, out, "completed", None)
        await self.store.tool_round(out.rows, step)
        if out.rows is not None:
            self._emit(run, "thread.message.completed", out.rows.message)
            self._emit(run, "thread.run.step.completed", out.rows.step)
        self._emit(run, "thread.run.step.completed", step)

    async def _call_model(self, run: RunRecord, provider: ModelProvider, request: ModelRequest, out: _Output,
                          setup: _Setup) -> None:
        """One model call, counted (and traced, tracing on)."""
        label = metrics.provider_label(provider)
        began = time.perf_counter()
        try:
            if tracing.ON:
                with tracing.span("model call", "client", {"hilo.provider": label, "gen_ai.request.model": request.model}):
                    await self._stream_model(run, provider, request, out, setup)
            else:
                await self._stream_model(run, provider, request, out, setup)
        except ProviderError as exc:
            metrics.model_call(label, time.perf_counter() - began, exc.code)
            raise
        metrics.model_call(label, time.perf_counter() - began)

    async def _stream_model(self, run: RunRecord, provider: ModelProvider, request: ModelRequest, out: _Output,
                            setup: _Setup) -> None:
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                if not event.text:
                    continue
                first = out.rows is None
                if first:
                    self._answering(run)
                    await self._open_message(run, out)
                out.text.append(event.text)
                if self.bus.wants(run.id):
                    self.bus.publish(run.id, "thread.message.delta", {
                        "id": out.rows.message.id,
                        "object": "thread.message.delta",
                        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": event.text, "annotations": []}}]},
                    })
                    if first:
                        # Let the streams send the first token now, before a fast model's
                        # whole answer and its final write (one loop turn).
                        await asyncio.sleep(0)
            elif isinstance(event, ToolCallDelta):
                self._tool_delta(run, out, event, setup)
            elif isinstance(event, Finish):
                out.finish = event

    def _answering(self, run: RunRecord) -> None:
        """The first text of a model call: the turn's first token, if it is its first."""
        state = self._states.get(run.id)
        if state is not None and not state.answered:
            state.answered = True
            metrics.first_token(metrics.assistant_label(run.assistant_id), time.time() - state.launched)

    async def _open_message(self, run: RunRecord, out: _Output) -> None:
        ts = now()
        message = MessageRecord(
            id=new_id("msg"), thread_id=run.thread_id, created_at=ts, role="assistant",
            content=[], status="in_progress", assistant_id=run.assistant_id, run_id=run.id,
            attachments=[], metadata_={},
        )
        step = RunStepRecord(
            id=new_id("step"), run_id=run.id, thread_id=run.thread_id, assistant_id=run.assistant_id,
            created_at=ts, type="message_creation", status="in_progress",
            step_details={"type": "message_creation", "message_creation": {"message_id": message.id}},
            metadata_={},
        )
        out.rows = OpenRows(message, step)
        state = self._states.get(run.id)
        if state is not None and state.persisted:
            await self._persist(state)
        if self.bus.wants(run.id):
            step_payload, message_payload = objects.step(step), thread_objects.message(message)
            self._emit(run, "thread.run.step.created", payload=step_payload)
            self._emit(run, "thread.run.step.in_progress", payload=step_payload)
            self._emit(run, "thread.message.created", payload=message_payload)
            self._emit(run, "thread.message.in_progress", payload=message_payload)

    def _tool_delta(self, run: RunRecord, out: _Output, delta: ToolCallDelta, setup: _Setup) -> None:
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
        tool = setup.server.get(call["function"]["name"])
        # a built-in kind's call (file_search) is recorded as that kind, as OpenAI does
        call["type"] = _step_type(tool) if tool is not None else "function"
        if out.tool_step_id is None:
            out.tool_step_id = new_id("step")
            if self.bus.wants(run.id):
                payload = self._tool_step_payload(run, out, "in_progress")
                self._emit(run, "thread.run.step.created", payload=payload)
                self._emit(run, "thread.run.step.in_progress", payload=payload)
        if self.bus.wants(run.id):
            kind = call["type"]
            piece = ({kind: {}} if kind != "function" else
                     {"function": {"name": delta.name or call["function"]["name"], "arguments": delta.arguments,
                                   "output": None}})
            self.bus.publish(run.id, "thread.run.step.delta", {
                "id": out.tool_step_id,
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{
                    "index": delta.index, "id": call["id"], "type": kind, **piece,
                }]}},
            })

    def _tool_step_payload(self, run: RunRecord, out: _Output, status: str) -> dict[str, Any]:
        return objects.step(self._tool_step(run, out, status))

    def _tool_step(self, run: RunRecord, out: _Output, status: str) -> RunStepRecord:
        return RunStepRecord(
            id=out.tool_step_id, run_id=run.id, thread_id=run.thread_id, assistant_id=run.assistant_id,
            created_at=now(), type="tool_calls", status=status,
            step_details={"type": "tool_calls", "tool_calls": [out.calls[i] for i in sorted(out.calls)]},
            metadata_={},
            last_error={"code": "server_error", "message": "; ".join(out.tool_errors)[:2000]} if out.tool_errors else None,
        )

    def _close(self, state: _State | None, out: _Output, status: str, usage: dict | None) -> None:
        """Final content and status of the output's message and step, in memory."""
        ts = now()
        msg, step = out.rows.message, out.rows.step
        text = "".join(out.text)
        msg.content = [{"type": "text", "text": {"value": text,
                                                 "annotations": _place(state.annotations if state else (), text)}}]
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

    async def _complete(self, run: RunRecord, state: _State, out: _Output, usage: dict, incomplete: dict | None) -> None:
        """The turn's last write: run, message, step, thread (one statement on PostgreSQL)."""
        status = "incomplete" if incomplete else "completed"
        async with self._final_write(run):
            if out.rows is not None:
                self._close(state, out, status, usage)
            won = await self.store.complete(run, out.rows, usage, incomplete)
        if not won:
            return await self._lost_race(run, out)
        metrics.run_finished(status, metrics.assistant_label(run.assistant_id))
        if out.rows is not None:
            self._emit(run, "thread.message.completed" if status == "completed" else "thread.message.incomplete",
                       out.rows.message)
            self._emit(run, "thread.run.step.completed", out.rows.step)
        self._emit(run, f"thread.run.{status}")

    async def _require_action(self, run: RunRecord, state: _State, out: _Output, usage: dict) -> None:
        calls = [c for i in sorted(out.calls) if (c := out.calls[i])["function"].get("output") is None]
        step = self._tool_step(run, out, "in_progress")
        required = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
                for c in calls
            ]},
        }
        async with self._final_write(run):
            if out.rows is not None:
                self._close(state, out, "completed", None)
            won = await self.store.require_action(run, required, usage, out.rows, step)
        if not won:
            return await self._lost_race(run, out)
        metrics.client_tool_calls(len(calls))
        if out.rows is not None:
            self._emit(run, "thread.message.completed", out.rows.message)
            self._emit(run, "thread.run.step.completed", out.rows.step)
        self._emit(run, "thread.run.requires_action")

    async def _lost_race(self, run: RunRecord, out: _Output) -> None:
        """Someone else (a cancel, an expiry, another process) changed the run first."""
        current = await self.store.get(run.id)
        if current is None:
            return
        if current.status == "cancelling":  # a cancel sent to another process: ours to end
            return await self._end(current, "cancelled", out=out)
        if out.rows is not None:
            self._close(None, out, current.status, None)
            await self.store.close_rows(out.rows)
        self._emit(current, f"thread.run.{current.status}")

    async def _end(self, run: RunRecord, status: str, error: dict | None = None, out: _Output | None = None,
                   incomplete: dict | None = None, note: str | None = None) -> None:
        rows = out.rows if out is not None else None
        async with self._final_write(run):
            if rows is not None:
                self._close(self._states.get(run.id), out, status, None)
            won = await self.store.end(run, status, error, rows, incomplete)
        if not won:
            return
        metrics.run_finished(status, metrics.assistant_label(run.assistant_id))
        if note:
            log.info("run %s %s: %s", run.id, status, note)
        self._emit(run, f"thread.run.{status}")

    # ------------------------------------------------------------------ requests
    async def cancel(self, run_id: str) -> RunRecord | None:
        """Ask to cancel; returns the run as it stands afterwards."""
        run, changed = await self.store.request_cancel(run_id)
        if run is None or not changed:
            return run
        self._emit(run, f"thread.run.{run.status}")  # cancelled (nothing executed it) or cancelling
        if run.status == "cancelled":
            metrics.run_finished("cancelled", metrics.assistant_label(run.assistant_id))
        if run.status == "cancelling":
            # Here, the task ends it now; elsewhere, its process sees `cancelling` (_sweep_forever).
            self.executor.cancel(run_id, "cancelled")
        return run

    async def recover(self) -> int:
        """At start-up: nothing a crash left behind hangs. Returns how many runs were touched."""
        runs = await self.store.left_active()
        for run in runs:
            if run.status == "cancelling":
                await self._end(run, "cancelled")
            else:
                await self._end(run, "failed", {
                    "code": "server_error",
                    "message": "The server restarted while this run was in progress; send the message again.",
                })
        return len(runs)

    async def lost(self, run_id: str, message: str) -> None:
        """The worker executing the run died: end it (never run it again: its tools may have acted)."""
        run = await self.store.get(run_id)
        if run is None or run.status not in ("queued", "in_progress", "cancelling"):
            return
        if run.status == "cancelling":
            await self._end(run, "cancelled")
        else:
            await self._end(run, "failed", {"code": "server_error", "message": message})

    async def expire_due(self) -> int:
        """Expire every active run past its ``expires_at`` (all processes may call this); a
        ``cancelling`` one that nobody finished ends ``cancelled``."""
        due = await self.store.due()
        for run in due:
            if self.executor.cancel(run.id, "expired"):
                continue
            if run.status == "cancelling":
                await self._end(run, "cancelled")
            else:
                await self._end(run, "expired", self._expired_error())
        return len(due)

    async def watch_cancels(self) -> None:
        """Cancel here the runs another process marked ``cancelling``."""
        running = self.executor.running()
        if running:
            for run_id in (await self.store.cancelling()) & running:
                self.executor.cancel(run_id, "cancelled")

    async def _sweep_forever(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(CANCEL_POLL_S)
            ticks += 1
            try:
                await self.watch_cancels()
                await self.executor.sweep()
                if ticks % EXPIRY_EVERY == 0:
                    await self.expire_due()
            except Exception:  # keep sweeping; the database may be back next second
                log.exception("run sweep failed")


def expires_at(settings: Settings) -> int:
    return math.ceil(time.time() + settings.run_timeout)  # never before the timeout


def _place(annotations: Any, text: str) -> list[dict[str, Any]]:
    """The tool results' annotations whose marker the answer quotes, with their place in it."""
    placed, start_from = [], {}
    for annotation in annotations or ():
        marker = annotation.get("text")
        if not marker:
            continue
        at = text.find(marker, start_from.get(marker, 0))
        if at < 0:
            continue
        start_from[marker] = at + len(marker)
        placed.append({**annotation, "start_index": at, "end_index": at + len(marker)})
    return sorted(placed, key=lambda a: a["start_index"])


def _step_type(tool: Any) -> str:
    return getattr(tool, "step_type", None) or "function"


def _merge_resources(*sources: Any) -> dict[str, Any]:
    """tool_resources of the assistant and the thread, together (their vector stores add up)."""
    merged: dict[str, Any] = {}
    for source in sources:
        for kind, value in (source or {}).items():
            if not isinstance(value, dict):
                continue
            into = merged.setdefault(kind, {})
            for key, items in value.items():
                if isinstance(items, list):
                    into[key] = list(dict.fromkeys([*into.get(key, []), *items]))
    return merged


def _tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    if choice.get("type") == "file_search":  # the built-in tool, as the model sees it
        return {"type": "function", "function": {"name": "file_search"}}
    return "auto"


def _add_usage(previous: dict | None, prompt: int, completion: int) -> dict[str, int]:
    prev = previous or {"prompt_tokens": 0, "completion_tokens": 0}
    p = prev.get("prompt_tokens", 0) + int(prompt or 0)
    c = prev.get("completion_tokens", 0) + int(completion or 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


__all__ = ["CANCEL_POLL_S", "RunEngine", "Start", "expires_at"]
