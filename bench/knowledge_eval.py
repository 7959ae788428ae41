"""Retrieval quality over the tax pack: recall@5 and MRR@10 for dense, lexical and hybrid search.

    .venv/bin/python bench/knowledge_eval.py [--chunk-tokens 800] [--overlap 400]
        [--paragraphs] [--rrf-k 60] [--dense-weight 1] [--lexical-weight 1] [--depth 100]
        [--sweep] [--out bench/results/knowledge-eval.json]

The store is what the pack ships: every document of ``hilo/packs/tax_help/knowledge/``, parsed
with :func:`hilo.knowledge.parsing.parse` and cut with :func:`hilo.knowledge.chunking.chunk`
(``--chunk-tokens`` / ``--overlap``; ``--paragraphs`` instead packs whole paragraphs up to the
same budget, the fallback used before the chunker existed), embedded for real with the bundled
e5 (``passage:``) and indexed in one :class:`hilo.knowledge.index.StoreIndex`, one file per
document. The questions are ``tests/data/tax_questions.jsonl`` (``{"id", "question", "doc",
"answer", "kind"}``, ``answer`` an exact substring of ``doc``), each embedded as a search query
is (``query:``, capped at 128 tokens).

A retrieved chunk is **relevant** when it comes from the question's document and contains the
answer span or overlaps it by at least half of the span's length (every occurrence of the span
in the document counts). **recall@5**: the share of questions with a relevant chunk among the
first 5 hits; **MRR@10**: the mean of 1 / rank of the first relevant hit in the first 10 (0 when
none). Figures per mode, overall and per ``kind``. Embeddings are cached by text in ``--cache``
so a sweep of index settings re-embeds nothing. ``--sweep`` also prints recall@5 / MRR of
hybrid over a grid of chunk sizes and fusion settings (never tuned to single questions).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from knowledge_search import commit, machine, versions  # noqa: E402

from hilo.knowledge.embeddings import LocalEmbeddings  # noqa: E402
from hilo.knowledge.index import MODES, StoreIndex  # noqa: E402
from hilo.knowledge.parsing import parse  # noqa: E402
from hilo.nlu import embed  # noqa: E402

DOCS = ROOT / "hilo" / "packs" / "tax_help" / "knowledge"
QUESTIONS = ROOT / "tests" / "data" / "tax_questions.jsonl"
TARGET_RECALL = 0.90


@dataclass(frozen=True, slots=True)
class Chunk:
    doc: str
    start: int
    end: int
    text: str


# ---------------------------------------------------------------------- the store
def paragraph_chunks(text: str, max_tokens: int) -> list[tuple[int, int]]:
    """(start, end) of runs of whole paragraphs of at most ``max_tokens`` (a longer paragraph alone)."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S(?:.*?\S)?(?=\n\s*\n|\s*$)", text, re.S)]
    out: list[tuple[int, int]] = []
    start = end = None
    tokens = 0
    for s, e in spans:
        n = embed.token_count(text[s:e], False)
        if start is not None and tokens + n > max_tokens:
            out.append((start, end))
            start = None
        if start is None:
            start, tokens = s, 0
        end = e
        tokens += n
    if start is not None:
        out.append((start, end))
    return out


def load_docs() -> dict[str, str]:
    return {p.name: parse(p.read_bytes(), p.name).text for p in sorted(DOCS.iterdir()) if p.is_file()}


def make_chunks(docs: dict[str, str], max_tokens: int, overlap: int, paragraphs: bool) -> list[Chunk]:
    out: list[Chunk] = []
    for name, text in docs.items():
        if paragraphs:
            spans = paragraph_chunks(text, max_tokens)
        else:
            from hilo.knowledge.chunking import chunk

            spans = [(p.start, p.end) for p in chunk(text, max_tokens=max_tokens, overlap=overlap)]
        out += [Chunk(name, s, e, text[s:e]) for s, e in spans]
    return out


