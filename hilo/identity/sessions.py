"""Browser sessions for the web pages: opened with an API key, a JWT or HILO_ADMIN_TOKEN,
kept as an opaque random token in an HttpOnly cookie.

The database keeps only the token's SHA-256 and what the session acts as (never the credential).
Each session has a CSRF token derived from its own token (HMAC), which the pages send back in a
header on every state-changing request: a cross-site form cannot read it, nor set the header.
A session ends at its expiry, when it signs out (its row is deleted), or when the API key it was
opened with is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from hilo.identity import EVERYTHING, Principal
from hilo.identity.models import ApiKey, User, WebSession
from hilo.kit.db.session import Database
from hilo.kit.ids import now

COOKIE = "hilo_session"
CSRF_COOKIE = "hilo_csrf"
CSRF_HEADER = "x-hilo-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of a session: not guessable without the session's own token."""
    return hmac.new(token.encode(), b"hilo-csrf", hashlib.sha256).hexdigest()


def csrf_ok(token: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(token), sent)


@dataclass(frozen=True, slots=True)
class Opened:
    token: str  # goes into the cookie, and nowhere else
    csrf: str
    expires_at: int


async def open_session(db: Database, principal: Principal, ttl_s: int, expires_at: int | None = None) -> Opened:
    token = secrets.token_urlsafe(32)
    created = now()
    ends = created + ttl_s if expires_at is None else min(created + ttl_s, expires_at)
    own = [] if principal.entitlements is EVERYTHING else sorted(principal.entitlements)
    async with db.sessionmaker() as session:
        # Expired sessions go as new ones come: the table holds live sessions only.
        await session.execute(delete(WebSession).where(WebSession.expires_at < created))
        session.add(WebSession(id=digest(token), user_id=principal.user_id, scope=principal.scope,
                               via=principal.via, key_id=principal.key_id, entitlements=own,
                               created_at=created, expires_at=ends))
        await session.commit()
    return Opened(token, csrf_token(token), ends)


async def close_session(db: Database, token: str) -> None:
    async with db.sessionmaker() as session:
        await session.execute(delete(WebSession).where(WebSession.id == digest(token)))
        await session.commit()


async def load_session(db: Database, token: str) -> Principal | None:
    """What the session acts as now, or None (unknown, expired, or its key revoked)."""
    async with db.sessionmaker() as session:
        row = await session.scalar(select(WebSession).where(WebSession.id == digest(token)))
        if row is None or row.expires_at <= now():
            return None
        if row.key_id is not None:
            key = await session.get(ApiKey, row.key_id)
            if key is None or key.revoked_at is not None:
                return None
        user = await session.get(User, row.user_id) if row.user_id else None
    if row.user_id and user is None:
        return None
    if row.scope == "admin":
        entitlements = EVERYTHING
    else:
        entitlements = frozenset(set(row.entitlements or ()) | set(user.entitlements or ()))
    return Principal(user_id=row.user_id, scope=row.scope, entitlements=entitlements,  # type: ignore[arg-type]
                     via=row.via, key_id=row.key_id)


__all__ = ["COOKIE", "CSRF_COOKIE", "CSRF_HEADER", "SAFE_METHODS", "Opened", "close_session", "csrf_ok",
           "csrf_token", "digest", "load_session", "open_session"]
