"""/v1/threads and /v1/threads/runs (create-and-run)"""

from __future__ import annotations

from fastapi import APIRouter

from hilo import serialize
from hilo.api.deps import BusDep, EngineDep, SessionDep
from hilo.api.messages import build_messages
from hilo.api.schemas import ThreadAndRunCreate, ThreadCreate, ThreadUpdate
from hilo.api.streaming import stream_run
from hilo.auth import Principal
from hilo.auth.deps import PrincipalDep, owner_for, runnable_assistant
from hilo.db import models as m
from hilo.ids import new_id
from hilo.runs import launch, new_run
from hilo.store import get_or_404, now

router = APIRouter(prefix="/v1/threads", tags=["threads"])


async def _create_thread(session, body: ThreadCreate | None, principal: Principal) -> m.Thread:
    body = body or ThreadCreate()
    thread = m.Thread(id=new_id("thread"), created_at=now(), metadata_=body.metadata or {},
                      tool_resources=body.tool_resources, user_id=owner_for(principal, m.Thread))
    session.add(thread)
    await session.flush()
    if body.messages:
        await build_messages(session, thread.id, body.messages, principal)
    return thread


@router.post("")
async def create_thread(session: SessionDep, principal: PrincipalDep, body: ThreadCreate | None = None):
    thread = await _create_thread(session, body, principal)
    await session.commit()
    return serialize.thread(thread)


@router.post("/runs")
async def create_thread_and_run(body: ThreadAndRunCreate, session: SessionDep, engine: EngineDep, bus: BusDep,
                                principal: PrincipalDep):
    await runnable_assistant(session, principal, body.assistant_id)
    thread_body = body.thread or ThreadCreate()
    if body.tool_resources is not None and thread_body.tool_resources is None:
        thread_body.tool_resources = body.tool_resources
    thread = await _create_thread(session, thread_body, principal)
    run = await new_run(session, engine, thread.id, body.assistant_id, body)
    await session.commit()
    if body.stream:
        queue = bus.subscribe(run.id)
        launch(engine, bus, run)
        return stream_run(bus, run.id, queue, first=[("thread.created", serialize.thread(thread))])
    launch(engine, bus, run)
    return serialize.run(run)


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, session: SessionDep):
    return serialize.thread(await get_or_404(session, m.Thread, thread_id))


@router.post("/{thread_id}")
async def modify_thread(thread_id: str, body: ThreadUpdate, session: SessionDep):
    thread = await get_or_404(session, m.Thread, thread_id)
    if body.metadata is not None:
        thread.metadata_ = body.metadata
    if body.tool_resources is not None:
        thread.tool_resources = body.tool_resources
    await session.commit()
    return serialize.thread(thread)


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, session: SessionDep, engine: EngineDep):
    from sqlalchemy import delete

    thread = await get_or_404(session, m.Thread, thread_id)
    if thread.active_run_id:
        await engine.cancel(thread.active_run_id)
    for model in (m.Message, m.RunStep, m.Run):
        await session.execute(delete(model).where(model.thread_id == thread_id))
    await session.delete(thread)
    await session.commit()
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
