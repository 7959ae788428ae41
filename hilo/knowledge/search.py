"""Search over one or more vector stores: for ``POST /v1/vector_stores/{id}/search`` and the
``file_search`` tool.

**One index per store per process.** Each process keeps a :class:`~hilo.knowledge.index.StoreIndex`
per store it searched (dense + BM25, fused), built from ``knowledge_chunks``. A search first
reads the stores' rows (one query: id, version, expiry); a store whose ``version`` moved since
its index was built reloads *only what changed*: the completed files whose ``generation``
differs are re-read, files no longer completed (removed, re-added, failed) leave the index.
Every writer bumps the version in the same transaction as its change
(:mod:`hilo.knowledge.service`, :mod:`hilo.knowledge.ingest`), so an index is never older than
the search that uses it, whichever process wrote. The same rows give the same index, so
results are the same on SQLite and PostgreSQL. At most :data:`MAX_CACHED` stores are kept
(least recently searched out first).

**A search.** Attribute ``filters`` are evaluated on the cached ``vector_store_files.attributes``
to the set of files the index may return. Each query (a string, or each of a list) is embedded
once and searched in every store; a passage found by several queries keeps its best score;
passages are deduplicated (same chunk, or the same text of the same file), those under
``score_threshold`` dropped, and the best ``max_num_results`` returned. Scores are the index's,
in [0, 1]. ``ranker``: ``auto`` / ``default-2024-11-15`` (and ``default_2024_08_21``, the name
runs report) are the hybrid ranking; ``none`` is dense similarity alone (no fusion with the
lexical ranking: OpenAI's "no re-ranking"); ``hybrid`` / ``dense`` / ``lexical`` name a mode
directly (benchmarks).

**Filters** (OpenAI's): a comparison ``{"type": eq|ne|gt|gte|lt|lte|in|nin, "key", "value"}`` or
a compound ``{"type": and|or, "filters": [...]}``. ``eq``/``in`` need the attribute present with
an equal value (booleans equal only booleans; numbers compare as numbers); ``ne``/``nin`` are
their negation (a file without the attribute passes); ``gt``.. compare numbers with numbers and
strings with strings, anything else does not match.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import select, text, update

from hilo.files.models import File
from hilo.kit.db.session import Database
from hilo.kit.errors import InvalidRequest, NotFound
from hilo.kit.ids import now
from hilo.knowledge.embeddings import Embeddings, embeddings_for
from hilo.knowledge.index import StoreIndex
from hilo.knowledge.models import KnowledgeChunk, VectorStore, VectorStoreFile
from hilo.knowledge.objects import is_expired
from hilo.knowledge.service import COMPLETED, TOUCH_S, expired_error

log = logging.getLogger("hilo.knowledge")

MAX_CACHED = 256
MAX_FILTER_DEPTH = 8
MAX_FILTERS = 64  # comparisons and compounds in one filter
MAX_IN_VALUES = 100
COMPARISONS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"})
COMPOUNDS = frozenset({"and", "or"})
MODES = {"auto": "hybrid", "default-2024-11-15": "hybrid", "default_2024_08_21": "hybrid", "none": "dense",
         "hybrid": "hybrid", "dense": "dense", "lexical": "lexical"}


@dataclass(frozen=True, slots=True)
class Passage:
    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict
    chunk_id: int
    start_index: int
    end_index: int


# ---------------------------------------------------------------------- filters
def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid 'filters': {message}.", param="filters")


def check_filters(value: Any) -> None:
    """400 (``param="filters"``) unless ``value`` is a comparison or compound filter as OpenAI
    documents them (at most :data:`MAX_FILTER_DEPTH` deep, :data:`MAX_FILTERS` in all)."""
    seen = [0]

    def walk(node: Any, depth: int) -> None:
        seen[0] += 1
        if seen[0] > MAX_FILTERS:
            raise _bad(f"at most {MAX_FILTERS} filters in all")
        if depth > MAX_FILTER_DEPTH:
            raise _bad(f"compound filters nest at most {MAX_FILTER_DEPTH} deep")
        if not isinstance(node, Mapping):
            raise _bad("each filter must be an object with a 'type'")
        kind = node.get("type")
        if kind in COMPOUNDS:
            if set(node) != {"type", "filters"}:
                raise _bad(f"a '{kind}' filter has exactly 'type' and 'filters'")
            items = node["filters"]
            if not isinstance(items, list) or not items:
                raise _bad(f"'{kind}' needs a non-empty list of filters")
            for item in items:
                walk(item, depth + 1)
            return
        if kind not in COMPARISONS:
            raise _bad(f"type must be one of {sorted(COMPARISONS | COMPOUNDS)}, not {kind!r}")
        if set(node) != {"type", "key", "value"}:
            raise _bad(f"a '{kind}' filter has exactly 'type', 'key' and 'value'")
        key, target = node["key"], node["value"]
        if not isinstance(key, str) or not key or len(key) > 64:
            raise _bad("key must be an attribute name (1 to 64 characters)")
        if kind in ("in", "nin"):
            if not isinstance(target, list) or not target or len(target) > MAX_IN_VALUES:
                raise _bad(f"'{kind}' needs a list of 1 to {MAX_IN_VALUES} strings or numbers as its value")
            for item in target:
                if not _scalar(item) or isinstance(item, bool):
                    raise _bad(f"the values of '{kind}' must be strings or numbers")
        elif not _scalar(target):
            raise _bad(f"'{kind}' needs a string, number or boolean value (use 'in' / 'nin' for a list)")

    walk(value, 1)


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return a == b
    return isinstance(a, str) and isinstance(b, str) and a == b


def _order(a: Any, b: Any, kind: str) -> bool:
    if not ((_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[kind]


def matches(node: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """Whether a file with these attributes passes the (checked) filter."""
    kind = node["type"]
    if kind == "and":
        return all(matches(f, attributes) for f in node["filters"])
    if kind == "or":
        return any(matches(f, attributes) for f in node["filters"])
    present = node["key"] in attributes
    value = attributes.get(node["key"])
    target = node["value"]
    if kind == "eq":
        return present and _equal(value, target)
    if kind == "ne":
        return not (present and _equal(value, target))
    if kind == "in":
        return present and any(_equal(value, t) for t in target)
    if kind == "nin":
        return not (present and any(_equal(value, t) for t in target))
    return present and _order(value, target, kind)


# ---------------------------------------------------------------------- the per-process cache
@dataclass(slots=True)
class _FileInfo:
    generation: str | None
    filename: str
    attributes: dict[str, Any]


@dataclass(slots=True)
class _Cached:
    embedder: str
    version: int = -1
    index: StoreIndex = field(default_factory=StoreIndex)
    files: dict[str, _FileInfo] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_caches: WeakKeyDictionary[Database, OrderedDict[str, _Cached]] = WeakKeyDictionary()
THREAD_CHUNKS = 20_000  # a store this large is searched off the event loop (~1-2 ms and up)


def embedder(settings: Any) -> Embeddings:
    """The settings' embedder (one per configuration per process)."""
    return embeddings_for(settings)


