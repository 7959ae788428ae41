"""The trading mentor's glossary (``glossary.toml``): terms, and finding the one a message names.

    entry = lookup("bandas de bolinger")      # Entry(key="bollinger", ...) (accents, case, typos)
    entry.name("es"), entry.text("es"), entry.read("es")
    mentioned("¿qué es el RSI?")              # "rsi": the term a message asks about, or None

Matching folds accents and case, finds every alias as a phrase (the longest wins, then the
earliest), and otherwise compares the message's words and word pairs with the aliases by edit
distance with rapidfuzz (a misspelling such as "bolinger" or "apalancamineto": one edit up to ten
letters, two beyond, and the same first letter). Aliases shorter than six letters ("rsi", "ema",
"pip", "velas") only match exactly: a fuzzy short word is anything.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from hilo.nlu.lang import fold
from hilo.nlu.parsers import phrases

PATH = Path(__file__).with_name("glossary.toml")
FUZZY_LENGTH = 6  # shorter aliases and words only match exactly
_WORD = re.compile(r"[\wñ%/-]+")
# Words that never name a term by themselves (fuzzy matching skips them).
_STOP = set(fold(
    "que qué es son el la los las un una de del en y o a al para por como cómo cuál cual me mi "
    "explica explicame explícame significa significado define definicion definición sirve "
    "funciona usa usan uso what is are the a an of to how does do mean meaning explain define "
    "work works use tell about me please porfa favor hola hello"
).split())


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    aliases: tuple[str, ...]
    related: tuple[str, ...]
    texts: dict[str, dict[str, str]]  # language -> {"name", "text", "read"}

    def _get(self, field: str, lang: str) -> str:
        return (self.texts.get(lang) or self.texts["es"])[field]

    def name(self, lang: str) -> str:
        return self._get("name", lang)

    def text(self, lang: str) -> str:
        return self._get("text", lang)

    def read(self, lang: str) -> str:
        return self._get("read", lang)


@lru_cache(maxsize=1)
def entries() -> dict[str, Entry]:
    """Every term of the glossary, by key, in the file's order."""
    data = tomllib.loads(PATH.read_text(encoding="utf-8"))
    found = {}
    for key, item in data.items():
        texts = {lang: item[lang] for lang in ("es", "en")}
        for lang, text in texts.items():
            missing = {"name", "text", "read"} - text.keys()
            if missing:
                raise ValueError(f"{PATH.name}: [{key}.{lang}] lacks {', '.join(sorted(missing))}")
        aliases = tuple(dict.fromkeys([key.replace("_", " "), *item.get("aliases", [])]))
        found[key] = Entry(key, aliases, tuple(item.get("related", [])), texts)
    for entry in found.values():
        unknown = [r for r in entry.related if r not in found]
        if unknown:
            raise ValueError(f"{PATH.name}: [{entry.key}] relates unknown terms {unknown}")
    return found


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    """Folded alias -> key (keys included)."""
    table: dict[str, str] = {}
    for entry in entries().values():
        for alias in (entry.key, *entry.aliases):
            table.setdefault(fold(alias), entry.key)
    return table


@lru_cache(maxsize=1)
def _fuzzy_choices() -> list[str]:
    return [alias for alias in _aliases() if len(alias) >= FUZZY_LENGTH]


def _exact(text: str) -> str | None:
    """The first term named as a phrase (at one place the longest alias wins: "media móvil
    exponencial" over "media móvil")."""
    hits = phrases(text, _aliases())
    return min(hits)[1] if hits else None


def typo_limit(word: str) -> int:
    """How many edits (a letter missing, extra, wrong, or two swapped) a misspelling of ``word``
    may have: none below six letters, 1 up to ten, 2 beyond."""
    return 0 if len(word) < FUZZY_LENGTH else 1 if len(word) <= 10 else 2


def near(word: str, choices: list[str]) -> tuple[str, int] | None:
    """The choice ``word`` is a misspelling of (same first letter, few edits), or None."""
    hit = process.extractOne(word, choices, scorer=OSA.distance, score_cutoff=2)
    if hit is None:
        return None
    choice, distance = hit[0], int(hit[1])
    if distance > min(typo_limit(choice), typo_limit(word)) or choice[0] != word[0]:
        return None
    return choice, distance


