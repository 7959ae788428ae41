"""The in-memory hybrid index of one vector store: exact dense search + BM25, fused by RRF.

The database holds a store's chunks and their vectors; each process keeps one
:class:`StoreIndex` per store it searches, built from those rows and kept current file by file
(:meth:`StoreIndex.add` / :meth:`StoreIndex.remove`; removing a file never touches the vectors
of the others). The same rows give the same hits in every process, whatever the database.

**Dense** search ranks by exact cosine (float32 dot products of unit vectors). A store of fewer
than :data:`QUANTIZED_MIN` slots is one matrix-vector product. A larger one keeps an int8 copy
of its vectors in a ``usearch`` index that is only *scanned* (exhaustive SIMD search, its graph
left minimal: it builds in ~0.3 s for 100k and adds a file in microseconds): the scan shortlists
the best ``max(2k, k + 100)`` chunks and those are reranked in float32, so the hits and their
scores are the exact ones unless an exact top-k chunk falls out of the int8 shortlist (measured:
recall@10 1.0 against brute force on 100,000 e5-like vectors, ``bench/knowledge_search.py``).
Why not the alternatives, measured on this project's 2-core machine at 100k x 384: the float32
product alone takes ~10 ms (bound by memory bandwidth: two BLAS threads only reach ~8.5 ms, and
their spinning workers then slow the next query embedding from ~15 ms to ~107 ms; so BLAS runs on
one thread here, :func:`_one_blas_thread`); the int8 scan takes ~2 ms; HNSW graphs searched in
under 2 ms but reached only 0.84 recall@10 at ``ef`` 256 on that corpus, take 20-70 s to build
(every process that loads the store would pay it) and filter by file only by over-fetching. A
``files`` filter that keeps under a quarter of the store scores just those rows in float32.
Memory at 100k x 384: 154 MB of float32 vectors plus ~68 MB for the int8 copy.

**Lexical** search is BM25 (Lucene's variant: ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``,
``k1`` = 1.2, ``b`` = 0.75) over :func:`hilo.knowledge.lexical.terms`, written here over numpy
posting lists rather than with ``bm25s``: ``bm25s`` precomputes every (chunk, term) score with
the store's IDF baked in, so adding or removing one file means re-indexing the whole store
(measured in the bench), while these postings take a file in O(its terms) and score at query
time from live document frequencies. A removed file's slots are dead until a compaction
(when they are over half of the slots) packs vectors and postings, still without embedding.

**Fusion** is reciprocal rank fusion over the top :attr:`StoreIndex.depth` of each list:
``fused = w_dense / (k + rank_dense) + w_lexical / (k + rank_lexical)`` (``k`` = 60, ranks from
1; a chunk missing from a list gets nothing from it).

**Scores** are in [0, 1] and never rise as the rank falls:

* hybrid: the fused value divided by the best one possible for this query (first in every
  list that returned anything), so a chunk first in both lists scores 1.0;
* dense: the cosine mapped to [0, 1], ``(1 + cos) / 2``;
* lexical: the BM25 score divided by its bound for this query, ``sum(idf * (k1 + 1))`` over
  the query's known terms (what a chunk would score with every term infinitely often).

**Ties** are broken by chunk id (ascending), and a candidate list includes every chunk tied
with its last member before that cut, so the same rows and query give the same hits whatever
order the files were added in.

All methods take one lock: searches of one store run one at a time, and a search never sees
a file half added. Callers that have just awaited a query embedding should search off the
event loop's thread (``asyncio.to_thread``): measured at 100k, a search run on the loop right
after the await took ~11 ms instead of ~7 (it contends for the GIL with the executor thread
that is finishing).
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from hilo.knowledge.lexical import terms

__all__ = ["MODES", "Hit", "StoreIndex"]

MODES = ("hybrid", "dense", "lexical")
QUANTIZED_MIN = 16_384  # from this many slots on, the dense side shortlists with int8 first
SHORTLIST_EXTRA = 100  # int8 candidates beyond those asked for (reranked exactly in float32)
_blas_local = threading.local()


def _blas_setter():
    """OpenBLAS's ``openblas_set_num_threads_local`` (0.3.27+) from the copy numpy loaded, or None."""
    try:
        maps = open("/proc/self/maps", encoding="utf-8").read()
    except OSError:
        return None
    for path in sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps))):
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        return setter
    return None


