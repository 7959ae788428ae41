"""The one access policy: who may see, change, run and read what.

Every entry asks here: the ``/v1`` guard (path objects), list queries (what a user sees), the
turn service (which assistant a caller may run), channels (through the turn service), and tools
(which files a run may read). The rules:

* an admin sees and changes everything;
* a user sees what it owns; an object without owner is the operator's: a *shared* kind
  (assistants) is readable and runnable by every user and changed only by admins, any other kind
  (threads, files) is seen by admins only;
* someone else's object answers 404, exactly like an unknown id;
* running an assistant also needs the entitlements its ``hilo_requires`` metadata names (403).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Any

from hilo.identity import Principal
from hilo.kit.errors import forbidden, not_found

REQUIRES_KEY = "hilo_requires"  # assistant metadata: comma list of entitlements a user needs
READ_METHODS = frozenset({"GET", "HEAD"})


def can_see(principal: Principal, owner: str | None, shared: bool = False) -> bool:
    if principal.is_admin:
        return True
    if owner is None:
        return shared
    return owner == principal.user_id


def check_access(principal: Principal, kind: str, object_id: str, owner: str | None, *, shared: bool = False,
                 change: bool = False) -> None:
    """404 for what the principal may not see; 403 for a shared object a user tries to change."""
    if not can_see(principal, owner, shared):
        raise not_found(kind, object_id)
    if change and owner is None and not principal.is_admin:
        raise forbidden(f"The {kind} '{object_id}' is shared by the operator: only an admin can change it.")


def owner_of_new(principal: Principal, shared: bool = False) -> str | None:
    """The owner a new object gets: admins create shared objects of shared kinds; else the caller."""
    if shared and principal.is_admin:
        return None
    return principal.user_id


def visible(principal: Principal, owner_column: Any, shared: bool = False) -> Any | None:
    """A WHERE clause narrowing a list to what the principal sees (None: everything)."""
    if principal.is_admin:
        return None
    if shared:
        return (owner_column == principal.user_id) | owner_column.is_(None)
    return owner_column == principal.user_id


def required_entitlements(metadata: Mapping[str, Any] | None) -> set[str]:
    value = (metadata or {}).get(REQUIRES_KEY) or ""
    return {v.strip() for v in str(value).replace(";", ",").split(",") if v.strip()}


def missing_entitlements(metadata: Mapping[str, Any] | None, entitlements: Container[str]) -> list[str]:
    return sorted(e for e in required_entitlements(metadata) if e not in entitlements)


def entitlement_message(name: str, missing: Iterable[str]) -> str:
    return (f"The assistant '{name}' requires the entitlement '{', '.join(missing)}', "
            "which this user does not have.")


def check_runnable(principal: Principal, assistant: Any | None, assistant_id: str) -> Any:
    """The assistant, if the principal may run it: visible (else 404) and entitled (else 403)."""
    if assistant is None or not can_see(principal, assistant.user_id, shared=True):
        raise not_found("assistant", assistant_id)
    missing = missing_entitlements(assistant.metadata_, principal.entitlements)
    if missing:
        refusal = forbidden(entitlement_message(assistant.name or assistant.id, missing), code="entitlement_required")
        refusal.missing = missing  # channels phrase it in their language
        raise refusal
    return assistant


def can_read_file(principal: Principal, file_owner: str | None) -> bool:
    """Runs and requests read the caller's own files; admins (and unowned runs) read any."""
    return can_see(principal, file_owner)


__all__ = ["REQUIRES_KEY", "can_read_file", "can_see", "check_access", "check_runnable", "entitlement_message",
           "missing_entitlements", "owner_of_new", "required_entitlements", "visible"]
