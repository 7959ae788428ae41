"""Course search: every constraint the user gave is a filter, the topic ranks what is left.

Level, modality and maximum price are SQL filters (the same rows on every database). The topic
is ranked in Python over the filtered rows, so SQLite and PostgreSQL order results identically:

* **lexical**: the share of the query's content words that a course names (its name counts
  twice its description), matched on the knowledge layer's terms (accent-folded Snowball stems,
  :mod:`hilo.knowledge.lexical`: "inglés" = "ingles", "programación" = "programar");
* **semantic**: the query's multilingual-e5-small vector against the vectors stored on the rows
  (computed once per row text, see :func:`service.ensure_embeddings`).

When some course names the topic, only such courses are results (a course about French is not
an answer to "inglés"), best coverage first and the semantic score breaking ties; when none
does (a synonym, a typo, another language), the semantic matches close to the best one are,
and a query about nothing in the catalogue finds nothing. No query: the catalogue under the
filters, cheapest first.

The catalogue is small (tens to a few thousand rows, all read for the semantic score anyway),
so ranking in Python costs less than a round trip more. The FTS5 table the pack's first
migration made is no longer read.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.knowledge.lexical import terms as lexical_terms
from hilo.nlu.lang import fold
from hilo.packs.courses import service
from hilo.packs.courses.models import Course

SEMANTIC_MARGIN = 0.04  # keep semantic matches within this cosine distance of the best one
SEMANTIC_FLOOR = 0.845  # e5 similarities of a query and an unrelated course sit around 0.80-0.835
NAME_WEIGHT = 2.0
FUZZY_LENGTH = 5  # a word this long may be misspelt by one letter and still name a course

_STOP = set(fold(
    "a al con curso cursos de del el en la las los o u para por que quiero busco un una y sobre me mi "
    "algo aprender clase clases tienen tienes hay the of for to an and in on or not course courses learn "
    "want i some about any do you have es son soy necesito ser mas muy tambien como cual cuales donde "
    "cuanto cuesta cuestan precio precios valor vale valen horario horarios"
).split())


def terms(query: str | None) -> list[str]:
    words = re.findall(r"[a-z0-9ñ]+", fold(query or ""))
    return list(dict.fromkeys(w for w in words if w not in _STOP and len(w) > 1 and not w.isdigit()))


def stem(word: str) -> str:
    """The knowledge layer's stem of a word (folded, Snowball): "principiantes" -> "principi",
    "programación" and "programar" -> "program"."""
    found = lexical_terms(word)
    return found[0] if found else fold(word)


def _words(text: str) -> set[str]:
    """The knowledge layer's terms of a text (:func:`hilo.knowledge.lexical.terms`), the same
    analysis as vector stores' lexical search."""
    return set(lexical_terms(text))


def _one_edit(a: str, b: str) -> bool:
    """One letter missing, extra or changed ("exel" / "excel"), the first letter the same."""
    if a[:1] != b[:1] or abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _names(stems: set[str], term: str) -> bool:
    """Does a text (its stems) name the term: the same stem, a longer word it begins, or, for a
    word of five letters or more, that word misspelt by one letter ("exel" for "excel")."""
    t = stem(term)
    return t in stems or (len(t) >= 4 and any(w.startswith(t) for w in stems)) or (
        len(t) >= FUZZY_LENGTH - 1 and any(len(w) >= FUZZY_LENGTH and _one_edit(t, w) for w in stems))


def coverage(course: Course, words: list[str]) -> float:
    """How much of the query the course names: 0 (nothing) to 1 (every word, in its name)."""
    if not words:
        return 0.0
    name = _words(course.name)
    body = _words(f"{course.description} {course.level} {course.modality} {course.code or ''}")
    score = sum(NAME_WEIGHT if _names(name, w) else 1.0 if _names(body, w) else 0.0 for w in words)
    return score / (NAME_WEIGHT * len(words))


def filters(level: str | None = None, modality: str | None = None, max_price: float | None = None) -> list:
    found = [Course.active.is_(True)]
    if level:
        found.append(Course.level == level)
    if modality:
        found.append(Course.modality == modality)
    if max_price is not None:
        found.append(Course.price <= Decimal(str(max_price)))
    return found


async def count(session: AsyncSession, level: str | None = None, modality: str | None = None,
                max_price: float | None = None) -> int:
    return int(await session.scalar(select(func.count()).select_from(Course).where(
        *filters(level, modality, max_price))) or 0)


async def search(session: AsyncSession, query: str | None, level: str | None = None, limit: int = 5,
                 modality: str | None = None, max_price: float | None = None) -> list[Course]:
    stmt = select(Course).where(*filters(level, modality, max_price)).order_by(Course.price, Course.id)
    rows = list(await session.scalars(stmt))
    words = terms(query)
    if not rows:  # nothing under the filters
        return []
    if not words:  # no topic (or only filler): the catalogue under the filters, cheapest first
        return rows[:limit]
    lexical = {c.id: coverage(c, words) for c in rows}
    semantic = await similarities(session, rows, query or "")
    named = [c for c in rows if lexical[c.id] > 0]
    if named:
        named.sort(key=lambda c: (-lexical[c.id], -semantic[c.id], c.id))
        return named[:limit]
    best = max(semantic.values())
    cutoff = max(best - SEMANTIC_MARGIN, SEMANTIC_FLOOR)
    close = sorted((c for c in rows if semantic[c.id] >= cutoff), key=lambda c: (-semantic[c.id], c.id))
    return close[:limit]


async def similarities(session: AsyncSession, rows: list[Course], query: str) -> dict[int, float]:
    await service.ensure_embeddings(session, rows)  # once per row text; the caller commits
    matrix = np.stack([np.frombuffer(c.embedding, dtype=np.float32) for c in rows])
    scores = matrix @ await service.embed_query(query)
    return {c.id: float(s) for c, s in zip(rows, scores, strict=True)}


async def semantic(session: AsyncSession, query: str, level: str | None = None) -> list[int]:
    """Ids of the semantic matches alone, best first (what ranks a query no course names)."""
    rows = list(await session.scalars(select(Course).where(*filters(level))))
    if not rows or not query.strip():
        return []
    scores = await similarities(session, rows, query)
    cutoff = max(max(scores.values()) - SEMANTIC_MARGIN, SEMANTIC_FLOOR)
    return [i for i in sorted(scores, key=lambda i: -scores[i]) if scores[i] >= cutoff]
