"""Alembic environment: async engines (aiosqlite, asyncpg), run in a fresh event loop.

The target metadata holds every table hilo and the installed packs declare (pack tables on
their own ``MetaData`` are added too), so autogenerate compares the whole schema.
"""

from __future__ import annotations

import asyncio

from alembic import context

from hilo.kit.db.session import create_engine
from hilo.migrations import metadata
from hilo.packs.loader import discover

config = context.config
target_metadata = [metadata(), *(tables for pack in discover().values() for tables in pack.tables)]


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
