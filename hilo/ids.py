"""OpenAI-style object ids that also sort by creation time.

An id is ``<prefix>_`` + 10 chars of time (ms, base32) + 2 chars of a per-process
counter + 12 random chars, all from a lowercase alphabet whose byte order equals its
collation order on every database. Ordering rows by id therefore orders them by
creation, which lets pagination cursors (`after=`, `before=`) be plain comparisons.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # base32, ascending in ASCII
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


def _b32(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms != _last_ms:
            _last_ms = ms
            _counter = itertools.count()
        seq = next(_counter) % 1024
    # 60 random bits from one read of the OS's generator (not one per character).
    return f"{prefix}_{_b32(ms, 10)}{_b32(seq, 2)}{_b32(secrets.randbits(60), 12)}"
