"""Course search, best first: lexical and semantic rankings fused by reciprocal rank fusion.

* Lexical: SQLite FTS5 (``unicode61 remove_diacritics``, BM25 with the name weighing more);
  PostgreSQL full-text search (``spanish`` configuration) over ``unaccent`` text when the
  extension is there; otherwise accent-folded ``LIKE`` on any database.
* Semantic: the query's multilingual-e5-small vector against the vectors stored on the rows
  (computed once per row text, see :func:`service.ensure_embeddings`). Rows far below the
  best match are dropped, so a query about nothing in the catalog finds nothing.
"""

from __future__ import annotations

import re

import numpy as np
from sqlalchemy import case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.nlu.lang import fold
from hilo.packs.courses import service
from hilo.packs.courses.models import Course

RRF_K = 60
SEMANTIC_MARGIN = 0.04  # keep semantic matches within this cosine distance of the best one
SEMANTIC_FLOOR = 0.845  # e5 similarities of a query and an unrelated course sit around 0.80-0.835
CANDIDATES = 50

_STOP = set(
    "a al con curso cursos de del el en la las los o para por que quiero busco un una y sobre me mi "
    "algo aprender clase clases tienen tienes hay the of for to an and in on course courses learn "
    "want i some about any do you have".split()
)
_unaccent: dict[str, bool] = {}


def terms(query: str) -> list[str]:
    words = re.findall(r"[a-z0-9ñ]+", fold(query))
    return list(dict.fromkeys(w for w in words if w not in _STOP and len(w) > 1))


def _stem(word: str) -> str:
    """A crude Spanish/English plural strip, used as an FTS5 prefix ("principiantes" -> "principiant*")."""
    if len(word) > 4 and word.endswith("es"):
        return word[:-2]
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


async def search(session: AsyncSession, query: str, level: str | None = None, limit: int = 5) -> list[Course]:
    rankings = [await lexical(session, query, level), await semantic(session, query, level)]
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, course_id in enumerate(ranking):
            scores[course_id] = scores.get(course_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    best = sorted(scores, key=lambda i: -scores[i])[:limit]
    rows = {c.id: c for c in await session.scalars(select(Course).where(Course.id.in_(best)))}
    return [rows[i] for i in best if i in rows]


def _filters(level: str | None) -> list:
    return [Course.active.is_(True), *([Course.level == level] if level else [])]


async def lexical(session: AsyncSession, query: str, level: str | None = None) -> list[int]:
    words = terms(query)
    if not words:
        return []
    dialect = session.bind.dialect.name
    if dialect == "sqlite":
        return await _fts5(session, words, level)
    if dialect == "postgresql" and await _has_unaccent(session):
        return await _postgres(session, words, level)
    return await _like(session, words, level)


async def _fts5(session: AsyncSession, words: list[str], level: str | None) -> list[int]:
    match = " OR ".join(f'"{_stem(w)}"*' for w in words)
    sql = text(
        "SELECT c.id FROM courses_fts JOIN courses c ON c.id = courses_fts.rowid "
        "WHERE courses_fts MATCH :match AND c.active AND (:level IS NULL OR c.level = :level) "
        f"ORDER BY bm25(courses_fts, 4.0, 1.0, 1.0, 1.0) LIMIT {CANDIDATES}"
    )
    return list((await session.scalars(sql, {"match": match, "level": level})).all())


async def _has_unaccent(session: AsyncSession) -> bool:
    url = str(session.bind.url)
    if url not in _unaccent:
        found = await session.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'unaccent'"))
        _unaccent[url] = bool(found)
    return _unaccent[url]


async def _postgres(session: AsyncSession, words: list[str], level: str | None) -> list[int]:
    sql = text(
        "WITH q AS (SELECT to_tsquery('spanish', unaccent(:query)) AS query), "
        "d AS (SELECT id, setweight(to_tsvector('spanish', unaccent(name)), 'A') || "
        "setweight(to_tsvector('spanish', unaccent(description)), 'B') || "
        "setweight(to_tsvector('spanish', unaccent(level || ' ' || modality)), 'C') AS doc FROM courses "
        "WHERE active AND (CAST(:level AS text) IS NULL OR level = :level)) "
        f"SELECT d.id FROM d, q WHERE d.doc @@ q.query ORDER BY ts_rank(d.doc, q.query) DESC, d.id LIMIT {CANDIDATES}"
    )
    query = " | ".join(f"{w}:*" for w in words)
    return list((await session.scalars(sql, {"query": query, "level": level})).all())


def _folded(column):
    """lower() without accents, with replace() because SQLite has no translate() and its
    lower() leaves non-ASCII letters alone."""
    folded = func.lower(column)
    for accented, plain in zip("áéíóúüÁÉÍÓÚÜ", "aeiouuaeiouu", strict=True):
        folded = func.replace(folded, accented, plain)
    return folded


async def _like(session: AsyncSession, words: list[str], level: str | None) -> list[int]:
    name = _folded(Course.name)
    body = _folded(Course.description + " " + Course.level + " " + Course.modality)
    hits = [(name.like(f"%{_stem(w)}%"), body.like(f"%{_stem(w)}%")) for w in words]
    score = sum(case((n, 2), else_=0) + case((b, 1), else_=0) for n, b in hits)
    stmt = (select(Course.id).where(*_filters(level), or_(*(n | b for n, b in hits)))
            .order_by(score.desc(), Course.id).limit(CANDIDATES))
    return list((await session.scalars(stmt)).all())


async def semantic(session: AsyncSession, query: str, level: str | None = None) -> list[int]:
    rows = list(await session.scalars(select(Course).where(*_filters(level))))
    if not rows or not query.strip():
        return []
    await service.ensure_embeddings(session, rows)  # once per row text; the caller commits
    matrix = np.stack([np.frombuffer(c.embedding, dtype=np.float32) for c in rows])
    scores = matrix @ await service.embed_query(query)
    cutoff = max(float(scores.max()) - SEMANTIC_MARGIN, SEMANTIC_FLOOR)
    order = np.argsort(-scores)
    return [rows[i].id for i in order[:CANDIDATES] if scores[i] >= cutoff]
