"""Typed argument parsers driven by a tool's JSON schema.

Each parameter gets a *kind* from its name, type and enum (``symbol`` -> crypto ticker,
``pair`` -> currency pair, ``*_url`` -> URL, ``nivel`` -> course level, ``*_id`` -> id,
numbers, dates, enums, free text), and each kind has one parser that reads a user message
in Spanish or English. A parser returns ``None`` when the message does not say: the caller
then asks for the value instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hilo.nlu.lang import fold

# --------------------------------------------------------------------------- crypto
_CRYPTO_NAMES = {
    "bitcoin": "BTC", "bitcoins": "BTC", "btc": "BTC", "xbt": "BTC",
    "ethereum": "ETH", "ether": "ETH", "eth": "ETH", "etherium": "ETH",
    "solana": "SOL", "cardano": "ADA", "ripple": "XRP", "xrp": "XRP",
    "dogecoin": "DOGE", "doge": "DOGE", "litecoin": "LTC", "ltc": "LTC",
    "bnb": "BNB", "binance coin": "BNB", "polkadot": "DOT", "tether": "USDT", "usdt": "USDT",
    "usdc": "USDC", "avalanche": "AVAX", "avax": "AVAX", "chainlink": "LINK",
    "polygon": "MATIC", "matic": "MATIC", "tron": "TRX", "trx": "TRX", "shiba inu": "SHIB",
    "shiba": "SHIB", "shib": "SHIB", "monero": "XMR", "xmr": "XMR", "stellar": "XLM",
    "xlm": "XLM", "toncoin": "TON", "pepe": "PEPE", "sui": "SUI",
}
# Short tickers that are also ordinary words ("sol", "ada", "link") count only in capitals.
_CAPS_ONLY = {"SOL", "ADA", "DOT", "LINK", "UNI", "TON", "ATOM", "NEAR", "APT", "ARB", "OP"}
_NOT_CRYPTO = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "MXN", "COP", "ID", "URL", "OK", "PDF"}

# --------------------------------------------------------------------------- currencies
_CURRENCY_NAMES = {
    "dolar canadiense": "CAD", "dolares canadienses": "CAD", "canadian dollar": "CAD",
    "dolar australiano": "AUD", "dolares australianos": "AUD", "australian dollar": "AUD",
    "aussie dollar": "AUD", "aussie": "AUD", "dolar neozelandes": "NZD", "new zealand dollar": "NZD", "kiwi": "NZD",
    "peso mexicano": "MXN", "pesos mexicanos": "MXN", "mexican peso": "MXN",
    "peso colombiano": "COP", "pesos colombianos": "COP", "colombian peso": "COP",
    "peso argentino": "ARS", "pesos argentinos": "ARS", "argentine peso": "ARS",
    "peso chileno": "CLP", "pesos chilenos": "CLP", "chilean peso": "CLP",
    "sol peruano": "PEN", "soles": "PEN", "real brasileño": "BRL", "reales": "BRL",
    "brazilian real": "BRL", "franco suizo": "CHF", "francos suizos": "CHF", "swiss franc": "CHF",
    "libra esterlina": "GBP", "libras esterlinas": "GBP", "pound sterling": "GBP",
    "libra": "GBP", "libras": "GBP", "pound": "GBP", "pounds": "GBP", "sterling": "GBP",
    "dolar": "USD", "dolares": "USD", "dollar": "USD", "dollars": "USD", "dolar estadounidense": "USD",
    "us dollar": "USD", "us dollars": "USD", "greenback": "USD", "mexican pesos": "MXN",
    "colombian pesos": "COP", "argentine pesos": "ARS", "chilean pesos": "CLP", "canadian dollars": "CAD",
    "australian dollars": "AUD", "swiss francs": "CHF", "brazilian reais": "BRL", "dolares estadounidenses": "USD", "euro": "EUR", "euros": "EUR",
    "yen": "JPY", "yenes": "JPY", "yuan": "CNY", "renminbi": "CNY",
}
_CURRENCY_CODES = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "MXN", "COP", "ARS",
                   "CLP", "PEN", "BRL", "CNY", "SEK", "NOK", "DKK", "PLN", "TRY", "ZAR", "INR",
                   "HKD", "SGD", "KRW", "CZK", "HUF", "ILS"}

# --------------------------------------------------------------------------- levels
_LEVELS = {
    "basico": "básico", "basica": "básico", "basicos": "básico", "principiante": "básico",
    "principiantes": "básico", "inicial": "básico", "iniciacion": "básico", "desde cero": "básico",
    "beginner": "básico", "beginners": "básico", "basic": "básico", "introductorio": "básico",
    "novato": "básico", "novatos": "básico",
    "intermedio": "intermedio", "intermedia": "intermedio", "intermedios": "intermedio",
    "intermediate": "intermedio", "nivel medio": "intermedio",
    "avanzado": "avanzado", "avanzada": "avanzado", "avanzados": "avanzado", "advanced": "avanzado",
    "experto": "avanzado", "expertos": "avanzado", "expert": "avanzado", "experts": "avanzado",
}

# Words that say what the user wants, not what about: dropped from free-text queries.
_FILLER = set(fold(
    "busco buscar buscando busca encuentra encontrar quiero quisiera queria me te le nos interesa "
    "interesan gustaria podrias puedes puede tienes tienen tiene hay ofrecen ofreces dan "
    "algun alguno alguna algunos algunas curso cursos clase clases taller talleres formacion "
    "programa programas capacitacion informacion info sobre acerca de del el la los las un una "
    "unos unas en con para por que qué cual cuales cuál y o a al mi mis hola porfa favor "
    "aprender estudiar nivel niveles recomiendas recomienda recomiendame dime muestrame ver "
    "disponible disponibles algo relacionado relacionados tema temas "
    "i im i'm am looking look for find search course courses class classes training any "
    "about on in of the a an to do you have is are there show me want would like learn study "
    "please level some something related offer can get need what which one it this that these those "
    "ese esa este esta eso esto"
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


def _phrases(text: str, table: dict[str, str]) -> list[tuple[int, str]]:
    """(position, value) of every table phrase in the text, the longest phrase winning."""
    if id(table) not in _PATTERNS:
        folded = {fold(k): v for k, v in table.items()}
        alternatives = "|".join(re.escape(p) for p in sorted(folded, key=len, reverse=True))
        _PATTERNS[id(table)] = re.compile(rf"(?<![\wñ])(?:{alternatives})(?![\wñ])"), folded
    pattern, folded = _PATTERNS[id(table)]
    return [(m.start(), folded[m.group()]) for m in pattern.finditer(fold(text))]


def parse_crypto(text: str) -> str | None:
    pair = re.search(r"\b([A-Za-z]{2,6})[/-](USDT|USD|EUR|USDC|BUSD)\b", text, re.I)
    if pair and pair.group(1).upper() not in _CURRENCY_CODES:
        return pair.group(1).upper()
    for _, symbol in _phrases(text, _CRYPTO_NAMES):
        return symbol
    for token in re.findall(r"\b[A-Z][A-Z0-9]{1,5}\b", text):
        if token in _CAPS_ONLY or (token not in _NOT_CRYPTO and token not in _CURRENCY_CODES and len(token) >= 3
                                   and re.search(r"\b(precio|price|cotiza|vale|cuesta)", text, re.I)):
            return token
    return None


def parse_pair(text: str) -> str | None:
    for match in re.finditer(r"\b([A-Za-z]{3})\s*[/\-_]\s*([A-Za-z]{3})\b|\b([A-Z]{3})([A-Z]{3})\b", text):
        a, b = (match.group(1) or match.group(3)).upper(), (match.group(2) or match.group(4)).upper()
        if a in _CURRENCY_CODES and b in _CURRENCY_CODES and a != b:
            return f"{a}/{b}"
    named = currencies(text)
    if len(named) < 2:
        return None
    first, second = named[:2]
    if re.search(r"\b(cu[aá]nt[oa]s|how many)\b", text, re.I):
        first, second = second, first  # "how many yen for one dollar" is USD/JPY
    return f"{first}/{second}"


def currencies(text: str) -> list[str]:
    """The currencies a message names, by name or by code, in the order it names them."""
    found = _phrases(text, _CURRENCY_NAMES)
    found += [(m.start() + 1, m.group().upper()) for m in re.finditer(r"\b[A-Za-z]{3}\b", text)
              if m.group().upper() in _CURRENCY_CODES and (m.group().isupper() or m.group().lower() in ("usd", "eur", "gbp", "jpy"))]
    return list(dict.fromkeys(code for _, code in sorted(found)))


def parse_level(text: str) -> str | None:
    found = _phrases(text, _LEVELS)
    return found[0][1] if found else None


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


_ID_HINT = re.compile(r"(?:#|\bn[uú]mero\s*|\bnumber\s*|\bnro\.?\s*|\bno\.\s*|\bid\s*:?\s*|\bcurso\s+|\bcourse\s+)(\d+)\b", re.I)


def parse_integer_id(text: str) -> int | None:
    hint = _ID_HINT.search(text)
    if hint:
        return int(hint.group(1))
    numbers = re.findall(r"(?<![\w.,])(\d+)(?![\w.,])", text)
    return int(numbers[0]) if len(numbers) == 1 else None


def parse_string_id(text: str) -> str | None:
    token = re.search(r"\b(?=[A-Za-z0-9_-]*\d)[A-Za-z][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b", text)
    if token:
        return token.group(0)
    number = parse_integer_id(text)
    return str(number) if number is not None else None


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
    return None


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


_ENUM_SYNONYMS = {
    "complete": "completo completa complete full entero",
    "technical": "tecnico tecnica technical",
    "pattern": "patron patrones chartista pattern patterns figura figuras",
    "patterns": "patron patrones chartista pattern patterns figura figuras",
    "trend": "tendencia tendencias trend trends",
    "support_resistance": "soporte soportes resistencia resistencias support resistance niveles",
    "sentiment": "sentimiento sentiment",
    "general": "general overview resumen",
    "indicators": "indicador indicadores indicators rsi macd",
    "risk": "riesgo riesgos risk",
}


def parse_enum(text: str, values: list[Any]) -> Any:
    words = set(re.findall(r"[\wñ]+", fold(text)))
    for value in values:
        key = fold(str(value))
        if re.search(rf"(?<![\wñ]){re.escape(key.replace('_', ' '))}(?![\wñ])", fold(text).replace("_", " ")):
            return value
        if words & set(_ENUM_SYNONYMS.get(key, "").split()):
            return value
    if any(isinstance(v, str) for v in values):
        level = parse_level(text)
        for value in values:
            if level and fold(str(value)) == fold(level):
                return value
    return None


def parse_query(text: str) -> str | None:
    """What the user wants to find, without the words that only say they want to find it."""
    kept = []
    for word in _WORDS.findall(text):
        folded = fold(word).strip(".,;:!?¿¡")
        if folded and folded not in _FILLER and folded not in _LEVELS and not folded.isdigit():
            kept.append(word.strip(".,;:!?¿¡"))
    query = " ".join(w for w in kept if w)
    return query or None


_PLACE_NAMES = {"city", "ciudad", "town", "location", "place", "lugar", "country", "pais", "país",
                "region", "región", "destination", "destino"}
_CAPITALISED = r"[A-ZÁÉÍÓÚÑ][\w'-]*"
_PLACE_AFTER = re.compile(
    rf"\b(?:en|in|at|para|for|de|del|desde|from|a|to)\s+(?:(?:la|el|los|las|the)\s+)?({_CAPITALISED}(?:\s+(?:(?:de|del|la|el|los|las)\s+)?{_CAPITALISED})*)"
)


def parse_place(text: str) -> str | None:
    """A place name: the capitalised words after "en", "in", "para", ... ("¿Qué tiempo hace
    en Bogotá?" -> "Bogotá", "weather in New York" -> "New York")."""
    found = _PLACE_AFTER.findall(text)
    return found[-1] if found else None


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


def kind_of(name: str, schema: dict[str, Any]) -> str:
    lname = name.lower()
    types = _types(schema)
    if lname in ("symbol", "ticker", "coin", "crypto", "cripto", "criptomoneda", "asset"):
        return "crypto"
    if lname in ("pair", "currency_pair", "forex_pair", "par", "par_divisas"):
        return "pair"
    if "url" in lname:
        return "url"
    if lname == "file_id" or lname.endswith("_file_id"):
        return "file_id"
    if _enum(schema):
        return "enum"
    if lname in ("nivel", "level", "difficulty", "dificultad"):
        return "level"
    if lname == "id" or lname.endswith("_id"):
        return "int_id" if types <= {"integer"} and types else "str_id"
    if "date" in lname or "fecha" in lname or schema.get("format") == "date":
        return "date"
    if lname in _PLACE_NAMES and types <= {"string"}:
        return "place"
    if types & {"integer", "number"}:
        return "number"
    if types == {"boolean"}:
        return "bool"
    return "text"


def params_of(parameters: dict[str, Any]) -> list[Param]:
    required = set(parameters.get("required", []))
    return [Param(name, schema, name in required, kind_of(name, schema))
            for name, schema in (parameters.get("properties") or {}).items()]


_PARSERS: dict[str, Callable[[str], Any]] = {
    "crypto": parse_crypto, "pair": parse_pair, "url": parse_url, "file_id": parse_file_id,
    "level": parse_level, "int_id": parse_integer_id, "str_id": parse_string_id,
    "date": parse_date, "number": parse_number, "bool": parse_bool, "text": parse_query,
    "place": parse_place,
}
_SOURCES = ("url", "file_id")  # "an image URL or a file id": one of them is needed


def parse_value(param: Param, text: str) -> Any:
    if param.kind == "enum":
        return parse_enum(text, _enum(param.schema) or [])
    value = _PARSERS[param.kind](text)
    if value is not None and param.kind == "number" and "integer" in _types(param.schema):
        value = int(value)
    return value


def parse_arguments(parameters: dict[str, Any], text: str) -> tuple[dict[str, Any], list[Param]]:
    """The arguments a message gives, and the needed parameters it leaves missing."""
    params = params_of(parameters)
    args: dict[str, Any] = {}
    for param in params:
        value = parse_value(param, text)
        if value is not None:
            args[param.name] = value
    missing = [p for p in params if p.required and p.name not in args]
    sources = [p for p in params if p.kind in _SOURCES and not p.required]
    if len(sources) >= 2 and not any(p.name in args for p in sources):
        missing.append(sources[0])
    return args, missing


def strong_arguments(parameters: dict[str, Any], text: str) -> int:
    """How many distinctive values (tickers, pairs, URLs, file ids, "#12") the message gives."""
    strong = 0
    for p in params_of(parameters):
        if p.kind == "int_id":
            strong += _ID_HINT.search(text) is not None
        elif p.kind in ("crypto", "pair", "url", "file_id"):
            strong += parse_value(p, text) is not None
    return strong
