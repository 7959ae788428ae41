"""Exchange keys, encrypted at rest with Fernet (the key comes from configuration,
``HILO_COUNCIL_SECRET_KEY``), stored in the ``council_exchange_keys`` table.

Why this shape: a database dump, a backup or a log line must never carry a usable exchange
secret. So the table holds only Fernet tokens; the plaintext exists in memory inside an
:class:`ExchangeCredentials`, whose ``repr`` masks both values, and no function here logs or
returns a secret except :func:`load_keys`, which exists to hand them to the live broker. A
missing or malformed configuration key is a :class:`SecretKeyError` that says how to make one;
a stored token that the configured key cannot open (the key was changed) is a :class:`KeysError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.packs.council.models import LOCAL_USER, ExchangeKey

SETTING = "HILO_COUNCIL_SECRET_KEY"


class SecretKeyError(RuntimeError):
    """The configuration key for exchange keys is missing or is not a Fernet key."""


class KeysError(RuntimeError):
    """Stored exchange keys that cannot be used (wrong configuration key, empty values)."""


@dataclass(frozen=True, slots=True)
class ExchangeCredentials:
    """Plaintext keys in memory only; ``repr``/``str`` never show them."""

    exchange: str
    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"ExchangeCredentials(exchange={self.exchange!r}, api_key='***', secret='***')"

    __str__ = __repr__


def generate_secret_key() -> str:
    """A new configuration key (what an operator puts in HILO_COUNCIL_SECRET_KEY)."""
    return Fernet.generate_key().decode()


def cipher(secret_key: Any) -> Fernet:
    """The Fernet cipher for ``secret_key``; a clear error when it is absent or malformed (the
    message never repeats the value). A pydantic ``SecretStr`` is accepted as it is."""
    if hasattr(secret_key, "get_secret_value"):
        secret_key = secret_key.get_secret_value()
    if not secret_key or not str(secret_key).strip():
        raise SecretKeyError(
            f"{SETTING} no está configurada: sin ella no se pueden guardar ni leer claves de exchange. "
            "Genera una con: python -c \"from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())\"")
    try:
        return Fernet(str(secret_key).strip().encode())
    except (ValueError, TypeError):
        raise SecretKeyError(
            f"{SETTING} no es una clave Fernet válida (32 bytes en base64 url-safe, 44 caracteres)") from None


def encrypt(secret_key: Any, plaintext: str) -> bytes:
    return cipher(secret_key).encrypt(plaintext.encode())


def decrypt(secret_key: Any, token: bytes) -> str:
    try:
        return cipher(secret_key).decrypt(bytes(token)).decode()
    except InvalidToken:
        raise KeysError(f"las claves guardadas no se pueden descifrar con la {SETTING} actual "
                        "(¿se cambió la clave?): vuelve a guardarlas") from None


async def store_keys(session: AsyncSession, *, exchange: str, api_key: str, secret: str, secret_key: Any,
                     user_id: str = LOCAL_USER) -> None:
    """Encrypt and save (or replace) a user's keys for ``exchange``; the caller commits."""
    if not api_key or not secret:
        raise KeysError("la API key y el secreto del exchange son obligatorios")
    f = cipher(secret_key)
    row = await session.get(ExchangeKey, (user_id, exchange))
    if row is None:
        row = ExchangeKey(user_id=user_id, exchange=exchange, created_at=int(time.time()))
        session.add(row)
    row.api_key = f.encrypt(api_key.encode())
    row.secret = f.encrypt(secret.encode())
    await session.flush()


async def load_keys(session: AsyncSession, *, exchange: str, secret_key: Any,
                    user_id: str = LOCAL_USER) -> ExchangeCredentials | None:
    """The decrypted keys for the live broker, or None when none are stored."""
    row = await session.get(ExchangeKey, (user_id, exchange))
    if row is None:
        return None
    return ExchangeCredentials(exchange=exchange, api_key=decrypt(secret_key, row.api_key),
                               secret=decrypt(secret_key, row.secret))


async def has_keys(session: AsyncSession, *, exchange: str, user_id: str = LOCAL_USER) -> bool:
    """Whether keys are stored (what an API may say about them: nothing more)."""
    return (await session.get(ExchangeKey, (user_id, exchange))) is not None


async def delete_keys(session: AsyncSession, *, exchange: str, user_id: str = LOCAL_USER) -> bool:
    result = await session.execute(delete(ExchangeKey).where(ExchangeKey.user_id == user_id,
                                                             ExchangeKey.exchange == exchange))
    return bool(result.rowcount)


async def stored_exchanges(session: AsyncSession, *, user_id: str = LOCAL_USER) -> list[str]:
    rows = await session.execute(select(ExchangeKey.exchange).where(ExchangeKey.user_id == user_id))
    return sorted(r[0] for r in rows)
