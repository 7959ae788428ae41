"""Stored bars (``council_bars``): what the monitor collects every minute and what the council,
the learning job and backtests on stored data read back.

A bar is keyed by exchange, symbol, timeframe and its open time (epoch ms), so saving the same
bars twice changes nothing and a corrected bar replaces the old one (an upsert, written with
each dialect's ``INSERT ... ON CONFLICT DO UPDATE``). Only closed bars are stored: the
exchange's last bar keeps moving until it closes, and a stored bar is read as final.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.packs.council.bars import COLUMNS
from hilo.packs.council.exchange import MAX_BARS, Exchange, closed_bars, empty_bars, timeframe_ms
from hilo.packs.council.models import BarRow

BATCH = 500  # rows per statement: 4,500 parameters, under SQLite's and asyncpg's limits
_KEY = ("exchange", "symbol", "timeframe", "ts")


def _insert(session: AsyncSession):
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - hilo runs on these two
        raise RuntimeError(f"council_bars: no upsert for the {name} dialect")
    return insert


async def save_bars(session: AsyncSession, exchange: str, symbol: str, timeframe: str,
                    frame: pd.DataFrame) -> int:
    """Upsert ``frame``'s bars; returns how many were written. The caller commits."""
    timeframe_ms(timeframe)
    if frame.empty:
        return 0
    stamps = [round(ts.timestamp() * 1000) for ts in frame.index]
    values = frame[list(COLUMNS)].to_numpy(dtype=float).tolist()
    rows = [{"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "ts": ts,
             **dict(zip(COLUMNS, v, strict=True))} for ts, v in zip(stamps, values, strict=True)]
    insert = _insert(session)
    for start in range(0, len(rows), BATCH):
        stmt = insert(BarRow).values(rows[start:start + BATCH])
        stmt = stmt.on_conflict_do_update(index_elements=list(_KEY),
                                          set_={c: stmt.excluded[c] for c in COLUMNS})
        await session.execute(stmt)
    return len(rows)


async def load_bars(session: AsyncSession, exchange: str, symbol: str, timeframe: str,
                    start_ms: int | None = None, end_ms: int | None = None,
                    limit: int | None = None) -> pd.DataFrame:
    """Stored bars opening in ``[start_ms, end_ms]`` (both inclusive, either open), oldest first;
    with ``limit``, the most recent ``limit`` of them. An empty frame when there are none."""
    q = select(BarRow.ts, *(getattr(BarRow, c) for c in COLUMNS)).where(
        BarRow.exchange == exchange, BarRow.symbol == symbol, BarRow.timeframe == timeframe)
    if start_ms is not None:
        q = q.where(BarRow.ts >= int(start_ms))
    if end_ms is not None:
        q = q.where(BarRow.ts <= int(end_ms))
    if limit is not None:
        q = q.order_by(BarRow.ts.desc()).limit(int(limit))
    else:
        q = q.order_by(BarRow.ts)
    rows = (await session.execute(q)).all()
    if not rows:
        return empty_bars()
    if limit is not None:
        rows.reverse()
    data = np.asarray([tuple(r) for r in rows], dtype=float)
    index = pd.DatetimeIndex(pd.to_datetime(data[:, 0].astype(np.int64), unit="ms", utc=True), name="timestamp")
    return pd.DataFrame(data[:, 1:], index=index, columns=list(COLUMNS))


async def last_bar_ms(session: AsyncSession, exchange: str, symbol: str, timeframe: str) -> int | None:
    """The open time of the newest stored bar, or None."""
    q = select(func.max(BarRow.ts)).where(BarRow.exchange == exchange, BarRow.symbol == symbol,
                                          BarRow.timeframe == timeframe)
    value = (await session.execute(q)).scalar()
    return None if value is None else int(value)


async def collect(db_or_session: Any, exchange_obj: Exchange, symbol: str, timeframe: str, *,
                  lookback: int = 500, now_ms: int | None = None) -> int:
    """Fetch and store the closed bars after the last stored one (the ``lookback`` most recent
    when none is stored yet); returns how many new bars were stored.

    ``db_or_session``: an ``AsyncSession`` (the caller commits), or hilo's ``Database`` / an
    ``async_sessionmaker`` (a session of its own, committed here). After a long outage one call
    catches up at most :data:`~hilo.packs.council.exchange.MAX_BARS` bars; the next continues."""
    if isinstance(db_or_session, AsyncSession):
        return await _collect(db_or_session, exchange_obj, symbol, timeframe, lookback, now_ms)
    factory = getattr(db_or_session, "sessionmaker", db_or_session)
    async with factory() as session:
        stored = await _collect(session, exchange_obj, symbol, timeframe, lookback, now_ms)
        await session.commit()
        return stored


async def _collect(session: AsyncSession, exchange_obj: Exchange, symbol: str, timeframe: str,
                   lookback: int, now_ms: int | None) -> int:
    step = timeframe_ms(timeframe)
    name = exchange_obj.name
    last = await last_bar_ms(session, name, symbol, timeframe)
    if last is None:  # one more than lookback: the newest is usually still open
        lookback = max(1, min(int(lookback), MAX_BARS - 1))
        frame = await exchange_obj.fetch_bars(symbol, timeframe, limit=lookback + 1)
        frame = closed_bars(frame, timeframe, now_ms).iloc[-lookback:]
    else:
        now = now_ms if now_ms is not None else int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
        missing = max(1, (now - last) // step + 1)  # + the bar still open
        frame = await exchange_obj.fetch_bars(symbol, timeframe, since_ms=last + 1, limit=min(missing, MAX_BARS))
        if not frame.empty:
            frame = frame[[round(ts.timestamp() * 1000) > last for ts in frame.index]]
    frame = closed_bars(frame, timeframe, now_ms)
    return await save_bars(session, name, symbol, timeframe, frame)
