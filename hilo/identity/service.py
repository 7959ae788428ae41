"""Resolve ``Authorization: Bearer ...`` into a :class:`~hilo.identity.Principal`."""

from __future__ import annotations

import hmac
import logging
import time

from sqlalchemy import select

from hilo.identity import EVERYTHING, LOCAL_ADMIN, Principal, sessions
from hilo.identity import keys as api_keys
from hilo.identity.models import ApiKey, User
from hilo.identity.ratelimit import RateLimiter
from hilo.identity.tokens import JWTVerifier, claim_entitlements, unauthorized
from hilo.identity.users import user_entitlements, user_for_identity
from hilo.kit.config import Settings
from hilo.kit.db.session import Database
from hilo.kit.errors import forbidden
from hilo.kit.ids import now

log = logging.getLogger("hilo.identity")

_MISSING = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


def parse_switch(value: str) -> bool:
    value = (value or "").strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no", ""):
        return False
    raise ValueError(f"HILO_AUTH must be 'on' or 'off', not {value!r}")


class AuthService:
    """Key and JWT lookups with a short in-memory cache, and the rate limiter."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.enabled = parse_switch(settings.auth)
        self.ttl = settings.auth_cache_s
        self.jwt = JWTVerifier(settings) if settings.jwt_jwks_url else None
        self.limiter = RateLimiter.from_settings(settings)
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def announce(self) -> None:
        if not self.enabled:
            log.warning("HILO_AUTH=off: AUTHENTICATION IS DISABLED. Every request acts as the local admin; "
                        "set HILO_AUTH=on before exposing this server beyond localhost.")
            return
        ways = ["API keys (hilo keys create)"]
        if self.jwt:
            ways.append(f"JWT from {self.settings.jwt_issuer}")
        if self.settings.admin_token:
            ways.append("HILO_ADMIN_TOKEN")
        log.info("auth on: %s", ", ".join(ways))

    def forget(self) -> None:
        """Drop cached principals (a key was revoked or a user's entitlements changed)."""
        self._cache.clear()

    async def authenticate(self, db: Database, authorization: str | None) -> Principal:
        if not self.enabled:
            return LOCAL_ADMIN
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized(_MISSING, code="missing_api_key")
        admin_token = self.settings.admin_token
        if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
            return Principal(user_id=None, scope="admin", entitlements=EVERYTHING, via="admin_token")
        if token.startswith(api_keys.SECRET_PREFIX):
            return await self._api_key(db, token)
        if self.jwt is not None and token.count(".") == 2:
            return await self._jwt(db, token)
        raise unauthorized("Incorrect API key provided.", code="invalid_api_key")

    def _cached(self, key: str) -> tuple[bool, Principal | None]:
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def _remember(self, key: str, principal: Principal | None) -> None:
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self.ttl, principal)

    async def _api_key(self, db: Database, secret: str) -> Principal:
        digest = api_keys.digest(secret)
        found, principal = self._cached(digest)
        if not found:
            principal = await self._load_key(db, digest)
            self._remember(digest, principal)
        if principal is None:
            raise unauthorized("Incorrect API key provided, or the key was revoked.", code="invalid_api_key")
        return principal

    async def _load_key(self, db: Database, digest: str) -> Principal | None:
        async with db.sessionmaker() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.hash == digest))
            if row is None or row.revoked_at is not None:
                return None
            user = await session.get(User, row.user_id)
            row.last_used_at = now()  # once per cache period, not per request
            await session.commit()
        if user is None:
            return None
        entitlements = EVERYTHING if row.scope == "admin" else frozenset(user.entitlements or ())
        return Principal(user_id=user.id, scope=row.scope, entitlements=entitlements, via="api_key", key_id=row.id)

    async def _jwt(self, db: Database, token: str) -> Principal:
        claims = await self.jwt.verify(token)
        subject = str(claims["sub"])
        if not subject or len(subject) > 256:
            raise unauthorized("Invalid token: bad 'sub' claim.")
        from_token = claim_entitlements(claims, self.settings.jwt_entitlements_claim)
        found, base = self._cached("jwt:" + subject)
        if not found or base is None:
            base = await self._load_jwt_user(db, subject, claims.get("name") or claims.get("email"))
            self._remember("jwt:" + subject, base)
        return Principal(user_id=base.user_id, scope="user", via="jwt",
                         entitlements=frozenset(set(base.entitlements) | from_token))

    async def _load_jwt_user(self, db: Database, subject: str, name: str | None) -> Principal:
        user_id = await user_for_identity(db, "jwt", subject, name=name)
        entitlements = await user_entitlements(db, user_id)
        return Principal(user_id=user_id, scope="user", entitlements=entitlements, via="jwt")

    async def from_session(self, db: Database, token: str, method: str, csrf: str | None) -> Principal:
        """The principal of a web session cookie; a state-changing request must carry the session's
        CSRF token in the ``X-Hilo-CSRF`` header (403 without it)."""
        if method.upper() not in sessions.SAFE_METHODS and not sessions.csrf_ok(token, csrf):
            raise forbidden("Missing or wrong X-Hilo-CSRF header for a request made with the session cookie.",
                            code="csrf_failed")
        key = "session:" + sessions.digest(token)
        found, principal = self._cached(key)
        if not found:
            principal = await sessions.load_session(db, token)
            self._remember(key, principal)
        if principal is not None and principal.via == "admin_token" and not self.settings.admin_token:
            principal = None  # HILO_ADMIN_TOKEN was removed: what it opened ends with it
        if principal is None:
            raise unauthorized("The web session has ended (signed out, expired or its key revoked); sign in again.",
                               code="session_expired")
        return principal

    async def sign_in(self, db: Database, credential: str) -> tuple[Principal, int | None]:
        """Check an API key, a JWT or HILO_ADMIN_TOKEN as a bearer token would be; with a JWT,
        also its expiry (a session opened with it ends then)."""
        principal = await self.authenticate(db, f"Bearer {credential.strip()}")
        expires = None
        if principal.via == "jwt":
            import jwt

            expires = int(jwt.decode(credential.strip(), options={"verify_signature": False}).get("exp", 0)) or None
        return principal, expires

    async def sign_out(self, db: Database, token: str) -> None:
        await sessions.close_session(db, token)
        self._cache.pop("session:" + sessions.digest(token), None)

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()

    async def limit(self, principal: Principal) -> None:
        if self.limiter is not None:
            await self.limiter.hit(principal.rate_key)


__all__ = ["AuthService", "parse_switch"]
