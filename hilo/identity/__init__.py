"""Who is calling: users, the identities channels know them by, API keys, JWT bearer tokens
(Firebase included), entitlements, rate limits, and the one access policy (:mod:`.policy`).

Every request, channel message and run resolves to a :class:`Principal`. ``admin`` scope sees
and changes everything; ``user`` scope sees only what it owns (threads, files and assistants it
created) plus the global assistants (``user_id`` NULL), which it can read and run but not
change. Someone else's object answers 404, exactly like an unknown id (README, "Users, auth
and seed 000's REST facade").
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Literal

Scope = Literal["admin", "user"]


class _Everything:
    """The entitlements of an admin (and of everyone when HILO_AUTH=off)."""

    def __contains__(self, _item: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "EVERYTHING"


EVERYTHING = _Everything()


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str | None  # None: the local admin of HILO_AUTH=off, or HILO_ADMIN_TOKEN
    scope: Scope
    entitlements: Container[str] = field(default_factory=frozenset)
    via: str = "off"  # off | api_key | jwt | admin_token
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    @property
    def rate_key(self) -> str:
        return self.user_id or self.key_id or self.via

    def can_see(self, owner: str | None) -> bool:
        return self.is_admin or (owner is not None and owner == self.user_id)


LOCAL_ADMIN = Principal(user_id=None, scope="admin", entitlements=EVERYTHING, via="off")


def user_principal(user_id: str, entitlements: Container[str] = frozenset(), via: str = "channel") -> Principal:
    """A channel's user (WhatsApp number, WebSocket session, facade user) acting for itself."""
    return Principal(user_id=user_id, scope="user", entitlements=entitlements, via=via)

__all__ = ["EVERYTHING", "LOCAL_ADMIN", "Principal", "Scope", "user_principal"]
