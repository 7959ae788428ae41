"""Vector stores, their files and file batches: create, change, list, delete, with their counts.

Requests only record: adding a file writes its membership as ``in_progress`` and returns; the
ingestion workers (:mod:`hilo.knowledge.ingest`) parse, chunk and embed it in the background.

**Who sees what.** A store belongs to its creator and follows the files' rule
(:mod:`hilo.identity.policy`): users see their own, admins everything, someone else's store is a
404 like an unknown id. A file added to a store must be one the caller may read (the same rule as
``/v1/files``; otherwise 404 naming the parameter).

**Consistency.** Every write that changes what search sees bumps the store's ``version`` in the
same transaction, and bumps it *first*: the UPDATE locks the store's row, so every transaction
that touches several of a store's rows takes the store's lock before any file's (no deadlock on
PostgreSQL), and a cached index in any process notices the change on its next search.

**Expiry.** ``expires_after`` (``{"anchor": "last_active_at", "days": 1..365}``) makes
``expires_at = last_active_at + days``; from then on the store is ``expired``: it can still be
read, listed and deleted, but searching it or adding files to it is a 400. Use (a search, added
files) moves ``last_active_at`` (a search at most once a minute: :data:`TOUCH_S`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.files.models import File
from hilo.identity import Principal
from hilo.identity.policy import can_read_file, check_access, owner_of_new, visible
from hilo.kit.errors import InvalidRequest, NotFound
from hilo.kit.ids import new_id, now
from hilo.kit.pagination import Page, paginate
from hilo.knowledge import chunking
from hilo.knowledge.models import KnowledgeChunk, VectorStore, VectorStoreFile, VectorStoreFileBatch
from hilo.knowledge.objects import Counts, expires_at, is_expired

IN_PROGRESS, COMPLETED, FAILED, CANCELLED = "in_progress", "completed", "failed", "cancelled"
FILE_STATUSES = (IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
TOUCH_S = 60  # a search refreshes last_active_at when it is older than this
POLL_AFTER_MIN_MS, POLL_AFTER_MAX_MS = 100, 500


def poll_after_ms(created_at: int) -> int:
    """``openai-poll-after-ms`` for an in-progress file, batch or store: a quarter of its age,
    100 to 500 ms (ingesting even a small file takes a few hundred milliseconds)."""
    age_ms = max(0, int(time.time() * 1000) - created_at * 1000)
    return max(POLL_AFTER_MIN_MS, min(POLL_AFTER_MAX_MS, age_ms // 4))


@dataclass(frozen=True, slots=True)
class Entry:
    """One file to add: the File row, its attributes and its (validated) chunking strategy."""

    file: File
    attributes: dict[str, Any]
    strategy: dict[str, Any]


# ---------------------------------------------------------------------- stores
def strategy(value: dict[str, Any] | None, param: str = "chunking_strategy") -> dict[str, Any]:
    try:
        return chunking.strategy(value)
    except InvalidRequest as exc:
        exc.param = param
        raise


async def get_store(session: AsyncSession, principal: Principal, store_id: str, change: bool = False) -> VectorStore:
    """The store, or 404 (unknown, or someone else's)."""
    store = await session.get(VectorStore, store_id)
    if store is None:
        raise NotFound(f"No vector store found with id '{store_id}'.", param="vector_store_id")
    check_access(principal, "vector store", store_id, store.user_id, change=change)
    return store


def check_usable(store: VectorStore, at: int | None = None) -> None:
    """400 when the store has expired."""
    at = now() if at is None else at
    if is_expired(store, at):
        raise expired_error(store)


def expired_error(store: Any) -> InvalidRequest:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires_at(store) or 0))
    days = (store.expires_after or {}).get("days")
    return InvalidRequest(f"The vector store '{store.id}' expired at {when} ({days} day(s) after it was last "
                          "active): it can no longer be searched or changed. Create a new vector store.",
                          param="vector_store_id", code="vector_store_expired")


async def bump(session: AsyncSession, store_id: str, *, touch: bool = False) -> None:
    """``version += 1`` (and ``last_active_at = now`` when ``touch``): the store's row lock first."""
    values: dict[str, Any] = {"version": VectorStore.version + 1}
    if touch:
        values["last_active_at"] = now()
    await session.execute(update(VectorStore).where(VectorStore.id == store_id).values(**values)
                          .execution_options(synchronize_session=False))