class VectorCache:
    """Embeddings by (kind, text), kept in an .npz between runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    @staticmethod
    def key(kind: str, text: str) -> str:
        return kind + ":" + hashlib.sha256(text.encode()).hexdigest()

    def get(self, kind: str, texts: list[str], embedder: LocalEmbeddings) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if self.key(kind, t) not in self.vectors))
        if todo:
            print(f"  embedding {len(todo)} {kind} text(s) with the bundled e5 ...", flush=True)
            if kind == "passage":
                vectors = asyncio.run(embedder.passages(todo))
            else:
                vectors = np.stack([asyncio.run(embedder.query(t)) for t in todo])
            for text, vector in zip(todo, vectors, strict=True):
                self.vectors[self.key(kind, text)] = vector
            self.dirty = True
        return np.stack([self.vectors[self.key(kind, t)] for t in texts]) if texts else np.zeros((0, embed.DIM))

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))
        os.replace(tmp, self.path)


def build_index(chunks: list[Chunk], vectors: np.ndarray, **options) -> StoreIndex:
    index = StoreIndex(**options)
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(chunks):
        by_doc[c.doc].append(i)
    for doc, rows in by_doc.items():
        index.add(doc, rows, [chunks[i].text for i in rows], vectors[rows])
    return index


# ---------------------------------------------------------------------- scoring
def answer_spans(docs: dict[str, str], questions: list[dict]) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for q in questions:
        text = docs.get(q["doc"], "")
        found = [(m.start(), m.start() + len(q["answer"])) for m in re.finditer(re.escape(q["answer"]), text)]
        spans[q["id"]] = found
    return spans


def relevant(chunk: Chunk, doc: str, spans: list[tuple[int, int]]) -> bool:
    if chunk.doc != doc:
        return False
    for start, end in spans:
        overlap = min(chunk.end, end) - max(chunk.start, start)
        if overlap >= (end - start) / 2:
            return True
    return False


def evaluate(index: StoreIndex, chunks: list[Chunk], questions: list[dict], qvectors: np.ndarray,
             spans: dict[str, list[tuple[int, int]]], modes=MODES) -> dict:
    results: dict[str, dict] = {}
    for mode in modes:
        per: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for q, vector in zip(questions, qvectors, strict=True):
            hits = index.search(q["question"], vector, k=10, mode=mode)
            rank = next((r for r, h in enumerate(hits, 1) if relevant(chunks[h.chunk_id], q["doc"], spans[q["id"]])),
                        None)
            row = (1 if rank is not None and rank <= 5 else 0, 1.0 / rank if rank else 0.0)
            per["all"].append(row)
            per[q["kind"]].append(row)
        results[mode] = {kind: {"n": len(rows), "recall_at_5": round(float(np.mean([r for r, _m in rows])), 4),
                                "mrr_at_10": round(float(np.mean([m for _r, m in rows])), 4)}
                         for kind, rows in sorted(per.items())}
    return results


def run(docs, questions, qvectors, spans, cache, embedder, *, chunk_tokens, overlap, paragraphs, options,
        modes=MODES) -> tuple[dict, int]:
    chunks = make_chunks(docs, chunk_tokens, overlap, paragraphs)
    vectors = cache.get("passage", [c.text for c in chunks], embedder)
    index = build_index(chunks, vectors, **options)
    return evaluate(index, chunks, questions, qvectors, spans, modes), len(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunk-tokens", type=int, default=800)
    parser.add_argument("--overlap", type=int, default=None, help="default: half of --chunk-tokens")
    parser.add_argument("--paragraphs", action="store_true", help="whole paragraphs instead of the chunker")
    parser.add_argument("--rrf-k", type=float, default=None)
    parser.add_argument("--dense-weight", type=float, default=None)
    parser.add_argument("--lexical-weight", type=float, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/hilo-bench/knowledge-eval-e5.npz"))
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "knowledge-eval.json")
    args = parser.parse_args()
    overlap = args.chunk_tokens // 2 if args.overlap is None else args.overlap
    options = {k: v for k, v in {"rrf_k": args.rrf_k, "dense_weight": args.dense_weight,
                                 "lexical_weight": args.lexical_weight, "depth": args.depth}.items() if v is not None}

    docs = load_docs()
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    spans = answer_spans(docs, questions)
    missing = [q["id"] for q in questions if not spans[q["id"]]]
    if missing:
        print(f"{len(missing)} question(s) whose answer is not in the parsed document are left out: {missing}")
        questions = [q for q in questions if spans[q["id"]]]
    embedder = LocalEmbeddings()
    cache = VectorCache(args.cache)
    qvectors = cache.get("query", [q["question"] for q in questions], embedder)

    results, count = run(docs, questions, qvectors, spans, cache, embedder, chunk_tokens=args.chunk_tokens,
                         overlap=overlap, paragraphs=args.paragraphs, options=options)
    defaults = StoreIndex(**options)
    config = {"chunk_tokens": args.chunk_tokens, "overlap": overlap, "paragraphs": args.paragraphs,
              "chunks": count, "documents": len(docs), "questions": len(questions),
              "rrf_k": defaults.rrf_k, "dense_weight": defaults.dense_weight,
              "lexical_weight": defaults.lexical_weight, "depth": defaults.depth, "k1": defaults.k1, "b": defaults.b}
    print(f"{len(questions)} questions, {len(docs)} documents, {count} chunks "
          f"({'paragraphs' if args.paragraphs else 'chunker'} {args.chunk_tokens}/{overlap} tokens)")
    kinds = sorted(results["hybrid"])
    print(f"{'mode':8s} " + " ".join(f"{k:>18s}" for k in kinds))
    for mode in MODES:
        print(f"{mode:8s} " + " ".join(f"{results[mode][k]['recall_at_5']:8.3f} / {results[mode][k]['mrr_at_10']:.3f}"
                                       for k in kinds))
    print("(recall@5 / MRR@10)")

    report = {"bench": "knowledge_eval", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "commit": commit(), "machine": machine(), "versions": versions(), "config": config,
              "results": results}
    if args.sweep:
        grid = []
        for tokens in (200, 300, 400, 600, 800):
            for weights in ((1.0, 1.0), (1.0, 0.7), (0.7, 1.0)):
                for rrf_k in (20.0, 60.0):
                    opts = {"rrf_k": rrf_k, "dense_weight": weights[0], "lexical_weight": weights[1]}
                    res, n = run(docs, questions, qvectors, spans, cache, embedder, chunk_tokens=tokens,
                                 overlap=tokens // 2, paragraphs=False, options=opts)
                    row = {"chunk_tokens": tokens, "overlap": tokens // 2, "chunks": n, **opts,
                           **{m: [res[m]["all"]["recall_at_5"], res[m]["all"]["mrr_at_10"]] for m in MODES}}
                    grid.append(row)
                    print(f"  {tokens:4d}/{tokens // 2:<4d} ({n:3d} chunks) rrf_k {rrf_k:4.0f} w {weights}: "
                          + "  ".join(f"{m} {row[m][0]:.3f}/{row[m][1]:.3f}" for m in MODES), flush=True)
        report["sweep"] = grid
    cache.save()
    hybrid = results["hybrid"]["all"]["recall_at_5"]
    report["target"] = {"hybrid_recall_at_5": TARGET_RECALL,
                        "met": hybrid >= TARGET_RECALL and all(hybrid > results[m]["all"]["recall_at_5"]
                                                               for m in ("dense", "lexical"))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"hybrid recall@5 {hybrid} (target >= {TARGET_RECALL}, above dense and lexical: "
          f"{report['target']['met']}); written to {args.out}")


if __name__ == "__main__":
    main()
