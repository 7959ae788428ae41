"""/v1/assistants"""

from __future__ import annotations

from fastapi import APIRouter

from hilo.api.deps import PageDep, PrincipalDep, SessionDep, ToolsDep
from hilo.assistants import objects, service
from hilo.assistants.models import Assistant
from hilo.assistants.schemas import AssistantCreate, AssistantUpdate
from hilo.kit.pagination import get_or_404, page_of

router = APIRouter(prefix="/v1/assistants", tags=["assistants"])


@router.post("")
async def create_assistant(body: AssistantCreate, session: SessionDep, tools: ToolsDep, principal: PrincipalDep):
    return objects.assistant(await service.create(session, tools, principal, body))


@router.get("")
async def list_assistants(session: SessionDep, page: PageDep, principal: PrincipalDep):
    rows, more = await service.listing(session, principal, page)
    return page_of([objects.assistant(a) for a in rows], more)


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, session: SessionDep):
    return objects.assistant(await get_or_404(session, Assistant, assistant_id))


@router.post("/{assistant_id}")
async def modify_assistant(assistant_id: str, body: AssistantUpdate, session: SessionDep, tools: ToolsDep,
                           principal: PrincipalDep):
    assistant = await get_or_404(session, Assistant, assistant_id)
    return objects.assistant(await service.update(session, tools, assistant, body, principal))


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, session: SessionDep):
    assistant = await get_or_404(session, Assistant, assistant_id)
    await session.delete(assistant)
    await session.commit()
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}
