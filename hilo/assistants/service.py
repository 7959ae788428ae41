"""Assistants: create, change, list and delete them, with their tools checked.

Every tool an assistant lists must be one this server runs (a registered kind) and, for a
restricted server-side tool, one its owner may use (:mod:`hilo.tools.permissions`): a 400 names
the tool otherwise, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.assistants.models import Assistant
from hilo.assistants.schemas import AssistantCreate, AssistantUpdate, dump_response_format
from hilo.identity import Principal
from hilo.identity.policy import owner_of_new, visible
from hilo.kit.ids import new_id, now
from hilo.kit.pagination import Page, paginate
from hilo.knowledge import resources
from hilo.tools import ToolRegistry
from hilo.tools.schemas import dump_tools


async def create(session: AsyncSession, tools: ToolRegistry, principal: Principal, body: AssistantCreate) -> Assistant:
    owner = owner_of_new(principal, shared=True)
    tool_list = dump_tools(body.tools) or []
    await tools.validate(tool_list, owner)
    tool_resources = await resources.resolve(session, principal, body.tool_resources)
    assistant = Assistant(
        id=new_id("asst"), created_at=now(), model=body.model, name=body.name,
        description=body.description, instructions=body.instructions,
        tools=tool_list, tool_resources=tool_resources,
        metadata_=body.metadata or {}, temperature=body.temperature, top_p=body.top_p,
        response_format=dump_response_format(body.response_format), user_id=owner,
    )
    session.add(assistant)
    await session.commit()
    return assistant


async def update(session: AsyncSession, tools: ToolRegistry, assistant: Assistant, body: AssistantUpdate,
                 principal: Principal) -> Assistant:
    changes: dict[str, Any] = {}
    for key, value in body.model_dump(exclude_unset=True).items():
        if key == "tools":
            value = dump_tools(body.tools) or []
            await tools.validate(value, assistant.user_id)
        elif key == "tool_resources":
            value = await resources.resolve(session, principal, value)
        elif key == "response_format":
            value = dump_response_format(body.response_format)
        elif key == "metadata":
            key, value = "metadata_", value or {}
        elif key == "reasoning_effort" or (key == "model" and value is None):
            continue
        changes[key] = value
    for key, value in changes.items():
        setattr(assistant, key, value)
    await session.commit()
    return assistant


async def listing(session: AsyncSession, principal: Principal, page: Page) -> tuple[list[Assistant], bool]:
    query = select(Assistant)
    narrowed = visible(principal, Assistant.user_id, shared=True)
    if narrowed is not None:
        query = query.where(narrowed)
    return await paginate(session, query, Assistant, page)


__all__ = ["create", "listing", "update"]
