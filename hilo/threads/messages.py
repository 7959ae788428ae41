"""Messages: their stored content parts, the file references they may make, and new rows.

A message is stored close to its OpenAI shape: ``content`` is a list of parts
(``{"type": "text", "text": {"value", "annotations"}}``, ``image_url``, ``image_file``).
:func:`new_messages` turns validated request bodies (or a channel's text) into records; the
turn service inserts them in the same transaction as the run they start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.files.models import File
from hilo.identity import Principal
from hilo.identity.policy import visible
from hilo.kit.db import hot
from hilo.kit.db.session import Database
from hilo.kit.errors import InvalidRequest, bad_request, not_found
from hilo.kit.ids import new_id, now
from hilo.threads.models import Message, MessageRecord, Thread
from hilo.threads.schemas import MessageCreate

Content = str | list[dict[str, Any]]


def content_parts(body: MessageCreate) -> list[dict]:
    if isinstance(body.content, str):
        return [{"type": "text", "text": {"value": body.content, "annotations": []}}]
    parts = []
    for part in body.content:
        if part.type == "text":
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        elif part.type == "image_url":
            parts.append({"type": "image_url",
                          "image_url": part.image_url.model_dump(exclude_none=True) | {"detail": part.image_url.detail or "auto"}})
        else:
            parts.append({"type": "image_file",
                          "image_file": part.image_file.model_dump(exclude_none=True) | {"detail": part.image_file.detail or "auto"}})
    return parts


def content_chars(body: MessageCreate) -> int:
    """Characters of a message's content as OpenAI counts them: its text (image parts are refs)."""
    if isinstance(body.content, str):
        return len(body.content)
    return sum(len(part.text) for part in body.content if part.type == "text")


def check_content_sizes(bodies: Sequence[MessageCreate] | None, limit: int, param: str | None = None) -> None:
    """400 naming the first message whose content is over ``limit`` characters
    (HILO_MAX_MESSAGE_CONTENT_CHARS). ``param``: the list's field (``additional_messages``);
    None for a single message's own ``content``."""
    for index, body in enumerate(bodies or ()):
        size = content_chars(body)
        if size > limit:
            where = f"{param}.{index}.content" if param else "content"
            raise bad_request(f"Invalid '{where}': the content has {size} characters; the limit is {limit} "
                              "(HILO_MAX_MESSAGE_CONTENT_CHARS).", param=where, code="string_above_max_length")


def user_message(content: Content) -> MessageCreate:
    """A channel's text (or content parts) as a validated user message; 400 when invalid."""
    if isinstance(content, str) and not content.strip():
        raise InvalidRequest("The message is empty.", param="content")
    try:
        return MessageCreate(role="user", content=content)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest(f"Invalid message content: {first.get('msg')}.", param="content") from None


def new_messages(thread_id: str, bodies: Iterable[MessageCreate]) -> list[MessageRecord]:
    """Unsaved user/assistant messages (check their files with :func:`check_files`)."""
    ts = now()
    return [
        MessageRecord(
            id=new_id("msg"), thread_id=thread_id, created_at=ts, role=body.role, content=content_parts(body),
            status="completed", completed_at=ts,
            attachments=[a.model_dump(exclude_none=True) for a in body.attachments or []],
            metadata_=body.metadata or {},
        )
        for body in bodies
    ]


def file_ids_of(messages: Sequence[MessageRecord]) -> set[str]:
    ids: set[str] = set()
    for message in messages:
        ids |= {p["image_file"]["file_id"] for p in message.content if p.get("type") == "image_file"}
        ids |= {a["file_id"] for a in message.attachments or ()}
    return ids


async def check_files(session: AsyncSession, messages: Sequence[MessageRecord], principal: Principal) -> None:
    """Every file a message names must exist and be visible to the principal (else 400)."""
    file_ids = file_ids_of(messages)
    if not file_ids:
        return
    query = select(File.id).where(File.id.in_(file_ids))
    narrowed = visible(principal, File.user_id)
    if narrowed is not None:
        query = query.where(narrowed)
    found = set((await session.scalars(query)).all())
    missing = sorted(file_ids - found)
    if missing:
        raise bad_request(f"Invalid file id: '{missing[0]}'. No such file.", param="content", code="file_not_found")


async def insert_messages(session: AsyncSession, messages: Sequence[MessageRecord]) -> None:
    if messages:
        await session.execute(insert(Message.__table__), [x.row() for x in messages])


_THREADS, _MESSAGES = Thread.__table__, Message.__table__
_ACTIVE_RUN_OF = select(_THREADS.c.active_run_id).where(_THREADS.c.id == bindparam("t"))
_INSERT_MESSAGE = insert(_MESSAGES)
# PostgreSQL: the message goes in only while the thread exists and has no active run.
_INSERT_IF_FREE = hot.insert_bound(
    _MESSAGES, "m_", select(_THREADS.c.id).where(_THREADS.c.id == bindparam("t"), _THREADS.c.active_run_id.is_(None))
    .subquery("free")).returning(_MESSAGES.c.id)


async def add_to_free_thread(db: Database, message: MessageRecord) -> None:
    """Insert a message on a thread with no active run (``POST /v1/threads/{id}/messages``):
    one statement on PostgreSQL, one unit on SQLite; 404 for no thread, 400 while a run holds it."""
    thread_id = message.thread_id
    if db.hot.sqlite:
        async with db.hot.unit() as unit:
            found = await unit.fetch(_ACTIVE_RUN_OF, {"t": thread_id})
            if found and found[0][0] is None:
                await unit.execute(_INSERT_MESSAGE, message.row())
                return
    else:
        if await db.hot.fetch(_INSERT_IF_FREE, {"t": thread_id, **hot.bind_row("m_", message.row())}):
            return
        found = await db.hot.fetch(_ACTIVE_RUN_OF, {"t": thread_id})
    if not found:
        raise not_found("thread", thread_id)
    raise bad_request(f"Can't add messages to {thread_id} while a run {found[0][0]} is active.")


def message_text(content: list[dict[str, Any]] | None) -> str:
    return "\n".join(part["text"]["value"] for part in content or () if part.get("type") == "text")


__all__ = ["Content", "add_to_free_thread", "check_content_sizes", "check_files", "content_chars", "content_parts",
           "file_ids_of", "insert_messages", "message_text", "new_messages", "user_message"]
