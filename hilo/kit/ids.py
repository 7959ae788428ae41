"""OpenAI-style object ids that also sort by creation time.

An id is ``<prefix>_`` + 10 chars of time (ms, base32) + 2 chars of a per-process
counter + 12 random chars, all from a lowercase alphabet whose byte order equals its
collation order on every database. Ordering rows by id therefore orders them by
creation, which lets pagination cursors (`after=`, `before=`) be plain comparisons.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time

# base32hex, lowercase: "0123456789abcdefghijklmnopqrstuv", ascending in ASCII
_counter = itertools.count()
_lock = threading.Lock()
_last_ms = 0

PREFIXES = {
    "assistant": "asst",
    "thread": "thread",
    "message": "msg",
    "run": "run",
    "step": "step",
    "call": "call",
    "file": "file",
}


def new_id(prefix: str) -> str:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms != _last_ms:
            _last_ms = ms
            _counter = itertools.count()
        seq = next(_counter) % 1024
    # 50 bits of time, 10 of sequence, 60 random (one read of the OS's generator): 120 bits,
    # which base32hex spells in 24 characters, each field on its own characters.
    bits = (ms % (1 << 50)) << 70 | seq << 60 | secrets.randbits(60)
    return f"{prefix}_{base64.b32hexencode(bits.to_bytes(15, 'big')).decode().lower()}"


def created_ms(object_id: str) -> int | None:
    """The Unix millisecond an id was made at (None for an id hilo did not make)."""
    _prefix, _, body = object_id.rpartition("_")
    if len(body) != 24:
        return None
    try:
        bits = int.from_bytes(base64.b32hexdecode(body.upper()), "big")
    except ValueError:
        return None
    return bits >> 70  # the low 50 bits of the ms clock: good until the year 37,648


def now() -> int:
    """Unix seconds: every ``created_at``/``*_at`` column."""
    return int(time.time())
