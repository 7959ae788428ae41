"""Queries shared by the API routes and the run engine."""

from __future__ import annotations

import time
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.api.errors import not_found
from hilo.db import models as m

T = TypeVar("T", bound=m.Base)

KIND = {
    m.Assistant: "assistant",
    m.Thread: "thread",
    m.Message: "message",
    m.Run: "run",
    m.RunStep: "run step",
    m.File: "file",
}


def now() -> int:
    return int(time.time())


async def get_or_404(session: AsyncSession, model: type[T], object_id: str, **where: Any) -> T:
    obj = await session.get(model, object_id)
    if obj is None or any(getattr(obj, k) != v for k, v in where.items()):
        raise not_found(KIND[model], object_id)
    return obj


async def paginate(
    session: AsyncSession,
    query: Select,
    model: type[T],
    limit: int,
    order: str,
    after: str | None,
    before: str | None,
) -> tuple[list[T], bool]:
    """Cursor pagination over time-sortable ids: one indexed range scan of limit+1 rows.

    ``after`` pages forward in ``order``; ``before`` pages backward (the rows just before
    the cursor, still returned in ``order``).
    """
    col = model.id
    ascending = order == "asc"
    if after:
        query = query.where(col > after if ascending else col < after)
    if before:
        query = query.where(col < before if ascending else col > before)
    backward = bool(before) and not after
    scan_ascending = ascending != backward
    query = query.order_by(col.asc() if scan_ascending else col.desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    return rows, has_more
