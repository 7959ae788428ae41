"""/v1/threads/{thread_id}/runs and their steps"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from hilo.api.deps import PageDep, PrincipalDep, RunsDep, SessionDep
from hilo.api.streaming import stream_turn
from hilo.kit.errors import bad_request
from hilo.kit.ids import created_ms
from hilo.kit.pagination import get_or_404, page_of, paginate
from hilo.runs import objects
from hilo.runs.models import Run, RunStep
from hilo.runs.schemas import RunCreate, RunUpdate, SubmitToolOutputs, options_of
from hilo.runs.service import Turn
from hilo.runs.states import RUNNING, poll_after_ms
from hilo.threads.messages import check_content_sizes
from hilo.threads.models import Thread

router = APIRouter(prefix="/v1/threads/{thread_id}/runs", tags=["runs"])


INCLUDES = frozenset({objects.FILE_SEARCH_CONTENT})


def includes(request: Request) -> frozenset[str]:
    """``include[]`` (the SDK's spelling) or ``include``: the extra fields asked for."""
    asked = frozenset(request.query_params.getlist("include[]") + request.query_params.getlist("include"))
    for value in sorted(asked - INCLUDES):
        raise bad_request(f"Invalid include value '{value}'. Supported: {sorted(INCLUDES)}.", param="include")
    return asked


def step_rereader(session_maker, include: frozenset[str]):
    """For a stream with ``include[]``: each completed step again, read as stored, with its passages."""
    async def reread(_name: str, payload: Any) -> Any:
        details = payload.get("step_details") or {} if isinstance(payload, dict) else {}
        if not any(c.get("type") == "file_search" for c in details.get("tool_calls") or ()):
            return payload
        async with session_maker() as session:
            row = await session.get(RunStep, payload["id"])
        return objects.step(row, include) if row is not None else payload
    return reread


@router.post("")
async def create_run(thread_id: str, body: RunCreate, runs: RunsDep, principal: PrincipalDep, request: Request):
    check_content_sizes(body.additional_messages, runs.settings.max_message_content_chars, "additional_messages")
    include = includes(request)
    # The turn path (v1_guard checked the thread's owner; an unknown thread is a 404 from the store).
    turn = await runs.start(principal, body.assistant_id, thread_id, body.additional_messages or (),
                            options_of(body, body.additional_instructions), watch=bool(body.stream))
    if body.stream:
        return stream_turn(runs.bus, turn,
                           completed_steps=step_rereader(runs.store.db.sessionmaker, include) if include else None)
    return objects.run(turn.run)


@router.get("")
async def list_runs(thread_id: str, session: SessionDep, page: PageDep):
    await get_or_404(session, Thread, thread_id)
    rows, more = await paginate(session, select(Run).where(Run.thread_id == thread_id), Run, page)
    return page_of([objects.run(r) for r in rows], more)


def _poll_hint(response: Response, run) -> None:
    """Tell an SDK poller when to look again (``openai-poll-after-ms``, see runs.states)."""
    if run.status in RUNNING or run.status == "cancelling":
        born = created_ms(run.id)
        age = time.time_ns() // 1_000_000 - born if born else 0
        response.headers["openai-poll-after-ms"] = str(poll_after_ms(age))


@router.get("/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, runs: RunsDep, response: Response):
    run = await runs.run_in(thread_id, run_id)
    _poll_hint(response, run)
    return objects.run(run)


@router.post("/{run_id}")
async def modify_run(thread_id: str, run_id: str, body: RunUpdate, runs: RunsDep):
    run = await runs.run_in(thread_id, run_id)
    if body.metadata is not None:
        await runs.store.set_metadata(run_id, body.metadata)
        run.metadata_ = body.metadata
    return objects.run(run)


@router.post("/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, runs: RunsDep):
    return objects.run(await runs.cancel(thread_id, run_id))


@router.post("/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(thread_id: str, run_id: str, body: SubmitToolOutputs, runs: RunsDep):
    outputs = [(o.tool_call_id, o.output) for o in body.tool_outputs]
    run, queue = await runs.submit_tool_outputs(thread_id, run_id, outputs, watch=bool(body.stream))
    if queue is not None:
        return stream_turn(runs.bus, Turn(run, events=queue))
    return objects.run(run)


@router.get("/{run_id}/steps")
async def list_steps(thread_id: str, run_id: str, session: SessionDep, runs: RunsDep, page: PageDep,
                     request: Request):
    include = includes(request)
    await runs.run_in(thread_id, run_id)
    rows, more = await paginate(session, select(RunStep).where(RunStep.run_id == run_id), RunStep, page)
    return page_of([objects.step(s, include) for s in rows], more)


@router.get("/{run_id}/steps/{step_id}")
async def retrieve_step(thread_id: str, run_id: str, step_id: str, session: SessionDep, runs: RunsDep,
                        request: Request):
    include = includes(request)
    await runs.run_in(thread_id, run_id)
    return objects.step(await get_or_404(session, RunStep, step_id, run_id=run_id), include)
