"""/v1/threads and /v1/threads/runs (create-and-run)"""

from __future__ import annotations

from fastapi import APIRouter

from hilo.api.deps import PrincipalDep, RunsDep, SessionDep, SettingsDep
from hilo.api.streaming import stream_turn
from hilo.kit.pagination import get_or_404
from hilo.knowledge import resources
from hilo.runs import objects as run_objects
from hilo.runs.schemas import ThreadAndRunCreate, options_of
from hilo.runs.service import NewThread
from hilo.threads import objects, service
from hilo.threads.messages import check_content_sizes
from hilo.threads.models import Thread
from hilo.threads.schemas import ThreadCreate, ThreadUpdate

router = APIRouter(prefix="/v1/threads", tags=["threads"])


@router.post("")
async def create_thread(session: SessionDep, principal: PrincipalDep, settings: SettingsDep,
                        body: ThreadCreate | None = None):
    if body is not None:
        check_content_sizes(body.messages, settings.max_message_content_chars, "messages")
    thread = await service.create_thread(session, principal, body)
    await session.commit()
    return objects.thread(thread)


@router.post("/runs")
async def create_thread_and_run(body: ThreadAndRunCreate, runs: RunsDep, principal: PrincipalDep):
    thread_body = body.thread or ThreadCreate()
    check_content_sizes(thread_body.messages, runs.settings.max_message_content_chars, "thread.messages")
    if body.tool_resources is not None and thread_body.tool_resources is None:
        thread_body.tool_resources = body.tool_resources
    async with runs.store.db.sessionmaker() as session:  # stores it names or its attachments make
        thread_body = await service.prepare(session, principal, thread_body)
    turn = await runs.start(principal, body.assistant_id, NewThread(thread_body), options=options_of(body),
                            watch=bool(body.stream))
    if body.stream:
        return stream_turn(runs.bus, turn, first=[("thread.created", objects.thread(turn.thread))])
    return run_objects.run(turn.run)


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, session: SessionDep):
    return objects.thread(await get_or_404(session, Thread, thread_id))


@router.post("/{thread_id}")
async def modify_thread(thread_id: str, body: ThreadUpdate, session: SessionDep, principal: PrincipalDep):
    thread = await get_or_404(session, Thread, thread_id)
    if body.metadata is not None:
        thread.metadata_ = body.metadata
    if body.tool_resources is not None:
        thread.tool_resources = await resources.resolve(session, principal, body.tool_resources)
    await session.commit()
    return objects.thread(thread)


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, session: SessionDep, runs: RunsDep):
    thread = await get_or_404(session, Thread, thread_id)
    if thread.active_run_id:
        await runs.engine.cancel(thread.active_run_id)
    await runs.store.delete_thread_runs(session, thread_id)
    await service.delete_thread_rows(session, thread_id)
    await session.commit()
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
