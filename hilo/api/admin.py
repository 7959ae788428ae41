"""/admin: API keys, users and tool grants (admin scope only)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hilo.api.deps import PageDep, SessionDep, ToolsDep, require_admin
from hilo.identity import keys as api_keys
from hilo.identity.models import ApiKey, User
from hilo.identity.users import user_by_name
from hilo.kit.errors import Conflict, InvalidRequest, not_found
from hilo.kit.pagination import paginate
from hilo.tools.permissions import EVERYONE

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyCreate(_Strict):
    scope: Literal["admin", "user"] = "user"
    user_id: str | None = None  # an existing user ...
    user: str | None = Field(default=None, max_length=256)  # ... or a user name (found or created)
    name: str | None = Field(default=None, max_length=256)


class UserCreate(_Strict):
    name: str = Field(min_length=1, max_length=256)
    entitlements: list[str] = Field(default_factory=list, max_length=64)
    metadata: dict[str, str] | None = None


class UserUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    entitlements: list[str] | None = Field(default=None, max_length=64)
    metadata: dict[str, str] | None = None


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "object": "user", "created_at": user.created_at, "name": user.name,
            "entitlements": list(user.entitlements or []), "metadata": user.metadata_ or {}}


@router.post("/keys")
async def create_key(body: KeyCreate, session: SessionDep):
    if bool(body.user_id) == bool(body.user):
        raise InvalidRequest("Give either 'user_id' (an existing user) or 'user' (a user name).", param="user")
    user = await session.get(User, body.user_id) if body.user_id else await user_by_name(session, body.user)
    if user is None:
        raise not_found("user", body.user_id)
    row, secret = await api_keys.create(session, user.id, body.scope, body.name)
    await session.commit()
    return {**api_keys.public(row), "secret": secret}


@router.get("/keys")
async def list_keys(session: SessionDep, page: PageDep):
    rows, more = await paginate(session, select(ApiKey), ApiKey, page)
    return {"object": "list", "data": [api_keys.public(r) for r in rows], "has_more": more}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, session: SessionDep, request: Request):
    row = await api_keys.revoke(session, key_id)
    if row is None:
        raise not_found("api key", key_id)
    await session.commit()
    request.app.state.auth.forget()
    return {**api_keys.public(row), "revoked": True}


@router.post("/users")
async def create_user(body: UserCreate, session: SessionDep):
    if await user_by_name(session, body.name, create=False) is not None:
        raise Conflict(f"A user named '{body.name}' already exists.", param="name", code="user_exists")
    user = await user_by_name(session, body.name)
    user.entitlements, user.metadata_ = sorted(set(body.entitlements)), body.metadata or {}
    try:
        await session.commit()
    except IntegrityError:
        raise Conflict(f"A user named '{body.name}' already exists.", param="name", code="user_exists") from None
    return user_json(user)


@router.get("/users")
async def list_users(session: SessionDep, page: PageDep):
    rows, more = await paginate(session, select(User), User, page)
    return {"object": "list", "data": [user_json(u) for u in rows], "has_more": more}


@router.get("/users/{user_id}")
async def retrieve_user(user_id: str, session: SessionDep):
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user_json(user)


@router.patch("/users/{user_id}")
async def update_user(user_id: str, body: UserUpdate, session: SessionDep, request: Request):
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    if body.name is not None:
        user.name = body.name
    if body.entitlements is not None:
        user.entitlements = sorted(set(body.entitlements))
    if body.metadata is not None:
        user.metadata_ = body.metadata
    await session.commit()
    request.app.state.auth.forget()
    return user_json(user)


# ---------------------------------------------------------------- tools and who may use them


def _tool_json(tools, name: str, grants: dict[str, frozenset[str]]) -> dict[str, Any]:
    tool = tools.get(name)
    return {"object": "tool", "name": name, "description": tool.description, "pack": tools.packs.get(name),
            "access": getattr(tool, "access", "restricted"), "grants": sorted(grants.get(name, ()))}


def _known_tool(tools, name: str) -> None:
    if name not in tools:
        raise not_found("tool", name)


@router.get("/tools")
async def list_tools(tools: ToolsDep):
    grants = await tools.policy.grants()
    return {"object": "list", "data": [_tool_json(tools, name, grants) for name in tools.names()], "has_more": False}


@router.get("/tools/{name}")
async def retrieve_tool(name: str, tools: ToolsDep):
    _known_tool(tools, name)
    return _tool_json(tools, name, await tools.policy.grants())


@router.put("/tools/{name}/grants/{user_id}")
async def grant_tool(name: str, user_id: str, tools: ToolsDep, session: SessionDep):
    """Let the assistants of ``user_id`` (``*``: every user) use the restricted tool ``name``."""
    _known_tool(tools, name)
    if user_id != EVERYONE and await session.get(User, user_id) is None:
        raise not_found("user", user_id)
    await tools.policy.grant(name, user_id)
    return _tool_json(tools, name, await tools.policy.grants())


@router.delete("/tools/{name}/grants/{user_id}")
async def revoke_tool(name: str, user_id: str, tools: ToolsDep):
    _known_tool(tools, name)
    if not await tools.policy.revoke(name, user_id):
        raise not_found("tool grant", f"{name}/{user_id}")
    return _tool_json(tools, name, await tools.policy.grants())