_SET_BLAS_THREADS = _blas_setter()


def _one_blas_thread() -> None:
    """Make this thread's BLAS calls single-threaded (once per thread).

    Measured here: right after a 2-thread OpenBLAS product, OpenBLAS's workers keep spinning
    while the bundled embedder's OpenMP team runs, and the next query embedding takes 107 ms
    instead of 15 ms; with one BLAS thread it stays at ~15-18 ms and the product over 100k
    vectors takes ~10 ms instead of ~8.5 (it is bound by memory bandwidth, not by cores).
    """
    if _SET_BLAS_THREADS is not None and not getattr(_blas_local, "set", False):
        _SET_BLAS_THREADS(1)
        _blas_local.set = True
_INITIAL = 1024  # slots allocated at first (and the dead slots tolerated before a compaction)


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: int
    file_id: str
    score: float  # in [0, 1], higher is better
    dense_rank: int | None  # 1-based rank in the dense candidates (None: not among them)
    lexical_rank: int | None  # 1-based rank in the lexical candidates (None: not among them)
    cosine: float | None = None  # the exact cosine with the query's vector (None: not a dense candidate)


@dataclass(slots=True)
class _File:
    number: int
    slots: np.ndarray  # int64: the file's slots
    term_ids: np.ndarray  # int64: the distinct terms of its chunks
    term_docs: np.ndarray  # int64: in how many of its chunks each appears (its share of df)


class _Postings:
    """One term's (slot, term frequency) pairs, appended per file and merged when read."""

    __slots__ = ("slots", "tfs", "parts", "weights", "stamp")

    def __init__(self) -> None:
        self.slots = np.zeros(0, dtype=np.int32)
        self.tfs = np.zeros(0, dtype=np.float32)
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.weights: np.ndarray | None = None  # BM25's tf part, for the statistics of `stamp`
        self.stamp = -1

    def append(self, slots: np.ndarray, tfs: np.ndarray) -> None:
        self.parts.append((slots, tfs))
        self.weights = None
        if len(self.parts) >= 16:  # thousands of files' small arrays would cost more than their data
            self.arrays()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.parts:
            self.slots = np.concatenate([self.slots, *(s for s, _t in self.parts)])
            self.tfs = np.concatenate([self.tfs, *(t for _s, t in self.parts)])
            self.parts = []
        return self.slots, self.tfs


