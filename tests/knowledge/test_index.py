"""hilo.knowledge.index.StoreIndex: exact dense, BM25, RRF fusion, filters, incremental files,
scores in [0, 1] that follow the ranking, and the same hits whatever the order of the files."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import hilo.knowledge.index as index_module
from hilo.knowledge.index import Hit, StoreIndex
from hilo.knowledge.lexical import terms

DIM = 16
WORDS = ("renta declaracion formulario plazo sancion devolucion firma rut nit uvt patrimonio ingresos "
         "residente pago banco cuenta saldo tope valor fecha agosto octubre persona natural").split()


def _corpus(files: int = 12, per_file: int = 9, seed: int = 7):
    """{file_id: (chunk_ids, texts, vectors)} with a few words per chunk and random unit vectors."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    corpus, next_id = {}, 1
    for f in range(files):
        ids = list(range(next_id, next_id + per_file))
        next_id += per_file
        texts = [" ".join(pick.choices(WORDS, k=pick.randint(3, 12))) for _ in ids]
        vectors = rng.standard_normal((per_file, DIM)).astype(np.float32)
        corpus[f"file-{f:02d}"] = (ids, texts, vectors)
    return corpus


def _build(corpus, order=None, **options) -> StoreIndex:
    index = StoreIndex(**options)
    for file_id in order or sorted(corpus):
        index.add(file_id, *corpus[file_id])
    return index


def _brute_bm25(corpus, query: str, k1=1.2, b=0.75) -> dict[int, float]:
    docs = {cid: terms(text) for ids, texts, _v in corpus.values() for cid, text in zip(ids, texts, strict=True)}
    n = len(docs)
    average = sum(len(t) for t in docs.values()) / n
    out = {}
    for cid, words in docs.items():
        score = 0.0
        for term in set(terms(query)):
            tf = words.count(term)
            if not tf:
                continue
            df = sum(1 for w in docs.values() if term in w)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(words) / average))
        if score > 0:
            out[cid] = score
    return out


def _unit(v):
    return v / np.linalg.norm(v)


def test_dense_is_exact_cosine_with_scores_mapped_to_unit_interval():
    corpus = _corpus()
    index = _build(corpus)
    query = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    hits = index.search("", query, k=10, mode="dense")
    all_ids = [i for ids, _t, _v in corpus.values() for i in ids]
    all_vectors = np.concatenate([np.apply_along_axis(_unit, 1, v) for _i, _t, v in corpus.values()])
    cosines = all_vectors @ _unit(query)
    expected = [all_ids[i] for i in np.argsort(-cosines)[:10]]
    assert [h.chunk_id for h in hits] == expected
    for hit in hits:
        cosine = cosines[all_ids.index(hit.chunk_id)]
        assert hit.score == pytest.approx((1 + cosine) / 2, abs=1e-6)
        assert hit.lexical_rank is None
    assert [h.dense_rank for h in hits] == list(range(1, 11))


def test_lexical_is_bm25_normalised_by_the_query_bound():
    corpus = _corpus()
    index = _build(corpus)
    query = "¿Cuál es el plazo de la declaración de renta?"
    expected = _brute_bm25(corpus, query)
    hits = index.search(query, None, k=50, mode="lexical")
    assert len(hits) == min(50, len(expected))
    best = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[: len(hits)]
    assert [h.chunk_id for h in hits] == [cid for cid, _s in best]
    n = len(index)
    docs = [terms(t) for _i, texts, _v in corpus.values() for t in texts]
    bound = 0.0
    for term in set(terms(query)):
        df = sum(1 for d in docs if term in d)
        bound += math.log(1 + (n - df + 0.5) / (df + 0.5)) * 2.2
    for hit, (_cid, score) in zip(hits, best, strict=True):
        assert hit.score == pytest.approx(score / bound, rel=1e-5)
        assert 0 < hit.score < 1 and hit.dense_rank is None
    assert index.search("xyzzy plugh", None, mode="lexical") == []
    assert index.search("¿qué es?", None, mode="lexical") == []  # only stopwords


