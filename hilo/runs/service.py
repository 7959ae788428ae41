"""The one way to start a turn, and the requests that act on a run.

Every entry ends in :meth:`RunService.start`: the ``/v1`` runs route, create-and-run, the seed
facade, the WebSocket, WhatsApp (and later the web chat and the council). It takes plain domain
values: who calls (a :class:`~hilo.identity.Principal`), which thread (an id, the caller's
:class:`ActiveThread` with the assistant, or a :class:`NewThread`), which assistant, the new
messages, and :class:`~hilo.runs.options.RunOptions`. It checks the caller may run the assistant
(:mod:`hilo.identity.policy`) and use the tools the run lists (:mod:`hilo.tools.permissions`),
stores the queued run with its messages in one transaction (:mod:`hilo.runs.store`), and hands it
to the engine's executor. A busy thread is :class:`~hilo.runs.store.ThreadBusy`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hilo.assistants.models import AssistantRecord
from hilo.identity import Principal
from hilo.identity.policy import check_runnable
from hilo.kit.bus import Event, EventBus
from hilo.kit.config import Settings
from hilo.kit.errors import bad_request, not_found
from hilo.kit.ids import new_id, now
from hilo.runs import objects
from hilo.runs.engine import RunEngine, expires_at
from hilo.runs.models import RunRecord, RunStepRecord
from hilo.runs.options import DEFAULT, UNSET, RunOptions
from hilo.runs.states import ACTIVE, TERMINAL_EVENTS
from hilo.runs.store import RunStore, StaleAssistant, ThreadBusy
from hilo.threads.active import active_thread
from hilo.threads.messages import check_files, file_ids_of, new_messages
from hilo.threads.models import ThreadRecord
from hilo.threads.schemas import MessageCreate, ThreadCreate
from hilo.threads.service import new_thread
from hilo.tools import ToolRegistry


@dataclass(slots=True, frozen=True)
class ActiveThread:
    """The user's current thread with the assistant (created on first use)."""

    user_id: str


@dataclass(slots=True, frozen=True)
class NewThread:
    """A thread created with the run (create-and-run), with its first messages."""

    body: ThreadCreate | None = None


ThreadRef = str | ActiveThread | NewThread


@dataclass(slots=True)
class Turn:
    run: RunRecord
    thread: ThreadRecord | None = None  # the thread this turn created
    events: asyncio.Queue[Event] | None = None  # the run's events, when watched


