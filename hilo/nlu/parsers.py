"""Typed argument parsers driven by a tool's JSON schema.

Each parameter gets a *kind* from its name, type and enum (``*_url`` -> URL, ``file_id``,
``*_id`` -> id, numbers, dates, places, enums, free text), and each kind has one parser that
reads a user message in Spanish or English. A parser returns ``None`` when the message does not
say: the caller then asks for the value instead of guessing.

The core knows no domain. A pack adds its own words through a :class:`Vocabulary`: kinds of its
own (the trading pack's crypto tickers and currency pairs), synonyms of enum values (course
levels, analysis types), filler words of its domain ("curso", "clase") and the words that
introduce an id ("curso 12"). :class:`Parsers` combines the core with the vocabularies of the
enabled packs; the module functions use the core alone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hilo.nlu import dialogue
from hilo.nlu.lang import fold

# Words that say what the user wants, not what about: dropped from free-text queries.
_FILLER = set(fold(
    "busco buscar buscando busca encuentra encontrar quiero quisiera queria me te le nos interesa "
    "interesan gustaria podrias puedes puede tienes tienen tiene hay ofrecen ofreces dan "
    "algun alguno alguna algunos algunas informacion info sobre acerca de del el la los las un una "
    "unos unas en con para por que qué cual cuales cuál y o a al mi mis hola porfa favor "
    "aprender estudiar nivel niveles recomiendas recomienda recomiendame dime muestrame ver "
    "disponible disponibles algo relacionado relacionados tema temas "
    "i im i'm am looking look for find search any "
    "about on in of the a an to do you have is are there show me want would like learn study "
    "please level some something related offer can get need what which one it this that these those "
    "ese esa este esta eso esto esos esas estos estas aquel aquellos "
    # greetings, chat spellings and interjections
    "buenas buenos dias tardes noches hey holi ola saludos gracias uy ay bueno pues vale oye mira "
    "q k xq pq porq d pa x tb tmb tambien plis pls porfavor "
    # asking, wanting, having, sending: the request, not its subject
    "tenéis teneis tendran tendrias manejan manejas ofreces venden vendes mandame mandeme enviame "
    "pasame muestreme muestrenme dame deme lista listado necesito necesitaria ocupo quisiera "
    "gustaria podria podrian pueden saber conocer consultar preguntar pregunta "
    "no si sí solo solamente mas más muy otro otra otros otras cual cuales cuál cuáles "
    "que qué como cómo cuando cuándo donde dónde cuanto cuánto cuanta cuantos cuantas "
    "cuesta cuestan cuesten vale valen precio precios costo costos valor tarifa "
    "es son sea sean soy estoy era ser estar hay tengo tienes tenemos "
    "modalidad modalidades pase pasen supere superen "
    "hi hello thanks thank hey please pls what's whats how much price cost costs does "
    # acknowledgements and the words of a correction: how a message reacts, not what it asks for
    "ok okay okey listo dale entonces onda ya se lo perdon perdona disculpa disculpe mejor equivoque "
    "quise decir queria referia bien sorry meant actually rather instead alcanza alcanzan alcance "
    "ahora ahorita now cueste cuesten "
    # everything, both, possessives: how much of the catalogue, not what about
    "todo todos toda todas everything all completo entero ambos ambas dos su sus tu tus nuestro nuestros "
    "da das tal "
    # who is asked, courtesy in chat spelling, being open or available now
    "ustedes usted vos xfa porfis plz actualmente estan están abierto abiertos abierta abiertas tomar "
    "pasas pasan pasar confundi confundí confundido confundida corrijo correccion corrección cambia cambiar cambialo"
).split())

_URL = re.compile(r"https?://[^\s<>\"')]+", re.I)
_FILE_ID = re.compile(r"\bfile[-_][A-Za-z0-9]{6,}\b")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:[.,]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)\s*(k|mil|m|millones|million|millon)?\b", re.I)
_WORDS = re.compile(r"[\wñáéíóúü/+#.'’-]+", re.I)
_MONTHS = {m: i + 1 for i, names in enumerate([
    "enero january jan ene", "febrero february feb", "marzo march mar", "abril april apr abr",
    "mayo may", "junio june jun", "julio july jul", "agosto august aug ago",
    "septiembre setiembre september sep sept", "octubre october oct", "noviembre november nov",
    "diciembre december dec dic"]) for m in names.split()}


_PATTERNS: dict[int, tuple[re.Pattern[str], dict[str, str]]] = {}


def phrases(text: str, table: dict[str, str]) -> list[tuple[int, str]]:
    """(position, value) of every table phrase in the text, the longest phrase winning."""
    if id(table) not in _PATTERNS:
        folded = {fold(k): v for k, v in table.items()}
        alternatives = "|".join(re.escape(p) for p in sorted(folded, key=len, reverse=True))
        _PATTERNS[id(table)] = re.compile(rf"(?<![\wñ])(?:{alternatives})(?![\wñ])"), folded
    pattern, folded = _PATTERNS[id(table)]
    text = fold(text)
    return [(m.start(), folded[m.group()]) for m in pattern.finditer(text) if not negated(text, m.start())]


# "que no sean virtuales", "no quiero intermedio", "sin tinte", "not the advanced": the value is ruled out
_NEGATED = re.compile(r"(?:^|[^\wñ])(?:no|ni|sin|not|excepto|except|salvo|nada de)\s+(?:(?:que|sea|sean|es|son|quiero|queria|"
                      r"me|interesa|en|de|del|el|la|los|las|un|una|modalidad|nivel|tan|curso|cursos|the|a|an|want|"
                      r"i|do|dont|want|any)\s+){0,3}$")


def negated(folded: str, start: int) -> bool:
    """Is the phrase at ``start`` of the folded text ruled out by a "no" just before it?"""
    return _NEGATED.search(folded[max(0, start - 40):start]) is not None


def parse_number(text: str) -> float | None:
    for match in _NUMBER.finditer(text):
        if _FILE_ID.search(text[max(0, match.start() - 30): match.end()]):
            continue
        return _to_number(match.group(1), match.group(2))
    return None


def _to_number(digits: str, suffix: str | None) -> float:
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", digits) and len(set(re.findall(r"[.,]", digits))) == 1:
        value = float(re.sub(r"[.,]", "", digits))  # 65.000 / 65,000: thousands
    else:
        last = max(digits.rfind("."), digits.rfind(","))
        whole = re.sub(r"[.,]", "", digits[:last]) if last >= 0 else digits
        value = float(f"{whole}.{digits[last + 1:]}") if last >= 0 else float(whole)
    scale = {"k": 1e3, "mil": 1e3, "m": 1e6, "millones": 1e6, "million": 1e6, "millon": 1e6}
    return value * scale.get((suffix or "").lower(), 1)


_ID_WORDS = (r"#", r"\bn[uú]mero\s*", r"\bnumber\s*", r"\bnro\.?\s*", r"\bno\.\s*", r"\bid\s*:?\s*")


def _id_hint(words: tuple[str, ...] = ()) -> re.Pattern[str]:
    extra = tuple(rf"\b{re.escape(w)}\s+" for w in words)
    return re.compile(rf"(?:{'|'.join(_ID_WORDS + extra)})(\d+)\b", re.I)


_ID_HINT = _id_hint()


def parse_integer_id(text: str, hint_pattern: re.Pattern[str] = _ID_HINT) -> int | None:
    hint = hint_pattern.search(text)
    if hint:
        return int(hint.group(1))
    # a number that is an amount ("1 millón", "300 mil", "20%") is no id
    numbers = [m.group(1) for m in re.finditer(
        r"(?<![\w.,])(\d+)(?![\w.,])(?!\s*(?:%|mil\b|mill|palo|luca|k\b|pesos|usd|cop|eur|d[oó]lar|a[ñn]os?\b|mes|semana|"
        r"d[ií]as?\b|horas?\b|minutos?|personas|veces|years?\b|months?|weeks?|days?\b|hours?\b|people))", text, re.I)]
    return int(numbers[0]) if len(numbers) == 1 else None


def parse_string_id(text: str) -> str | None:
    token = re.search(r"\b(?=[A-Za-z0-9_-]*\d)[A-Za-z][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b", text)
    if token:
        return token.group(0)
    number = parse_integer_id(text)
    return str(number) if number is not None else None


# a string parameter that holds a number or code: "order_number", "numero_pedido", "codigo", "nit"
_CODE_NAME = re.compile(r"(number|numero|número|(^|_)no$|(^|_)num$|code|codigo|código|(^|_)nit$|cedula|cédula|"
                        r"tracking|guia|guía|(^|_)sku$|serial|invoice|factura|ticket|referencia|reference|(^|_)ref$)", re.IGNORECASE)
_CODE = re.compile(r"(?<![\w.,])#?([A-Za-z]{0,4}-?\d{2,}[A-Za-z0-9-]*)(?![\w.,]\d)")


def parse_code(text: str) -> str | None:
    """A number or code the user gives ("pedido #45812", "la guía AB-2231"); in a correction
    ("perdón, es el 45812, no el 45821") the one the user says they meant."""
    if dialogue.corrects(text) and (meant := dialogue.meant(text)):
        found = _CODE.search(meant)
        if found:
            return found.group(1)
    found = _CODE.search(text)
    return found.group(1) if found else None


_CODE_HINT = re.compile(r"(?:#|\b(?:n[uú]mero|number|nro|no\.|id|ref|referencia|reference|c[oó]digo|code|pedido|orden|order|"
                        r"gu[ií]a|factura|invoice|ticket|tracking|sku)\s*:?\s*(?:es\s+(?:el\s+)?|is\s+)?#?)"
                        r"([A-Za-z]{0,4}-?\d{2,})", re.I)


def distinctive_code(text: str) -> bool:
    """Does the message give a code that can only be one: introduced as one ("#78230", "pedido
    45812", "referencia P-104"), letters and digits joined by a dash ("P-104"), or five digits or
    more? "iphone 13" and "galaxy s23" name models, not codes."""
    if _CODE_HINT.search(text):
        return True
    return any(re.search(r"[A-Za-z]-\d", found) or re.fullmatch(r"\d{5,}", found)
               for found in _CODE.findall(text))


def parse_url(text: str) -> str | None:
    match = _URL.search(text)
    return match.group(0).rstrip(".,;") if match else None


def parse_file_id(text: str) -> str | None:
    match = _FILE_ID.search(text)
    return match.group(0) if match else None


def parse_date(text: str, today: dt.date | None = None) -> str | None:
    today = today or dt.date.today()
    folded = fold(text)
    relative = {"pasado mañana": 2, "day after tomorrow": 2, "hoy": 0, "today": 0, "mañana": 1,
                "tomorrow": 1, "ayer": -1, "yesterday": -1, "anteayer": -2}
    iso = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", folded)
    if iso:
        return _iso(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    dmy = re.search(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", folded)
    if dmy:
        return _iso(int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1)))
    month = "|".join(sorted(_MONTHS, key=len, reverse=True))
    es = re.search(rf"\b(\d{{1,2}})\s+(?:de\s+)?({month})\b(?:\s+(?:de\s+)?(\d{{4}}))?", folded)
    en = re.search(rf"\b({month})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?", folded)
    if es:
        return _iso(int(es.group(3) or today.year), _MONTHS[es.group(2)], int(es.group(1)))
    if en:
        return _iso(int(en.group(3) or today.year), _MONTHS[en.group(1)], int(en.group(2)))
    for word, days in relative.items():
        if re.search(rf"(?<![\wñ]){word}(?![\wñ])", folded):
            return (today + dt.timedelta(days=days)).isoformat()
    weekday = re.search(rf"(?<![\wñ])(?:(?:el|este|esta|para el|next|this|on)\s+)?(?:(proximo|próximo|siguiente|next)\s+)?"
                        rf"({'|'.join(_WEEKDAYS)})(?![\wñ])", folded)
    if weekday:  # "el viernes", "el próximo lunes", "on friday": the next such day after today
        ahead = (_WEEKDAYS[weekday.group(2)] - today.weekday()) % 7 or 7
        return (today + dt.timedelta(days=ahead)).isoformat()
    return None


_WEEKDAYS = {d: i for i, names in enumerate(["lunes monday", "martes tuesday", "miercoles wednesday",
                                              "jueves thursday", "viernes friday", "sabado saturday",
                                              "domingo sunday"]) for d in names.split()}


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def parse_enum(text: str, values: list[Any], synonyms: dict[str, frozenset[str]] | None = None) -> Any:
    """The enum value a message names, by itself or (``synonyms``: folded value -> folded
    words or phrases) by a word that means it."""
    folded = fold(text)
    words = set(re.findall(r"[\wñ]+", folded))
    for value in values:
        key = fold(str(value))
        said = re.search(rf"(?<![\wñ]){re.escape(key.replace('_', ' '))}(?![\wñ])", folded.replace("_", " "))
        if said and not negated(folded, said.start()):
            return value
        for phrase in (synonyms or {}).get(key, ()):
            if phrase in words or (" " in phrase and re.search(rf"(?<![\wñ]){re.escape(phrase)}(?![\wñ])", folded)):
                return value
    # a value named by one of its words or in the plural ("un corte" is "corte de cabello", "tintes"
    # is "tinte"), when no other value has that word
    said = {m.group() for m in re.finditer(r"[\wñ]+", folded) if not negated(folded, m.start())}  # "sin tinte": not said
    stems = {f for w in said if len(w) >= 4 and w not in _FILLER for f in _forms(w)}
    named = [v for v in values if isinstance(v, str) and _value_words(v) & stems]
    named = [v for v in named if not any(_value_words(v) & _value_words(o) & stems for o in values if o != v)]
    return named[0] if len(named) == 1 else None


def _forms(word: str) -> set[str]:
    """The word and its singulars ("cortes" -> cortes, corte, cort)."""
    forms = {word}
    if len(word) > 4 and word.endswith("s"):
        forms.add(word[:-1])
        if word.endswith("es"):
            forms.add(word[:-2])
    return forms


def _value_words(value: str) -> set[str]:
    return {f for w in re.findall(r"[a-z0-9ñ]+", fold(value).replace("_", " ")) if len(w) >= 4 and w not in _FILLER
            for f in _forms(w)}


# Words that join the words of one subject ("bases de datos", "python y excel"): kept between two
# kept words, dropped elsewhere like any filler.
_JOINERS = frozenset({"de", "del", "y", "o", "e", "u", "and", "or", "of", "&"})


def _fold_chars(text: str) -> str:
    """fold() one character at a time: the same length as the text, so positions carry over."""
    return "".join((fold(c) or c)[:1] for c in text)


def sound(word: str) -> str:
    """How a Spanish word sounds, spelt one way: "kiero" and "quiero", "nesecito" and "necesito",
    "bale" and "vale", "presio" and "precio" sound alike (chat spellings of the same word)."""
    w = fold(word).replace("ch", "\0").replace("h", "")
    w = re.sub(r"qu(?=[ei])", "k", w).replace("ll", "y")
    w = re.sub(r"c(?=[ei])", "s", w).replace("c", "k").replace("z", "s").replace("v", "b")
    return re.sub(r"(.)\1+", r"\1", w).replace("\0", "ch")


def sounds_like(text: str, table: dict[str, str]) -> str | None:
    """The value of the first word of the text (five letters or more, not ruled out by "no") that
    sounds like a one-word phrase of the table ("avansado" for "avanzado")."""
    by_sound = {sound(k): v for k, v in table.items() if " " not in k.strip() and len(k.strip()) >= 5}
    folded = fold(text)
    for match in re.finditer(r"[a-zñ]{5,}", folded):
        if sound(match.group()) in by_sound and not negated(folded, match.start()):
            return by_sound[sound(match.group())]
    return None


_SOUNDS: dict[int, frozenset[str]] = {}


def _sounds(filler: frozenset[str] | set[str]) -> frozenset[str]:
    key = id(filler)
    if key not in _SOUNDS:
        _SOUNDS[key] = frozenset(sound(w) for w in filler if len(w) >= 4)
    return _SOUNDS[key]


def parse_query(text: str, filler: frozenset[str] | set[str] = _FILLER) -> str | None:
    """What the user wants to find, without the words that only say they want to find it, nor a
    budget ("menos de 400 mil"). A number stays after a word it names a model of ("iphone 13"), and
    "de", "y", "o" stay between two kept words ("bases de datos")."""
    budget = _MAX_PRICE.search(_fold_chars(text))
    if budget:
        text = f"{text[:budget.start()]} , {text[budget.end():]}"
    kept: list[str] = []
    joined = False  # the last word kept is a joiner waiting for the next subject word
    last_kept = False  # the previous word of the text was kept
    for raw in _WORDS.findall(text):
        word = raw.strip(".,;:!?¿¡")
        folded = fold(word)
        if not folded:
            continue
        if folded.isdigit():
            keep = last_kept and not joined
        elif folded in _JOINERS:
            if last_kept and not joined:
                kept.append(word)
                joined = True
            else:
                last_kept = False
            continue
        else:
            keep = folded not in filler and not (len(folded) >= 4 and sound(folded) in _sounds(filler))
        if keep:
            kept.append(word)
        elif joined:
            kept.pop()
        joined = False
        last_kept = keep
    if joined:
        kept.pop()
    query = " ".join(kept)
    return query or None


_PLACE_NAMES = {"city", "ciudad", "town", "location", "place", "lugar", "country", "pais", "país",
                "region", "región", "destination", "destino"}
_CAPITALISED = r"[A-ZÁÉÍÓÚÑ][\w'-]*"
_PLACE_AFTER = re.compile(
    rf"\b(?:en|in|at|para|for|de|del|desde|from|a|to)\s+(?:(?:la|el|los|las|the)\s+)?({_CAPITALISED}(?:\s+(?:(?:de|del|la|el|los|las)\s+)?{_CAPITALISED})*)"
)


# Words after "en" / "in" that are no place: times, ways, states ("en la tarde", "en serio")
_NOT_PLACES = set(fold(
    "hoy mañana manana ayer tarde noche mañanas tardes noches semana fin finde mes año ano dia dias rato momento "
    "serio general total linea línea vivo directo casa efectivo euros dolares pesos realidad cuenta punto "
    "persona grupo equipo ingles español espanol cuotas oferta promocion venta stock camino "
    "todo nada algo eso esto este esta ese esa mi tu su la el los las un una unos unas lo que "
    "today tomorrow tonight yesterday morning evening afternoon week weekend the a an my your this that general"
).split())
_LOWER_PLACE_AFTER = re.compile(r"(?<![\wñ])(?:en|in)\s+([a-zñáéíóú][a-zñáéíóú-]{2,}"
                                r"(?:\s+(?:(?:de|del)\s+)?[a-zñáéíóú][a-zñáéíóú-]{2,}){0,2})(?![\wñ])")
# a place right after the word for what is asked about it: "clima cdmx", "weather london"
_PLACE_TOPIC = re.compile(r"(?<![\wñ])(?:clima|pronostico|pronóstico|temperatura|weather|forecast|temperature)\s+"
                          r"(?:(?:de|del|en|in|for|of)\s+)?([\wñáéíóú][\wñáéíóú-]+)\s*[?!.]*\s*$", re.I)


_PLACE_ALONE = re.compile(rf"^\s*[¿¡]?\s*(?:y|and|e)\s+({_CAPITALISED}(?:\s+(?:(?:de|del)\s+)?{_CAPITALISED})*)\s*[?!.]*\s*$")


def parse_place(text: str) -> str | None:
    """A place name: the capitalised words after "en", "in", "para", ... ("¿Qué tiempo hace
    en Bogotá?" -> "Bogotá", "weather in New York" -> "New York"); else a word after "en" / "in"
    written in lower case that is no time or manner ("va a llover en cali mañana" -> "cali"), or
    the last word after "clima" / "weather" ("clima cdmx")."""
    found = _PLACE_AFTER.findall(text)
    if found:
        return found[-1]
    alone = _PLACE_ALONE.match(text)  # "¿y Bogotá?", "and Paris?"
    if alone:
        return alone.group(1)
    for match in _LOWER_PLACE_AFTER.finditer(text):
        words = match.group(1).split()
        while words and (fold(words[-1]) in _NOT_PLACES or fold(words[-1]) in _FILLER):
            words.pop()  # "cali mañana", "medellin esta semana": the place, not the time
        # one word must be no filler; the first of several may be ("buenos aires")
        if words and fold(words[0]) not in _NOT_PLACES and (len(words) > 1 or fold(words[0]) not in _FILLER):
            return " ".join(words)
    topic = _PLACE_TOPIC.search(text)
    if topic and fold(topic.group(1)) not in _NOT_PLACES and fold(topic.group(1)) not in _FILLER:
        return topic.group(1)
    return None


# Spoken amounts: "un palo" (Colombia: a million), "50 lucas" (thousands), "medio millón"
_SPOKEN_SCALE = {"palo": 1e6, "palos": 1e6, "millon": 1e6, "millones": 1e6, "luca": 1e3, "lucas": 1e3,
                 "mil": 1e3, "k": 1e3, "m": 1e6, "million": 1e6, "millions": 1e6, "grand": 1e3}
_SPOKEN_COUNT = {"un": 1, "una": 1, "uno": 1, "medio": 0.5, "media": 0.5, "a": 1, "one": 1, "half a": 0.5,
                 "dos": 2, "two": 2, "tres": 3, "three": 3}
_AMOUNT = (r"(?:(?:\d[\d.,]*|" + "|".join(sorted(_SPOKEN_COUNT, key=len, reverse=True)) + r")\s*(?:"
           + "|".join(sorted(_SPOKEN_SCALE, key=len, reverse=True)) + r")(?![\wñ])|\d[\d.,]*)")
_MAX_PRICE = re.compile(r"(?:que\s+)?(?:cuesten?\s+|valgan?\s+|salgan?\s+|cost(?:s|ing)?\s+)?"
                        r"(?:menos de|hasta|maximo|max|no mas de|"
                        r"no\s+(?:cuesten?|valgan?|salgan?|pasen?|superen?|cost(?:s)?)\s+(?:mas\s+de|de|more\s+than)|por debajo de|inferior a|que no pase de|"
                        r"tengo|solo tengo|cuento con|presupuesto de|mi presupuesto es de|mi presupuesto es|"
                        r"under|below|less than|up to|at most|no more than|i have|my budget is|budget of)"
                        r"\s*(?:un\s+)?\$?\s*(" + _AMOUNT
                        + r")(?:\s*(?:pesos|cop|usd|dolares|dollars|eur|euros))?")


def _amount(text: str) -> float | None:
    folded = fold(text).strip()
    spoken = re.fullmatch(r"(.+?)\s*(" + "|".join(sorted(_SPOKEN_SCALE, key=len, reverse=True)) + r")", folded)
    if spoken and spoken.group(1) in _SPOKEN_COUNT:
        return _SPOKEN_COUNT[spoken.group(1)] * _SPOKEN_SCALE[spoken.group(2)]
    if spoken and spoken.group(2) not in ("k", "m", "mil", "millones", "million", "millon") and re.fullmatch(r"[\d.,]+", spoken.group(1)):
        return parse_number(spoken.group(1)) * _SPOKEN_SCALE[spoken.group(2)]
    return parse_number(folded)


def parse_max_price(text: str) -> float | None:
    """A highest price only when it is said to be one ("por menos de 500 mil", "hasta $400.000",
    "under 300k", "menos de un palo"): a bare number is a size, a quantity or an id, not a budget."""
    match = _MAX_PRICE.search(fold(text))
    return _amount(match.group(1)) if match else None


def parse_bool(text: str) -> bool | None:
    folded = fold(text)
    if re.search(r"\b(si|sí|yes|true|claro|vale)\b", folded):
        return True
    if re.search(r"\b(no|false|nunca|never)\b", folded):
        return False
    return None


# --------------------------------------------------------------------------- schema -> kinds
@dataclass(slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    required: bool
    kind: str

    @property
    def description(self) -> str:
        return str(self.schema.get("description") or self.name)


def _types(schema: dict[str, Any]) -> set[str]:
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set(schema.get("type") or [])
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= _types(option)
    return found - {"null"}


def _enum(schema: dict[str, Any]) -> list[Any] | None:
    if "enum" in schema:
        return list(schema["enum"])
    for option in schema.get("anyOf", []):
        if "enum" in option:
            return list(option["enum"])
    return None


@dataclass(slots=True, frozen=True)
class ArgumentParser:
    """A kind of argument a pack knows: which parameters it reads, how, and how to ask for it."""

    kind: str
    names: frozenset[str]  # parameter names it reads (lower case)
    parse: Callable[[str], Any]
    questions: dict[str, str] = field(default_factory=dict)  # language -> the question asking for it
    strong: bool = False  # a value found is evidence for the tool when routing (a ticker, a pair)
    hint: Callable[[str], bool] | None = None  # the message names part of a value (one currency)
    item_id: bool = False  # its value is the id of an item a list showed ("el segundo" fills it)
    # a new value from the last one and a message that names part of it ("y en pesos?" after USD/JPY)
    update: Callable[[Any, str], Any] | None = None


@dataclass(slots=True)
class Vocabulary:
    """What a pack adds to the parsers (see the module docstring)."""

    parsers: list[ArgumentParser] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # enum value -> words/phrases, comma separated
    filler: str = ""  # words that only say what the user wants (space separated)
    id_words: tuple[str, ...] = ()  # words that introduce an id: "curso" in "el curso 12"


_CORE_KINDS = ("url", "file_id", "int_id", "str_id", "code", "date", "number", "bool", "text", "place")
_SOURCES = ("url", "file_id")  # "an image URL or a file id": one of them is needed


class Parsers:
    """The core parsers and the vocabularies of the enabled packs."""

    def __init__(self, vocabularies: list[Vocabulary] | None = None):
        self._by_name: dict[str, ArgumentParser] = {}
        self._kinds: dict[str, ArgumentParser] = {}
        self.synonyms: dict[str, frozenset[str]] = {}
        self.filler: frozenset[str] = frozenset(_FILLER)
        self._id_words: tuple[str, ...] = ()
        self._id_hint = _ID_HINT
        for vocabulary in vocabularies or ():
            self.add(vocabulary)

    def add(self, vocabulary: Vocabulary) -> None:
        for parser in vocabulary.parsers:
            if parser.kind in _CORE_KINDS or parser.kind == "enum":
                raise ValueError(f"the argument kind {parser.kind!r} is hilo's own")
            self._kinds[parser.kind] = parser
            for name in parser.names:
                self._by_name[name.lower()] = parser
        for value, words in vocabulary.synonyms.items():
            phrases = {fold(w).strip() for w in words.split(",") if w.strip()}
            key = fold(value)
            self.synonyms[key] = self.synonyms.get(key, frozenset()) | phrases
        if vocabulary.filler:
            self.filler = self.filler | set(fold(vocabulary.filler).split())
        if vocabulary.id_words:
            self._id_words += tuple(vocabulary.id_words)
            self._id_hint = _id_hint(self._id_words)

    def parser(self, kind: str) -> ArgumentParser | None:
        return self._kinds.get(kind)

    # ------------------------------------------------------------------ schema -> kinds
    def kind_of(self, name: str, schema: dict[str, Any]) -> str:
        lname = name.lower()
        types = _types(schema)
        if lname in self._by_name:
            return self._by_name[lname].kind
        if "url" in lname:
            return "url"
        if lname == "file_id" or lname.endswith("_file_id"):
            return "file_id"
        if _enum(schema):
            return "enum"
        if lname == "id" or lname.endswith("_id"):
            return "int_id" if types <= {"integer"} and types else "str_id"
        if "date" in lname or "fecha" in lname or schema.get("format") == "date":
            return "date"
        if lname in _PLACE_NAMES and types <= {"string"}:
            return "place"
        if types <= {"string"} and _CODE_NAME.search(lname):
            return "code"
        if types & {"integer", "number"}:
            return "number"
        if types == {"boolean"}:
            return "bool"
        return "text"

    def params_of(self, parameters: dict[str, Any]) -> list[Param]:
        required = set(parameters.get("required", []))
        return [Param(name, schema, name in required, self.kind_of(name, schema))
                for name, schema in (parameters.get("properties") or {}).items()]

    # ------------------------------------------------------------------ values
    def parse_value(self, param: Param, text: str) -> Any:
        kind = param.kind
        if kind == "enum":
            return parse_enum(text, _enum(param.schema) or [], self.synonyms)
        if kind in self._kinds:
            value = self._kinds[kind].parse(text)
        elif kind == "text":
            value = parse_query(text, self.filler)
        elif kind == "int_id":
            value = parse_integer_id(text, self._id_hint)
        else:
            value = _CORE[kind](text)
        if value is not None and kind == "number" and "integer" in _types(param.schema):
            value = int(value)
        return value

    def parse_arguments(self, parameters: dict[str, Any], text: str) -> tuple[dict[str, Any], list[Param]]:
        """The arguments a message gives, and the needed parameters it leaves missing."""
        params = self.params_of(parameters)
        args: dict[str, Any] = {}
        for param in params:
            value = self.parse_value(param, text)
            if value is not None:
                args[param.name] = value
        missing = [p for p in params if p.required and p.name not in args]
        sources = [p for p in params if p.kind in _SOURCES and not p.required]
        if len(sources) >= 2 and not any(p.name in args for p in sources):
            missing.append(sources[0])
        return args, missing

    def strong_arguments(self, parameters: dict[str, Any], text: str, places: bool = True) -> int:
        """How many distinctive values (tickers, pairs, URLs, file ids, "#12", "pedido 45812") the
        message gives; ``places``: a capitalised name after "en" counts too."""
        strong = 0
        for p in self.params_of(parameters):
            if p.kind == "int_id":
                strong += self._id_hint.search(text) is not None
            elif p.kind == "code":
                strong += distinctive_code(text)
            elif p.kind == "place":  # a capitalised name after "en" / "in": the tool's place
                strong += places and _PLACE_AFTER.search(text) is not None
            elif p.kind in _SOURCES or (p.kind in self._kinds and self._kinds[p.kind].strong):
                strong += self.parse_value(p, text) is not None
        return strong

    def hinted(self, parameters: dict[str, Any], text: str) -> bool:
        """Does the message name part of a value of these parameters (e.g. one currency of a pair)?"""
        for p in self.params_of(parameters):
            parser = self._kinds.get(p.kind)
            if parser is not None and parser.hint is not None and parser.hint(text):
                return True
        return False


_CORE: dict[str, Callable[[str], Any]] = {
    "url": parse_url, "file_id": parse_file_id, "str_id": parse_string_id, "code": parse_code,
    "date": parse_date, "number": parse_number, "bool": parse_bool, "place": parse_place,
}
CORE = Parsers()


def params_of(parameters: dict[str, Any]) -> list[Param]:
    return CORE.params_of(parameters)


def parse_arguments(parameters: dict[str, Any], text: str) -> tuple[dict[str, Any], list[Param]]:
    return CORE.parse_arguments(parameters, text)
