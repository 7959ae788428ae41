"""The turn path's SQL: SQLAlchemy Core statements, compiled once, run on the driver.

A turn runs about ten statements. Through ``AsyncSession.execute`` each costs 100-200 µs
of Python (statement cache lookup, parameter and result processing, the greenlet bridge,
the pool check-out), against 10-15 µs for the statement itself on SQLite: more than half
of a turn's CPU went there. Here a statement is still built with SQLAlchemy Core and
compiled by SQLAlchemy for the database's dialect, with SQLAlchemy's own type processors
(JSON, booleans) applied to parameters and results; only the per-call machinery is
skipped: the SQL string and the processors are computed once per statement.

* SQLite: one connection of the process's own (a file database; an in-memory one
  shares the pool's single connection), used inline on the event loop. A unit of work
  never suspends between its statements, so no other coroutine can interleave with it.
* PostgreSQL: the asyncpg connection checked out of SQLAlchemy's pool (its JSON codecs
  are SQLAlchemy's); asyncpg keeps each statement prepared per connection. The turn path
  there mostly runs single statements with data-modifying CTEs (:func:`insert_bound`,
  :func:`relax_commit`), atomic without a transaction of ours; :meth:`HotSQL.unit` opens
  one by hand when needed (``BEGIN`` and ``SET LOCAL synchronous_commit = off`` in one
  round trip). A separate asyncpg pool measured slower: its check-in runs through an
  extra task.

Only the turn path uses it (create a run with its messages, read the history, store the
answer); everything else goes through ``AsyncSession``. With tracing on
(:mod:`hilo.kit.observe.tracing`) every round trip here is a ``db`` span; off, choosing the
unit class is the only cost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Select, Table, bindparam, func, insert, select, true
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement
from sqlalchemy.util import greenlet_spawn

from hilo.kit.db import outage
from hilo.kit.observe import tracing


@dataclass(slots=True, frozen=True)
class Prepared:
    sql: str
    params: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]  # (name, default, bind processor)
    results: tuple[Callable[[Any], Any] | None, ...]  # one result processor per selected column

    def args(self, values: dict[str, Any]) -> list[Any]:
        out = []
        for name, default, process in self.params:
            value = values.get(name, default)
            out.append(process(value) if process is not None and value is not None else value)
        return out

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[tuple]:
        processors = self.results
        if not any(processors):
            return [tuple(r) for r in raw]
        return [tuple(v if p is None or v is None else p(v) for p, v in zip(processors, r, strict=True)) for r in raw]


def prepare(stmt: ClauseElement, dialect, column_keys: Sequence[str] | None = None) -> Prepared:
    """``column_keys``: the columns an INSERT/UPDATE without ``.values()`` sets, each bound
    under its column name (an INSERT without them sets every column)."""
    if column_keys is None and getattr(stmt, "is_insert", False):
        column_keys = [c.key for c in stmt.table.c]
    compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
    defaults = compiled.params
    params = []
    for name in compiled.positiontup or ():
        kind = compiled.binds[name].type.dialect_impl(dialect)
        params.append((name, defaults.get(name), kind.bind_processor(dialect)))
    results = ()
    if getattr(stmt, "is_select", False):
        results = tuple(_result_processor(c.type, dialect) for c in stmt.selected_columns)
    return Prepared(compiled.string, tuple(params), results)


def _result_processor(kind, dialect):
    try:
        return kind.dialect_impl(dialect).result_processor(dialect, None)
    except (TypeError, ValueError):
        # A processor that needs the driver's column type (asyncpg's numerics): asyncpg
        # already returns native floats and ints.
        return None


# ---------------------------------------------------------------------- one-statement writes
# PostgreSQL runs data-modifying CTEs in one statement, atomically: a write of several rows
# then costs one round trip instead of BEGIN + one per statement + COMMIT. (SQLite has no
# data-modifying CTEs; there a unit costs microseconds anyway.)


def bound_values(table: Table, prefix: str) -> Select:
    """``SELECT :<prefix><column>, ...`` over every column of ``table``, each bind typed."""
    return select(*(bindparam(prefix + c.name, type_=c.type) for c in table.c))


def insert_bound(table: Table, prefix: str, source) -> Insert:
    """``INSERT INTO table SELECT <bound row> FROM source``: the row goes in only if ``source``
    (a CTE) yields a row, e.g. the UPDATE that claimed a thread."""
    return insert(table).from_select([c.name for c in table.c], bound_values(table, prefix).select_from(source))


def bind_row(prefix: str, row: dict[str, Any]) -> dict[str, Any]:
    return {prefix + key: value for key, value in row.items()}


def relax_commit() -> Any:
    """In a single-statement (autocommit) write: this transaction's commit does not wait for
    the disk, like ``SET LOCAL synchronous_commit = off`` (see :meth:`Database.background`)."""
    return func.set_config("synchronous_commit", "off", true())


class HotSQL:
    """Prepared statements and units of work for one :class:`hilo.kit.db.session.Database`."""

    def __init__(self, engine):
        self.engine = engine
        self.dialect = engine.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self._prepared: dict[tuple, tuple[ClauseElement, Prepared]] = {}
        self._conn: sqlite3.Connection | None = None
        self._busy = False

    def prepared(self, stmt: ClauseElement, column_keys: tuple[str, ...] | None = None) -> Prepared:
        """The compiled form of a statement built once at import time (keyed by identity)."""
        key = (id(stmt), column_keys)
        hit = self._prepared.get(key)
        if hit is None or hit[0] is not stmt:
            hit = self._prepared[key] = (stmt, prepare(stmt, self.dialect, column_keys))
        return hit[1]

    # ------------------------------------------------------------------ SQLite connection
    async def _sqlite(self) -> sqlite3.Connection:
        if self._conn is None:
            database = make_url(str(self.engine.url)).database or ":memory:"
            if database == ":memory:":  # one in-memory database: the pool's single connection
                raw = await self.engine.raw_connection()
                self._conn = raw.driver_connection._conn
                raw.close()
            else:
                conn = sqlite3.connect(database, check_same_thread=False, timeout=5.0, isolation_level=None)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=5000")
                self._conn = conn
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and make_url(str(self.engine.url)).database not in (None, "", ":memory:"):
            conn.close()

    # ------------------------------------------------------------------ reads outside a unit
    async def fetch(self, stmt: ClauseElement, values: dict[str, Any]) -> list[tuple]:
        prepared = self.prepared(stmt)
        if tracing.ON:
            with _round_trip(prepared.sql, self.dialect.name):
                return await self._fetch(prepared, values)
        return await self._fetch(prepared, values)

    async def _fetch(self, prepared: Prepared, values: dict[str, Any]) -> list[tuple]:
        if self.sqlite:
            conn = await self._sqlite()
            return prepared.rows(conn.execute(prepared.sql, prepared.args(values)).fetchall())
        raw = await self._checkout()
        try:
            return prepared.rows(await raw.driver_connection.fetch(prepared.sql, *prepared.args(values)))
        except Exception as exc:
            await self._lost(raw, exc)
            raise
        finally:
            await _checkin(raw)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Unit]:
        """Several autocommit statements on one connection (one pool check-out on PostgreSQL)."""
        if self.sqlite:
            yield (_TracedSQLiteUnit if tracing.ON else _SQLiteUnit)(self, await self._sqlite())
            return
        raw = await self._checkout()
        try:
            yield (_TracedPostgresUnit if tracing.ON else _PostgresUnit)(self, raw.driver_connection)
        except Exception as exc:
            await self._lost(raw, exc)
            raise
        finally:
            await _checkin(raw)

    # ------------------------------------------------------------------ units of work
    @asynccontextmanager
    async def unit(self, durable: bool = True) -> AsyncIterator[Unit]:
        """One transaction: committed when the block ends, rolled back if it raises.

        ``durable=False`` (the engine's own writes): on PostgreSQL the commit does not wait
        for the disk, as :meth:`Database.background` explains.
        """
        if self.sqlite:
            conn = await self._sqlite()
            if self._busy:  # a unit awaited something real: a bug that would mix transactions
                raise RuntimeError("hot SQLite units must not overlap")
            self._busy = True
            in_tx = conn.in_transaction  # the shared in-memory connection may be inside the ORM's
            try:
                if not in_tx:
                    conn.execute("BEGIN IMMEDIATE")
                yield (_TracedSQLiteUnit if tracing.ON else _SQLiteUnit)(self, conn)
                if not in_tx:
                    conn.execute("COMMIT")
            except BaseException:
                if not in_tx and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._busy = False
            return
        raw = await self._checkout()
        try:
            conn = raw.driver_connection
            # One round trip opens the transaction (and relaxes its commit when asked).
            await _pg_execute(conn, "BEGIN" if durable else "BEGIN; SET LOCAL synchronous_commit = off")
            try:
                yield (_TracedPostgresUnit if tracing.ON else _PostgresUnit)(self, conn)
            except BaseException:
                try:
                    await conn.execute("ROLLBACK")
                except Exception:  # e.g. cancelled mid-statement: the pool must not reuse it
                    await greenlet_spawn(raw.invalidate)
                raise
            await _pg_execute(conn, "COMMIT")
        except Exception as exc:
            await self._lost(raw, exc)
            raise
        finally:
            await _checkin(raw)

    async def _checkout(self):
        try:
            return await self.engine.raw_connection()
        except Exception as exc:
            await self._lost(None, exc)
            raise

    async def _lost(self, raw, exc: BaseException) -> None:
        """The database went away: drop this connection and the pool's others (all dead too)."""
        if not outage.unavailable(exc):
            return
        if raw is not None:
            await greenlet_spawn(raw.invalidate)
        await self.engine.dispose(close=False)


async def _checkin(raw: Any) -> None:
    """Give a raw connection back to the pool, in a greenlet as SQLAlchemy's own async code does:
    when the pool is full (past ``pool_size`` + ``max_overflow``) check-in *closes* the connection,
    which awaits the driver, and a plain ``raw.close()`` then fails with ``MissingGreenlet`` and leaks
    the socket (seen with 100 concurrent buyers on two servers: the loop could not close at shutdown)."""
    await greenlet_spawn(raw.close)


async def _pg_execute(conn: Any, sql: str) -> None:
    if tracing.ON:
        with _round_trip(sql, "postgresql"):
            await conn.execute(sql)
    else:
        await conn.execute(sql)


@contextmanager
def _round_trip(sql: str, system: str):
    span = tracing.db_span(sql, system)
    try:
        yield span
    except BaseException as exc:
        span.record_exception(exc)
        raise
    finally:
        span.end()


class Unit:
    """Statements inside one transaction; ``execute`` returns the affected row count."""

    def __init__(self, hot: HotSQL, conn: Any):
        self.hot, self.conn = hot, conn

    async def execute(self, stmt: ClauseElement, values: dict[str, Any],
                      keys: tuple[str, ...] | None = None) -> int:  # pragma: no cover
        raise NotImplementedError

    async def executemany(self, stmt: ClauseElement, rows: list[dict[str, Any]]) -> None:  # pragma: no cover
        raise NotImplementedError

    async def fetch(self, stmt: ClauseElement, values: dict[str, Any]) -> list[tuple]:  # pragma: no cover
        raise NotImplementedError


class _SQLiteUnit(Unit):
    async def execute(self, stmt, values, keys=None):
        prepared = self.hot.prepared(stmt, keys)
        return self.conn.execute(prepared.sql, prepared.args(values)).rowcount

    async def executemany(self, stmt, rows):
        prepared = self.hot.prepared(stmt)
        self.conn.executemany(prepared.sql, [prepared.args(r) for r in rows])

    async def fetch(self, stmt, values):
        prepared = self.hot.prepared(stmt)
        return prepared.rows(self.conn.execute(prepared.sql, prepared.args(values)).fetchall())


class _PostgresUnit(Unit):
    async def execute(self, stmt, values, keys=None):
        prepared = self.hot.prepared(stmt, keys)
        status = await self.conn.execute(prepared.sql, *prepared.args(values))
        return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0

    async def executemany(self, stmt, rows):
        prepared = self.hot.prepared(stmt)
        await self.conn.executemany(prepared.sql, [prepared.args(r) for r in rows])

    async def fetch(self, stmt, values):
        prepared = self.hot.prepared(stmt)
        return prepared.rows(await self.conn.fetch(prepared.sql, *prepared.args(values)))


class _Traced:
    """A unit whose every statement is a span (tracing on)."""

    hot: HotSQL

    async def execute(self, stmt, values, keys=None):
        with _round_trip(self.hot.prepared(stmt, keys).sql, self.hot.dialect.name):
            return await super().execute(stmt, values, keys)

    async def executemany(self, stmt, rows):
        with _round_trip(self.hot.prepared(stmt).sql, self.hot.dialect.name):
            return await super().executemany(stmt, rows)

    async def fetch(self, stmt, values):
        with _round_trip(self.hot.prepared(stmt).sql, self.hot.dialect.name):
            return await super().fetch(stmt, values)


class _TracedSQLiteUnit(_Traced, _SQLiteUnit):
    pass


class _TracedPostgresUnit(_Traced, _PostgresUnit):
    pass


__all__ = ["HotSQL", "Prepared", "Unit", "bind_row", "bound_values", "insert_bound", "prepare", "relax_commit"]
