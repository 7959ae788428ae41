"""Fixtures: a real hilo on a loopback port, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from openai import OpenAI
from sqlalchemy.engine import make_url

from hilo.kit.config import Settings
from hilo.nlu import embed
from hilo.providers import scripted
from hilo.testing.server import LiveServer, start_server

PG_URL = os.environ.get("HILO_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _asyncpg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    parsed = make_url(PG_URL)
    conn = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                 password=parsed.password, database=parsed.database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory):
    """Makes fresh, empty databases: SQLite files, or PostgreSQL databases dropped at the end."""
    created: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / "hilo.db"
            return f"sqlite+aiosqlite:///{path}"
        name = f"hilo_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(_asyncpg_url(PG_URL)).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in created:
        try:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:  # leave it; a later run does not depend on it
            pass


# The packs a test server runs unless the test names others: the tax help desk embeds its
# documents at first start (seconds of CPU in the background), so only its own tests start it.
SUITE_PACKS = "trading_mentor,courses"


def make_settings(database_url: str, data_dir, **overrides) -> Settings:
    values = dict(database_url=database_url, data_dir=data_dir, llm_provider="scripted",
                  run_timeout=30, llm_base_url=None, llm_api_key=None, llm_model=None, providers={},
                  packs=SUITE_PACKS)
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, database_factory, tmp_path_factory) -> LiveServer:
    url = database_factory(request.param)
    settings = make_settings(url, tmp_path_factory.mktemp("data"))
    live = start_server(settings)
    yield live
    live.stop()


@pytest.fixture
def client(server) -> OpenAI:
    with OpenAI(base_url=server.url + "/v1", api_key="test-key", max_retries=0, timeout=30) as c:
        yield c


@pytest.fixture
def script(request):
    """A fresh scripted model: returns (model_name, register_fn)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield f"scripted/{name}", lambda *turns: scripted.register(name, list(turns))
    scripted.reset(name)


@pytest.fixture(autouse=True)
def _no_recent_query_embeddings():
    """Each test embeds its own queries: the process keeps recent ones (hilo.nlu.embed.query_vector),
    which would hide engine calls a test counts, or hand a fake engine's test a real vector."""
    embed.forget_recent()
    yield
