"""/v1/threads/{thread_id}/messages"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from hilo.api.deps import PageDep, PrincipalDep, SessionDep
from hilo.kit.pagination import get_or_404, page_of, paginate
from hilo.knowledge import resources
from hilo.threads import objects
from hilo.threads.messages import (
    add_to_free_thread,
    check_content_sizes,
    check_files,
    file_ids_of,
    new_messages,
)
from hilo.threads.models import Message, Thread
from hilo.threads.schemas import MessageCreate, MessageUpdate
from hilo.threads.service import message_deleted

router = APIRouter(prefix="/v1/threads/{thread_id}/messages", tags=["messages"])


@router.post("")
async def create_message(thread_id: str, body: MessageCreate, request: Request, principal: PrincipalDep):
    db = request.app.state.db
    check_content_sizes([body], request.app.state.settings.max_message_content_chars)
    [message] = new_messages(thread_id, [body])
    if file_ids_of([message]):
        async with db.sessionmaker() as session:
            await check_files(session, [message], principal)
            if attached := resources.search_file_ids(message.attachments):
                # attachments for file_search go to the thread's vector store (made when it has none)
                thread = await get_or_404(session, Thread, thread_id)
                changed = await resources.attach(session, principal, thread.tool_resources, attached)
                if changed != thread.tool_resources:
                    thread.tool_resources = changed
                    await session.commit()
    await add_to_free_thread(db, message)  # the turn path: no ORM session
    return objects.message(message)


@router.get("")
async def list_messages(thread_id: str, session: SessionDep, page: PageDep, run_id: str | None = None):
    await get_or_404(session, Thread, thread_id)
    query = select(Message).where(Message.thread_id == thread_id)
    if run_id:
        query = query.where(Message.run_id == run_id)
    rows, more = await paginate(session, query, Message, page)
    return page_of([objects.message(x) for x in rows], more)


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, session: SessionDep):
    return objects.message(await get_or_404(session, Message, message_id, thread_id=thread_id))


@router.post("/{message_id}")
async def modify_message(thread_id: str, message_id: str, body: MessageUpdate, session: SessionDep):
    message = await get_or_404(session, Message, message_id, thread_id=thread_id)
    if body.metadata is not None:
        message.metadata_ = body.metadata
    await session.commit()
    return objects.message(message)


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, session: SessionDep):
    message = await get_or_404(session, Message, message_id, thread_id=thread_id)
    await session.delete(message)
    await message_deleted(session, thread_id)
    await session.commit()
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
