"""Users and the identities channels know them by: (``api``, name), (``jwt``, sub),
(``whatsapp``, E.164 number), (``websocket``, session)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.identity.models import Identity, User
from hilo.kit.db.session import Database
from hilo.kit.ids import new_id, now


def _new_user(session: AsyncSession, channel: str, subject: str, name: str | None) -> User:
    user = User(id=new_id("user"), created_at=now(), name=name or subject, entitlements=[], metadata_={})
    session.add_all([user, Identity(channel=channel, subject=subject, user_id=user.id, created_at=user.created_at)])
    return user


async def user_for_identity(db: Database, channel: str, subject: str, *, name: str | None = None,
                            create: bool = True) -> str | None:
    """The user behind (channel, subject), created on first sight (None if not and not ``create``)."""
    async with db.sessionmaker() as session:
        found = await session.get(Identity, (channel, subject))
        if found is not None or not create:
            return found.user_id if found else None
        user = _new_user(session, channel, subject, name)
        try:
            await session.commit()
            return user.id
        except IntegrityError:  # another request created it first: theirs wins
            await session.rollback()
    async with db.sessionmaker() as session:
        return (await session.get(Identity, (channel, subject))).user_id


async def user_entitlements(db: Database, user_id: str) -> frozenset[str]:
    async with db.sessionmaker() as session:
        user = await session.get(User, user_id)
    return frozenset(user.entitlements or ()) if user else frozenset()


async def user_by_name(session: AsyncSession, name: str, create: bool = True) -> User | None:
    """The user of the ``api`` identity ``name`` (how the CLI and admins name users); the
    caller commits."""
    link = await session.get(Identity, ("api", name))
    if link is not None:
        return await session.get(User, link.user_id)
    if not create:
        return None
    user = _new_user(session, "api", name, name)
    await session.flush()
    return user


__all__ = ["user_by_name", "user_entitlements", "user_for_identity"]