def _fuzzy(text: str) -> tuple[str, int] | None:
    words = [w for w in _WORD.findall(fold(text)) if w not in _STOP]
    candidates = [" ".join(words[i:i + n]) for n in (3, 2, 1) for i in range(len(words) - n + 1)]
    best: tuple[str, int] | None = None
    for candidate in candidates:
        hit = near(candidate, _fuzzy_choices()) if len(candidate) >= FUZZY_LENGTH else None
        if hit and (best is None or hit[1] < best[1]):
            best = (_aliases()[hit[0]], hit[1])
    return best


def lookup(term: str) -> Entry | None:
    """The entry a term (or a whole message) names, or None."""
    if not term or not term.strip():
        return None
    key = _aliases().get(fold(term).strip(" ¿?¡!.,;:")) or _exact(term)
    if key is None:
        hit = _fuzzy(term)
        key = hit[0] if hit else None
    return entries()[key] if key else None


def suggestions(term: str, limit: int = 3) -> list[Entry]:
    """Terms that look a little like an unknown one (for "did you mean ...?")."""
    words = " ".join(w for w in _WORD.findall(fold(term)) if w not in _STOP)
    if len(words) < 3:
        return []
    hits = process.extract(words, list(_aliases()), scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=70)
    keys = list(dict.fromkeys(_aliases()[alias] for alias, _, _ in hits))
    return [entries()[k] for k in keys[:limit]]


def known_names(lang: str, keys: tuple[str, ...] | None = None) -> str:
    """A few names a learner can ask for, as a sentence fragment ("RSI, MACD, ... o velas japonesas")."""
    keys = keys or ("rsi", "macd", "bollinger", "support_resistance", "candlestick", "stop_loss",
                    "leverage", "risk_management", "dca")
    names = [entries()[k].name(lang).split(" (")[0] for k in keys]
    names = [_lower(n) for n in names]
    joiner = " o " if lang == "es" else " or "
    return ", ".join(names[:-1]) + joiner + names[-1]


_PROPER = {"Bollinger", "Williams", "Fibonacci"}


def _lower(name: str) -> str:
    """A name inside a sentence: "velas japonesas", but "RSI" and "Bollinger Bands"."""
    first = name.split(" ")[0]
    return name if first in _PROPER or not first[1:].islower() else name[0].lower() + name[1:]


# Phrases that ask what something is: the rest of the message is the term, even an unknown one.
DEFINITION = re.compile(
    r"^\s*(?:[¿¡]\s*)?(?:y\s+)?(?:qu[eé]\s+(?:es|son|significa|quiere\s+decir)|"
    r"(?:me\s+)?(?:expl[ií]ca(?:me)?|explicas|define|defin[ií]me)|"
    r"what\s+(?:is|are|does)|what's|whats|explain|define|meaning\s+of|definici[oó]n\s+de|significado\s+de)\b",
    re.I,
)
_PRICE_WORDS = re.compile(
    r"\b(?:precio|precios|cotiza\w*|vale|valen|cuesta|cuestan|cu[aá]nto|cu[aá]nta|price|prices|worth|"
    r"rate|tasa|how\s+much|trading\s+at|c[oó]mo\s+(?:est[aá]|va|cotiza))\b", re.I)
_IMAGE = re.compile(
    r"https?://|\bfile[-_]\w{6,}|\b(?:este|esta|esto|mi|el|la)\s+(?:gr[aá]fic[oa]|imagen|captura|chart|pantallazo)\b"
    r"|\bthis\s+(?:chart|image|screenshot|picture)\b|\b(?:my|the)\s+(?:chart|screenshot)\b", re.I)


def mentioned(text: str) -> str | None:
    """The glossary key a message asks about, the unknown term of a "what is X?" question, or None.

    None as well for a message about a chart or image ("los soportes de este gráfico": an
    analysis) and for a price question that is not a "what is" question ("precio de una
    criptomoneda")."""
    if _IMAGE.search(text):
        return None
    definition = DEFINITION.search(text)
    price = _PRICE_WORDS.search(text) is not None
    if price and not definition:
        return None
    entry = lookup(text)
    if entry is not None:
        return entry.key
    if definition and not price:
        rest = text[definition.end():]
        words = [w for w in _WORD.findall(rest) if fold(w) not in _STOP]
        return " ".join(words)[:60] or None
    return None


__all__ = ["Entry", "entries", "known_names", "lookup", "mentioned", "near", "suggestions", "typo_limit"]
