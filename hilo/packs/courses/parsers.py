"""The course catalogue's words for the guided provider: levels (the ``nivel`` enum), the
words that only say "a course", and "curso 12" as an id (see :class:`hilo.nlu.parsers.Vocabulary`)."""

from __future__ import annotations

from hilo.nlu.parsers import ArgumentParser, Vocabulary, phrases

LEVEL_WORDS = {
    "básico": "basico, basica, basicos, principiante, principiantes, inicial, iniciacion, desde cero, beginner, "
              "beginners, basic, introductorio, novato, novatos",
    "intermedio": "intermedio, intermedia, intermedios, intermediate, nivel medio",
    "avanzado": "avanzado, avanzada, avanzados, advanced, experto, expertos, expert, experts",
}

_LEVELS = {word.strip(): level for level, words in LEVEL_WORDS.items() for word in [level, *words.split(",")]}


def parse_level(text: str) -> str | None:
    found = phrases(text, _LEVELS)
    return found[0][1] if found else None


VOCABULARY = Vocabulary(
    parsers=[ArgumentParser("level", frozenset({"nivel", "level", "dificultad", "difficulty"}), parse_level,
                            {"es": "¿Qué nivel buscas: básico, intermedio o avanzado?",
                             "en": "Which level: basic, intermediate or advanced?"})],
    synonyms=LEVEL_WORDS,
    filler=("curso cursos clase clases taller talleres formacion programa programas capacitacion "
            "course courses class classes training "
            + " ".join(w.strip() for words in LEVEL_WORDS.values() for w in words.split(",") if " " not in w.strip())),
    id_words=("curso", "course"),
)

__all__ = ["LEVEL_WORDS", "VOCABULARY", "parse_level"]
