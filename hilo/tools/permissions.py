"""Who may use which server-side tool.

A tool is ``public`` (it reads nothing of anyone's: prices, weather) or ``restricted`` (the
default: it may touch a business's data: orders, customers, a catalogue). A restricted tool runs
only for

* assistants without an owner: the operator's (an admin created them, or a pack did), and
* assistants whose owner an admin granted the tool (``PUT /admin/tools/{name}/grants/{user_id}``;
  ``*`` grants it to every user).

The subject of the check is the assistant's owner when an assistant lists the tool, and the
caller when a run's own ``tools`` name it (an admin is always allowed). Refusals are a 400 at
create time naming the tool; a grant revoked later makes the tool answer an error when called.
Grants are read once per ``HILO_AUTH_CACHE_S`` per process (``forget`` after a change here).
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from hilo.kit.db.session import Database
from hilo.kit.ids import now
from hilo.tools.models import ToolGrant

EVERYONE = "*"


class ToolPolicy:
    def __init__(self, db: Database | None = None, ttl: float = 10.0):
        self.db = db
        self.ttl = ttl
        self._grants: dict[str, frozenset[str]] = {}
        self._until = 0.0

    def forget(self) -> None:
        self._until = 0.0

    async def grants(self) -> dict[str, frozenset[str]]:
        """tool name -> the user ids granted it."""
        if self.db is None:
            return {}
        if time.monotonic() >= self._until:
            async with self.db.sessionmaker() as session:
                rows = (await session.execute(select(ToolGrant.tool, ToolGrant.user_id))).all()
            grants: dict[str, set[str]] = {}
            for tool, user_id in rows:
                grants.setdefault(tool, set()).add(user_id)
            self._grants = {k: frozenset(v) for k, v in grants.items()}
            self._until = time.monotonic() + self.ttl
        return self._grants

    async def permitted(self, tool, subject: str | None) -> bool:
        """May ``tool`` run for ``subject`` (a user id; None: the operator, always allowed)?"""
        if subject is None or getattr(tool, "access", "restricted") == "public":
            return True
        granted = (await self.grants()).get(tool.name, frozenset())
        return subject in granted or EVERYONE in granted

    async def grant(self, tool: str, user_id: str) -> None:
        async with self.db.sessionmaker() as session:
            session.add(ToolGrant(tool=tool, user_id=user_id, created_at=now()))
            try:
                await session.commit()
            except IntegrityError:  # granted already
                await session.rollback()
        self.forget()

    async def revoke(self, tool: str, user_id: str) -> bool:
        async with self.db.sessionmaker() as session:
            result = await session.execute(delete(ToolGrant).where(ToolGrant.tool == tool, ToolGrant.user_id == user_id))
            await session.commit()
        self.forget()
        return result.rowcount > 0


def refusal(name: str) -> str:
    return (f"The tool '{name}' is restricted: it runs only for the operator's assistants and for assistants "
            f"whose owner an admin granted it (PUT /admin/tools/{name}/grants/<user_id>).")


__all__ = ["EVERYONE", "ToolPolicy", "refusal"]
