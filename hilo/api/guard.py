"""The ``/v1`` guard: authenticate, rate-limit, and check every object the path names.

Each path parameter that names an owned object (``thread_id``, ``vector_store_id``, ``file_id``,
``assistant_id``) is looked up (one indexed read of its owner) and judged by the one access policy
(:func:`hilo.identity.policy.check_access`): someone else's object answers 404 like an unknown
id; a shared assistant can be read and run by users but changed only by admins (403). Runs,
messages and steps are owned through their thread (their routes filter on it).
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import bindparam, select

from hilo.api.deps import PrincipalDep
from hilo.assistants.models import Assistant
from hilo.files.models import File
from hilo.identity.policy import READ_METHODS, check_access
from hilo.kit.errors import not_found
from hilo.knowledge.models import VectorStore
from hilo.threads.models import Thread

# path parameter -> (owner lookup, kind, shared when unowned)
_OWNED = {
    param: (select(model.__table__.c.user_id).where(model.__table__.c.id == bindparam("id")), model.__kind__, shared)
    for param, model, shared in (("thread_id", Thread, False), ("vector_store_id", VectorStore, False),
                                 ("file_id", File, False), ("assistant_id", Assistant, True))
}


async def v1_guard(request: Request, principal: PrincipalDep) -> None:
    await request.app.state.auth.limit(principal)
    if principal.is_admin:
        return
    hot = request.app.state.db.hot
    for param, (lookup, kind, shared) in _OWNED.items():
        object_id = request.path_params.get(param)
        if object_id is None:
            continue
        rows = await hot.fetch(lookup, {"id": object_id})
        if not rows:  # the same answer as for someone else's object
            raise not_found(kind, object_id)
        check_access(principal, kind, object_id, rows[0][0], shared=shared,
                     change=request.method not in READ_METHODS)


__all__ = ["v1_guard"]
