"""Ownership checks for code that runs inside a run (tools), where no request is at hand."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hilo.db import models as m


async def file_readable_in_thread(session: AsyncSession, file_id: str, thread_id: str) -> bool:
    """May a run on ``thread_id`` read ``file_id``? Only the thread owner's files (or any file
    when the thread has no owner: created by an admin or with HILO_AUTH=off)."""
    file = await session.get(m.File, file_id)
    if file is None:
        return False
    thread = await session.get(m.Thread, thread_id)
    if thread is None:
        return False
    return thread.user_id is None or file.user_id == thread.user_id
