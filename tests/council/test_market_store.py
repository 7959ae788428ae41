"""Stored bars on SQLite files and (with HILO_TEST_DATABASE_URL) PostgreSQL: the upsert is
idempotent, loads cut by time and count, and collecting fetches only bars after the last one
stored and never stores the exchange's still-open bar."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from hilo.kit.db.session import Database
from hilo.packs.council.exchange import CcxtExchange
from hilo.packs.council.market_store import collect, last_bar_ms, load_bars, save_bars
from hilo.packs.council.models import BarRow, Base
from hilo.testing.fake_markets import FakeBinance
from tests.conftest import BACKENDS
from tests.council.market_support import HOUR_MS, epoch_ms, same_bars, walk


@pytest.fixture(params=BACKENDS)
def database_url(request, database_factory):
    return database_factory(request.param)  # sync: the factory runs its own event loop


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def binance():
    with FakeBinance() as server:
        yield server


async def stored(db, symbol="BTC/USDT") -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(BarRow).where(BarRow.symbol == symbol))).scalar()


async def test_save_and_load_round_trip(db):
    frame = walk(1_200)  # more than one statement's batch
    async with db.sessionmaker() as s:
        assert await save_bars(s, "binance", "BTC/USDT", "1h", frame) == 1_200
        await s.commit()
    async with db.sessionmaker() as s:
        same_bars(await load_bars(s, "binance", "BTC/USDT", "1h"), frame)
        start, end = epoch_ms(frame.index[100]), epoch_ms(frame.index[199])
        same_bars(await load_bars(s, "binance", "BTC/USDT", "1h", start_ms=start, end_ms=end), frame.iloc[100:200])
        same_bars(await load_bars(s, "binance", "BTC/USDT", "1h", limit=50), frame.iloc[-50:])
        same_bars(await load_bars(s, "binance", "BTC/USDT", "1h", end_ms=end, limit=10), frame.iloc[190:200])
        assert (await load_bars(s, "binance", "BTC/USDT", "4h")).empty  # another timeframe
        assert (await load_bars(s, "kraken", "BTC/USDT", "1h")).empty  # another exchange
        assert await last_bar_ms(s, "binance", "BTC/USDT", "1h") == epoch_ms(frame.index[-1])


async def test_upsert_is_idempotent_and_replaces_a_corrected_bar(db):
    frame = walk(300)
    for _ in range(2):
        async with db.sessionmaker() as s:
            await save_bars(s, "binance", "BTC/USDT", "1h", frame)
            await s.commit()
    assert await stored(db) == 300
    corrected = frame.iloc[-5:].copy()
    corrected["close"] = corrected["close"] * 1.01
    corrected["high"] = corrected[["high", "close"]].max(axis=1)
    async with db.sessionmaker() as s:
        assert await save_bars(s, "binance", "BTC/USDT", "1h", corrected) == 5
        await s.commit()
    async with db.sessionmaker() as s:
        back = await load_bars(s, "binance", "BTC/USDT", "1h")
    assert await stored(db) == 300
    same_bars(back.iloc[-5:], corrected)
    same_bars(back.iloc[:-5], frame.iloc[:-5])


async def test_collect_stores_lookback_then_only_new_bars(db, binance):
    now = int(time.time() * 1000)
    # 700 bars, the last of them opened 10 minutes ago: still open
    full = walk(700, end_ms=now - 10 * 60_000)
    binance.set_bars("BTC/USDT", "1h", full.iloc[:690])  # the exchange 10 hours ago
    ex = CcxtExchange("binance", api_url=binance.url, timeout=5)
    now_then = epoch_ms(full.index[689]) + 10 * 60_000
    assert await collect(db, ex, "BTC/USDT", "1h", lookback=500, now_ms=now_then) == 500
    async with db.sessionmaker() as s:
        first = await load_bars(s, "binance", "BTC/USDT", "1h")
    same_bars(first, full.iloc[189:689])  # the open bar 689 is not stored
    binance.set_bars("BTC/USDT", "1h", full)  # ten hours later
    before = len(binance.requests)
    assert await collect(db, ex, "BTC/USDT", "1h", lookback=500) == 10  # 689..698; 699 is open
    (_, _, query), = binance.requests[before:before + 1]
    assert int(query["startTime"]) == epoch_ms(full.index[688]) + 1
    assert await collect(db, ex, "BTC/USDT", "1h", lookback=500) == 0  # nothing new
    async with db.sessionmaker() as s:
        same_bars(await load_bars(s, "binance", "BTC/USDT", "1h"), full.iloc[189:699])
    # once the bar has closed it is stored, final
    later = epoch_ms(full.index[-1]) + HOUR_MS + 1
    assert await collect(db, ex, "BTC/USDT", "1h", now_ms=later) == 1
    async with db.sessionmaker() as s:
        assert await last_bar_ms(s, "binance", "BTC/USDT", "1h") == epoch_ms(full.index[-1])


async def test_collect_in_the_callers_session_commits_with_it(db, binance):
    binance.set_bars("ETH/USDT", "15m", walk(40, step_ms=900_000))
    ex = CcxtExchange("binance", api_url=binance.url, timeout=5)
    async with db.sessionmaker() as s:
        assert await collect(s, ex, "ETH/USDT", "15m", lookback=30) == 30
        await s.rollback()
    assert await stored(db, "ETH/USDT") == 0  # the caller's transaction decides
    async with db.sessionmaker() as s:
        assert await collect(s, ex, "ETH/USDT", "15m", lookback=30) == 30
        await s.commit()
    assert await stored(db, "ETH/USDT") == 30
