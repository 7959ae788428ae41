"""SQLite for SQLAlchemy's async engine without a thread hop per statement.

aiosqlite runs every call in a helper thread and wakes the event loop for each
result: with ~15 statements a turn, those hand-offs cost more than the statements.
SQLite statements on a local file take microseconds, so this shim runs them inline
on the event loop thread while presenting aiosqlite's interface (the one SQLAlchemy's
``sqlite+aiosqlite`` dialect drives). Statements never suspend, so a transaction can
never be interleaved with another coroutine's inside one process; between processes
(``hilo serve --workers N``) WAL mode and a short busy timeout keep writers brief.
"""

from __future__ import annotations

import sqlite3
from typing import Any


class _Cursor:
    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor):
        self._cur = cur

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cur.close()

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        self._cur.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Any) -> _Cursor:
        self._cur.executemany(sql, seq)
        return self

    async def fetchone(self) -> Any:
        return self._cur.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cur.fetchmany(size if size is not None else self._cur.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    async def close(self) -> None:
        self._cur.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cur.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cur.arraysize = value


class _Immediate:
    """Stands in for aiosqlite's work queue: runs the function at once."""

    def put_nowait(self, item: Any) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # delivered to the awaiting caller
            future.set_exception(exc)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._connection = conn  # SQLAlchemy checks it is still open
        self._tx = _Immediate()

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        return _Cursor(self._conn.execute(sql, parameters))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._conn.close()
            self._connection = None

    def stop(self) -> None:
        if self._connection is not None:
            self._conn.close()
            self._connection = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value


def creator(path: str, busy_timeout_ms: int = 5000):
    """An ``async_creator`` for ``create_async_engine("sqlite+aiosqlite://...")``."""

    async def connect() -> InlineConnection:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=busy_timeout_ms / 1000)
        return InlineConnection(conn)

    return connect
