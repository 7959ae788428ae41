"""/v1/threads/{thread_id}/runs and their steps"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from hilo import serialize
from hilo.api.deps import BusDep, EngineDep, PageDep, SessionDep
from hilo.api.errors import bad_request
from hilo.api.messages import check_files, file_ids_of, message_rows
from hilo.api.schemas import RunCreate, RunUpdate, SubmitToolOutputs
from hilo.api.streaming import stream_run
from hilo.auth.deps import PrincipalDep, check_runnable
from hilo.db import models as m
from hilo.engine.runner import ACTIVE
from hilo.runs import StaleAssistant, launch, run_for, start_run, turn_assistant
from hilo.store import get_or_404, now, paginate

router = APIRouter(prefix="/v1/threads/{thread_id}/runs", tags=["runs"])


@router.post("")
async def create_run(thread_id: str, body: RunCreate, request: Request, principal: PrincipalDep):
    # The turn path: statements through hilo.db.hot, no ORM session (v1_guard checked the owner;
    # start_run answers 404 for an unknown thread).
    state = request.app.state
    db, engine, bus = state.db, state.engine, state.bus
    bodies = body.additional_messages or []
    if file_ids_of(bodies):
        async with db.sessionmaker() as session:
            await check_files(session, bodies, principal)
    messages = message_rows(thread_id, bodies)
    async with db.hot.connection() as conn:
        for fresh in (False, True):
            record, digest = await turn_assistant(db, engine, conn, body.assistant_id, fresh)
            assistant = check_runnable(principal, record, body.assistant_id)
            try:
                run = await start_run(db, engine, thread_id, assistant, body, body.additional_instructions,
                                      messages, conn, digest)
                break
            except StaleAssistant:  # changed since this process kept it: read it again, once
                if fresh:
                    raise bad_request(f"Thread {thread_id} is busy; try again.") from None
    if body.stream:
        queue = bus.subscribe(run.id)
        launch(engine, bus, run)
        return stream_run(bus, run.id, queue)
    launch(engine, bus, run)
    return serialize.run(run)


@router.get("")
async def list_runs(thread_id: str, session: SessionDep, page: PageDep):
    await get_or_404(session, m.Thread, thread_id)
    query = select(m.Run).where(m.Run.thread_id == thread_id)
    rows, more = await paginate(session, query, m.Run, page.limit, page.order, page.after, page.before)
    return serialize.page([serialize.run(r) for r in rows], more)


@router.get("/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, session: SessionDep):
    return serialize.run(await run_for(session, thread_id, run_id))


@router.post("/{run_id}")
async def modify_run(thread_id: str, run_id: str, body: RunUpdate, session: SessionDep):
    run = await run_for(session, thread_id, run_id)
    if body.metadata is not None:
        run.metadata_ = body.metadata
    await session.commit()
    return serialize.run(run)


@router.post("/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, session: SessionDep, engine: EngineDep):
    run = await run_for(session, thread_id, run_id)
    if run.status not in ACTIVE:
        raise bad_request(f"Cannot cancel run with status '{run.status}'.")
    await session.close()
    run = await engine.cancel(run_id)
    return serialize.run(run)


@router.post("/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    thread_id: str, run_id: str, body: SubmitToolOutputs, session: SessionDep, engine: EngineDep, bus: BusDep
):
    run = await run_for(session, thread_id, run_id)
    if run.status != "requires_action":
        raise bad_request(f'Runs in status "{run.status}" do not accept tool outputs.')
    expected = [c["id"] for c in run.required_action["submit_tool_outputs"]["tool_calls"]]
    given = [o.tool_call_id for o in body.tool_outputs]
    if len(set(given)) != len(given):
        raise bad_request("Each tool_call_id may appear only once in tool_outputs.", param="tool_outputs")
    if set(given) != set(expected):
        missing = sorted(set(expected) - set(given))
        unknown = sorted(set(given) - set(expected))
        detail = f"missing outputs for {missing}" if missing else f"unknown tool_call_id {unknown}"
        raise bad_request(f"Expected tool outputs for call_ids {expected}, got {given}: {detail}.", param="tool_outputs")
    outputs = {o.tool_call_id: o.output for o in body.tool_outputs}
    step = await session.scalar(
        select(m.RunStep).where(m.RunStep.run_id == run_id, m.RunStep.type == "tool_calls",
                                m.RunStep.status == "in_progress")
    )
    if step is not None:
        details = dict(step.step_details)
        details["tool_calls"] = [
            {**c, "function": {**c["function"], "output": outputs.get(c["id"], c["function"].get("output"))}}
            for c in details["tool_calls"]
        ]
        step.step_details = details
        step.status = "completed"
        step.completed_at = now()
    if not await engine.transition(session, run, ("requires_action",), status="queued", required_action=None):
        await session.rollback()
        raise bad_request("The run is no longer waiting for tool outputs.")
    await session.commit()
    queue = bus.subscribe(run.id) if body.stream else None
    if step is not None and bus.wants(run.id):
        bus.publish(run.id, "thread.run.step.completed", serialize.step(step))
    if bus.wants(run.id):
        bus.publish(run.id, "thread.run.queued", serialize.run(run))
    engine.start(run.id)
    if queue is not None:
        return stream_run(bus, run.id, queue)
    return serialize.run(run)


@router.get("/{run_id}/steps")
async def list_steps(thread_id: str, run_id: str, session: SessionDep, page: PageDep):
    await run_for(session, thread_id, run_id)
    query = select(m.RunStep).where(m.RunStep.run_id == run_id)
    rows, more = await paginate(session, query, m.RunStep, page.limit, page.order, page.after, page.before)
    return serialize.page([serialize.step(s) for s in rows], more)


@router.get("/{run_id}/steps/{step_id}")
async def retrieve_step(thread_id: str, run_id: str, step_id: str, session: SessionDep):
    await run_for(session, thread_id, run_id)
    return serialize.step(await get_or_404(session, m.RunStep, step_id, run_id=run_id))