def test_hybrid_fuses_ranks_and_scores_against_the_best_possible():
    corpus = _corpus()
    index = _build(corpus, depth=30)
    query_vector = corpus["file-03"][2][4]  # the vector of one chunk: dense rank 1
    text = corpus["file-03"][1][4]
    hits = index.search(text, query_vector, k=20)
    dense = [h.chunk_id for h in index.search(text, query_vector, k=30, mode="dense")]
    lexical = [h.chunk_id for h in index.search(text, query_vector, k=30, mode="lexical")]
    fused = {}
    for rank, cid in enumerate(dense, 1):
        fused[cid] = fused.get(cid, 0) + 1 / (60 + rank)
    for rank, cid in enumerate(lexical, 1):
        fused[cid] = fused.get(cid, 0) + 1 / (60 + rank)
    expected = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [h.chunk_id for h in hits] == [cid for cid, _v in expected]
    best = 2 / 61
    for hit, (cid, value) in zip(hits, expected, strict=True):
        assert hit.score == pytest.approx(value / best)
        assert hit.dense_rank == (dense.index(cid) + 1 if cid in dense else None)
        assert hit.lexical_rank == (lexical.index(cid) + 1 if cid in lexical else None)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    if hits[0].dense_rank == hits[0].lexical_rank == 1:
        assert hits[0].score == pytest.approx(1.0)


def test_hybrid_with_no_lexical_match_is_scored_against_dense_alone():
    corpus = _corpus()
    index = _build(corpus)
    vector = corpus["file-00"][2][0]
    hits = index.search("qué es", vector, k=5)  # stopwords only: no lexical list
    assert hits[0].chunk_id == corpus["file-00"][0][0] and hits[0].score == pytest.approx(1.0)
    assert all(h.lexical_rank is None for h in hits)
    lexical_only = index.search("renta", None, k=5)  # no vector: the lexical ranking
    assert lexical_only == index.search("renta", None, k=5, mode="lexical")


def test_files_filter_keeps_only_those_files():
    corpus = _corpus()
    index = _build(corpus)
    wanted = {"file-02", "file-07"}
    vector = corpus["file-05"][2][0]
    for mode in ("hybrid", "dense", "lexical"):
        hits = index.search("renta plazo", vector, k=100, mode=mode, files=wanted)
        assert hits and {h.file_id for h in hits} <= wanted
        if mode == "dense":
            assert len(hits) == 18
    assert index.search("renta", vector, files=[]) == []
    assert index.search("renta", vector, files=["nope"]) == []


def test_same_hits_whatever_the_order_files_were_added_and_removed(monkeypatch):
    monkeypatch.setattr(index_module, "_INITIAL", 8)  # compactions happen in this small test
    corpus = _corpus(files=20)
    names = sorted(corpus)
    fresh = _build({n: corpus[n] for n in names[:8]})
    shuffled = list(names)
    random.Random(3).shuffle(shuffled)
    churned = _build(corpus, order=shuffled)
    for name in names[8:]:
        churned.remove(name)
    churned.add(names[4], *corpus[names[4]])  # re-added: replaces, does not duplicate
    assert churned.files() == fresh.files() and len(churned) == len(fresh) == 8 * 9
    assert churned._used < 20 * 9  # dead slots were compacted away
    rng = np.random.default_rng(5)
    for query in ("plazo renta agosto", "firma rut", "uvt patrimonio ingresos", "banco"):
        vector = rng.standard_normal(DIM).astype(np.float32)
        for mode in ("hybrid", "dense", "lexical"):
            a = fresh.search(query, vector, k=15, mode=mode)
            b = churned.search(query, vector, k=15, mode=mode)
            assert [(h.chunk_id, h.file_id, h.dense_rank, h.lexical_rank) for h in a] == \
                   [(h.chunk_id, h.file_id, h.dense_rank, h.lexical_rank) for h in b]
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)


def test_ties_break_by_chunk_id_at_every_cut():
    index = StoreIndex()
    same = np.ones((6, DIM), dtype=np.float32)
    index.add("b", [60, 50, 40], ["renta"] * 3, same[:3])
    index.add("a", [30, 20, 10], ["renta"] * 3, same[3:])
    for mode in ("hybrid", "dense", "lexical"):
        hits = index.search("renta", np.ones(DIM), k=4, mode=mode)
        assert [h.chunk_id for h in hits] == [10, 20, 30, 40], mode


