"""Course rows: create, change, delete, and keep their embeddings current.

Services never commit; the caller (an endpoint, the seed, a tool) commits at its boundary.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.ids import now
from hilo.knowledge.embeddings import LocalEmbeddings
from hilo.packs.courses.models import Course

EMBEDDING_MODEL = "e5-small-q4"
# The demo catalog's vectors ship with the pack (``catalog.write_demo_vectors()`` rewrites
# them), so a new database is seeded without embedding anything.
DEMO_VECTORS = Path(__file__).parent / "demo_vectors.npz"
_vectors: dict[str, bytes] = {}  # embedding key -> vector: a text is embedded once per process
_loaded: set[str] = set()


def _known_vectors() -> dict[str, bytes]:
    if "shipped" not in _loaded and DEMO_VECTORS.exists():
        with np.load(DEMO_VECTORS) as shipped:
            _vectors.update({key: shipped[key].astype(np.float32).tobytes() for key in shipped.files})
        _loaded.add("shipped")
    return _vectors


def embedding_text(course: Course) -> str:
    return f"{course.name}. Nivel {course.level}, modalidad {course.modality}. {course.description}"


def embedding_key(course: Course) -> str:
    return hashlib.sha1(f"{EMBEDDING_MODEL}\n{embedding_text(course)}".encode()).hexdigest()


# The knowledge layer's bundled embedder (e5-small-q4 through the fair scheduler): the
# shipped demo vectors are its vectors, so the catalogue stays on it whatever
# HILO_EMBEDDINGS_* point vector stores at.
_EMBEDDER = LocalEmbeddings(threads=2)


def embed_passages(texts: list[str]) -> np.ndarray:
    """Unit vectors (n, 384) from the bundled multilingual-e5-small, on the engine's one thread;
    each text capped at the model's 512-token window (see :mod:`hilo.nlu.embed`)."""
    from hilo.nlu import embed

    return embed.passage_vectors(texts).astype(np.float32)


async def embed_query(text: str) -> np.ndarray:
    """The query's unit vector from the knowledge layer's embedder (:class:`LocalEmbeddings`),
    off the event loop in the caller's turn of the fair scheduler, capped at the model's query
    length (its first ~500 characters: what search needs)."""
    return await _EMBEDDER.query(text)


async def ensure_embeddings(session: AsyncSession, courses: list[Course]) -> int:
    """Compute the vectors that are missing or stale (text changed); returns how many."""
    await session.flush()
    stale = [c for c in courses if c.embedding is None or c.embedding_key != embedding_key(c)]
    known = _known_vectors()
    todo = list(dict.fromkeys(embedding_key(c) for c in stale if embedding_key(c) not in known))
    if todo:
        texts = {embedding_key(c): embedding_text(c) for c in stale}
        from hilo.nlu import embed

        vectors = await embed.run(embed_passages, [texts[k] for k in todo])
        for key, vector in zip(todo, vectors, strict=True):
            _vectors[key] = vector.tobytes()
    for course in stale:
        course.embedding_key = embedding_key(course)
        course.embedding = _vectors[course.embedding_key]
    return len(stale)


async def add(session: AsyncSession, values: dict[str, Any]) -> Course:
    stamp = now()
    course = Course(**values, created_at=stamp, updated_at=stamp)
    course.active = values.get("active", True)
    session.add(course)
    await session.flush()
    return course


async def change(session: AsyncSession, course: Course, values: dict[str, Any]) -> Course:
    for name, value in values.items():
        setattr(course, name, value)
    course.updated_at = now()
    await ensure_embeddings(session, [course])
    return course
