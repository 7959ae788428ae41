"""What a message does in a conversation, beyond its words: its clauses, whether it refers to
something already shown ("el más barato", "el segundo", "¿y el de negocios?", "ese"), and
whether it corrects the last request ("no, mejor avanzado", "perdón, quise decir excel").

Pure functions over text and plain JSON (the tool outputs a conversation produced), in Spanish
and English. The guided provider decides what to do with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hilo.nlu.lang import fold

# ---------------------------------------------------------------------- clauses
# A stop ends a clause only before a space or the end: URLs, decimals and "p. m." stay whole.
_SPLIT = re.compile(r"[?!;\n]+|\.+(?=\s|$)|¿|¡")


def clauses(text: str) -> list[str]:
    """The sentences and questions of a message, in order ("¿tienen inglés? ¿cuánto cuestan?"
    -> ["tienen inglés", "cuánto cuestan"]); the message itself when it has one."""
    parts = [" ".join(p.split()) for p in _SPLIT.split(text)]
    parts = [p.strip(" ,") for p in parts if len(p.strip(" ,")) > 1]
    return parts or [text.strip()]


# ---------------------------------------------------------------------- openers
# What a message may open with before what it asks: greetings, thanks, acknowledgements ("hola!",
# "ok gracias,", "bueno, ¿y..."). The first words open a message by themselves ("ok y las bandas");
# the others only before a comma or a stop ("vale, ¿y...", but "vale la pena" asks something).
_OPENERS = ("hola|holi|holis|buenas|buenos dias|buenas tardes|buenas noches|buen dia|hey|hi|hello|"
            "saludos|gracias|muchas gracias|mil gracias|thanks|thank you|thx|ok|okay|okey|oka|listo|"
            "perfecto|perfecta|perfect|genial|great|cool|excelente")
_OPENERS_BEFORE_STOP = ("vale|bueno|buena|dale|ya|va|pues|entonces|mira|oye|sale|orale|chido|che|bien|super|"
                        "well|so|ah|oh|uy|ay|parce|aja|que onda|que tal|claro|sure|nice|chevere|bacano")
_OPENING_WORD = re.compile(rf"(?:(?:{_OPENERS})(?![\wñ])[\s,.!]*|(?:{_OPENERS_BEFORE_STOP})\s*[,.!]+\s*|[\s¿¡,.!]+)")


def _fold_chars(text: str) -> str:
    """fold() one character at a time: the same length as the text, so positions carry over."""
    return "".join((fold(c) or c)[:1] for c in text)


def without_opening(text: str) -> str:
    """The message without the greetings, thanks and acknowledgements it opens with ("ok thanks,
    y el intermedio es online?" -> "y el intermedio es online?"); "" when that is all it says."""
    folded, at, opened = _fold_chars(text), 0, False
    while at < len(text):
        match = _OPENING_WORD.match(folded, at)
        if not match or match.end() == at:
            break
        opened = opened or bool(match.group().strip(" ¿¡,.!\t\n"))
        at = match.end()
    return text[at:].strip() if opened else text.strip()


# ---------------------------------------------------------------------- references
_ORDINALS = {
    "primero": 0, "primer": 0, "primera": 0, "1ro": 0, "1o": 0, "first": 0, "1st": 0,
    "segundo": 1, "segunda": 1, "2do": 1, "2o": 1, "second": 1, "2nd": 1,
    "tercero": 2, "tercer": 2, "tercera": 2, "3ro": 2, "3o": 2, "third": 2, "3rd": 2,
    "cuarto": 3, "cuarta": 3, "4to": 3, "fourth": 3, "4th": 3,
    "quinto": 4, "quinta": 4, "5to": 4, "fifth": 4, "5th": 4,
    "ultimo": -1, "ultima": -1, "last": -1, "penultimo": -2, "penultima": -2,
}
_ORDINAL = re.compile(r"(?<![\wñ])(?:el|la|the|del|de la|al)?\s*(" + "|".join(sorted(_ORDINALS, key=len, reverse=True))
                      + r")(?![\wñ])")
# one item: "el más barato"; "los más baratos" asks for a list
_CHEAP = re.compile(r"(?<![\wñ])(?:mas\s+(?:barat[oa]s?|economic[oa]s?|asequibles?)|menos\s+(?:car[oa]s?|costos[oa]s?))(?![\wñ])"
                    r"|(?<![\wñ])(?:cheapest|least expensive|lowest price|menor precio|precio mas bajo)(?![\wñ])")
_DEAR = re.compile(r"(?<![\wñ])mas\s+(?:car[oa]|costos[oa])(?![\wñ])|(?<![\wñ])(?:most expensive|priciest|"
                   r"highest price|mayor precio|precio mas alto)(?![\wñ])")
# "eso es todo", "eso sería todo", "that's it": closing words, not a pointer at an item
_THAT = re.compile(r"(?<![\wñ])(?:ese|esa|este|esta|eso(?!\s+(?:es|seria|sera)\s+todo|\s+(?:no\s*)?mas\b)|aquel|aquella|"
                   r"that one|this one|it(?!\s+is\s+all|'s all))(?![\wñ])")
_OF_THE = re.compile(r"(?<![\wñ])(?:el|la|los|las|uno|una|del|al)\s+(?:de|del|para|sobre|en)\s+(.+)$"
                     r"|(?<![\wñ])the\s+(.+?)\s+one(?![\wñ])|(?<![\wñ])the one (?:about|for|on|in|with)\s+(.+)$")
_NAME_FIELDS = ("nombre", "name", "title", "titulo", "descripcion", "description", "categoria", "category")
_PRICE_FIELDS = ("precio", "price", "amount", "monto", "valor", "cost", "costo")
_LIST_STOP = set(fold(
    "cuanto cuesta cuestan vale valen precio horario dura duracion cuando empieza inicia y el la los las "
    "de del en un una es que cual me dame dime mas info informacion sobre ese esa curso cursos how much "
    "is the of about more tell me price one"
).split())


@dataclass(slots=True)
class Reference:
    """An item of an earlier list (or the item last shown) that a message points at."""

    item: dict[str, Any]
    how: str  # "cheapest" | "priciest" | "position" | "name" | "value" | "that" | "implicit"


def items_of(output: Any) -> list[dict[str, Any]] | None:
    """The listed items of a tool output: its list of objects that carry an id."""
    if isinstance(output, list):
        candidates = [output]
    elif isinstance(output, dict):
        candidates = [v for v in output.values() if isinstance(v, list)]
    else:
        return None
    for items in candidates:
        if items and all(isinstance(i, dict) and id_of(i) is not None for i in items):
            return items
    return None


# what an item's id may be called when it has no "id": its reference, code or SKU
_CODE_KEYS = ("referencia", "reference", "ref", "sku", "codigo", "código", "code")


def id_of(item: dict[str, Any]) -> Any:
    for key, value in item.items():
        if (key == "id" or key.endswith("_id")) and isinstance(value, int | str) and not isinstance(value, bool):
            return value
    for key in _CODE_KEYS:
        value = item.get(key)
        if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
            return value
    return None


def _price(item: dict[str, Any]) -> float | None:
    for key in _PRICE_FIELDS:
        value = item.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9ñ]+", fold(text)) if len(w) > 2}


