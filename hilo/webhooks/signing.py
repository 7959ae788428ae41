"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``; the signature is
``v1,<base64 HMAC-SHA256>`` keyed with the base64-decoded part of a ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    raw = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def valid_secret(secret: str) -> bool:
    try:
        return secret.startswith(PREFIX) and 24 <= len(secret_key(secret)) <= 64
    except ValueError:
        return False


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class InvalidSignature(ValueError):
    """A webhook that must not be trusted; the message says why (never the expected signature)."""


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300,
           at: float | None = None) -> str:
    """Check a received Standard Webhooks message; returns its ``webhook-id``.

    ``headers`` with lower-case names. The timestamp must be within ``tolerance_s`` of now (a
    replay later is refused); any of the space-separated ``v1,`` signatures may match."""
    msg_id, stamp, given = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not stamp or not given:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a Unix time in seconds") from None
    if abs((time.time() if at is None else at) - timestamp) > tolerance_s:
        raise InvalidSignature(f"webhook-timestamp is more than {tolerance_s} s away from now")
    expected = sign(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, part) for part in given.split() if part.startswith("v1,")):
        raise InvalidSignature("no signature matches")
    return msg_id


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "content-type": "application/json",
    }