def test_remove_does_not_touch_other_files_and_unknown_is_a_no_op():
    corpus = _corpus(files=3)
    index = _build(corpus)
    before = index._vectors[:27].copy()
    index.remove("file-01")
    index.remove("never-added")
    assert index.files() == {"file-00", "file-02"} and len(index) == 18
    assert np.array_equal(index._vectors[:27], before)  # no vector rewritten (no compaction yet)
    hits = index.search("renta", corpus["file-01"][2][0], k=50)
    assert all(h.file_id != "file-01" for h in hits)
    for name in ("file-00", "file-02"):
        index.remove(name)
    assert len(index) == 0 and index.search("renta", np.ones(DIM)) == []


def test_bad_input_is_refused_clearly():
    index = StoreIndex()
    assert index.search("renta", np.ones(DIM)) == []  # empty index
    with pytest.raises(ValueError):
        index.add("f", [1, 2], ["a"], np.ones((2, DIM)))
    with pytest.raises(ValueError):
        index.add("f", [1], ["a"], np.full((1, DIM), np.nan))
    index.add("f", [1], ["renta"], np.ones((1, DIM)))
    with pytest.raises(ValueError, match="dimensions"):
        index.add("g", [2], ["renta"], np.ones((1, DIM + 1)))
    with pytest.raises(ValueError, match="dimensions"):
        index.search("renta", np.ones(DIM + 1), mode="dense")
    with pytest.raises(ValueError, match="mode"):
        index.search("renta", np.ones(DIM), mode="fuzzy")
    with pytest.raises(ValueError):
        index.search("renta", None, mode="dense")
    assert index.search("renta", np.ones(DIM), k=0) == []
    zero = index.search("renta", np.zeros(DIM), mode="dense")  # a zero query: cosine 0 everywhere
    assert zero == [Hit(1, "f", 0.5, 1, None, 0.0)]
    index.add("empty", [], [], np.zeros((0, DIM)))
    assert "empty" in index.files() and len(index) == 1


def test_large_stores_shortlist_in_int8_and_rerank_exactly(monkeypatch):
    monkeypatch.setattr(index_module, "QUANTIZED_MIN", 1000)
    rng = np.random.default_rng(11)
    dim, files, per_file = 32, 30, 100
    vectors = rng.standard_normal((files * per_file, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = StoreIndex()
    for f in range(files):
        rows = slice(f * per_file, (f + 1) * per_file)
        index.add(f"f{f}", list(range(f * per_file, (f + 1) * per_file)), ["renta"] * per_file, vectors[rows])
    assert index._coarse is not None and len(index._coarse) == files * per_file
    index.remove("f3")
    live = np.ones(files * per_file, dtype=bool)
    live[300:400] = False
    wanted = {f"f{f}" for f in range(0, 30, 3)} - {"f3"}
    in_wanted = np.zeros(files * per_file, dtype=bool)
    for f in wanted:
        n = int(f[1:])
        in_wanted[n * per_file:(n + 1) * per_file] = True
    for _ in range(20):
        query = rng.standard_normal(dim).astype(np.float32)
        query /= np.linalg.norm(query)
        exact = vectors @ query
        for k in (5, 40):
            brute = np.where(live, exact, -np.inf)
            hits = index.search("", query, k=k, mode="dense")
            assert [h.chunk_id for h in hits] == np.argsort(-brute)[:k].tolist()
            assert [h.score for h in hits] == pytest.approx(((1 + np.sort(brute)[::-1][:k]) / 2).tolist(), abs=1e-6)
        filtered = np.where(live & in_wanted, exact, -np.inf)  # a third of the store: still shortlisted
        hits = index.search("", query, k=10, mode="dense", files=wanted)
        assert [h.chunk_id for h in hits] == np.argsort(-filtered)[:10].tolist()
    for f in range(4, 25):  # most of it goes: compaction renumbers slots and rebuilds the int8 copy
        index.remove(f"f{f}")
    assert len(index) == 800 and index._used < 3000  # compacted once on the way
    assert index._coarse is not None and len(index._coarse) == index._used
    live[400:2500] = False
    query = vectors[2700]
    hits = index.search("", query, k=3, mode="dense")
    assert [h.chunk_id for h in hits] == np.argsort(-np.where(live, vectors @ query, -np.inf))[:3].tolist()
    assert hits[0].chunk_id == 2700 and hits[0].score == pytest.approx(1.0)
