"""Each user's current thread with an assistant (seed 001's ``oa_threads_map``, generalised).

Channels know a user, not a thread: a turn goes to the user's active thread with the
assistant, created on first use; a reset starts a new one (the old stays stored).
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.db.session import Database
from hilo.kit.ids import new_id, now
from hilo.threads.messages import message_text
from hilo.threads.models import Message, Thread, UserThread


def _new_thread(session: AsyncSession, user_id: str, assistant_id: str) -> Thread:
    thread = Thread(id=new_id("thread"), created_at=now(), metadata_={"hilo_assistant_id": assistant_id},
                    user_id=user_id)
    session.add(thread)
    return thread


async def active_thread(db: Database, user_id: str, assistant_id: str, *, create: bool = True) -> str | None:
    """The user's current thread with the assistant; found, or created and remembered."""
    for _attempt in range(3):
        async with db.sessionmaker() as session:
            link = await session.get(UserThread, (user_id, assistant_id))
            if link is not None and await session.get(Thread, link.thread_id) is not None:
                return link.thread_id
            if not create:
                return None
            thread = _new_thread(session, user_id, assistant_id)
            if link is None:
                session.add(UserThread(user_id=user_id, assistant_id=assistant_id, thread_id=thread.id,
                                       updated_at=now()))
            else:  # the mapped thread was deleted through /v1: start again
                link.thread_id, link.updated_at = thread.id, now()
            try:
                await session.commit()
                return thread.id
            except IntegrityError:  # a concurrent first message created the mapping
                await session.rollback()
    raise RuntimeError(f"could not create the active thread of {user_id} with {assistant_id}")


async def reset(db: Database, user_id: str, assistant_id: str) -> str:
    """Start a new thread for the user with the assistant; the old one stays stored."""
    for _attempt in range(3):
        async with db.sessionmaker() as session:
            thread = _new_thread(session, user_id, assistant_id)
            link = await session.get(UserThread, (user_id, assistant_id))
            if link is None:
                session.add(UserThread(user_id=user_id, assistant_id=assistant_id, thread_id=thread.id,
                                       updated_at=now()))
            else:
                link.thread_id, link.updated_at = thread.id, now()
            try:
                await session.commit()
                return thread.id
            except IntegrityError:  # raced with a first message: update the mapping it made
                await session.rollback()
    raise RuntimeError(f"could not reset the thread of {user_id} with {assistant_id}")


async def history(db: Database, user_id: str, assistant_id: str, limit: int = 50) -> list[dict]:
    """The newest ``limit`` messages of the active thread, oldest first.

    Each item: ``id``, ``role``, ``content`` (text), ``created_at`` (unix seconds), ``parts``
    (the stored content parts, images included), ``run_id``. The thread itself is never cut;
    channels pass ``settings.history_limit`` (HILO_HISTORY_LIMIT).
    """
    thread_id = await active_thread(db, user_id, assistant_id, create=False)
    if thread_id is None:
        return []
    async with db.sessionmaker() as session:
        rows = (await session.scalars(
            select(Message).where(Message.thread_id == thread_id).order_by(Message.id.desc()).limit(limit)
        )).all()
    return [{"id": r.id, "role": r.role, "content": message_text(r.content), "created_at": r.created_at,
             "parts": r.content, "run_id": r.run_id} for r in reversed(rows)]


# a file_search citation marker: 【round:index†filename】
_MARKER = re.compile(r"\s?【\d+:\d+†([^】]+)】")


def with_sources(text: str) -> str:
    """A reply for a chat channel: citation markers become [1], [2]... (one per document) and the
    documents are listed at the end ("Fuentes: [1] plazos.md")."""
    order: dict[str, int] = {}

    def number(match: re.Match) -> str:
        name = match.group(1)
        order.setdefault(name, len(order) + 1)
        return f" [{order[name]}]"

    body = _MARKER.sub(number, text)
    if not order:
        return text
    return body + "\n\nFuentes: " + "; ".join(f"[{n}] {name}" for name, n in order.items())


async def reply_text(db: Database, run_id: str) -> str:
    """What the assistant wrote in a run (its messages' text, in order), its citations as a
    numbered list of sources."""
    async with db.sessionmaker() as session:
        rows = (await session.scalars(
            select(Message).where(Message.run_id == run_id, Message.role == "assistant").order_by(Message.id)
        )).all()
    return with_sources("\n\n".join(t for t in (message_text(r.content) for r in rows) if t))


__all__ = ["active_thread", "history", "reply_text", "reset", "with_sources"]
