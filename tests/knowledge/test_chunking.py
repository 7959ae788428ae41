"""Chunking: OpenAI's chunking_strategy rules, token counts that are the embedder's own, and
pieces that never pass the budget, keep their offsets, cover the text and overlap as asked."""

from __future__ import annotations

import itertools
import random
import statistics
import time

import pytest

from hilo.kit.errors import InvalidRequest
from hilo.knowledge.chunking import DEFAULT_STRATEGY, Piece, chunk, count_tokens, strategy
from hilo.nlu.embed import _load

WORDS = ("el la de los contribuyente declaración renta año gravable según artículo impuesto patrimonio "
         "ingresos brutos superiores persona natural residente formulario 210 plazo vencimiento dígitos NIT "
         "sanción extemporaneidad Señor Muñoz niño piña ¿cuánto? ¡pagará! $49.799 1.234.567,89 12,5 % "
         "4.500 UVT https://www.dian.gov.co/ e-mail (DIAN) «comillas» “curvas” 😀 税务 Ελληνικά").split()
ODD_WORDS = ["\x01", "\x0b", "\x1c", "\x85", "a\x0bb", "\x00", "´a", "x\u200by", "\ufeff", "​", "..."]
SEPARATORS = [" "] * 40 + ["\n", "\n\n", "\t", "\xa0", "  ", "\u2009", "\u3000", " \n \n ", "\r\n", "\u2029"]


def raw_count(text: str) -> int:
    """The model's count, prefix and specials taken off: what chunk() must agree with."""
    text = text.replace("\x00", "")
    return _load().token_count(text, False) - 4 if text else 0


def random_text(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        r = rng.random()
        if r < 0.01:
            word = rng.choice("xyz0") * rng.randint(50, 4000)  # a monster word
        elif r < 0.03:
            word = rng.choice(ODD_WORDS)
        else:
            word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word += rng.choice([".", "?", "!", ".»", ";", ".)"])
        out.append(word)
        out.append(rng.choice(SEPARATORS))
    return "".join(out)


def check(text: str, pieces: list[Piece], max_tokens: int, overlap: int) -> list[int]:
    """Every invariant chunk() promises; the overlaps, in tokens."""
    for p in pieces:
        assert p.text and p.text == text[p.start:p.end]
        assert p.tokens == raw_count(p.text), (p.tokens, raw_count(p.text), p.text[-40:])
        assert p.tokens <= max_tokens
    covered = bytearray(len(text))
    for p in pieces:
        covered[p.start:p.end] = b"\x01" * (p.end - p.start)
    missing = [i for i, c in enumerate(text) if not covered[i] and not (c.isspace() or c in "\u200b\ufeff")]
    assert not missing, [text[max(0, i - 10):i + 10] for i in missing[:3]]
    overlaps = []
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert b.start > a.start and b.end > a.end
        shared = raw_count(text[b.start:a.end]) if b.start < a.end else 0
        assert shared <= overlap <= max_tokens // 2
        overlaps.append(shared)
    return overlaps


def prose(rng: random.Random, chars: int, vocabulary: int = 60_000) -> str:
    """Spanish-looking prose: Zipf-distributed words of Spanish syllables, sentences, paragraphs."""
    syllables = "ma me mi mo mu la le li lo lu pa pe pi po pu ta te ti to tu ción ña ñe rá ré rí ró rú des con " \
                "tra pre sub in es ar er ir".split()
    vocab = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 5))) for _ in range(vocabulary)]
    cumulative = list(itertools.accumulate(1 / (i + 1) for i in range(vocabulary)))
    paragraphs, size = [], 0
    while size < chars:
        sentences = [" ".join(rng.choices(vocab, cum_weights=cumulative, k=rng.randint(6, 35))).capitalize()
                     + rng.choice([".", ".", "?", " $49.799.", " 12,5 %."]) for _ in range(rng.randint(1, 8))]
        paragraphs.append(" ".join(sentences))
        size += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)[:chars]


