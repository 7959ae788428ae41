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


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "content-type": "application/json",
    }
