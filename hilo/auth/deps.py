"""FastAPI dependencies: the principal, the /v1 guard, admin-only routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import bindparam, select

from hilo.api.errors import APIError, not_found
from hilo.auth import Principal
from hilo.auth.service import auth_of
from hilo.db import models as m


async def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        principal = await auth_of(request.app).authenticate(request.app.state.db, request.headers.get("authorization"))
        request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]

# Path parameters that name an owned object, checked before any /v1 handler runs.
_OWNED = {"thread_id": (m.Thread, "thread"), "file_id": (m.File, "file"), "assistant_id": (m.Assistant, "assistant")}
_OWNER_OF = {model: select(model.__table__.c.user_id).where(model.__table__.c.id == bindparam("id"))
             for model, _kind in _OWNED.values()}


async def v1_guard(request: Request, principal: PrincipalDep) -> None:
    """Authenticate, rate-limit and check ownership of every object the path names.

    Another user's thread, file or assistant answers 404 like an unknown id; a global
    assistant (user_id NULL) can be read by users but changed only by admins (403).
    Runs, messages and steps are owned through their thread (their routes filter on it).
    """
    await auth_of(request.app).limit(principal)
    if principal.is_admin:
        return
    hot = request.app.state.db.hot
    for param, (model, kind) in _OWNED.items():
        object_id = request.path_params.get(param)
        if object_id is None:
            continue
        rows = await hot.fetch(_OWNER_OF[model], {"id": object_id})
        if not rows:  # the same answer as for someone else's object
            raise not_found(kind, object_id)
        owner = rows[0][0]
        if model is m.Assistant and owner is None:
            if request.method not in ("GET", "HEAD"):
                raise forbidden(f"The assistant '{object_id}' is shared by the operator: only an admin can change it.")
            continue
        if owner != principal.user_id:
            raise not_found(kind, object_id)


async def require_admin(request: Request, principal: PrincipalDep) -> Principal:
    await auth_of(request.app).limit(principal)
    if not principal.is_admin:
        raise forbidden("This endpoint needs an admin key.")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def forbidden(message: str, code: str = "permission_denied") -> APIError:
    return APIError(403, message, type="invalid_request_error", code=code)


def owner_for(principal: Principal, model: type[m.Base]) -> str | None:
    """The owner a new object gets: admins create global assistants; everything else is owned."""
    if model is m.Assistant and principal.is_admin:
        return None
    return principal.user_id


async def runnable_assistant(session, principal: Principal, assistant_id: str) -> m.Assistant:
    """An assistant the principal may run: visible (else 404) and entitled (else 403)."""
    return check_runnable(principal, await session.get(m.Assistant, assistant_id), assistant_id)


def check_runnable(principal: Principal, assistant: m.Assistant | None, assistant_id: str) -> m.Assistant:
    from hilo.conversations import entitlement_error, missing_entitlements

    if assistant is None or not (assistant.user_id is None or principal.can_see(assistant.user_id)):
        raise not_found("assistant", assistant_id)
    missing = missing_entitlements(assistant, principal.entitlements)
    if missing:
        raise forbidden(entitlement_error(assistant, missing), code="entitlement_required")
    return assistant


def visible(principal: Principal, model: type[m.Base], query):
    """Narrow a list query to what the principal may see."""
    if principal.is_admin:
        return query
    if model is m.Assistant:
        return query.where((model.user_id == principal.user_id) | model.user_id.is_(None))
    return query.where(model.user_id == principal.user_id)


__all__ = ["AdminDep", "PrincipalDep", "check_runnable", "current_principal", "forbidden", "owner_for", "require_admin",
           "runnable_assistant", "v1_guard", "visible"]
