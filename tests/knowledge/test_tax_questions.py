"""The tax help desk's evaluation set (tests/data/tax_questions.jsonl) and the documents it is
measured on (hilo/packs/tax_help/knowledge/*.md) stay consistent.

Each question names the document and quotes, exactly, the passage that answers it; retrieval is
scored by whether a returned chunk holds that quote. The set is only meaningful while every quote
is still in its document, word for word, and in the text the store indexes (the parsed Markdown,
where markup is dropped). Every document states its tax year, says it is informative with DIAN
as the official source, and ends with the public sources of its facts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from hilo.knowledge.parsing import parse

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "hilo" / "packs" / "tax_help" / "knowledge"
QUESTIONS = ROOT / "tests" / "data" / "tax_questions.jsonl"
KINDS = {"paraphrase", "lexical", "colloquial", "typo", "english"}
FIELDS = {"id", "question", "doc", "answer", "kind"}
TAX_YEAR = "Año gravable: 2025 (declaración que se presenta en 2026)"


@cache
def questions() -> tuple[dict, ...]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


@cache
def document(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@cache
def indexed_text(name: str) -> str:
    """The document as the vector store reads it (hilo.knowledge.parsing)."""
    path = DOCS / name
    return parse(path.read_bytes(), path.name).text


def documents() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md"))


def test_the_set_is_large_well_formed_and_its_ids_unique():
    rows = questions()
    assert len(rows) >= 150
    for row in rows:
        assert set(row) == FIELDS, row
        assert all(isinstance(row[f], str) and row[f].strip() for f in FIELDS), row
        assert row["kind"] in KINDS, row
        assert re.fullmatch(r"t\d{3,}", row["id"]), row
    ids = Counter(row["id"] for row in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    texts = Counter(row["question"].strip().lower() for row in rows)
    assert [q for q, n in texts.items() if n > 1] == []


def test_every_question_names_a_document_that_exists():
    missing = sorted({row["doc"] for row in questions()} - set(documents()))
    assert missing == []


def test_every_answer_is_an_exact_quote_of_its_document():
    broken = [row["id"] for row in questions() if row["answer"] not in document(row["doc"])]
    assert broken == []


def test_every_answer_survives_parsing_as_the_store_indexes_it():
    broken = [row["id"] for row in questions() if row["answer"] not in indexed_text(row["doc"])]
    assert broken == []


def test_answers_are_short_passages_not_whole_sections():
    # one or two sentences: no paragraph break inside, and not a wall of text
    long = [row["id"] for row in questions() if "\n" in row["answer"] or len(row["answer"]) > 450]
    assert long == []


def test_the_set_covers_every_document_and_mixes_kinds():
    per_doc = Counter(row["doc"] for row in questions())
    assert [d for d in documents() if per_doc[d] < 5] == []
    kinds = Counter(row["kind"] for row in questions())
    assert kinds["paraphrase"] > len(questions()) / 3
    assert all(kinds[k] >= 5 for k in KINDS), kinds


def test_there_are_ten_to_fourteen_documents():
    assert 10 <= len(documents()) <= 14


@pytest.mark.parametrize("name", documents())
def test_each_document_states_its_year_its_status_and_its_sources(name):
    text = document(name)
    lines = text.splitlines()
    assert lines[0].startswith("# "), "a title first"
    assert TAX_YEAR in lines[:5], "the tax year in the header block"
    assert "texto es informativo" in text and "La fuente oficial es la DIAN" in text
    assert "## Fuentes" in lines, "a Fuentes section"
    sources = text.split("\n## Fuentes\n", 1)[1]
    assert "\n## " not in sources, "Fuentes is the last section"
    items = [line for line in sources.splitlines() if line.startswith("- ")]
    assert len(items) >= 2 and any("Estatuto Tributario" in i or "Decreto" in i for i in items)
    words = len(text.split())
    assert 500 <= words <= 1800, words
