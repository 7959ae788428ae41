"""/v1/threads/{thread_id}/messages"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hilo import serialize
from hilo.api.deps import PageDep, SessionDep
from hilo.api.errors import bad_request
from hilo.api.schemas import MessageCreate, MessageUpdate
from hilo.auth import Principal
from hilo.auth.deps import PrincipalDep
from hilo.db import models as m
from hilo.ids import new_id
from hilo.store import get_or_404, now, paginate

router = APIRouter(prefix="/v1/threads/{thread_id}/messages", tags=["messages"])


def _content(body: MessageCreate) -> list[dict]:
    if isinstance(body.content, str):
        return [{"type": "text", "text": {"value": body.content, "annotations": []}}]
    parts = []
    for part in body.content:
        if part.type == "text":
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        elif part.type == "image_url":
            parts.append({"type": "image_url", "image_url": part.image_url.model_dump(exclude_none=True) | {"detail": part.image_url.detail or "auto"}})
        else:
            parts.append({"type": "image_file", "image_file": part.image_file.model_dump(exclude_none=True) | {"detail": part.image_file.detail or "auto"}})
    return parts


def file_ids_of(bodies: list[MessageCreate]) -> set[str]:
    file_ids: set[str] = set()
    for body in bodies:
        if not isinstance(body.content, str):
            file_ids |= {p.image_file.file_id for p in body.content if p.type == "image_file"}
        file_ids |= {a.file_id for a in body.attachments or []}
    return file_ids


async def check_files(session: AsyncSession, bodies: list[MessageCreate], principal: Principal | None) -> None:
    """Every file a message names must exist and be visible to the principal (else 400)."""
    file_ids = file_ids_of(bodies)
    if not file_ids:
        return
    query = select(m.File.id).where(m.File.id.in_(file_ids))
    if principal is not None and not principal.is_admin:
        query = query.where(m.File.user_id == principal.user_id)
    found = set((await session.scalars(query)).all())
    missing = sorted(file_ids - found)
    if missing:
        raise bad_request(f"Invalid file id: '{missing[0]}'. No such file.", param="content")


def message_rows(thread_id: str, bodies: list[MessageCreate]) -> list[m.MessageRecord]:
    """Unsaved user/assistant messages (validated bodies; see :func:`check_files`)."""
    ts = now()
    return [
        m.MessageRecord(
            id=new_id("msg"), thread_id=thread_id, created_at=ts, role=body.role, content=_content(body),
            status="completed", completed_at=ts,
            attachments=[a.model_dump(exclude_none=True) for a in body.attachments or []],
            metadata_=body.metadata or {},
        )
        for body in bodies
    ]


async def build_messages(session: AsyncSession, thread_id: str, bodies: list[MessageCreate],
                         principal: Principal | None = None) -> list[m.MessageRecord]:
    """Validate and add user/assistant messages (file references must exist and be visible)."""
    await check_files(session, bodies, principal)
    messages = message_rows(thread_id, bodies)
    await session.execute(insert(m.Message.__table__), [m.row(x) for x in messages])
    return messages


async def _thread_without_active_run(session: AsyncSession, thread_id: str) -> m.Thread:
    thread = await get_or_404(session, m.Thread, thread_id)
    if thread.active_run_id:
        raise bad_request(f"Can't add messages to {thread_id} while a run {thread.active_run_id} is active.")
    return thread


@router.post("")
async def create_message(thread_id: str, body: MessageCreate, session: SessionDep, principal: PrincipalDep):
    await _thread_without_active_run(session, thread_id)
    [message] = await build_messages(session, thread_id, [body], principal)
    await session.commit()
    return serialize.message(message)


@router.get("")
async def list_messages(thread_id: str, session: SessionDep, page: PageDep, run_id: str | None = None):
    await get_or_404(session, m.Thread, thread_id)
    query = select(m.Message).where(m.Message.thread_id == thread_id)
    if run_id:
        query = query.where(m.Message.run_id == run_id)
    rows, more = await paginate(session, query, m.Message, page.limit, page.order, page.after, page.before)
    return serialize.page([serialize.message(x) for x in rows], more)


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, session: SessionDep):
    return serialize.message(await get_or_404(session, m.Message, message_id, thread_id=thread_id))


@router.post("/{message_id}")
async def modify_message(thread_id: str, message_id: str, body: MessageUpdate, session: SessionDep):
    message = await get_or_404(session, m.Message, message_id, thread_id=thread_id)
    if body.metadata is not None:
        message.metadata_ = body.metadata
    await session.commit()
    return serialize.message(message)


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, session: SessionDep):
    message = await get_or_404(session, m.Message, message_id, thread_id=thread_id)
    await session.delete(message)
    await session.execute(  # cached histories (every replica's) see the change and reload
        update(m.Thread).where(m.Thread.id == thread_id).values(history_version=m.Thread.history_version + 1)
    )
    await session.commit()
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
