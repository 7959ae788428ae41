"""/v1/assistants"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from hilo import serialize
from hilo.api.deps import PageDep, SessionDep
from hilo.api.schemas import AssistantCreate, AssistantUpdate, dump_response_format, dump_tools
from hilo.auth.deps import PrincipalDep, owner_for, visible
from hilo.db import models as m
from hilo.ids import new_id
from hilo.store import get_or_404, now, paginate

router = APIRouter(prefix="/v1/assistants", tags=["assistants"])


@router.post("")
async def create_assistant(body: AssistantCreate, session: SessionDep, principal: PrincipalDep):
    assistant = m.Assistant(
        id=new_id("asst"), created_at=now(), model=body.model, name=body.name,
        description=body.description, instructions=body.instructions,
        tools=dump_tools(body.tools) or [], tool_resources=body.tool_resources,
        metadata_=body.metadata or {}, temperature=body.temperature, top_p=body.top_p,
        response_format=dump_response_format(body.response_format),
        user_id=owner_for(principal, m.Assistant),
    )
    session.add(assistant)
    await session.commit()
    return serialize.assistant(assistant)


@router.get("")
async def list_assistants(session: SessionDep, page: PageDep, principal: PrincipalDep):
    query = visible(principal, m.Assistant, select(m.Assistant))
    rows, more = await paginate(session, query, m.Assistant, page.limit, page.order, page.after, page.before)
    return serialize.page([serialize.assistant(a) for a in rows], more)


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, session: SessionDep):
    return serialize.assistant(await get_or_404(session, m.Assistant, assistant_id))


@router.post("/{assistant_id}")
async def modify_assistant(assistant_id: str, body: AssistantUpdate, session: SessionDep):
    assistant = await get_or_404(session, m.Assistant, assistant_id)
    for key, value in body.model_dump(exclude_unset=True).items():
        if key == "tools":
            value = dump_tools(body.tools) or []
        elif key == "response_format":
            value = dump_response_format(body.response_format)
        elif key == "metadata":
            key, value = "metadata_", value or {}
        elif key == "reasoning_effort":
            continue
        elif key == "model" and value is None:
            continue
        setattr(assistant, key, value)
    await session.commit()
    return serialize.assistant(assistant)


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, session: SessionDep):
    assistant = await get_or_404(session, m.Assistant, assistant_id)
    await session.delete(assistant)
    await session.commit()
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}
