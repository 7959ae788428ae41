"""Sessions that raise after writing release the database at once (SQLite runs statements on
the event loop thread: a write lock held while the session's close task waits made the next
writer wait out the busy timeout and fail with "database is locked")."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from hilo.assistants.models import Assistant
from hilo.kit.db.session import Database
from hilo.kit.ids import new_id, now
from hilo.migrations import upgrade


def test_a_failed_block_does_not_keep_the_write_lock(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    upgrade(url)

    async def run():
        db = Database(url)
        try:
            async with db.sessionmaker() as session:
                session.add(Assistant(id=new_id("asst"), created_at=now(), model="m", name="a", tools=[], metadata_={}))
                await session.commit()

            async def write(n: int) -> str:
                try:
                    async with db.sessionmaker() as session:
                        await session.execute(update(Assistant).values(name=f"a{n}"))
                        if n % 2:
                            raise ValueError("the request failed after writing")
                        await session.commit()
                        return "ok"
                except ValueError:
                    return "failed"

            results = await asyncio.gather(*(write(n) for n in range(20)))
            async with db.sessionmaker() as session:
                names = list(await session.scalars(select(Assistant.name)))
            return results, names
        finally:
            await db.dispose()

    results, names = asyncio.run(run())
    assert results.count("ok") == 10 and results.count("failed") == 10  # no "database is locked"
    assert names and names[0] in {f"a{n}" for n in range(0, 20, 2)}  # only committed writes stay
