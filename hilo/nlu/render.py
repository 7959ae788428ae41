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


def describe(output: Any, lang: str) -> str:
    """A plain rendering of any JSON output (no template, or one that did not fit)."""
    if isinstance(output, list):
        if not output:
            return "No encontré resultados." if lang == "es" else "I found no results."
        return "\n".join(f"- {_flat(item)}" for item in output)
    if isinstance(output, dict):
        scalars = {k: v for k, v in output.items() if not isinstance(v, dict | list)}
        lines = [_flat(scalars)] if scalars else []
        for key, value in output.items():
            if isinstance(value, list):
                lines.append(describe(value, lang))
            elif isinstance(value, dict):
                lines.append(f"{key}: {_flat(value)}")
        return "\n".join(line for line in lines if line)
    return str(output)


def _flat(item: Any) -> str:
    if isinstance(item, dict):
        return ", ".join(f"{k}: {_flat(v)}" for k, v in item.items() if v not in (None, "", [], {}))
    if isinstance(item, list):
        return "; ".join(_flat(v) for v in item)
    return str(item)
