"""Users, the identities channels know them by, and API keys."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id, Json


class User(Base):
    __kind__ = "user"
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(256))
    entitlements: Mapped[list[str]] = mapped_column(Json, default=list)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)


class Identity(Base):
    """How a channel knows a user: (``api``, name), (``jwt``, sub), (``whatsapp``, number), ..."""

    __tablename__ = "identities"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(256), primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    __kind__ = "api key"
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, index=True)
    scope: Mapped[str] = mapped_column(String(16))  # admin | user
    name: Mapped[str | None] = mapped_column(String(256))
    prefix: Mapped[str] = mapped_column(String(32))  # shown in listings, never the secret
    hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class WebSession(Base):
    """A signed-in browser (the web pages): the cookie holds a random token, the row only its
    SHA-256; signing out deletes the row. What it acts as is the credential it was opened with."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's token
    user_id: Mapped[str | None] = mapped_column(Id, index=True)  # None: HILO_ADMIN_TOKEN
    scope: Mapped[str] = mapped_column(String(16))  # admin | user
    via: Mapped[str] = mapped_column(String(16))  # api_key | jwt | admin_token
    key_id: Mapped[str | None] = mapped_column(Id)  # the API key signed in with: revoking it ends the session
    entitlements: Mapped[list[str]] = mapped_column(Json, default=list)  # a JWT's own, at sign-in
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
