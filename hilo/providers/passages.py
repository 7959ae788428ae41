"""Answers from retrieved passages with no model: the guided provider's ``file_search`` replies.

The answer is **extractive**: it is made of whole sentences of the passages that
``file_search`` returned, each followed by the citation marker of its passage (``【0:1†x.md】``),
so every figure it states is one the passages contain: nothing is paraphrased, summed or
invented. Sentences are chosen by how many of the question's terms they hold (Spanish-aware:
accents folded, stemmed, stopwords out, :func:`hilo.knowledge.lexical.terms`), with the
passage's rank breaking ties; they are given in the order they appear in their passages, a
heading line or a table rule is never quoted, and when no sentence shares a term with the
question the reply says the documents do not cover it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hilo.knowledge.lexical import terms

MAX_SENTENCES = 3
MAX_PASSAGES = 4
MAX_CHARS = 900
# a sentence ends at . ! ? before a capital (or at a line break): not inside "1.400", "$49.799" or "art. 592"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[¿¡«\"(]?[A-ZÁÉÍÓÚÑ])")
_MARKUP = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s*)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")

NOT_FOUND = {
    "es": "No encontré eso en los documentos de este asistente. ¿Puedes preguntarlo con otras palabras?",
    "en": "I did not find that in this assistant's documents. Could you ask it in other words?",
}
NO_KNOWLEDGE = {
    "es": "Este asistente todavía no tiene documentos en su base de conocimiento.",
    "en": "This assistant has no documents in its knowledge base yet.",
}
LEAD = {"es": "Según los documentos:", "en": "According to the documents (in Spanish where they are):"}


@dataclass(slots=True)
class _Sentence:
    text: str
    marker: str
    passage: int
    position: int
    hits: int


def sentences(text: str) -> list[str]:
    """The sentences of a passage, markup dropped (headings, bullets, bold)."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):  # a heading says what follows; it answers nothing
            continue
        line = _EMPHASIS.sub("", _MARKUP.sub("", line)).strip()
        if not line or line.startswith("|") or set(line) <= set("-=_*| "):
            continue
        found += [piece.strip() for piece in _SENTENCE_END.split(line) if len(piece.strip()) >= 3]
    return found


def answer(output: dict[str, Any], lang: str) -> str:
    """The reply to ``file_search``'s output (``{"query", "results": [{"marker", "text"}, ...]}``)."""
    es = "es" if lang == "es" else "en"
    results = output.get("results") or []
    if not results:
        return NO_KNOWLEDGE[es] if "no knowledge base" in str(output.get("note", "")).lower() else NOT_FOUND[es]
    wanted = set(terms(str(output.get("query") or "")))
    candidates: list[_Sentence] = []
    for rank, result in enumerate(results[:MAX_PASSAGES]):
        for position, text in enumerate(sentences(str(result.get("text") or ""))):
            hits = len(wanted & set(terms(text))) if wanted else 0
            candidates.append(_Sentence(text, str(result.get("marker") or ""), rank, position, hits))
    useful = [c for c in candidates if c.hits > 0]
    if not useful:
        return NOT_FOUND[es]
    # the most matching sentences; a better-ranked passage wins a tie
    useful.sort(key=lambda c: (-c.hits, c.passage, c.position))
    best = useful[0].hits
    chosen: list[_Sentence] = []
    size = 0
    for c in useful:
        if len(chosen) == MAX_SENTENCES or (chosen and c.hits * 2 < best):
            break
        if any(c.text == o.text for o in chosen) or (chosen and size + len(c.text) > MAX_CHARS):
            continue
        chosen.append(c)
        size += len(c.text)
    chosen.sort(key=lambda c: (c.passage, c.position))
    body = " ".join(_cited(c) for c in chosen)
    return f"{LEAD[es]} {body}"


def _cited(sentence: _Sentence) -> str:
    text = sentence.text if sentence.text[-1] in ".!?:" else sentence.text + "."
    return f"{text} {sentence.marker}" if sentence.marker else text


__all__ = ["NOT_FOUND", "answer", "sentences"]
