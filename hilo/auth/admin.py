"""/admin: API keys and users (admin scope only)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hilo.api.deps import PageDep, SessionDep
from hilo.api.errors import APIError, not_found
from hilo.auth import keys as api_keys
from hilo.auth.deps import require_admin
from hilo.auth.service import auth_of
from hilo.db import models as m
from hilo.ids import new_id
from hilo.store import now, paginate

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


def user_json(user: m.User) -> dict[str, Any]:
    return {"id": user.id, "object": "user", "created_at": user.created_at, "name": user.name,
            "entitlements": list(user.entitlements or []), "metadata": user.metadata_ or {}}


async def user_by_name(session, name: str, create: bool = True) -> m.User | None:
    """The user of the ``api`` identity ``name`` (how the CLI and admins name users)."""
    link = await session.get(m.Identity, ("api", name))
    if link is not None:
        return await session.get(m.User, link.user_id)
    if not create:
        return None
    user = m.User(id=new_id("user"), created_at=now(), name=name, entitlements=[], metadata_={})
    session.add_all([user, m.Identity(channel="api", subject=name, user_id=user.id, created_at=user.created_at)])
    await session.flush()
    return user


@router.post("/keys")
async def create_key(body: KeyCreate, session: SessionDep):
    if bool(body.user_id) == bool(body.user):
        raise APIError(400, "Give either 'user_id' (an existing user) or 'user' (a user name).", param="user")
    user = await session.get(m.User, body.user_id) if body.user_id else await user_by_name(session, body.user)
    if user is None:
        raise not_found("user", body.user_id)
    row, secret = await api_keys.create(session, user.id, body.scope, body.name)
    await session.commit()
    return {**api_keys.public(row), "secret": secret}


@router.get("/keys")
async def list_keys(session: SessionDep, page: PageDep):
    rows, more = await paginate(session, select(m.ApiKey), m.ApiKey, page.limit, page.order, page.after, page.before)
    return {"object": "list", "data": [api_keys.public(r) for r in rows], "has_more": more}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, session: SessionDep, request: Request):
    row = await api_keys.revoke(session, key_id)
    if row is None:
        raise not_found("api key", key_id)
    await session.commit()
    auth_of(request.app).forget()
    return {**api_keys.public(row), "revoked": True}


@router.post("/users")
async def create_user(body: UserCreate, session: SessionDep):
    if await session.get(m.Identity, ("api", body.name)) is not None:
        raise APIError(409, f"A user named '{body.name}' already exists.", param="name", code="user_exists")
    user = await user_by_name(session, body.name)
    user.entitlements, user.metadata_ = sorted(set(body.entitlements)), body.metadata or {}
    try:
        await session.commit()
    except IntegrityError:
        raise APIError(409, f"A user named '{body.name}' already exists.", param="name", code="user_exists") from None
    return user_json(user)


@router.get("/users")
async def list_users(session: SessionDep, page: PageDep):
    rows, more = await paginate(session, select(m.User), m.User, page.limit, page.order, page.after, page.before)
    return {"object": "list", "data": [user_json(u) for u in rows], "has_more": more}


@router.get("/users/{user_id}")
async def retrieve_user(user_id: str, session: SessionDep):
    user = await session.get(m.User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user_json(user)


@router.patch("/users/{user_id}")
async def update_user(user_id: str, body: UserUpdate, session: SessionDep, request: Request):
    user = await session.get(m.User, user_id)
    if user is None:
        raise not_found("user", user_id)
    if body.name is not None:
        user.name = body.name
    if body.entitlements is not None:
        user.entitlements = sorted(set(body.entitlements))
    if body.metadata is not None:
        user.metadata_ = body.metadata
    await session.commit()
    auth_of(request.app).forget()
    return user_json(user)