def _cache(db: Database) -> OrderedDict[str, _Cached]:
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = OrderedDict()
    return cache


def forget(db: Database, store_id: str | None = None) -> None:
    """Drop a store's cached index (every store's with None)."""
    cache = _cache(db)
    if store_id is None:
        cache.clear()
    else:
        cache.pop(store_id, None)


async def _reload(db: Database, store_id: str, cached: _Cached, version: int) -> None:
    """Bring ``cached`` to the store's current rows, re-reading only files that changed."""
    async with db.sessionmaker() as session:
        if db.engine.dialect.name == "postgresql":  # members and chunks from one snapshot
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        version = await session.scalar(select(VectorStore.version).where(VectorStore.id == store_id))
        if version is None:
            raise NotFound(f"No vector store found with id '{store_id}'.", param="vector_store_ids")
        rows = (await session.execute(
            select(VectorStoreFile.id, VectorStoreFile.generation, VectorStoreFile.attributes, File.filename)
            .join(File, File.id == VectorStoreFile.id)
            .where(VectorStoreFile.vector_store_id == store_id, VectorStoreFile.status == COMPLETED))).all()
        current = {file_id: _FileInfo(generation, filename, attributes or {})
                   for file_id, generation, attributes, filename in rows}
        stale = [f for f, info in cached.files.items()
                 if f not in current or current[f].generation != info.generation]
        for file_id in stale:
            cached.index.remove(file_id)
            del cached.files[file_id]
        todo = [f for f in current if f not in cached.files]
        skipped = 0
        for start in range(0, len(todo), 200):
            part = todo[start:start + 200]
            chunks = await session.execute(
                select(KnowledgeChunk.id, KnowledgeChunk.file_id, KnowledgeChunk.text, KnowledgeChunk.embedder,
                       KnowledgeChunk.vector)
                .where(KnowledgeChunk.vector_store_id == store_id, KnowledgeChunk.file_id.in_(part))
                .order_by(KnowledgeChunk.file_id, KnowledgeChunk.ordinal))
            by_file: dict[str, tuple[list[int], list[str], list[bytes]]] = {f: ([], [], []) for f in part}
            for chunk_id, file_id, chunk_text, name, vector in chunks:
                if name != cached.embedder:
                    skipped += 1
                    continue
                ids, texts, vectors = by_file[file_id]
                ids.append(chunk_id)
                texts.append(chunk_text)
                vectors.append(vector)
            for file_id, (ids, texts, vectors) in by_file.items():
                if ids:
                    matrix = np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(ids), -1)
                    await asyncio.to_thread(cached.index.add, file_id, ids, texts, matrix)  # terms: CPU
        if skipped:
            log.warning("vector store %s: %d chunk(s) embedded by another embedder than %s are not searched "
                        "(add their files again to re-embed them)", store_id, skipped, cached.embedder)
        for file_id, info in current.items():
            cached.files[file_id] = info  # attributes and names may change without new chunks
        cached.version = version


