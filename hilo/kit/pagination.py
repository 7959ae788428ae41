"""Lists as OpenAI answers them, and the one-row lookup every route uses.

Ids sort by creation time (:mod:`hilo.kit.ids`), so a page is one indexed range scan:
``limit`` (1-100), ``order`` (``asc``/``desc``), ``after`` / ``before`` cursors, and
``{object: "list", data, first_id, last_id, has_more}``.

A cursor must name an object of the list it pages (same filters: same thread, same owner...).
One that does not is answered 404 ``invalid_request_error`` naming ``after`` / ``before``
(:func:`check_cursor`), not with a page computed from wherever the string happens to sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.db.base import Base
from hilo.kit.errors import NotFound, not_found

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


async def check_cursor(session: AsyncSession, query: Select, model: type[T], param: str, cursor: str) -> None:
    """404 unless ``cursor`` is the id of a row ``query`` lists (one indexed lookup).

    OpenAI answers a parameter that names an object it cannot find with a 404
    ``invalid_request_error`` that names the parameter and the id (``No assistant found with id
    'asst_x'.``); an ``after`` / ``before`` cursor is such a parameter, and is answered the
    same way (its documentation says only that a cursor is "an object ID that defines your
    place in the list"). Neither an empty page nor the whole list: both would let a client
    that lost its place believe it has seen everything.
    """
    found = await session.scalar(query.with_only_columns(model.id).where(model.id == cursor).limit(1))
    if found is None:
        raise NotFound(f"No {model.__kind__} found with id '{cursor}' (the '{param}' cursor) in this list.",
                       param=param)


async def paginate(session: AsyncSession, query: Select, model: type[T], page: Page) -> tuple[list[T], bool]:
    """Cursor pagination over time-sortable ids: one indexed range scan of limit+1 rows
    (and one lookup per cursor, :func:`check_cursor`).

    ``after`` pages forward in ``order``; ``before`` pages backward (the rows just before
    the cursor, still returned in ``order``).
    """
    col = model.id
    for param, cursor in (("after", page.after), ("before", page.before)):
        if cursor:
            await check_cursor(session, query, model, param, cursor)
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


__all__ = ["Page", "check_cursor", "get_or_404", "page_of", "paginate"]
