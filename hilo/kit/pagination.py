"""Lists as OpenAI answers them, and the one-row lookup every route uses.

Ids sort by creation time (:mod:`hilo.kit.ids`), so a page is one indexed range scan:
``limit`` (1-100), ``order`` (``asc``/``desc``), ``after`` / ``before`` cursors, and
``{object: "list", data, first_id, last_id, has_more}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.db.base import Base
from hilo.kit.errors import not_found

T = TypeVar("T", bound=Base)


@dataclass(slots=True, frozen=True)
class Page:
    """``limit``, ``order``, ``after``, ``before`` as OpenAI's list endpoints take them."""

    limit: int = 20
    order: str = "desc"
    after: str | None = None
    before: str | None = None


async def get_or_404(session: AsyncSession, model: type[T], object_id: str, **where: Any) -> T:
    """The row, or 404 (also when it exists but a ``where`` column differs: another parent's)."""
    obj = await session.get(model, object_id)
    if obj is None or any(getattr(obj, k) != v for k, v in where.items()):
        raise not_found(model.__kind__, object_id)
    return obj


async def paginate(session: AsyncSession, query: Select, model: type[T], page: Page) -> tuple[list[T], bool]:
    """Cursor pagination over time-sortable ids: one indexed range scan of limit+1 rows.

    ``after`` pages forward in ``order``; ``before`` pages backward (the rows just before
    the cursor, still returned in ``order``).
    """
    col = model.id
    ascending = page.order == "asc"
    if page.after:
        query = query.where(col > page.after if ascending else col < page.after)
    if page.before:
        query = query.where(col < page.before if ascending else col > page.before)
    backward = bool(page.before) and not page.after
    scan_ascending = ascending != backward
    query = query.order_by(col.asc() if scan_ascending else col.desc()).limit(page.limit + 1)
    rows = list((await session.scalars(query)).all())
    has_more = len(rows) > page.limit
    rows = rows[:page.limit]
    if backward:
        rows.reverse()
    return rows, has_more


def page_of(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


__all__ = ["Page", "get_or_404", "page_of", "paginate"]
