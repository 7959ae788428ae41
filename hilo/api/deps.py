"""Typed dependencies, declared once.

Every dependency is ``async def``: FastAPI runs plain ``def`` ones in its thread pool,
a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.config import Settings
from hilo.engine.events import EventBus
from hilo.engine.runner import RunEngine


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessionmaker() as session:
        yield session


async def _engine(request: Request) -> RunEngine:
    return request.app.state.engine


async def _bus(request: Request) -> EventBus:
    return request.app.state.bus


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(_session)]
EngineDep = Annotated[RunEngine, Depends(_engine)]
BusDep = Annotated[EventBus, Depends(_bus)]
SettingsDep = Annotated[Settings, Depends(_settings)]


class Page:
    """``limit``, ``order``, ``after``, ``before`` as OpenAI's list endpoints take them."""

    __slots__ = ("limit", "order", "after", "before")

    def __init__(self, limit: int, order: str, after: str | None, before: str | None):
        self.limit, self.order, self.after, self.before = limit, order, after, before


async def _page(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    before: str | None = None,
) -> Page:
    return Page(limit, order, after, before)


PageDep = Annotated[Page, Depends(_page)]