class StoreIndex:
    """In-memory hybrid index of one vector store's chunks (dense + BM25, fused by RRF)."""

    def __init__(self, *, rrf_k: float = 60.0, dense_weight: float = 1.0, lexical_weight: float = 1.0,
                 depth: int = 100, k1: float = 1.2, b: float = 0.75) -> None:
        self.rrf_k = float(rrf_k)
        self.dense_weight = float(dense_weight)
        self.lexical_weight = float(lexical_weight)
        self.depth = int(depth)  # candidates taken from each list before fusing
        self.k1 = float(k1)
        self.b = float(b)
        self._lock = threading.RLock()
        self._dim: int | None = None
        self._used = 0  # slots handed out (live and dead)
        self._live = 0
        self._total_length = 0  # terms in live chunks
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._length = np.zeros(0, dtype=np.float32)
        self._chunk_ids = np.zeros(0, dtype=np.int64)
        self._file_of = np.zeros(0, dtype=np.int64)
        self._files: dict[str, _File] = {}
        self._file_names: list[str | None] = []  # by file number
        self._vocab: dict[str, int] = {}
        self._postings: list[_Postings] = []
        self._df = np.zeros(0, dtype=np.int64)  # live chunks holding each term
        self._stamp = 0  # bumped whenever the average chunk length may change (cached BM25 tf parts)
        self._coarse = None  # usearch int8 index of the slots (stores of QUANTIZED_MIN slots or more)
        self._scale = 1.0  # int8 = round(component * scale)

    # ------------------------------------------------------------------ contents
    def __len__(self) -> int:
        return self._live

    def files(self) -> set[str]:
        with self._lock:
            return set(self._files)

    def knows(self, term: str) -> bool:
        """Does some live chunk hold this term (as :func:`~hilo.knowledge.lexical.terms` makes them)?"""
        with self._lock:
            number = self._vocab.get(term)
            return number is not None and number < len(self._df) and bool(self._df[number] > 0)

    @property
    def dim(self) -> int | None:
        return self._dim

    def memory_bytes(self) -> int:
        """Bytes held by the arrays (vectors, postings, per-slot data); Python objects excluded."""
        with self._lock:
            total = sum(a.nbytes for a in (self._vectors, self._alive, self._length, self._chunk_ids,
                                           self._file_of, self._df))
            for postings in self._postings:
                total += postings.slots.nbytes + postings.tfs.nbytes
                total += sum(s.nbytes + t.nbytes for s, t in postings.parts)
                total += postings.weights.nbytes if postings.weights is not None else 0
            for entry in self._files.values():
                total += entry.slots.nbytes + entry.term_ids.nbytes + entry.term_docs.nbytes
            if self._coarse is not None:
                total += int(self._coarse.memory_usage)
            return total

    def add(self, file_id: str, chunk_ids: Sequence[int], texts: Sequence[str], vectors: np.ndarray) -> None:
        """Index one file's chunks (replacing what the index held for ``file_id``)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(chunk_ids) != len(texts) or len(texts) != vectors.shape[0]:
            raise ValueError("add() needs as many chunk ids, texts and vector rows")
        if not all(math.isfinite(v) for v in vectors.sum(axis=1)):
            raise ValueError("vectors must be finite")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
        bags = [Counter(terms(text)) for text in texts]  # outside the lock: the slow part
        with self._lock:
            if self._dim is None and len(texts):
                self._dim = vectors.shape[1]
            if len(texts) and vectors.shape[1] != self._dim:
                raise ValueError(f"vectors have {vectors.shape[1]} dimensions; this index holds {self._dim}")
            self.remove(file_id)
            count = len(texts)
            self._reserve(self._used + count)
            slots = np.arange(self._used, self._used + count, dtype=np.int64)
            self._used += count
            number = len(self._file_names)
            self._file_names.append(file_id)
            if count:
                self._vectors[slots] = vectors
            self._alive[slots] = True
            self._chunk_ids[slots] = np.asarray(chunk_ids, dtype=np.int64)
            self._file_of[slots] = number
            lengths = np.array([sum(bag.values()) for bag in bags], dtype=np.float32)
            self._length[slots] = lengths
            self._live += count
            self._total_length += int(lengths.sum())
            term_ids, term_docs = self._post(slots, bags)
            self._files[file_id] = _File(number, slots, term_ids, term_docs)
            self._stamp += 1
            if self._coarse is not None and count:
                self._coarse.add(slots.astype(np.uint64), self._quantized(vectors), threads=1)
            elif self._coarse is None and self._used >= QUANTIZED_MIN:
                self._build_coarse()

    def remove(self, file_id: str) -> None:
        """Forget one file's chunks (no other file's vectors or postings are rebuilt)."""
        with self._lock:
            entry = self._files.pop(file_id, None)
            if entry is None:
                return
            self._alive[entry.slots] = False
            self._file_names[entry.number] = None
            self._live -= len(entry.slots)
            self._total_length -= int(self._length[entry.slots].sum())
            self._df[entry.term_ids] -= entry.term_docs
            self._stamp += 1
            dead = self._used - self._live
            if dead > max(_INITIAL, self._live):
                self._compact()

    # ------------------------------------------------------------------ search
    def search(self, query: str, vector: np.ndarray | None, k: int = 10, mode: str = "hybrid",
               files: Collection[str] | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query`` (its text for BM25, its unit ``vector`` for the
        dense side), best first; ``files``: only chunks of these files. In hybrid mode with no
        ``vector`` the lexical ranking is answered (scored as lexical)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if k <= 0:
            return []
        if mode == "dense" and vector is None:
            raise ValueError("dense search needs the query's vector")
        query_terms = sorted(set(terms(query))) if mode != "dense" else []
        with self._lock:
            if not self._live:
                return []
            allowed = self._allowed(files)
            if allowed is not None and not allowed.any():
                return []
            if mode == "hybrid" and vector is None:
                mode = "lexical"
            if mode == "dense":
                slots, scores = self._dense(vector, allowed, k)
                return [self._hit(s, (1.0 + c) / 2.0, i + 1, None, c)
                        for i, (s, c) in enumerate(zip(slots, scores, strict=True))]
            if mode == "lexical":
                slots, scores, bound = self._lexical(query_terms, allowed, k)
                return [self._hit(s, v / bound, None, i + 1) for i, (s, v) in enumerate(zip(slots, scores, strict=True))]
            depth = max(self.depth, k)
            dense_slots, cosines = self._dense(vector, allowed, depth)
            lexical_slots, _, _ = self._lexical(query_terms, allowed, depth)
            return self._fuse(dense_slots, lexical_slots, k, cosines)

    def _hit(self, slot: int, score: float, dense_rank: int | None, lexical_rank: int | None,
             cosine: float | None = None) -> Hit:
        file_id = self._file_names[int(self._file_of[slot])]
        assert file_id is not None
        return Hit(int(self._chunk_ids[slot]), file_id, min(max(float(score), 0.0), 1.0), dense_rank, lexical_rank,
                   None if cosine is None else float(cosine))

    def _allowed(self, files: Collection[str] | None) -> np.ndarray | None:
        """A mask over the used slots of the chunks of ``files`` (None: every live chunk)."""
        if files is None:
            return None
        mask = np.zeros(self._used, dtype=bool)
        for file_id in set(files):
            entry = self._files.get(file_id)
            if entry is not None:
                mask[entry.slots] = True
        return mask

    def _dense(self, vector: np.ndarray | None, allowed: np.ndarray | None, count: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """(slots, cosines) of the ``count`` nearest live chunks, best first."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self._dim:
            raise ValueError(f"the query vector has {query.shape[0]} dimensions; this index holds {self._dim}")
        norm = float(np.linalg.norm(query))
        if not math.isfinite(norm):
            raise ValueError("the query vector must be finite")
        if norm > 0:
            query = query / norm
        _one_blas_thread()
        used = self._used
        keep = self._alive[:used] if allowed is None else (self._alive[:used] & allowed)
        kept = int(np.count_nonzero(keep))
        if self._coarse is not None and kept * 4 >= used:
            found = self._shortlisted(query, keep, kept, count)
            if found is not None:
                return found
        if kept * 4 < used:  # a small part of the store: only its rows
            rows = np.flatnonzero(keep)
            return self._top_of(rows, self._vectors[rows] @ query, count)
        scores = self._vectors[:used] @ query
        scores[~keep] = -np.inf
        return self._top(scores, count)

    def _shortlisted(self, query: np.ndarray, keep: np.ndarray, kept: int, count: int
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact top ``count`` among an int8 shortlist, or None when the shortlist holds too
        few usable slots (the caller then scans every row)."""
        wanted = min(kept, count)
        fetch = min(self._used, int((max(2 * count, count + SHORTLIST_EXTRA)) * self._used / kept) + 1)
        found = self._coarse.search(self._quantized(query[None, :])[0], fetch, exact=True, threads=1)
        rows = found.keys.astype(np.int64)
        rows = rows[keep[rows]]
        if len(rows) < min(kept, count + SHORTLIST_EXTRA) and fetch < self._used:
            return None
        if len(rows) < wanted:
            return None
        return self._top_of(rows, self._vectors[rows] @ query, count)

    def _quantized(self, vectors: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(vectors * self._scale), -127, 127).astype(np.int8)

    def _build_coarse(self) -> None:
        """The int8 copy of the live vectors, searched exhaustively (SIMD) to shortlist for the
        exact float32 rerank: ~2 ms for 100k x 384 on one core instead of ~10 ms. Its graph is
        kept minimal (connectivity 2): it is never walked, only scanned."""
        from usearch.index import Index

        dim = int(self._dim or 0)
        # unit vectors: a component is ~1/sqrt(dim); |component| up to 5/sqrt(dim) keeps its precision
        self._scale = 127.0 / min(1.0, 5.0 / math.sqrt(max(dim, 1)))
        coarse = Index(ndim=dim, metric="ip", dtype="i8", connectivity=2, expansion_add=2)
        rows = np.flatnonzero(self._alive[: self._used])
        if len(rows):
            coarse.add(rows.astype(np.uint64), self._quantized(self._vectors[rows]), threads=1)
        self._coarse = coarse

    def _lexical(self, query_terms: list[str], allowed: np.ndarray | None, count: int
                 ) -> tuple[np.ndarray, np.ndarray, float]:
        """(slots, BM25 scores) of the ``count`` best live chunks with a query term, and the
        query's bound (the most a chunk could score)."""
        ids = [self._vocab[t] for t in query_terms if t in self._vocab]
        ids = [i for i in ids if self._df[i] > 0]
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), 1.0
        if not ids:
            return empty
        live = self._live
        keep = None
        if allowed is not None:
            keep = self._alive[: self._used] & allowed
        elif live < self._used:
            keep = self._alive
        parts_slots, parts_scores = [], []
        bound = 0.0
        for term in ids:
            df = int(self._df[term])
            idf = math.log(1.0 + (live - df + 0.5) / (df + 0.5))
            bound += idf * (self.k1 + 1.0)
            slots, weights = self._weights(term)
            if keep is not None:
                mask = keep[slots]
                slots, weights = slots[mask], weights[mask]
            parts_slots.append(slots)
            parts_scores.append(weights * idf)
        slots = np.concatenate(parts_slots)
        if not len(slots):
            return empty[0], empty[1], bound
        totals = np.bincount(slots, weights=np.concatenate(parts_scores).astype(np.float64), minlength=self._used)
        scores = np.where(totals > 0, totals, -np.inf)  # every term's share is positive
        found, values = self._top(scores, count)
        return found, values, bound

    def _weights(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(slots, BM25 tf parts ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))``)
        of one term's postings, cached until the average chunk length may have changed."""
        postings = self._postings[term]
        slots, tfs = postings.arrays()
        if postings.weights is None or postings.stamp != self._stamp:
            average = self._total_length / self._live if self._live else 1.0
            norm = self.k1 * (1.0 - self.b + self.b * self._length[slots] / average)
            postings.weights = (tfs * (self.k1 + 1.0) / (tfs + norm)).astype(np.float32)
            postings.stamp = self._stamp
        return slots, postings.weights

    def _top_of(self, rows: np.ndarray, scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(slots, scores) of the ``count`` best of ``rows`` (scored ``scores``), best first,
        ties by chunk id."""
        order = np.lexsort((self._chunk_ids[rows], -scores))[:count]
        return rows[order], scores[order]

    def _top(self, scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(slots, scores) of the ``count`` best finite scores, best first, ties by chunk id;
        every slot tied with the last one kept is considered before the cut."""
        finite = int(np.count_nonzero(scores > -np.inf))
        if finite == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=scores.dtype)
        count = min(count, finite)
        if count < len(scores):
            part = np.argpartition(-scores, count - 1)[:count]
            threshold = scores[part].min()
            candidates = np.flatnonzero(scores >= threshold)
        else:
            candidates = np.flatnonzero(scores > -np.inf)
        order = np.lexsort((self._chunk_ids[candidates], -scores[candidates]))[:count]
        chosen = candidates[order]
        return chosen, scores[chosen]

    def _fuse(self, dense_slots: np.ndarray, lexical_slots: np.ndarray, k: int,
              cosines: np.ndarray | None = None) -> list[Hit]:
        """Reciprocal rank fusion of the two candidate lists, scored against the best possible
        (``cosines``: the dense candidates' cosines, carried on their hits)."""
        dense_rank = {int(s): i + 1 for i, s in enumerate(dense_slots)}
        cosine = {} if cosines is None else {int(s): float(c) for s, c in zip(dense_slots, cosines, strict=True)}
        lexical_rank = {int(s): i + 1 for i, s in enumerate(lexical_slots)}
        best = (self.dense_weight if len(dense_slots) else 0.0) + (self.lexical_weight if len(lexical_slots) else 0.0)
        if best <= 0:
            return []
        best /= self.rrf_k + 1.0
        fused: list[tuple[float, int, int]] = []
        for slot in dense_rank.keys() | lexical_rank.keys():
            value = 0.0
            if slot in dense_rank:
                value += self.dense_weight / (self.rrf_k + dense_rank[slot])
            if slot in lexical_rank:
                value += self.lexical_weight / (self.rrf_k + lexical_rank[slot])
            fused.append((-value, int(self._chunk_ids[slot]), slot))
        fused.sort()
        return [self._hit(slot, -negative / best, dense_rank.get(slot), lexical_rank.get(slot), cosine.get(slot))
                for negative, _chunk, slot in fused[:k]]

    # ------------------------------------------------------------------ storage
    def _reserve(self, needed: int) -> None:
        capacity = len(self._alive)
        if needed <= capacity and self._vectors.shape[1] == (self._dim or 0):
            return
        size = max(_INITIAL, needed, capacity + capacity // 4)  # 25 % headroom: 100k x 384 is 154 MB
        dim = self._dim or 0
        vectors = np.zeros((size, dim), dtype=np.float32)
        if self._vectors.shape[1] == dim:
            vectors[:capacity] = self._vectors
        self._vectors = vectors
        self._alive = _grown(self._alive, size)
        self._length = _grown(self._length, size)
        self._chunk_ids = _grown(self._chunk_ids, size)
        self._file_of = _grown(self._file_of, size)

    def _post(self, slots: np.ndarray, bags: list[Counter]) -> tuple[np.ndarray, np.ndarray]:
        """Append the postings of new chunks; their distinct term ids and chunk counts."""
        term_list: list[int] = []
        slot_list: list[int] = []
        tf_list: list[int] = []
        for slot, bag in zip(slots.tolist(), bags, strict=True):
            for term, tf in bag.items():
                term_id = self._vocab.get(term)
                if term_id is None:
                    term_id = self._vocab[term] = len(self._postings)
                    self._postings.append(_Postings())
                term_list.append(term_id)
                slot_list.append(slot)
                tf_list.append(tf)
        if len(self._df) < len(self._postings):
            self._df = _grown(self._df, max(len(self._postings), 2 * len(self._df)))
        if not term_list:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        term_ids = np.array(term_list, dtype=np.int64)
        order = np.argsort(term_ids, kind="stable")  # slots stay ascending within a term
        term_ids = term_ids[order]
        post_slots = np.array(slot_list, dtype=np.int32)[order]
        post_tfs = np.array(tf_list, dtype=np.float32)[order]
        distinct, starts, docs = np.unique(term_ids, return_index=True, return_counts=True)
        for term_id, start, n in zip(distinct.tolist(), starts.tolist(), docs.tolist(), strict=True):
            self._postings[term_id].append(post_slots[start:start + n], post_tfs[start:start + n])
        self._df[distinct] += docs
        return distinct, docs.astype(np.int64)

    def _compact(self) -> None:
        """Drop dead slots: vectors and postings packed, slots renumbered (no embedding)."""
        used = self._used
        alive = self._alive[:used].copy()
        remap = np.full(used, -1, dtype=np.int64)
        kept = np.flatnonzero(alive)
        remap[kept] = np.arange(len(kept), dtype=np.int64)
        self._vectors[: len(kept)] = self._vectors[kept]
        for name in ("_alive", "_length", "_chunk_ids", "_file_of"):
            array = getattr(self, name)
            array[: len(kept)] = array[kept]
            array[len(kept):used] = 0
        for postings in self._postings:
            slots, tfs = postings.arrays()
            mask = alive[slots]
            postings.slots, postings.tfs = remap[slots[mask]].astype(np.int32), tfs[mask]
        names: list[str | None] = []
        for entry in self._files.values():
            entry.slots = remap[entry.slots]
        numbers = {entry.number: i for i, entry in enumerate(self._files.values())}
        for file_id, entry in self._files.items():
            entry.number = numbers[entry.number]
            names.append(file_id)
        file_of = self._file_of[: len(kept)]
        lookup = np.zeros(len(self._file_names), dtype=np.int64)
        for old, new in numbers.items():
            lookup[old] = new
        self._file_of[: len(kept)] = lookup[file_of]
        self._file_names = names
        self._used = len(kept)
        self._stamp += 1
        if self._coarse is not None:  # slots renumbered: the int8 copy is made again (~0.3 s for 100k)
            self._coarse = None
            self._build_coarse()


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size, dtype=array.dtype)
    out[: len(array)] = array
    return out
