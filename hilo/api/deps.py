"""Typed dependencies, declared once: the session, settings, the run service, the page, the
principal, and admin-only routes.

Every dependency is ``async def``: FastAPI runs plain ``def`` ones in its thread pool,
a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.identity import Principal, sessions
from hilo.identity.service import AuthService
from hilo.kit.config import Settings
from hilo.kit.errors import forbidden
from hilo.kit.pagination import Page
from hilo.runs.service import RunService
from hilo.tools import ToolRegistry


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessionmaker() as session:
        yield session


async def _runs(request: Request) -> RunService:
    return request.app.state.runs


async def _tools(request: Request) -> ToolRegistry:
    return request.app.state.tools


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _auth(request: Request) -> AuthService:
    return request.app.state.auth


async def _page(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    before: str | None = None,
) -> Page:
    return Page(limit, order, after, before)


async def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        auth, header = request.app.state.auth, request.headers.get("authorization")
        cookie = request.cookies.get(sessions.COOKIE) if header is None and auth.enabled else None
        if cookie:  # the web pages: a session cookie, with its CSRF header on state-changing requests
            principal = await auth.from_session(request.app.state.db, cookie, request.method,
                                                request.headers.get(sessions.CSRF_HEADER))
        else:
            principal = await auth.authenticate(request.app.state.db, header)
        request.state.principal = principal
    return principal


SessionDep = Annotated[AsyncSession, Depends(_session)]
RunsDep = Annotated[RunService, Depends(_runs)]
ToolsDep = Annotated[ToolRegistry, Depends(_tools)]
SettingsDep = Annotated[Settings, Depends(_settings)]
AuthDep = Annotated[AuthService, Depends(_auth)]
PageDep = Annotated[Page, Depends(_page)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def require_admin(request: Request, principal: PrincipalDep) -> Principal:
    await request.app.state.auth.limit(principal)
    if not principal.is_admin:
        raise forbidden("This endpoint needs an admin key.")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]

__all__ = ["AdminDep", "AuthDep", "PageDep", "PrincipalDep", "RunsDep", "SessionDep", "SettingsDep", "ToolsDep",
           "current_principal", "require_admin"]