# ---------------------------------------------------------------------- strategy
def test_default_and_auto_are_openais_800_400():
    assert DEFAULT_STRATEGY == {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
    assert strategy(None) == DEFAULT_STRATEGY
    assert strategy({"type": "auto"}) == DEFAULT_STRATEGY
    assert strategy(None) is not DEFAULT_STRATEGY  # a copy the caller may keep


@pytest.mark.parametrize("size,overlap", [(100, 0), (100, 50), (800, 400), (4096, 2048), (4096, 0), (301, 150)])
def test_static_within_the_limits_is_kept(size, overlap):
    value = {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}
    assert strategy(value) == value


@pytest.mark.parametrize("value,names", [
    ({"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
     ["max_chunk_size_tokens", "99", "100", "4096"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0}},
     ["max_chunk_size_tokens", "4097", "4096"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 401}},
     ["chunk_overlap_tokens", "401", "half", "400"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": 301, "chunk_overlap_tokens": 151}},
     ["chunk_overlap_tokens", "half"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": -1}},
     ["chunk_overlap_tokens", "negative"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": 800}}, ["chunk_overlap_tokens", "required"]),
    ({"type": "static", "static": {"chunk_overlap_tokens": 10}}, ["max_chunk_size_tokens", "required"]),
    ({"type": "static"}, ["static", "required"]),
    ({"type": "static", "static": None}, ["static", "required"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": "800", "chunk_overlap_tokens": 400}},
     ["max_chunk_size_tokens", "integer"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": 800.0, "chunk_overlap_tokens": 400}},
     ["max_chunk_size_tokens", "integer"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": True, "chunk_overlap_tokens": 0}},
     ["max_chunk_size_tokens", "integer"]),
    ({"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400, "x": 1}},
     ["unknown", "x"]),
    ({"type": "auto", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}, ["unknown", "static"]),
    ({"type": "other"}, ["other", "auto", "static"]),
    ({"type": "semantic"}, ["semantic", "auto", "static"]),
    ({}, ["type", "auto", "static"]),
    ("auto", ["object"]),
    ([], ["object"]),
])
def test_refusals_name_the_rule(value, names):
    with pytest.raises(InvalidRequest) as info:
        strategy(value)
    assert info.value.param == "chunking_strategy" and info.value.status == 400
    assert info.value.message.startswith("Invalid 'chunking_strategy")
    for name in names:
        assert name in info.value.message, (name, info.value.message)


# ---------------------------------------------------------------------- token counts
def test_tokens_are_the_embedders_without_prefix_and_specials():
    model = _load()
    assert model.token_count("a", False) == 5  # <s> ▁passage : ▁a </s>
    assert model.token_count("", False) == 5  # <s> ▁passage : ▁ </s>: "passage: " alone ends in a lone ▁
    assert count_tokens("") == 0
    assert count_tokens("a") == 1
    for text in ["Hola mundo", "El precio es $49.799.", "declaración", "Señor Muñoz, ¿cuánto pagará?", "😀 税务"]:
        assert count_tokens(text) == model.token_count(text, False) - 4
        assert count_tokens(text) >= len(text.split())


def test_token_counts_add_up_across_every_separator():
    """What makes chunking fast: a text's tokens are the sum of its words', for every character
    the chunker splits at (and no other)."""
    rng = random.Random(11)
    for _ in range(300):
        words = [rng.choice(WORDS + ODD_WORDS[:6]) for _ in range(rng.randint(1, 12))]
        text = "".join(w + rng.choice(SEPARATORS) for w in words).strip(" \n\t\xa0\u2009\u3000\r\u2029")
        if not text or text[-1] in "\x01\x0b\x1c\x00" or text.split()[-1] in ODD_WORDS:
            continue
        pieces = chunk(text, 4096, 0)
        assert len(pieces) == 1 and pieces[0].tokens == raw_count(text)


# ---------------------------------------------------------------------- pieces
def test_random_texts_keep_every_promise():
    rng = random.Random(20250101)
    for _ in range(100):
        text = random_text(rng, rng.randint(0, 1500))
        max_tokens = rng.choice([100, 128, 200, 333, 800])
        overlap = rng.randint(0, max_tokens // 2)
        check(text, chunk(text, max_tokens, overlap), max_tokens, overlap)


def test_default_pieces_on_prose_are_full_and_overlap_about_400():
    text = prose(random.Random(1), 120_000)
    pieces = chunk(text)
    overlaps = check(text, pieces, 800, 400)
    sizes = [p.tokens for p in pieces[:-1]]
    assert min(sizes) >= 700  # at most an eighth of the budget given up for a better boundary
    assert min(overlaps) >= 300 and statistics.median(overlaps) >= 350


def test_pieces_end_at_paragraphs_then_sentences():
    """A piece ends at the strongest boundary in its last eighth, and the next starts at the
    strongest one near the overlap: with paragraphs shorter than that, always at paragraphs."""
    rng = random.Random(2)
    paragraphs = [" ".join(rng.choice(WORDS[:25]) for _ in range(rng.randint(5, 12))) + "."
                  for _ in range(400)]
    text = "\n\n".join(paragraphs)
    pieces = chunk(text)
    check(text, pieces, 800, 400)
    assert all(text[p.end:p.end + 2] == "\n\n" for p in pieces[:-1])
    assert all(p.start == 0 or text[p.start - 2:p.start] == "\n\n" for p in pieces)
    one_paragraph = " ".join(paragraphs)  # now only sentences end where pieces may
    pieces = chunk(one_paragraph, 200, 50)
    assert all(one_paragraph[p.end - 1] == "." for p in pieces)
    assert all(p.start == 0 or one_paragraph[p.start - 2:p.start] == ". " for p in pieces)
    lines = "\n".join(p.rstrip(".") for p in paragraphs)  # a line break ends a sentence too
    assert all(lines[p.end:p.end + 1] in ("\n", "") for p in chunk(lines, 200, 50))
    text = prose(rng, 60_000)  # paragraphs of up to 8 long sentences: not all fit a piece's tail
    ends = [text[p.end:p.end + 2] for p in chunk(text)[:-1]]
    assert sum(e == "\n\n" for e in ends) >= len(ends) // 5


def test_sentence_longer_than_a_piece_is_cut_between_words():
    text = " ".join(["contribuyente"] * 3000) + "."
    pieces = chunk(text, 100, 20)
    check(text, pieces, 100, 20)
    assert all(text[p.end:p.end + 1] in (" ", "") and text[p.start - 1:p.start] in (" ", "") for p in pieces)


def test_a_monster_word_is_cut_by_characters():
    for text in ["x" * 50_000, "AbC9" * 20_000, "税务申报截止日期是四月。" * 3_000, "a" + "é" * 9_000]:
        pieces = chunk(text, 100, 30)
        check(text, pieces, 100, 30)
        assert pieces[0].start == 0 and pieces[-1].end == len(text)


def test_small_texts_and_nothing():
    assert chunk("") == []
    assert chunk(" \n\n\t ") == []
    (piece,) = chunk("  Hola, ¿cómo está?  \n")
    assert (piece.text, piece.start, piece.end) == ("Hola, ¿cómo está?", 2, 19)
    assert piece.tokens == count_tokens("Hola, ¿cómo está?")


def test_no_overlap_leaves_only_whitespace_between_pieces():
    text = prose(random.Random(3), 20_000)
    pieces = chunk(text, 150, 0)
    check(text, pieces, 150, 0)
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert b.start >= a.end and not text[a.end:b.start].strip()


def test_a_custom_count_is_obeyed_even_when_it_does_not_add_up():
    text = prose(random.Random(4), 30_000)
    for count in (len, lambda t: len(t.split()) + 3 * t.count(",")):
        pieces = chunk(text, 300, 100, count=count)
        assert pieces and all(p.tokens == count(p.text) <= 300 for p in pieces)
        assert pieces[0].start == 0 and pieces[-1].end == len(text)
        assert all(p.text == text[p.start:p.end] for p in pieces)


@pytest.mark.parametrize("max_tokens,overlap", [(0, 0), (-5, 0), (100, 51), (100, -1), (True, 0), (100, 1.5)])
def test_bad_arguments_are_refused(max_tokens, overlap):
    with pytest.raises(ValueError):
        chunk("hola", max_tokens, overlap)


def test_one_megabyte_chunks_in_well_under_a_few_seconds():
    text = prose(random.Random(5), 1_000_000)
    chunk("calentar el contador")
    started = time.perf_counter()
    pieces = chunk(text)
    elapsed = time.perf_counter() - started
    print(f"\n1 MB of prose: {len(pieces)} pieces in {elapsed:.2f} s")
    assert elapsed < 2.0
    assert max(p.tokens for p in pieces) <= 800
    assert pieces[0].start == 0 and pieces[-1].end == len(text.rstrip())
