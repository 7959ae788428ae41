"""Admin CRUD for the catalog at /admin/courses, for admins only (hilo's own auth: with
``HILO_AUTH=on`` an admin API key or ``HILO_ADMIN_TOKEN``; with auth off, everyone is admin).

A course id is an ``INTEGER`` (:data:`~hilo.kit.schemas.Int32`), ``offset`` a ``bigint``
(:data:`~hilo.kit.schemas.Int64`). A write that breaks the unique ``code`` is a 409 wherever
the database reports it (a flush inside the service, or the commit), and rolls back: the row
stays as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hilo.api.deps import SessionDep, require_admin
from hilo.kit.errors import Conflict, bad_request, not_found
from hilo.kit.schemas import Int32, Int64
from hilo.packs.courses import service
from hilo.packs.courses.models import Course
from hilo.packs.courses.schemas import (
    CourseCreate,
    CourseList,
    CourseOut,
    CourseUpdate,
    Level,
    Modality,
)

_NULLABLE = {"code", "start_date", "city", "instructor", "seats"}
CourseId = Annotated[Int32, Path(ge=1)]


router = APIRouter(prefix="/admin/courses", tags=["admin: courses"], dependencies=[Depends(require_admin)])


async def _get(session, course_id: int) -> Course:
    course = await session.get(Course, course_id)
    if course is None:
        raise not_found("course", str(course_id))
    return course


@asynccontextmanager
async def _write(session) -> AsyncIterator[None]:
    """The block's writes and their commit; a duplicate code anywhere in it is a 409, rolled back."""
    try:
        yield
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("Another course already has this code.", param="code", code="duplicate") from None


@router.get("", response_model=CourseList)
async def list_courses(
    session: SessionDep,
    level: Level | None = None,
    modality: Modality | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Words in the name")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[Int64, Query(ge=0)] = 0,
):
    where = [c for c in (
        Course.level == level if level else None,
        Course.modality == modality if modality else None,
        Course.active.is_(active) if active is not None else None,
        func.lower(Course.name).contains(q.lower(), autoescape=True) if q else None,
    ) if c is not None]
    total = await session.scalar(select(func.count()).select_from(Course).where(*where))
    rows = await session.scalars(select(Course).where(*where).order_by(Course.id).limit(limit).offset(offset))
    return CourseList(data=list(rows), total=total, limit=limit, offset=offset)


@router.get("/{course_id}", response_model=CourseOut)
async def get_course(course_id: CourseId, session: SessionDep):
    return await _get(session, course_id)


@router.post("", response_model=CourseOut, status_code=201)
async def create_course(body: CourseCreate, session: SessionDep):
    async with _write(session):
        course = await service.add(session, body.model_dump())
        await service.ensure_embeddings(session, [course])
    return course


@router.patch("/{course_id}", response_model=CourseOut)
async def update_course(course_id: CourseId, body: CourseUpdate, session: SessionDep):
    values = body.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in values.items() if v is None and k not in _NULLABLE)
    if nulls:
        raise bad_request(f"'{nulls[0]}' cannot be null.", param=nulls[0])
    async with _write(session):  # service.change flushes: a duplicate code surfaces there
        course = await service.change(session, await _get(session, course_id), values)
    return course


@router.delete("/{course_id}")
async def delete_course(course_id: CourseId, session: SessionDep):
    await session.delete(await _get(session, course_id))
    await session.commit()
    return {"id": course_id, "object": "course.deleted", "deleted": True}
