"""``tool_resources`` of assistants and threads, checked and completed, and message attachments.

* ``file_search.vector_store_ids``: at most one store (as OpenAI allows), which must exist and be
  one the caller may use: an unknown id is a 400 naming it.
* ``file_search.vector_stores``: the helper that creates a store from ``file_ids`` (with
  ``chunking_strategy`` and ``metadata``); its id is stored in ``vector_store_ids`` and the
  helper itself is not kept. Its files are ingested in the background like any other.
* ``code_interpreter.file_ids``: files the caller may read (hilo does not run code_interpreter
  yet; the tool itself is refused, the resource is kept as given).
* A message attachment with the ``file_search`` tool adds its file to the thread's store,
  creating one (expiring 7 days after its last use, as OpenAI's thread stores do) when the
  thread has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hilo.identity import Principal
from hilo.kit.errors import InvalidRequest, NotFound
from hilo.knowledge import service
from hilo.knowledge.models import VectorStore

KINDS = {"file_search", "code_interpreter"}
MAX_STORES = 1
MAX_CODE_FILES = 20
THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


async def resolve(session: AsyncSession, principal: Principal, value: Mapping[str, Any] | None,
                  param: str = "tool_resources") -> dict[str, Any] | None:
    """``value`` checked, with its ``vector_stores`` helper turned into a store id."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad("tool_resources must be an object.", param)
    for key in value:
        if key not in KINDS:
            raise _bad(f"Unknown tool resource '{key}'; expected file_search or code_interpreter.", f"{param}.{key}")
    out: dict[str, Any] = {}
    if (search := value.get("file_search")) is not None:
        out["file_search"] = await _file_search(session, principal, search, f"{param}.file_search")
    if (code := value.get("code_interpreter")) is not None:
        out["code_interpreter"] = await _code_interpreter(session, principal, code, f"{param}.code_interpreter")
    return out


async def _file_search(session: AsyncSession, principal: Principal, value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad("file_search must be an object.", param)
    unknown = set(value) - {"vector_store_ids", "vector_stores"}
    if unknown:
        raise _bad(f"Unknown field(s) {sorted(unknown)} in file_search.", param)
    ids = value.get("vector_store_ids") or []
    helpers = value.get("vector_stores") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _bad("vector_store_ids must be a list of vector store ids.", f"{param}.vector_store_ids")
    if not isinstance(helpers, list) or not all(isinstance(h, Mapping) for h in helpers):
        raise _bad("vector_stores must be a list of objects.", f"{param}.vector_stores")
    if len(set(ids)) + len(helpers) > MAX_STORES:
        raise _bad(f"At most {MAX_STORES} vector store can be attached (vector_store_ids and vector_stores together).",
                   param)
    for store_id in dict.fromkeys(ids):
        try:
            store = await service.get_store(session, principal, store_id)
        except NotFound:
            raise _bad(f"No vector store found with id '{store_id}'.", f"{param}.vector_store_ids") from None
        service.check_usable(store)
    created = []
    for helper in helpers:
        extra = set(helper) - {"file_ids", "chunking_strategy", "metadata"}
        if extra:
            raise _bad(f"Unknown field(s) {sorted(extra)} in vector_stores[].", f"{param}.vector_stores")
        file_ids = helper.get("file_ids") or []
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            raise _bad("vector_stores[].file_ids must be a list of file ids.", f"{param}.vector_stores")
        try:
            store = await service.create_store(session, principal, name=None, description=None,
                                               metadata=helper.get("metadata"), expires_after=None,
                                               file_ids=file_ids, chunking_strategy=helper.get("chunking_strategy"))
        except NotFound as exc:  # a file the caller cannot read: a bad request here, naming it
            raise _bad(exc.message, f"{param}.vector_stores") from None
        created.append(store.id)
    return {"vector_store_ids": list(dict.fromkeys([*ids, *created]))}


async def _code_interpreter(session: AsyncSession, principal: Principal, value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or set(value) - {"file_ids"}:
        raise _bad("code_interpreter must be an object with file_ids.", param)
    file_ids = value.get("file_ids") or []
    if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids) or len(file_ids) > MAX_CODE_FILES:
        raise _bad(f"code_interpreter.file_ids must be a list of at most {MAX_CODE_FILES} file ids.", f"{param}.file_ids")
    for file_id in file_ids:
        try:
            await service.readable_file(session, principal, file_id, f"{param}.file_ids")
        except NotFound as exc:
            raise _bad(exc.message, f"{param}.file_ids") from None
    return {"file_ids": list(dict.fromkeys(file_ids))}


def search_file_ids(attachments: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """The files of message attachments that name the file_search tool."""
    found = []
    for attachment in attachments or ():
        tools = attachment.get("tools") or []
        if any((t.get("type") if isinstance(t, Mapping) else getattr(t, "type", None)) == "file_search" for t in tools):
            found.append(attachment.get("file_id"))
    return [f for f in dict.fromkeys(found) if isinstance(f, str)]


async def attach(session: AsyncSession, principal: Principal, resources: dict[str, Any] | None,
                 file_ids: list[str]) -> dict[str, Any] | None:
    """Add attached files to the thread's store (a new one when it has none); returns the
    thread's tool_resources to store (changed only when a store was created)."""
    if not file_ids:
        return resources
    resources = dict(resources or {})
    ids = list((resources.get("file_search") or {}).get("vector_store_ids") or [])
    store = await session.get(VectorStore, ids[0]) if ids else None
    if store is None:
        store = await service.create_store(session, principal, name="thread attachments", description=None,
                                           metadata=None, expires_after=THREAD_STORE_EXPIRY, file_ids=[],
                                           chunking_strategy=None)
        resources["file_search"] = {"vector_store_ids": [store.id]}
    rule = service.strategy(None)
    try:
        entries = [service.Entry(await service.readable_file(session, principal, f, "attachments"), {}, rule)
                   for f in file_ids]
    except NotFound as exc:
        raise _bad(exc.message, "attachments") from None
    await service.add_files(session, store, entries)
    return resources


__all__ = ["attach", "resolve", "search_file_ids"]
