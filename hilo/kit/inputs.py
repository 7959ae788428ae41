"""What no stored value may hold, whichever database stores it.

PostgreSQL refuses a NUL character in ``text`` and ``jsonb``; SQLite stores it. A lone UTF-16
surrogate (``"\\ud800"``, which JSON can spell and Python can hold) cannot be encoded as UTF-8 at
all, so no database, file name or JSON column takes it. JSON columns go through orjson, which
takes integers of at most 64 bits. These checks answer, for any string or decoded JSON value,
where the first such character or number is, so the HTTP layer can refuse the request with a 400
that names the field before anything is stored, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
from typing import Any

from hilo.kit.schemas import INT64_MIN

_JSON_INT_MAX = 2**64 - 1  # orjson writes unsigned 64-bit integers too
# Bytes of a JSON document worth decoding to look closer: an escaped NUL or surrogate, a raw
# NUL, or a run of 19+ digits (an integer that may not fit 64 bits).
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})|\x00|\d{19,}")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff)"
    return None


def json_suspect(raw: bytes) -> bool:
    """Whether a raw JSON body may hold what :func:`find_unstorable` refuses (a fast scan)."""
    return _SUSPECT.search(raw) is not None


def find_unstorable(value: Any, path: tuple[str, ...] = ()) -> tuple[str | None, str] | None:
    """The first string, key or integer in decoded JSON that cannot be stored, as
    ``(param, reason)``: ``param`` is the dotted path (``messages.0.content``, ``metadata``
    for a key of ``metadata``), None at the top level."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (".".join(path) or None, problem) if problem else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= _JSON_INT_MAX:
            return ".".join(path) or None, "is an integer too large to store"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                return ".".join(path) or None, f"keys {problem}"
            found = find_unstorable(item, (*path, key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_unstorable(item, (*path, str(index)))
            if found:
                return found
    return None


__all__ = ["find_unstorable", "json_suspect", "text_problem"]