async def _index(db: Database, settings: Any, store_id: str, version: int) -> _Cached:
    cache = _cache(db)
    cached = cache.get(store_id)
    name = embedder(settings).name
    if cached is None or cached.embedder != name:
        cached = cache[store_id] = _Cached(embedder=name)
    cache.move_to_end(store_id)
    while len(cache) > MAX_CACHED:
        cache.popitem(last=False)
    if cached.version != version:
        async with cached.lock:
            if cached.version != version:
                await _reload(db, store_id, cached, version)
    return cached


# ---------------------------------------------------------------------- search
@dataclass(frozen=True, slots=True)
class _Scored:
    score: float
    chunk_id: int
    file_id: str
    cached: Any


def _fused(dense: list, lexical: list, depth: int, k: float = 60.0) -> list[tuple[float, int, str, Any]]:
    """Reciprocal rank fusion of merged lists (best score first, chunk id breaking ties),
    scored against the best possible fused value (first in both: 1.0)."""
    fused: dict[int, list] = {}
    for items in (dense, lexical):
        for rank, (_score, cid, fid, cached) in enumerate(sorted(items, key=lambda h: (-h[0], h[1]))[:depth], 1):
            entry = fused.setdefault(cid, [0.0, fid, cached])
            entry[0] += 1.0 / (k + rank)
    bound = (int(bool(dense)) + int(bool(lexical))) / (k + 1.0)
    if not bound:
        return []
    return [(value / bound, cid, fid, cached) for cid, (value, fid, cached) in fused.items()]


def _queries(query: str | Sequence[str]) -> list[str]:
    items = [query] if isinstance(query, str) else list(query)
    return [q for q in dict.fromkeys(" ".join(q.split()) for q in items) if q]


