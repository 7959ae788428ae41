"""hilo.kit.db.hot: the turn path's precompiled statements behave like the ORM's, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, update

from hilo.kit.db.session import Database
from hilo.migrations import upgrade
from hilo.runs.models import Run, RunRecord
from hilo.threads.models import Thread
from tests.conftest import BACKENDS

_THREADS = Thread.__table__
_RUNS = Run.__table__
_INSERT_THREAD = insert(_THREADS)
_INSERT_RUN = insert(_RUNS)
_RUN = select(_RUNS.c.id, _RUNS.c.tools, _RUNS.c.parallel_tool_calls, _RUNS.c.temperature, _RUNS.c.usage) \
    .where(_RUNS.c.id == bindparam("id"))
THREAD = {c.name: None for c in _THREADS.c} | {"id": "thread_h", "created_at": 1, "metadata": {}, "history_version": 0}
_CLAIM = update(_THREADS).where(_THREADS.c.id == bindparam("b_id"), _THREADS.c.active_run_id.is_(None))


@pytest.fixture(params=BACKENDS)
def url(request, database_factory):
    url = database_factory(request.param)
    upgrade(url)
    return url


@pytest.fixture
async def db(url):
    database = Database(url)
    yield database
    await database.dispose()


def _run(run_id: str, **values) -> dict:
    record = RunRecord(id=run_id, thread_id="thread_h", assistant_id="asst_h", created_at=1, status="queued",
                    model="m", tools=[{"type": "function", "function": {"name": "f"}}], metadata_={"k": "v"},
                    parallel_tool_calls=False, temperature=0.5, **values)
    return record.row()


async def test_json_and_booleans_round_trip_as_with_the_orm(db):
    async with db.hot.unit() as unit:
        await unit.execute(_INSERT_THREAD, THREAD)
        await unit.execute(_INSERT_RUN, _run("run_h1"))
    [row] = await db.hot.fetch(_RUN, {"id": "run_h1"})
    assert row == ("run_h1", [{"type": "function", "function": {"name": "f"}}], False, 0.5, None)
    async with db.sessionmaker() as session:  # what the ORM reads is what the hot path wrote
        run = await session.get(Run, "run_h1")
    assert run.tools == row[1] and run.metadata_ == {"k": "v"} and run.parallel_tool_calls is False
    assert run.usage is None  # JSON null stays SQL NULL (none_as_null)


async def test_a_unit_that_raises_stores_nothing(db):
    async with db.hot.unit() as unit:
        await unit.execute(_INSERT_THREAD, THREAD)
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with db.hot.unit() as unit:
            assert await unit.execute(_CLAIM, {"b_id": "thread_h", "active_run_id": "run_x"}, ("active_run_id",)) == 1
            await unit.execute(_INSERT_RUN, _run("run_h2"))
            raise RuntimeError("changed my mind")
    assert await db.hot.fetch(_RUN, {"id": "run_h2"}) == []
    async with db.hot.unit() as unit:  # the claim was rolled back too: the thread is free
        assert await unit.execute(_CLAIM, {"b_id": "thread_h", "active_run_id": "run_y"}, ("active_run_id",)) == 1
        assert await unit.execute(_CLAIM, {"b_id": "thread_h", "active_run_id": "run_z"}, ("active_run_id",)) == 0


async def test_sqlite_units_never_overlap(db):
    if not db.hot.sqlite:
        pytest.skip("SQLite only: its units share one connection")
    async with db.hot.unit():
        with pytest.raises(RuntimeError, match="must not overlap"):
            async with db.hot.unit():
                pass


@pytest.fixture
def pg_url(database_factory):
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL only (HILO_TEST_DATABASE_URL)")
    url = database_factory("postgresql")
    upgrade(url)
    return url


async def test_a_connection_past_the_pool_is_closed_when_it_comes_back(pg_url, caplog):
    # pool_size 1: the inner connection is an overflow one; given back second, it finds the pool
    # full and must be closed, which awaits the driver (it leaked its socket when that ran outside
    # a greenlet: MissingGreenlet, and the event loop could not close at shutdown)
    database = Database(pg_url, pool_size=1)
    one = select(_THREADS.c.id).where(_THREADS.c.id == bindparam("t"))
    try:
        for _ in range(3):
            async with database.hot.connection() as outer:
                async with database.hot.connection() as inner:
                    assert await inner.fetch(one, {"t": "none"}) == []
                assert await outer.fetch(one, {"t": "none"}) == []
            assert await database.hot.fetch(one, {"t": "none"}) == []
        pool = database.engine.pool
        assert pool.checkedout() == 0 and pool.overflow() <= 0
        assert "MissingGreenlet" not in caplog.text and "Exception closing connection" not in caplog.text
    finally:
        await database.dispose()
