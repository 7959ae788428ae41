"""Phrase a tool's JSON output with the tool's own template, and only with its values.

A template is a ``str.format`` string per language. A line whose placeholders are not
top-level fields of the output is repeated for each item of the output's list field
(or of the output itself, when it is a list) that has them, so one template phrases
a search result::

    "Encontré {total} cursos:\\n- {nombre} ({nivel}), {precio} USD"

An empty list drops its lines; a line of the form ``"[empty] text"`` is kept only then.
"""

from __future__ import annotations

import re
import string
from typing import Any

_FIELDS = string.Formatter()
_EMPTY = "[empty]"


def _placeholders(line: str) -> set[str]:
    names = set()
    for _, field, _, _ in _FIELDS.parse(line):
        if field:
            names.add(re.split(r"[.\[]", field, maxsplit=1)[0])
    return names


def _lists(data: dict[str, Any]) -> list[list[Any]]:
    return [v for v in data.values() if isinstance(v, list)]


def render(template: str, output: Any) -> str | None:
    """The template filled from the output, or None when the output does not fit it."""
    data = output if isinstance(output, dict) else {"items": output} if isinstance(output, list) else None
    if data is None:
        return None
    empty = any(not v for v in _lists(data)) and not any(v for v in _lists(data))
    lines = []
    for line in template.splitlines():
        if line.startswith(_EMPTY):
            if empty:
                lines.append(line[len(_EMPTY):].strip())
            continue
        filled = _fill_line(line, data)
        if filled is None:
            return None
        lines.extend(filled)
    return "\n".join(lines).strip()


def _fill_line(line: str, data: dict[str, Any]) -> list[str] | None:
    names = _placeholders(line)
    if names <= data.keys():
        try:
            return [line.format_map(data)]
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            return None
    for items in _lists(data):
        if items and all(isinstance(i, dict) and names <= {**data, **i}.keys() for i in items):
            try:
                return [line.format_map({**data, **item}) for item in items]
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                return None
    if any(isinstance(v, list) and not v for v in data.values()):
        return []  # a line about the items of an empty list
    return None


# ---------------------------------------------------------------------- outputs with no template
# Field names a client function commonly returns, as words of the reply's language; units read
# from a name's suffix ("temp_c" -> "temperatura", "°C").
_KEY_WORDS = {
    "temp": ("temperatura", "temperature"), "temperature": ("temperatura", "temperature"),
    "feels_like": ("sensación térmica", "feels like"), "humidity": ("humedad", "humidity"),
    "condition": ("condición", "condition"), "conditions": ("condiciones", "conditions"),
    "weather": ("tiempo", "weather"), "wind": ("viento", "wind"), "wind_speed": ("viento", "wind speed"),
    "rain": ("lluvia", "rain"), "precipitation": ("precipitación", "precipitation"),
    "status": ("estado", "status"), "state": ("estado", "state"), "price": ("precio", "price"),
    "total": ("total", "total"), "amount": ("monto", "amount"), "currency": ("moneda", "currency"),
    "date": ("fecha", "date"), "time": ("hora", "time"), "city": ("ciudad", "city"),
    "country": ("país", "country"), "name": ("nombre", "name"), "description": ("descripción", "description"),
    "count": ("cantidad", "count"), "quantity": ("cantidad", "quantity"), "stock": ("existencias", "stock"),
    "order": ("pedido", "order"), "order_id": ("pedido", "order"), "eta": ("llegada estimada", "estimated arrival"),
    "delivery_date": ("fecha de entrega", "delivery date"), "address": ("dirección", "address"),
    "phone": ("teléfono", "phone"), "email": ("correo", "email"), "message": ("mensaje", "message"),
    "result": ("resultado", "result"), "value": ("valor", "value"), "available": ("disponible", "available"),
    "confirmed": ("confirmado", "confirmed"), "slot": ("horario", "slot"), "service": ("servicio", "service"),
    "url": ("enlace", "link"), "id": ("número", "number"), "balance": ("saldo", "balance"),
}
_UNITS = {"c": "°C", "f": "°F", "pct": "%", "percent": "%", "km": "km", "kmh": "km/h", "kph": "km/h",
          "mph": "mph", "mm": "mm", "cm": "cm", "m": "m", "kg": "kg", "g": "g", "usd": "USD", "eur": "EUR",
          "cop": "COP", "mxn": "MXN", "min": "min", "minutes": "min", "s": "s", "seconds": "s", "h": "h",
          "hours": "h", "days": "días", "ms": "ms"}
_DAYS = {"days": ("días", "days")}


def _key(name: str, lang: str) -> tuple[str, str]:
    """(words, unit) for a field name."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().strip("_")
    i = 0 if lang == "es" else 1
    if snake in _KEY_WORDS:
        return _KEY_WORDS[snake][i], ""
    head, _, tail = snake.rpartition("_")
    if head and tail in _UNITS:
        unit = _DAYS[tail][i] if tail in _DAYS else _UNITS[tail]
        return (_KEY_WORDS[head][i] if head in _KEY_WORDS else head.replace("_", " ")), unit
    return snake.replace("_", " "), ""


def _value(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return ("sí" if value else "no") if lang == "es" else ("yes" if value else "no")
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return text.replace(",", "_").replace(".", ",").replace("_", ".") if lang == "es" else text
    if isinstance(value, int):
        if lang != "es":
            return f"{value:,}"
        return f"{value:,}".replace(",", ".") if abs(value) >= 10000 else str(value)  # 9999, 10.000
    if isinstance(value, list):
        return ", ".join(_value(v, lang) for v in value)
    if isinstance(value, dict):
        return _pairs(value, lang)
    return str(value)


def _pairs(data: dict[str, Any], lang: str) -> str:
    parts = []
    for key, value in data.items():
        if value in (None, "", [], {}):
            continue
        words, unit = _key(key, lang)
        shown = _value(value, lang)
        parts.append(f"{words}: {shown}{' ' + unit if unit and unit != '%' else unit}")
    return "; ".join(parts)


def sentence(tool: str | None, arguments: dict[str, Any], output: Any, lang: str) -> str:
    """A reply from a tool output that has no template (a client function's JSON, or text), in
    the reply's language: its fields as words with their units, never as JSON."""
    es = lang == "es"
    about = next((str(v) for v in arguments.values() if isinstance(v, str) and 0 < len(v) <= 60), None)
    intro = (f"Esto es lo que obtuve para {about}" if about else "Esto es lo que obtuve") if es else \
        (f"Here is what I got for {about}" if about else "Here is what I got")
    if isinstance(output, str):
        text = output.strip()
        return f"{intro}: {text}" if text else ("Listo." if es else "Done.")
    if isinstance(output, list):
        if not output:
            return "No encontré resultados." if es else "I found no results."
        lines = [f"- {_value(item, lang)}" for item in output[:20]]
        head = f"Encontré {len(output)} resultados" if es else f"I found {len(output)} results"
        return f"{head}" + (f" para {about}" if es and about else f" for {about}" if about else "") + ":\n" + "\n".join(lines)
    if isinstance(output, dict):
        body = _pairs(output, lang)
        if not body:
            return "Listo." if es else "Done."
        return f"{intro}: {body}."
    return f"{intro}: {_value(output, lang)}."