class RunService:
    def __init__(self, store: RunStore, engine: RunEngine, bus: EventBus, settings: Settings, tools: ToolRegistry):
        self.store, self.engine, self.bus, self.settings, self.tools = store, engine, bus, settings, tools
        self.db = store.db

    # ------------------------------------------------------------------ starting a turn
    async def start(self, caller: Principal, assistant_id: str, thread: ThreadRef,
                    messages: Sequence[MessageCreate] = (), options: RunOptions = DEFAULT, *,
                    watch: bool = False) -> Turn:
        """Store a queued run (with ``messages``) and hand it to the executor.

        ``watch``: subscribe to the run's events before it starts (``Turn.events``). Raises 404
        (unknown assistant or thread), 403 (a missing entitlement), 400 (bad files or tools),
        :class:`ThreadBusy` (the thread has an active run); nothing is stored then."""
        created: ThreadRecord | None = None
        if isinstance(thread, ActiveThread):
            thread_id = await active_thread(self.db, thread.user_id, assistant_id)
        elif isinstance(thread, NewThread):
            created = new_thread(caller, thread.body)
            thread_id = created.id
            messages = [*((thread.body.messages if thread.body else None) or ()), *messages]
        else:
            thread_id = thread
        records = new_messages(thread_id, messages)
        if file_ids_of(records):
            async with self.db.sessionmaker() as session:
                await check_files(session, records, caller)
        if options.tools is not None:
            await self.tools.validate(options.tools, None if caller.is_admin else caller.user_id)
        async with self.db.hot.connection() as conn:
            for fresh in (False, True):
                assistant, digest = await self.store.assistant(conn, assistant_id, fresh)
                check_runnable(caller, assistant, assistant_id)
                run = self._queued(caller, thread_id, assistant, options)
                try:
                    await self.store.start(run, records, thread=created, reader=conn, digest=digest)
                    break
                except StaleAssistant:  # changed since this process kept it: read it again, once
                    if fresh:
                        raise bad_request(f"Thread {thread_id} is busy; try again.") from None
        queue = await self.bus.subscribe(run.id, fresh=True) if watch else None
        self.engine.launch(run, assistant)
        return Turn(run, created, queue)

    def _queued(self, caller: Principal, thread_id: str, assistant: AssistantRecord, options: RunOptions) -> RunRecord:
        """A queued run as ``options`` and the assistant define it."""
        instructions = assistant.instructions if options.instructions is UNSET else options.instructions
        if options.additional_instructions:
            extra = options.additional_instructions
            instructions = f"{instructions}\n\n{extra}" if instructions else extra
        return RunRecord(
            id=new_id("run"), thread_id=thread_id, assistant_id=assistant.id, created_at=now(),
            status="queued", expires_at=expires_at(self.settings),
            model=options.model or assistant.model,
            instructions=instructions,
            tools=options.tools if options.tools is not None else (assistant.tools or []),
            metadata_=options.metadata or {},
            temperature=options.temperature if options.temperature is not None else assistant.temperature,
            top_p=options.top_p if options.top_p is not None else assistant.top_p,
            max_prompt_tokens=options.max_prompt_tokens,
            max_completion_tokens=options.max_completion_tokens,
            truncation_strategy=options.truncation_strategy or {"type": "auto", "last_messages": None},
            response_format=options.response_format if options.response_format is not None else assistant.response_format,
            tool_choice=options.tool_choice or "auto",
            parallel_tool_calls=True if options.parallel_tool_calls is None else options.parallel_tool_calls,
            user_id=caller.user_id, caller_scope=caller.scope,
        )

    async def wait_until_free(self, busy: ThreadBusy, seconds: float) -> None:
        """Wait (at most ``seconds``) for the run that holds a thread to stop."""
        queue = await self.bus.subscribe(busy.run_id)
        try:
            current = await self.store.get(busy.run_id)
            if current is None or current.status not in ACTIVE or current.status == "requires_action":
                return
            await wait_for_end(queue, seconds)
        except TimeoutError:
            return
        finally:
            self.bus.unsubscribe(busy.run_id, queue)

    async def runnable(self, caller: Principal, assistant_id: str) -> AssistantRecord:
        """The assistant, if the caller may run it (a channel asks before its first turn)."""
        async with self.db.hot.connection() as conn:
            assistant, _digest = await self.store.assistant(conn, assistant_id)
        return check_runnable(caller, assistant, assistant_id)

    # ------------------------------------------------------------------ acting on a run
    async def run_in(self, thread_id: str, run_id: str) -> RunRecord:
        run = await self.store.get(run_id)
        if run is None or run.thread_id != thread_id:
            raise not_found("run", run_id)
        return run

    async def cancel(self, thread_id: str, run_id: str) -> RunRecord:
        run = await self.run_in(thread_id, run_id)
        if run.status not in ACTIVE:
            raise bad_request(f"Cannot cancel run with status '{run.status}'.")
        return await self.engine.cancel(run_id) or run

    async def submit_tool_outputs(self, thread_id: str, run_id: str, outputs: Sequence[Any], *,
                                  watch: bool = False) -> tuple[RunRecord, asyncio.Queue | None]:
        """``outputs``: (tool_call_id, output) pairs, one per call the run waits for."""
        run = await self.run_in(thread_id, run_id)
        if run.status != "requires_action":
            raise bad_request(f'Runs in status "{run.status}" do not accept tool outputs.')
        expected = [c["id"] for c in run.required_action["submit_tool_outputs"]["tool_calls"]]
        given = [call_id for call_id, _ in outputs]
        if len(set(given)) != len(given):
            raise bad_request("Each tool_call_id may appear only once in tool_outputs.", param="tool_outputs")
        if set(given) != set(expected):
            missing = sorted(set(expected) - set(given))
            unknown = sorted(set(given) - set(expected))
            detail = f"missing outputs for {missing}" if missing else f"unknown tool_call_id {unknown}"
            raise bad_request(f"Expected tool outputs for call_ids {expected}, got {given}: {detail}.",
                              param="tool_outputs")
        step: RunStepRecord | None = await self.store.submit_tool_outputs(run, dict(outputs))
        queue = await self.bus.subscribe(run.id) if watch else None
        if self.bus.wants(run.id):
            if step is not None:
                self.bus.publish(run.id, "thread.run.step.completed", objects.step(step))
            self.bus.publish(run.id, "thread.run.queued", objects.run(run))
        self.engine.resume(run)
        return run, queue


async def wait_for_end(queue: asyncio.Queue[Event], seconds: float) -> tuple[str, Any]:
    """The first event that ends a run's stream (raises TimeoutError)."""
    async with asyncio.timeout(seconds):
        while True:
            event, payload = await queue.get()
            if event in TERMINAL_EVENTS:
                return event, payload


__all__ = ["ActiveThread", "NewThread", "RunService", "ThreadBusy", "ThreadRef", "Turn", "wait_for_end"]