async def create_store(session: AsyncSession, principal: Principal, *, name: str | None, description: str | None,
                       metadata: dict[str, str] | None, expires_after: dict[str, Any] | None,
                       file_ids: Sequence[str], chunking_strategy: dict[str, Any] | None) -> VectorStore:
    rule = strategy(chunking_strategy)
    files = [await readable_file(session, principal, f, "file_ids") for f in dict.fromkeys(file_ids)]
    at = now()
    store = VectorStore(id=new_id("vs"), created_at=at, name=name, description=description, metadata_=metadata or {},
                        expires_after=expires_after, last_active_at=at, version=0, user_id=owner_of_new(principal))
    session.add(store)
    await session.flush()
    await _put_files(session, store.id, [Entry(f, {}, rule) for f in files], None)
    await session.commit()
    return store


async def update_store(session: AsyncSession, store: VectorStore, changes: dict[str, Any]) -> VectorStore:
    check_usable(store)
    for key, value in changes.items():
        if key == "metadata":
            store.metadata_ = value or {}
        elif key == "name":
            store.name = value
        elif key == "expires_after":
            store.expires_after = value
    await session.commit()
    return store


async def list_stores(session: AsyncSession, principal: Principal, page: Page) -> tuple[list[VectorStore], bool]:
    query = select(VectorStore)
    narrowed = visible(principal, VectorStore.user_id)
    if narrowed is not None:
        query = query.where(narrowed)
    return await paginate(session, query, VectorStore, page)


async def delete_store(session: AsyncSession, store: VectorStore) -> None:
    """The store, its memberships, batches and chunks go; the Files stay.

    Memberships go before chunks: on PostgreSQL a worker's chunk write locks its membership row
    first, so the chunk DELETE (a later statement, a fresh snapshot) sees every chunk written."""
    await bump(session, store.id)
    await session.execute(delete(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id))
    await session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.vector_store_id == store.id))
    await session.execute(delete(VectorStoreFileBatch).where(VectorStoreFileBatch.vector_store_id == store.id))
    await session.execute(delete(VectorStore).where(VectorStore.id == store.id))
    await session.commit()


async def counts(session: AsyncSession, store_ids: Iterable[str]) -> dict[str, Counts]:
    """Each store's files by status and their usage bytes (one grouped query)."""
    ids = list(dict.fromkeys(store_ids))
    out = {i: Counts() for i in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(VectorStoreFile.vector_store_id, VectorStoreFile.status, func.count(),
               func.coalesce(func.sum(VectorStoreFile.usage_bytes), 0))
        .where(VectorStoreFile.vector_store_id.in_(ids))
        .group_by(VectorStoreFile.vector_store_id, VectorStoreFile.status))
    for store_id, status, count, usage in rows:
        out[store_id].add(status, int(count), int(usage))
    return out


async def batch_counts(session: AsyncSession, batch_id: str) -> Counts:
    out = Counts()
    rows = await session.execute(
        select(VectorStoreFile.status, func.count(), func.coalesce(func.sum(VectorStoreFile.usage_bytes), 0))
        .where(VectorStoreFile.batch_id == batch_id).group_by(VectorStoreFile.status))
    for status, count, usage in rows:
        out.add(status, int(count), int(usage))
    return out


# ---------------------------------------------------------------------- files
async def readable_file(session: AsyncSession, principal: Principal, file_id: str, param: str) -> File:
    """The File, if it exists and the caller may read it; else 404 naming ``param``."""
    row = await session.get(File, file_id) if isinstance(file_id, str) else None
    if row is None or not can_read_file(principal, row.user_id):
        raise NotFound(f"No file found with id '{file_id}'.", param=param)
    return row


async def _put_files(session: AsyncSession, store_id: str, entries: Sequence[Entry], batch_id: str | None) -> None:
    """Insert or reset memberships as ``in_progress`` (in file-id order: row locks in one order).

    A file already in the store is processed again with the new attributes and strategy: its
    lease is cleared, so a worker still busy with it notices (its conditional writes match no
    row) and stops; its old chunks are replaced when the file is processed."""
    at = now()
    for entry in sorted(entries, key=lambda e: e.file.id):
        values = dict(status=IN_PROGRESS, last_error=None, usage_bytes=0, attributes=entry.attributes,
                      chunking_strategy=entry.strategy, batch_id=batch_id, generation=None, lease_owner=None,
                      lease_until=None, attempts=0)
        changed = await session.execute(
            update(VectorStoreFile)
            .where(VectorStoreFile.vector_store_id == store_id, VectorStoreFile.id == entry.file.id)
            .values(created_at=at, **values).execution_options(synchronize_session=False))
        if changed.rowcount == 0:
            session.add(VectorStoreFile(vector_store_id=store_id, id=entry.file.id, created_at=at, **values))
            await session.flush()


