"""JWT bearer tokens verified against a JWKS (Firebase ID tokens are one case)."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt

from hilo.kit.config import Settings
from hilo.kit.errors import Unauthorized, Unavailable


def unauthorized(message: str, code: str = "invalid_token") -> Unauthorized:
    return Unauthorized(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class JWTVerifier:
    def __init__(self, settings: Settings):
        if not (settings.jwt_issuer and settings.jwt_audience):
            raise ValueError("HILO_JWT_JWKS_URL needs HILO_JWT_ISSUER and HILO_JWT_AUDIENCE as well")
        self.issuer, self.audience = settings.jwt_issuer, settings.jwt_audience
        self.algorithms = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
        self.leeway = settings.jwt_leeway_s
        # Keys are cached by kid; an unknown kid refetches the set (key rotation).
        try:  # an unknown kid refetches at most once per cooldown (a flood of forged kids cannot)
            self.client = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300, timeout=10,
                                          cooldown_duration=settings.jwt_jwks_cooldown_s)
        except TypeError:  # PyJWT before the cooldown option
            self.client = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300, timeout=10)

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; 401 for any bad token, 503 when the JWKS cannot be fetched."""
        try:
            key = await asyncio.to_thread(self.client.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError:
            raise Unavailable("Cannot fetch the signing keys (HILO_JWT_JWKS_URL) to verify the token; try again.",
                              code="jwks_unavailable") from None
        except (jwt.PyJWKClientError, jwt.PyJWTError) as exc:
            raise unauthorized(f"Invalid token: {exc}") from None
        try:
            return jwt.decode(token, key.key, algorithms=self.algorithms, audience=self.audience,
                              issuer=self.issuer, leeway=self.leeway, options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("The token has expired.", code="token_expired") from None
        except jwt.PyJWTError as exc:
            raise unauthorized(f"Invalid token: {exc}") from None


def claim_entitlements(claims: dict[str, Any], name: str) -> set[str]:
    """A list (``["premium"]``), a comma string, an object of flags, or a boolean claim."""
    value = claims.get(name)
    if value is True:
        return {name}
    if isinstance(value, str):
        return {v.strip() for v in value.replace(" ", ",").split(",") if v.strip()}
    if isinstance(value, list | tuple):
        return {str(v) for v in value if isinstance(v, str | int)}
    if isinstance(value, dict):
        return {str(k) for k, v in value.items() if v is True}
    return set()
