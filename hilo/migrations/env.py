"""Alembic environment: async engines (aiosqlite, asyncpg), run in a fresh event loop.

The target metadata holds every table hilo and the installed packs declare (pack tables on
their own ``MetaData`` are added too), so autogenerate compares the whole schema.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text

from hilo.kit.db.session import create_engine
from hilo.migrations import metadata
from hilo.packs.loader import discover

config = context.config
target_metadata = [metadata(), *(tables for pack in discover().values() for tables in pack.tables)]
KNOWN = {name for md in target_metadata for name in md.tables}


def include_name(name, type_, parent_names) -> bool:
    """Autogenerate never proposes dropping a table it does not know: a pack's that is not
    installed, or the shadow tables of a full-text index a migration made by hand."""
    return type_ != "table" or name in KNOWN


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # API replicas and workers start together: one migrates, the others wait, then find
            # nothing to do (the lock ends with this transaction).
            connection.execute(text("SELECT pg_advisory_xact_lock(4812301)"))
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
