"""Async engine and sessions. SQLite gets WAL and a busy timeout so that several
workers can share one file; PostgreSQL goes through asyncpg."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hilo.kit.db import sqlite_inline
from hilo.kit.db.hot import HotSQL


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _json_dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (content, tools, step details, ...) through orjson: ~10x faster than json.
_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def create_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    if is_sqlite(url):
        # Sessions always end in commit or rollback (AsyncSession.close rolls back an
        # open transaction), so the pool's extra ROLLBACK on every check-in, a thread
        # hop through aiosqlite each time, buys nothing.
        database = make_url(url).database or ":memory:"
        engine = create_async_engine(
            url, async_creator=sqlite_inline.creator(database), pool_reset_on_return=None, **_JSON,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    # No pre-ping (a round trip per checkout); recycling covers connections the server dropped.
    # The pool must hold a worker's usual concurrency: a connection opened past it is closed
    # again at check-in, and a new PostgreSQL backend costs milliseconds and re-prepares
    # every statement (the turn bench lost a third of its throughput to that at 10).
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, **_JSON)


class Session(AsyncSession):
    """An :class:`AsyncSession` that rolls back at once when its block raises.

    ``AsyncSession.__aexit__`` closes the session in a new task it then awaits, so the event
    loop runs other coroutines first; on SQLite (statements run inline, see
    :mod:`hilo.kit.db.sqlite_inline`) a transaction that had written still holds the file's
    write lock meanwhile, and the next coroutine's write waits out the busy timeout on the loop
    thread, which the close task needs: a 5 s stall and a "database is locked". Rolling back
    before handing over releases the lock first (on PostgreSQL it only frees the row locks sooner)."""

    async def __aexit__(self, type_, value, traceback) -> None:
        if type_ is not None and self.in_transaction():
            try:
                await self.rollback()
            except Exception:  # noqa: BLE001 - the close below still runs and the error propagates
                pass
        await super().__aexit__(type_, value, traceback)


class Database:
    """Owns the engine and hands out sessions; commit happens at the caller's boundary."""

    def __init__(self, url: str, pool_size: int = 20):
        self.url = url
        self.engine = create_engine(url, pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, class_=Session)
        self.hot = HotSQL(self.engine)  # the turn path's statements (see hilo.kit.db.hot)

    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def background(self) -> AsyncIterator[AsyncSession]:
        """A session for the run engine's own writes.

        On PostgreSQL its commits do not wait for the disk (``synchronous_commit=off``):
        a server crash can lose the last fraction of a second of engine writes, which
        leaves those runs ``queued``/``in_progress`` for the start-up recovery to fail
        cleanly, never half-written. Requests' own commits stay durable.
        """
        async with self.sessionmaker() as session:
            if self.engine.dialect.name == "postgresql":
                await session.execute(text("SET LOCAL synchronous_commit = off"))
            yield session

    async def dispose(self) -> None:
        await self.hot.close()
        await self.engine.dispose()
