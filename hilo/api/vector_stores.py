"""/v1/vector_stores: stores, their files and file batches, search, and the files' parsed content.

Thin: parse, authorise (a store is its owner's; someone else's answers 404), call
:mod:`hilo.knowledge.service`, wake this process's ingestion workers after files were recorded,
and tell SDK pollers to look again soon (``openai-poll-after-ms``) while anything is in progress.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response

from hilo.api.deps import PageDep, PrincipalDep, SessionDep, SettingsDep
from hilo.kit.ids import new_id, now
from hilo.kit.pagination import page_of
from hilo.knowledge import objects, parsing, service
from hilo.knowledge.ingest import storable
from hilo.knowledge.schemas import (
    FileBatchCreate,
    VectorStoreCreate,
    VectorStoreFileCreate,
    VectorStoreFileUpdate,
    VectorStoreSearch,
    VectorStoreUpdate,
    dump_strategy,
)
from hilo.knowledge.search import check_filters, search_stores
from hilo.nlu.fair import CALLER

router = APIRouter(prefix="/v1/vector_stores", tags=["vector_stores"])

Status = Literal["in_progress", "completed", "failed", "cancelled"]


def _wake(request: Request) -> None:
    ingestor = getattr(request.app.state, "knowledge", None)
    if ingestor is not None:
        ingestor.wake()


def _poll_hint(response: Response, in_progress: bool, created_at: int) -> None:
    if in_progress:
        response.headers["openai-poll-after-ms"] = str(service.poll_after_ms(created_at))


async def _store_object(session, store, response: Response | None = None) -> dict:
    counts = (await service.counts(session, [store.id]))[store.id]
    if response is not None:
        _poll_hint(response, counts.in_progress > 0, store.created_at)
    return objects.vector_store(store, counts, now())


# ---------------------------------------------------------------------- stores
@router.post("")
async def create_vector_store(body: VectorStoreCreate, session: SessionDep, principal: PrincipalDep,
                              request: Request, response: Response):
    store = await service.create_store(
        session, principal, name=body.name, description=body.description, metadata=body.metadata,
        expires_after=body.expires_after.model_dump() if body.expires_after else None,
        file_ids=body.file_ids or [], chunking_strategy=dump_strategy(body.chunking_strategy))
    if body.file_ids:
        _wake(request)
    return await _store_object(session, store, response)


@router.get("")
async def list_vector_stores(session: SessionDep, page: PageDep, principal: PrincipalDep):
    rows, more = await service.list_stores(session, principal, page)
    counts = await service.counts(session, [s.id for s in rows])
    at = now()
    return page_of([objects.vector_store(s, counts[s.id], at) for s in rows], more)


@router.get("/{vector_store_id}")
async def retrieve_vector_store(vector_store_id: str, session: SessionDep, principal: PrincipalDep,
                                response: Response):
    store = await service.get_store(session, principal, vector_store_id)
    return await _store_object(session, store, response)


@router.post("/{vector_store_id}")
async def modify_vector_store(vector_store_id: str, body: VectorStoreUpdate, session: SessionDep,
                              principal: PrincipalDep):
    store = await service.get_store(session, principal, vector_store_id, change=True)
    changes = body.model_dump(exclude_unset=True)
    store = await service.update_store(session, store, changes)
    return await _store_object(session, store)


@router.delete("/{vector_store_id}")
async def delete_vector_store(vector_store_id: str, session: SessionDep, principal: PrincipalDep):
    store = await service.get_store(session, principal, vector_store_id, change=True)
    await service.delete_store(session, store)
    return objects.deleted(vector_store_id, "vector_store")


@router.post("/{vector_store_id}/search")
async def search_vector_store(vector_store_id: str, body: VectorStoreSearch, session: SessionDep,
                              settings: SettingsDep, principal: PrincipalDep, request: Request):
    await service.get_store(session, principal, vector_store_id)
    await session.close()
    if body.filters is not None:
        check_filters(body.filters)
    ranking = body.ranking_options
    queries = [body.query] if isinstance(body.query, str) else body.query
    searched = [" ".join(q.split()) for q in queries]  # rewrite_query: hilo does not rewrite (see README)
    if principal.user_id is not None:  # the fair scheduler: the query's embedding is this user's work
        CALLER.set(f"user:{principal.user_id}")
    passages = await search_stores(request.app.state.db, settings, [vector_store_id], searched,
                                   max_num_results=body.max_num_results, filters=body.filters,
                                   score_threshold=ranking.score_threshold if ranking else 0.0,
                                   ranker=ranking.ranker if ranking else "auto")
    return objects.search_page(searched, passages)


# ---------------------------------------------------------------------- files
@router.post("/{vector_store_id}/files")
async def create_vector_store_file(vector_store_id: str, body: VectorStoreFileCreate, session: SessionDep,
                                   principal: PrincipalDep, request: Request, response: Response):
    store = await service.get_store(session, principal, vector_store_id, change=True)
    service.check_usable(store)
    rule = service.strategy(dump_strategy(body.chunking_strategy))
    row = await service.readable_file(session, principal, body.file_id, "file_id")
    await service.add_files(session, store, [service.Entry(row, body.attributes or {}, rule)])
    _wake(request)
    member = await service.get_member(session, vector_store_id, body.file_id)
    _poll_hint(response, member.status == service.IN_PROGRESS, member.created_at)
    return objects.vector_store_file(member)


@router.get("/{vector_store_id}/files")
async def list_vector_store_files(vector_store_id: str, session: SessionDep, page: PageDep, principal: PrincipalDep,
                                  filter: Status | None = None):
    await service.get_store(session, principal, vector_store_id)
    rows, more = await service.list_files(session, vector_store_id, page, filter)
    return page_of([objects.vector_store_file(m) for m in rows], more)


@router.get("/{vector_store_id}/files/{file_id}")
async def retrieve_vector_store_file(vector_store_id: str, file_id: str, session: SessionDep,
                                     principal: PrincipalDep, response: Response):
    await service.get_store(session, principal, vector_store_id)
    member = await service.get_member(session, vector_store_id, file_id)
    _poll_hint(response, member.status == service.IN_PROGRESS, member.created_at)
    return objects.vector_store_file(member)


@router.post("/{vector_store_id}/files/{file_id}")
async def update_vector_store_file(vector_store_id: str, file_id: str, body: VectorStoreFileUpdate,
                                   session: SessionDep, principal: PrincipalDep):
    store = await service.get_store(session, principal, vector_store_id, change=True)
    member = await service.get_member(session, vector_store_id, file_id)
    member = await service.update_attributes(session, store, member, body.attributes)
    return objects.vector_store_file(member)


@router.delete("/{vector_store_id}/files/{file_id}")
async def delete_vector_store_file(vector_store_id: str, file_id: str, session: SessionDep,
                                   principal: PrincipalDep):
    await service.get_store(session, principal, vector_store_id, change=True)
    await service.get_member(session, vector_store_id, file_id)
    await service.remove_file(session, vector_store_id, file_id)
    return objects.deleted(file_id, "vector_store.file")


@router.get("/{vector_store_id}/files/{file_id}/content")
async def vector_store_file_content(vector_store_id: str, file_id: str, session: SessionDep,
                                    settings: SettingsDep, principal: PrincipalDep):
    """The file's parsed text (what its chunks were cut from), once it is ``completed``."""
    await service.get_store(session, principal, vector_store_id)
    member = await service.get_member(session, vector_store_id, file_id)
    row = await service.readable_file(session, principal, file_id, "file_id")
    if member.status != service.COMPLETED:
        return objects.content_page([])
    try:
        data = await asyncio.to_thread((settings.files_dir / row.storage_path).read_bytes)
        parsed = await asyncio.to_thread(parsing.parse, data, row.filename, row.content_type)
    except (OSError, parsing.InvalidFile, parsing.UnsupportedFile):  # removed from storage since
        return objects.content_page([])
    return objects.content_page([storable(parsed.text)])