async def search_stores(db: Database, settings: Any, store_ids: Sequence[str], query: str | list[str], *,
                        max_num_results: int = 10, filters: Mapping | None = None, score_threshold: float = 0.0,
                        ranker: str = "auto") -> list[Passage]:
    """The best passages of these stores for ``query`` (see the module's docstring).

    Unknown stores are a 404, expired ones a 400 (:func:`hilo.knowledge.service.expired_error`);
    ownership is the caller's business (the API checks it, runs read their assistant's stores)."""
    mode = MODES.get(ranker)
    if mode is None:
        raise InvalidRequest(f"Unknown ranker '{ranker}'.", param="ranking_options.ranker")
    if filters is not None:
        check_filters(filters)
    ids = list(dict.fromkeys(store_ids))
    queries = _queries(query)
    if not ids:
        return []
    at = now()
    async with db.sessionmaker() as session:
        rows = {r.id: r for r in (await session.execute(
            select(VectorStore.id, VectorStore.version, VectorStore.last_active_at, VectorStore.expires_after)
            .where(VectorStore.id.in_(ids)))).all()}
        for store_id in ids:
            row = rows.get(store_id)
            if row is None:
                forget(db, store_id)
                raise NotFound(f"No vector store found with id '{store_id}'.", param="vector_store_ids")
            if is_expired(row, at):
                raise expired_error(row)
        stale = [i for i in ids if at - rows[i].last_active_at >= TOUCH_S]
        if stale:  # use keeps a store alive (expires_after counts from last_active_at)
            await session.execute(update(VectorStore).where(VectorStore.id.in_(stale)).values(last_active_at=at)
                                  .execution_options(synchronize_session=False))
            await session.commit()
    indexes = [await _index(db, settings, i, rows[i].version) for i in ids]
    if not queries or not any(len(c.index) for c in indexes):
        return []
    allowed: list[set[str] | None] = []
    for cached in indexes:
        if filters is None:
            allowed.append(None)
        else:
            allowed.append({f for f, info in cached.files.items() if matches(filters, info.attributes)})
    model = embedder(settings) if mode != "lexical" else None
    best: dict[int, tuple[float, str, _Cached]] = {}
    depth = min(50, max_num_results * 2)
    for q in queries:
        vector = await model.query(q) if model is not None else None
        # several stores are one corpus: a store's own fused ranking says nothing against another's
        # (each one's best scores ~1), so their dense and lexical lists are merged by score first
        # (cosines compare across stores; BM25 is scaled by the query's bound) and fused once
        modes = ["dense", "lexical"] if mode == "hybrid" and len(indexes) > 1 else [mode]
        lists: dict[str, list[tuple[float, int, str, _Cached]]] = {m: [] for m in modes}
        for cached, files in zip(indexes, allowed, strict=True):
            if files is not None and not files:
                continue
            for m in modes:
                if len(cached.index) > THREAD_CHUNKS:
                    found = await asyncio.to_thread(cached.index.search, q, vector, depth, m, files)
                else:
                    found = cached.index.search(q, vector, k=depth, mode=m, files=files)
                lists[m] += [(h.score, h.chunk_id, h.file_id, cached) for h in found]
        if len(modes) == 1:
            hits = [(score, cid, fid, cached) for score, cid, fid, cached in lists[mode]]
        else:
            hits = _fused(lists["dense"], lists["lexical"], depth)
        for hit in (_Scored(*h) for h in hits):
            score = min(1.0, max(0.0, float(hit.score)))
            if hit.chunk_id not in best or best[hit.chunk_id][0] < score:
                best[hit.chunk_id] = (score, hit.file_id, hit.cached)
    ranked = sorted(((s, cid, fid, c) for cid, (s, fid, c) in best.items() if s >= score_threshold),
                    key=lambda r: (-r[0], r[1]))
    if not ranked:
        return []
    wanted = [cid for _s, cid, _f, _c in ranked[: max_num_results * 2]]
    async with db.sessionmaker() as session:
        texts = {r.id: r for r in (await session.execute(
            select(KnowledgeChunk.id, KnowledgeChunk.text, KnowledgeChunk.start_index, KnowledgeChunk.end_index)
            .where(KnowledgeChunk.id.in_(wanted)))).all()}
    out: list[Passage] = []
    seen: set[tuple[str, str]] = set()
    for score, chunk_id, file_id, cached in ranked:
        row = texts.get(chunk_id)
        info = cached.files.get(file_id)
        if row is None or info is None or (file_id, row.text) in seen:
            continue  # deleted since the index was read, or the same text again
        seen.add((file_id, row.text))
        out.append(Passage(file_id=file_id, filename=info.filename, score=score, text=row.text,
                           attributes=dict(info.attributes), chunk_id=chunk_id, start_index=row.start_index,
                           end_index=row.end_index))
        if len(out) == max_num_results:
            break
    return out


__all__ = ["MODES", "Passage", "check_filters", "embedder", "forget", "matches", "search_stores"]
