"""Lexical analysis for search: Spanish-aware terms from any text, with no data to download.

:func:`terms` is what the BM25 side of :class:`hilo.knowledge.index.StoreIndex` indexes and
what a query is matched with, so documents and questions go through the same steps:

1. **fold** (:func:`fold`): Unicode compatibility forms (NFKD: full-width digits, ligatures),
   case folded, accents dropped (``declaración`` -> ``declaracion``, ``ñ`` -> ``n``), every
   character that is not a letter or a digit is a separator (punctuation, symbols, emoji, NUL);
2. **numbers** stay searchable as written by people: thousands separators go (``1.400``,
   ``1,400`` -> ``1400``; ``$47.065.000`` -> ``47065000``), a decimal comma becomes a point
   (``3,5`` -> ``3.5``; ``1.400,50`` -> ``1400.50``), and anything else with several
   separators (``1.2.3``) is split into its numbers. ``210`` and ``490`` are terms like words;
3. **stopwords** out: Spanish (the Snowball list shipped by ``bm25s``) and a short English list,
   folded like the text, so ``qué``/``que``/``cómo``/``como`` all go;
4. **stemming**: the Snowball Spanish stemmer (PyStemmer, C), applied to the *folded* word, so
   a question typed without accents (``declaracion``, ``sancion``) gets exactly the terms of
   the accented document. Stemming before folding would conflate a few more pairs
   (``economía``/``económica``) but then split the accented and unaccented spellings of those
   same words, and people type questions without accents. Numbers are never stemmed.

A word longer than :data:`MAX_TERM_CHARS` is cut there (a 1 MB run of letters is one short
term, not a 1 MB dictionary key). Everything is linear in the text: one regex pass per step.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_SPANISH

__all__ = ["MAX_TERM_CHARS", "STOPWORDS", "fold", "terms", "tokens"]

MAX_TERM_CHARS = 48

# combining marks left by NFKD (Latin, Greek, Cyrillic accents and the rarer blocks)
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# a number with its separators (1.400 / 1,400 / 3,5 / 1.400,50), or a run of letters
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")


def _fold_word(word: str) -> str:
    return _MARKS.sub("", unicodedata.normalize("NFKD", word)).casefold()


STOPWORDS: frozenset[str] = frozenset(_fold_word(w) for w in (*STOPWORDS_SPANISH, *STOPWORDS_EN))


def _number(text: str) -> list[str]:
    """The searchable form(s) of a number as written (see the module docstring)."""
    groups = re.split(r"[.,]", text)
    if len(groups) == 1:
        return [text]
    if len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
        return ["".join(groups)]  # thousands separators: 1.400, 47.065.000, 1,400
    head, last = groups[:-1], groups[-1]
    if len(head) == 1 or (len(head[0]) <= 3 and all(len(g) == 3 for g in head[1:])):
        return ["".join(head) + "." + last]  # a decimal part: 3,5 -> 3.5, 1.400,50 -> 1400.50
    return groups  # 1.2.3: section numbers and the like, each one a term


def tokens(text: str) -> list[str]:
    """The folded words and numbers of ``text``, in order (stopwords kept, nothing stemmed)."""
    folded = _MARKS.sub("", unicodedata.normalize("NFKD", text)).casefold()
    out: list[str] = []
    for match in _TOKEN.finditer(folded):
        token = match.group()
        if token[0].isdigit():
            out += _number(token)
        else:
            out.append(token[:MAX_TERM_CHARS])
    return out


def fold(text: str) -> str:
    """``text`` lowercased, accents folded, punctuation out: its :func:`tokens` joined by spaces."""
    return " ".join(tokens(text))


_stemmers = threading.local()  # a PyStemmer object is not safe to share between threads


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_stemmers, "spanish", None)
    if stemmer is None:
        stemmer = _stemmers.spanish = Stemmer.Stemmer("spanish")
    return stemmer


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def terms(text: str) -> list[str]:
    """The search terms of ``text``: folded, stopwords out, Snowball-stemmed (Spanish), in order."""
    out: list[str] = []
    for token in tokens(text):
        if token in STOPWORDS:
            continue
        out.append(token if token[0].isdigit() else _stem(token))
    return out
