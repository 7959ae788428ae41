"""Database migrations: hilo's Alembic revisions (``versions/``), and applying them
(``hilo migrate`` and server start-up).

Besides hilo's own revisions, every discovered pack may ship an Alembic versions
directory: its revisions live on their own branch (``branch_labels=("<pack>",)``,
``depends_on="0001"``), so ``upgrade`` goes to ``heads``, one head per branch. ``env.py``
gives Alembic every table hilo and the installed packs declare (:func:`metadata`), so
``alembic revision --autogenerate`` proposes only real changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent


def pack_migration_dirs() -> list[Path]:
    """The migration directories of every discovered pack (enabled or not: tables stay)."""
    from hilo.packs.loader import discover

    return [p.migrations for p in discover().values() if p.migrations]


def metadata():
    """Every table of hilo's own: its domains, channels and webhooks (packs keep theirs on
    their own metadata: :attr:`hilo.packs.Pack.tables`)."""
    import importlib

    from hilo.kit.db.base import Base

    for module in ("hilo.identity.models", "hilo.assistants.models", "hilo.threads.models", "hilo.files.models",
                   "hilo.runs.models", "hilo.tools.models", "hilo.packs.models", "hilo.channels.models",
                   "hilo.webhooks.models", "hilo.knowledge.models"):
        importlib.import_module(module)
    return Base.metadata


def alembic_config(url: str, extra_versions: Iterable[Path] | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    extra = pack_migration_dirs() if extra_versions is None else list(extra_versions)
    locations = [MIGRATIONS / "versions", *extra]
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads", extra_versions: Iterable[Path] | None = None) -> None:
    """Upgrade hilo's tables and every pack's (``extra_versions``: default, discovered packs)."""
    command.upgrade(alembic_config(url, extra_versions), revision)


def current(url: str) -> str | None:
    """The revisions the database is at, comma-separated (None before the first migration)."""
    import asyncio

    from alembic.runtime.migration import MigrationContext

    from hilo.kit.db.session import create_engine

    async def _read() -> str | None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                heads = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
                return ", ".join(sorted(heads)) or None
        finally:
            await engine.dispose()

    return asyncio.run(_read())
