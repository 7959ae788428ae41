"""The course catalogue's words for the guided provider: levels (the ``nivel`` enum), the
words that only say "a course", and "curso 12" as an id (see :class:`hilo.nlu.parsers.Vocabulary`)."""

from __future__ import annotations

from hilo.nlu.parsers import ArgumentParser, Vocabulary, parse_max_price, phrases, sounds_like

LEVEL_WORDS = {
    "básico": "basico, basica, basicos, principiante, principiantes, inicial, iniciacion, desde cero, beginner, "
              "beginners, basic, introductorio, novato, novatos",
    "intermedio": "intermedio, intermedia, intermedios, intermediate, nivel medio",
    "avanzado": "avanzado, avanzada, avanzados, advanced, experto, expertos, expert, experts",
}

_LEVELS = {word.strip(): level for level, words in LEVEL_WORDS.items() for word in [level, *words.split(",")]}


def parse_level(text: str) -> str | None:
    found = phrases(text, _LEVELS)
    return found[0][1] if found else sounds_like(text, _LEVELS)  # "avansado"


MODALITY_WORDS = {
    "virtual": "virtual, virtuales, online, en linea, remoto, remota, a distancia, desde casa",
    "presencial": "presencial, presenciales, en persona, on-site, in person, en sede",
    "híbrido": "hibrido, hibrida, hibridos, hybrid, mixto, semipresencial",
}
_MODALITIES = {w.strip(): m for m, words in MODALITY_WORDS.items() for w in [m, *words.split(",")]}


def parse_modality(text: str) -> str | None:
    found = phrases(text, _MODALITIES)
    return found[0][1] if found else sounds_like(text, _MODALITIES)  # "presensial"


VOCABULARY = Vocabulary(
    parsers=[ArgumentParser("level", frozenset({"nivel", "level", "dificultad", "difficulty"}), parse_level,
                            {"es": "¿Qué nivel buscas: básico, intermedio o avanzado?",
                             "en": "Which level: basic, intermediate or advanced?"}),
             ArgumentParser("modality", frozenset({"modalidad", "modality"}), parse_modality,
                            {"es": "¿Prefieres modalidad presencial, virtual o híbrida?",
                             "en": "Do you prefer on-site, online or hybrid?"}),
             ArgumentParser("max_price", frozenset({"precio_max", "max_price"}), parse_max_price,
                            {"es": "¿Hasta qué precio buscas?", "en": "Up to what price?"})],
    synonyms=LEVEL_WORDS,
    filler=("curso cursos clase clases taller talleres formacion programa programas capacitacion "
            "course courses class classes training manejan manejas ofrecen catalogo catalog dictan ensenan "
            "cuanto cuesta cuestan precio precios valor vale valen costo necesito soy recomiendan recomiendas "
            "es son barato baratos economico economicos menos hasta maximo mil pesos "
            "dura duran duracion horario horarios empieza empiezan inicia inician empezar "
            "capacitar capacitarme capacitacion capacitaciones estudiar inscribir inscribirme nuevo nuevos "
            + " ".join(w.strip() for words in MODALITY_WORDS.values() for w in words.split(",") if " " not in w.strip())
            + " "
            + " ".join(w.strip() for words in LEVEL_WORDS.values() for w in words.split(",") if " " not in w.strip())),
    id_words=("curso", "course"),
)

__all__ = ["LEVEL_WORDS", "MODALITY_WORDS", "VOCABULARY", "parse_level", "parse_max_price", "parse_modality"]
