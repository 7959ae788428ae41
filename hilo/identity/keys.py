"""API keys: random ``hilo_sk_`` secrets (256 bits), stored as their SHA-256.

A secret with that much entropy cannot be guessed from its hash, so a fast hash is the
right one: lookups stay one indexed query, and the secret is never stored or logged.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.identity.models import ApiKey
from hilo.kit.ids import new_id, now

SECRET_PREFIX = "hilo_sk_"
SCOPES = ("admin", "user")


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4] + "..."


async def create(session: AsyncSession, user_id: str, scope: str, name: str | None = None) -> tuple[ApiKey, str]:
    """Add a key (the caller commits); returns the row and the secret, shown once."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    secret = new_secret()
    row = ApiKey(id=new_id("key"), user_id=user_id, scope=scope, name=name, prefix=display_prefix(secret),
                   hash=digest(secret), created_at=now())
    session.add(row)
    return row, secret


async def revoke(session: AsyncSession, key_id: str) -> ApiKey | None:
    row = await session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now()
    return row


async def listing(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.id))).all())


def public(row: ApiKey) -> dict:
    return {"id": row.id, "object": "api_key", "user_id": row.user_id, "scope": row.scope, "name": row.name,
            "prefix": row.prefix, "created_at": row.created_at, "revoked_at": row.revoked_at,
            "last_used_at": row.last_used_at}