def words(text: str) -> list[str]:
    """The folded words of a text longer than two letters, in order."""
    return [w for w in re.findall(r"[a-z0-9ñ]+", fold(text)) if len(w) > 2]


def stem(word: str) -> str:
    """A word without its plural ending ("cursos" -> "curso", "colores" -> "color")."""
    return _stem(fold(word))


def _stem(word: str) -> str:
    return word[:-2] if len(word) > 5 and word.endswith("es") else word[:-1] if len(word) > 4 and word.endswith("s") else word


def by_name(text: str, items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one item whose name or description shares the most words with the text (none on a tie)."""
    wanted = {_stem(w) for w in _words(text) - _LIST_STOP}
    if not wanted:
        return None
    scored = []
    for item in items:
        name = " ".join(str(item.get(f, "")) for f in _NAME_FIELDS[:4])
        rest = " ".join(str(item.get(f, "")) for f in _NAME_FIELDS[4:])
        in_name = len(wanted & {_stem(w) for w in _words(name)})
        in_rest = len(wanted & {_stem(w) for w in _words(rest)})
        scored.append((in_name * 2 + in_rest, item))
    scored.sort(key=lambda s: -s[0])
    if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1]


# "el intermedio", "la virtual", "el antigolpes": one item by a word of its name or of a short value
_THE_ONE = re.compile(r"(?<![\wñ])(?:el|la|los|las|the)\s+([a-zñ0-9]+(?:\s+[a-zñ0-9]+)?)")
# "el otro", "la otra", "the other one": of two items, the one not shown last
_OTHER = re.compile(r"(?<![\wñ])(?:el|la|los|las|the)\s+(?:otr[oa]s?|other)(?![\wñ])")
_SHORT_VALUE = 40  # longer strings are descriptions or schedules, not what an item is called by


def by_value(words: list[str], items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one item named by the first of the words that names exactly one: a word of its name or
    of one of its short text values (its level, its modality, its colour)."""
    for word in words:
        if len(word) < 3 or word in _LIST_STOP or word in _ORDINALS:
            continue
        stem = _stem(word)
        named = [item for item in items
                 if stem in {_stem(w) for value in item.values()
                             if isinstance(value, str) and len(value) <= _SHORT_VALUE for w in _words(value)}]
        if len(named) == 1:
            return named[0]
        if named:
            return None  # a word several items share: not a pick
    return None


# A question about "it" with no item named: "¿es para principiantes?", "y donde es?", "is it online?"
_ABOUT_IT = re.compile(r"^(?:y\s+|and\s+)?(?:(?:donde|cuando|a que hora|que dias?|cuanto|como|en que|de que|where|when|"
                       r"what time|how long|how much)\s+)?(?:es|esta|queda|sera|seria|is it|does it)(?![\wñ])"
                       r"(?!\s+(?:bien|todo|perfecto|suficiente|correcto|fine|all|ok)\b)")


# "lo tienen en azul?", "la quiero": a pronoun for the item shown
_IT_PRONOUN = re.compile(r"^(?:y\s+)?(?:lo|la)\s+(?:tienen|tiene|tienes|hay|venden|vende|manejan|quiero|queria|puedo|pueden|"
                         r"podria|recomiendas|recomiendan|mandan|envian|separan|apartan)(?![\wñ])")


# "¿y mañana?", "¿y ahora?", "and tonight?": the same request at another time
_AGAIN_WHEN = re.compile(r"^(?:y|and|e)\s+(?:para\s+|for\s+)?(?:hoy|mañana|manana|pasado mañana|ahora|ahorita|esta noche|"
                         r"esta tarde|en la noche|en la tarde|el fin de semana|el finde|este fin de semana|la otra semana|"
                         r"now|today|tomorrow|tonight|this weekend|later)\s*[?!.]*$")


def same_again(text: str) -> bool:
    """Does the message ask the last request again at another time, or about what it answered
    ("¿y mañana?", "¿y ahora?", "¿cuándo llega ese?")?"""
    said = fold(without_opening(text) or text).strip(" ¿¡?!.")
    return bool(_AGAIN_WHEN.search(said) or (len(said.split()) <= 5 and (_THAT.search(said) or about_it(said))))


def about_it(text: str) -> bool:
    """Does the message ask about the item last shown without naming one ("¿es virtual?",
    "¿lo tienen en azul?")?"""
    said = fold(without_opening(text) or text).lstrip("¿¡ ")
    return bool(_ABOUT_IT.search(said) or _IT_PRONOUN.search(said))


def reference(text: str, items: list[dict[str, Any]] | None, focus: dict[str, Any] | None) -> Reference | None:
    """What the message points at among the items last listed (or the item last shown)."""
    folded = fold(text)
    if items:
        priced = [i for i in items if _price(i) is not None]
        if priced and _CHEAP.search(folded):
            return Reference(min(priced, key=_price), "cheapest")
        if priced and _DEAR.search(folded):
            return Reference(max(priced, key=_price), "priciest")
        match = _ORDINAL.search(folded)
        if match:
            index = _ORDINALS[match.group(1)]
            if -len(items) <= index < len(items):
                return Reference(items[index], "position")
        of_the = _OF_THE.search(folded)
        if of_the:
            named = next(g for g in of_the.groups() if g)
            found = by_name(named, items) or by_value(re.findall(r"[a-z0-9ñ]+", named), items)
            if found is not None:
                return Reference(found, "name")
        for the in _THE_ONE.finditer(folded):
            found = by_value(the.group(1).split(), items)
            if found is not None:
                return Reference(found, "value")
    if items and focus is not None and len(items) == 2 and _OTHER.search(folded):
        others = [i for i in items if id_of(i) != id_of(focus)]
        if len(others) == 1:
            return Reference(others[0], "other")
    if focus is not None and _THAT.search(folded):
        return Reference(focus, "that")
    if items and _THAT.search(folded):  # "ese" after a list: the first one, the best match
        return Reference(items[0], "that")
    return None


# ---------------------------------------------------------------------- corrections
_CORRECTION = re.compile(
    r"^[^,.;]{1,40}?\bno\s*[,.;]+\s*\S|"  # "en euros no, en dólares", "el martes no, el jueves"
    r"^\s*(?:no\b[\s,.!]*|mejor\b|perdon\b|disculpa\b|quise decir\b|mas bien\b|en vez\b|en lugar\b|"
    r"y\s+(?:si|en|de|con|para|el|la|los|las)\b|y\s+\w+\s*$|me\s+equivoque\b|me\s+confundi\b|corrijo\b|"
    r"correccion\b|me\s+referia\b|"
    r"sorry\b|i meant\b|actually\b|rather\b|instead\b|what about\b|and\s+(?:in|for|the|with)\b|how about\b)",
)
_MEANT = re.compile(r"(?:quise decir|queria decir|mas bien|mejor|i meant|instead|rather|en vez de eso|me referia a)\s+(.*)$"
                    r"|(?:me equivoque|me confundi|corrijo|correccion)[^,:;]*[,:;]\s*(?:es|era|son|eran)?\s*(.+)$"
                    r"|^\s*no\s*,?\s*no\s+[^,]{1,30},\s*(?:sino\s+|es\s+|era\s+)?(.+)$"
                    r"|(?<=\w)\s+no\s*[,;.]+\s*(?:sino\s+|mejor\s+|mas bien\s+)?(.+)$|\bsino\s+(.+)$")


# what a reply may open with before it says what it changes: "¿", "bueno,", "ok gracias,"
_OPENING = re.compile(r"^(?:[\s¿¡]+|(?:bueno|ok|okay|vale|listo|dale|gracias|perfecto|ah|oh|ya|well|thanks)\b[\s,.!]*)+")


def corrects(text: str) -> bool:
    """Does the message change the last request rather than make a new one?"""
    return bool(_CORRECTION.search(_OPENING.sub("", fold(text))))


def meant(text: str) -> str | None:
    """What a correction says the user meant ("perdón, quise decir excel" -> "excel")."""
    match = _MEANT.search(fold(text))
    if not match:
        return None
    return next(g for g in match.groups() if g is not None).strip(" ,.!?") or None


__all__ = ["Reference", "about_it", "same_again", "by_name", "by_value", "clauses", "corrects", "id_of", "items_of", "meant", "reference", "stem",
           "without_opening", "words"]
