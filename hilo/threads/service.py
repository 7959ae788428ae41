"""Threads: creating one (with its first messages), changing and deleting them."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.identity import Principal
from hilo.identity.policy import owner_of_new
from hilo.kit.ids import new_id, now
from hilo.knowledge import resources
from hilo.threads.messages import check_files, insert_messages, new_messages
from hilo.threads.models import Message, Thread, ThreadRecord
from hilo.threads.schemas import ThreadCreate


def new_thread(principal: Principal, body: ThreadCreate | None = None) -> ThreadRecord:
    body = body or ThreadCreate()
    return ThreadRecord(id=new_id("thread"), created_at=now(), metadata_=body.metadata or {},
                        tool_resources=body.tool_resources, user_id=owner_of_new(principal), active_run_id=None,
                        history_version=0)


async def prepare(session: AsyncSession, principal: Principal, body: ThreadCreate) -> ThreadCreate:
    """A new thread's tool_resources checked (the vector_stores helper made a store), and the
    files its messages attach for file_search added to its store."""
    tool_resources = await resources.resolve(session, principal, body.tool_resources)
    attached = resources.search_file_ids(a.model_dump() for m in body.messages or () for a in m.attachments or ())
    tool_resources = await resources.attach(session, principal, tool_resources, attached)
    return body.model_copy(update={"tool_resources": tool_resources})


async def create_thread(session: AsyncSession, principal: Principal, body: ThreadCreate | None = None) -> ThreadRecord:
    """A thread and its initial messages, in the caller's transaction (the caller commits)."""
    if body is not None:
        await check_files(session, new_messages("thread_check", body.messages or ()), principal)
        body = await prepare(session, principal, body)
    thread = new_thread(principal, body)
    messages = new_messages(thread.id, (body.messages if body else None) or ())
    await session.execute(Thread.__table__.insert(), [thread.row()])
    await insert_messages(session, messages)
    return thread


async def delete_thread_rows(session: AsyncSession, thread_id: str) -> None:
    """The thread and its messages (its runs are the run store's: it deletes them)."""
    await session.execute(delete(Message).where(Message.thread_id == thread_id))
    await session.execute(delete(Thread).where(Thread.id == thread_id))


async def message_deleted(session: AsyncSession, thread_id: str) -> None:
    """Cached histories (every replica's) see the change and reload."""
    await session.execute(update(Thread).where(Thread.id == thread_id)
                          .values(history_version=Thread.history_version + 1))


__all__ = ["create_thread", "delete_thread_rows", "message_deleted", "new_thread"]