# ---------------------------------------------------------------------- batches
async def _batch_object(session, batch, response: Response | None = None) -> dict:
    counts = await service.batch_counts(session, batch.id)
    if response is not None:
        _poll_hint(response, counts.in_progress > 0, batch.created_at)
    return objects.file_batch(batch, counts)


@router.post("/{vector_store_id}/file_batches")
async def create_file_batch(vector_store_id: str, body: FileBatchCreate, session: SessionDep,
                            principal: PrincipalDep, request: Request, response: Response):
    store = await service.get_store(session, principal, vector_store_id, change=True)
    service.check_usable(store)
    entries: dict[str, service.Entry] = {}
    if body.files is not None:
        for i, item in enumerate(body.files):
            rule = service.strategy(dump_strategy(item.chunking_strategy), f"files.{i}.chunking_strategy")
            row = await service.readable_file(session, principal, item.file_id, f"files.{i}.file_id")
            entries[row.id] = service.Entry(row, item.attributes or {}, rule)
    else:
        rule = service.strategy(dump_strategy(body.chunking_strategy))
        for file_id in dict.fromkeys(body.file_ids or ()):
            row = await service.readable_file(session, principal, file_id, "file_ids")
            entries[row.id] = service.Entry(row, body.attributes or {}, rule)
    batch_id = new_id("vsfb")
    await service.add_files(session, store, list(entries.values()), batch_id)
    _wake(request)
    return await _batch_object(session, await service.get_batch(session, vector_store_id, batch_id), response)


@router.get("/{vector_store_id}/file_batches/{batch_id}")
async def retrieve_file_batch(vector_store_id: str, batch_id: str, session: SessionDep, principal: PrincipalDep,
                              response: Response):
    await service.get_store(session, principal, vector_store_id)
    return await _batch_object(session, await service.get_batch(session, vector_store_id, batch_id), response)


@router.post("/{vector_store_id}/file_batches/{batch_id}/cancel")
async def cancel_file_batch(vector_store_id: str, batch_id: str, session: SessionDep, principal: PrincipalDep):
    store = await service.get_store(session, principal, vector_store_id, change=True)
    batch = await service.get_batch(session, vector_store_id, batch_id)
    await service.cancel_batch(session, store, batch)
    return await _batch_object(session, batch)


@router.get("/{vector_store_id}/file_batches/{batch_id}/files")
async def list_file_batch_files(vector_store_id: str, batch_id: str, session: SessionDep, page: PageDep,
                                principal: PrincipalDep, filter: Status | None = None):
    await service.get_store(session, principal, vector_store_id)
    await service.get_batch(session, vector_store_id, batch_id)
    rows, more = await service.list_files(session, vector_store_id, page, filter, batch_id)
    return page_of([objects.vector_store_file(m) for m in rows], more)