async def add_files(session: AsyncSession, store: VectorStore, entries: Sequence[Entry],
                    batch_id: str | None = None) -> None:
    """Record ``entries`` in the store as ``in_progress`` (committed); the workers do the rest."""
    check_usable(store)
    for attempt in range(2):
        try:
            await bump(session, store.id, touch=True)
            if batch_id is not None:
                session.add(VectorStoreFileBatch(id=batch_id, vector_store_id=store.id, created_at=now()))
            await _put_files(session, store.id, entries, batch_id)
            await session.commit()
            return
        except IntegrityError:  # another request added the same file at the same moment: update it
            await session.rollback()
            if attempt:
                raise


async def get_member(session: AsyncSession, store_id: str, file_id: str) -> VectorStoreFile:
    member = await session.get(VectorStoreFile, (store_id, file_id))
    if member is None:
        raise NotFound(f"No file found with id '{file_id}' in vector store '{store_id}'.", param="file_id")
    return member


async def update_attributes(session: AsyncSession, store: VectorStore, member: VectorStoreFile,
                            attributes: dict[str, Any] | None) -> VectorStoreFile:
    check_usable(store)
    await bump(session, store.id)
    member.attributes = attributes or {}
    await session.commit()
    return member


async def remove_file(session: AsyncSession, store_id: str, file_id: str) -> None:
    """The membership and its chunks go (the File stays)."""
    await bump(session, store_id)
    await session.execute(delete(VectorStoreFile).where(VectorStoreFile.vector_store_id == store_id,
                                                        VectorStoreFile.id == file_id))
    await session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.vector_store_id == store_id,
                                                       KnowledgeChunk.file_id == file_id))
    await session.commit()


async def forget_file(session: AsyncSession, file_id: str) -> None:
    """A File deleted from ``/v1/files`` leaves every store (memberships and chunks), committed."""
    stores = (await session.scalars(select(VectorStoreFile.vector_store_id)
                                    .where(VectorStoreFile.id == file_id))).all()
    for store_id in sorted(set(stores)):
        await remove_file(session, store_id, file_id)


def _listing(store_id: str, status: str | None, batch_id: str | None = None):
    query = select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store_id)
    if batch_id is not None:
        query = query.where(VectorStoreFile.batch_id == batch_id)
    if status is not None:
        query = query.where(VectorStoreFile.status == status)
    return query


async def list_files(session: AsyncSession, store_id: str, page: Page, status: str | None = None,
                     batch_id: str | None = None) -> tuple[list[VectorStoreFile], bool]:
    """A store's files (or a batch's), ordered by file id (the files' creation order)."""
    return await paginate(session, _listing(store_id, status, batch_id), VectorStoreFile, page)


# ---------------------------------------------------------------------- batches
async def get_batch(session: AsyncSession, store_id: str, batch_id: str) -> VectorStoreFileBatch:
    batch = await session.get(VectorStoreFileBatch, batch_id)
    if batch is None or batch.vector_store_id != store_id:
        raise NotFound(f"No vector store file batch found with id '{batch_id}' in vector store '{store_id}'.",
                       param="batch_id")
    return batch


async def cancel_batch(session: AsyncSession, store: VectorStore, batch: VectorStoreFileBatch) -> None:
    """Files of the batch not done yet become ``cancelled`` (their partial chunks go); a worker
    busy with one notices at its next write and stops."""
    if batch.cancelled_at is None:
        await bump(session, store.id)
        pending = (await session.scalars(select(VectorStoreFile.id).where(
            VectorStoreFile.batch_id == batch.id, VectorStoreFile.vector_store_id == store.id,
            VectorStoreFile.status == IN_PROGRESS))).all()
        if pending:
            await session.execute(
                update(VectorStoreFile)
                .where(VectorStoreFile.vector_store_id == store.id, VectorStoreFile.id.in_(pending),
                       VectorStoreFile.status == IN_PROGRESS)
                .values(status=CANCELLED, lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False))
            await session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.vector_store_id == store.id,
                                                               KnowledgeChunk.file_id.in_(pending)))
        batch.cancelled_at = now()
        await session.commit()


__all__ = ["CANCELLED", "COMPLETED", "FAILED", "FILE_STATUSES", "IN_PROGRESS", "TOUCH_S", "Entry", "add_files",
           "batch_counts", "bump", "cancel_batch", "check_usable", "counts", "create_store", "delete_store",
           "expired_error", "forget_file", "get_batch", "get_member", "get_store", "list_files", "list_stores",
           "poll_after_ms", "readable_file", "remove_file", "strategy", "update_attributes", "update_store"]
