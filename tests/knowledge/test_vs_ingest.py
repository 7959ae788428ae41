"""Background ingestion across processes, on SQLite and PostgreSQL: exclusive claims and expiring
leases, two servers on one database (no file ingested twice, each one's index follows the other's
writes), restarts that resume where the last process stopped, a store deleted mid-ingestion,
retries and ``server_error``."""

from __future__ import annotations

import asyncio
import time

import pytest
from openai import OpenAI
from sqlalchemy import func, select

from hilo.kit.db.session import Database
from hilo.kit.ids import new_id, now
from hilo.knowledge import ingest
from hilo.knowledge.embeddings import EmbeddingsUnavailable
from hilo.knowledge.ingest import Ingestor, claim, release, renew
from hilo.knowledge.models import KnowledgeChunk, VectorStore, VectorStoreFile
from hilo.migrations import upgrade
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings
from tests.knowledge.vs_support import SMALL, sql, upload, wait_store, words
from tests.test_metrics import scrape, value


@pytest.fixture(params=BACKENDS)
def database(request, database_factory):
    url = database_factory(request.param)
    upgrade(url)
    return url


def _client(live) -> OpenAI:
    return OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0, timeout=30)


async def _seed(db: Database, files: int) -> str:
    store_id = new_id("vs")
    async with db.sessionmaker() as session:
        session.add(VectorStore(id=store_id, created_at=now(), name="s", metadata_={}, last_active_at=now(), version=0))
        for _ in range(files):
            session.add(VectorStoreFile(vector_store_id=store_id, id=new_id("file"), created_at=now(),
                                        status="in_progress", usage_bytes=0, attributes={},
                                        chunking_strategy=SMALL, attempts=0))
        await session.commit()
    return store_id


def test_claims_are_exclusive_and_leases_expire(database):
    async def main():
        dbs = [Database(database), Database(database)]  # two processes' engines
        try:
            await _seed(dbs[0], 20)
            claimed: list[tuple[str, str]] = []

            async def worker(db, owner):
                while (got := await claim(db, owner, lease_s=60)) is not None:
                    claimed.append((got.vector_store_id, got.file_id))
                    await asyncio.sleep(0)

            await asyncio.gather(*(worker(db, f"p{i}:{n}") for i, db in enumerate(dbs) for n in range(4)))
            assert len(claimed) == 20 and len(set(claimed)) == 20  # each file exactly once
            assert await claim(dbs[1], "late", lease_s=60) is None

            store_id = await _seed(dbs[0], 1)
            first = await claim(dbs[0], "crashed", lease_s=1.0)
            assert first is not None and first.vector_store_id == store_id and first.attempts == 1
            assert await claim(dbs[1], "other", lease_s=60) is None  # the lease holds
            assert await renew(dbs[0], first, lease_s=1.0)
            await asyncio.sleep(1.2)  # the holder died: its lease runs out
            second = await claim(dbs[1], "other", lease_s=60)
            assert second is not None and (second.file_id, second.attempts) == (first.file_id, 2)
            assert not await renew(dbs[0], first, lease_s=60)  # the old holder lost it
            await release(dbs[1], second, undo_attempt=True)
            third = await claim(dbs[0], "third", lease_s=60)
            assert third is not None and third.file_id == first.file_id and third.attempts == 2
        finally:
            for db in dbs:
                await db.dispose()

    asyncio.run(main())


def test_an_error_is_retried_then_fails_with_server_error(database, tmp_path, monkeypatch):
    settings = make_settings(database, tmp_path, packs="none")

    class Broken:
        name, dim = "broken", 4

        async def passages(self, texts):
            raise EmbeddingsUnavailable("the embeddings endpoint http://embed.local answered 503: overloaded")

        async def query(self, text):
            raise AssertionError("not used")

    monkeypatch.setattr(ingest, "embeddings_for", lambda _settings: Broken())
    monkeypatch.setattr(ingest, "RETRY_S", 0.0)

    async def main():
        db = Database(database)
        try:
            from hilo.files.service import store_bytes

            file_id = await store_bytes(db, settings, None, b"Un texto que nunca se embebe.", "t.txt",
                                        "text/plain", purpose="assistants")
            store_id = await _seed(db, 0)
            async with db.sessionmaker() as session:
                session.add(VectorStoreFile(vector_store_id=store_id, id=file_id, created_at=now(),
                                            status="in_progress", usage_bytes=0, attributes={},
                                            chunking_strategy=SMALL, attempts=0))
                await session.commit()
            worker = Ingestor(db, settings, workers=0)
            for attempt in range(1, ingest.MAX_ATTEMPTS + 1):
                assert await worker.run_once()
                async with db.sessionmaker() as session:
                    member = await session.get(VectorStoreFile, (store_id, file_id))
                expected = "in_progress" if attempt < ingest.MAX_ATTEMPTS else "failed"
                assert (member.status, member.attempts) == (expected, attempt)
            assert member.last_error["code"] == "server_error"
            assert "503: overloaded" in member.last_error["message"]
            assert not await worker.run_once()
        finally:
            await db.dispose()

    asyncio.run(main())


def test_two_servers_share_one_database(database, tmp_path):
    data = tmp_path / "data"
    one = start_server(make_settings(database, data, packs="none"))
    two = start_server(make_settings(database, data, packs="none"), migrate=False)
    try:
        a, b = _client(one), _client(two)
        ids = [upload(a, f"doc{i}.txt", f"Documento {i}: " + words(150, f"tema{i}")) for i in range(6)]
        store = a.vector_stores.create(name="compartida")
        batch = b.vector_stores.file_batches.create_and_poll(store.id, file_ids=ids, chunking_strategy=SMALL,
                                                             poll_interval_ms=100)
        assert batch.file_counts.completed == 6, batch.file_counts
        rows = sql(database, "SELECT file_id, attempts FROM vector_store_files WHERE vector_store_id = :s", s=store.id)
        assert sorted(attempts for _f, attempts in rows) == [1] * 6  # no file claimed twice
        # each server's index follows the other's writes (the store's version)
        assert a.vector_stores.search(store.id, query="tema3 Documento 3").data[0].file_id == ids[3]
        assert b.vector_stores.search(store.id, query="tema3 Documento 3").data[0].file_id == ids[3]
        a.vector_stores.files.delete(ids[3], vector_store_id=store.id)
        assert ids[3] not in {r.file_id for r in b.vector_stores.search(store.id, query="tema3 Documento 3").data}
        a.vector_stores.files.update(ids[1], vector_store_id=store.id, attributes={"marca": "x"})
        hits = b.vector_stores.search(store.id, query="Documento", filters={"type": "eq", "key": "marca", "value": "x"})
        assert {r.file_id for r in hits.data} == {ids[1]} and hits.data[0].attributes == {"marca": "x"}
    finally:
        two.stop()
        one.stop()


def _chunks(database: str, store_id: str, file_id: str) -> list[tuple[int, int]]:
    rows = sql(database, "SELECT ordinal, id FROM knowledge_chunks WHERE vector_store_id = :s AND file_id = :f "
               "ORDER BY ordinal", s=store_id, f=file_id)
    return [(o, i) for o, i in rows]


def _wait_for_chunks(database: str, store_id: str, file_id: str, at_least: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(_chunks(database, store_id, file_id)) < at_least:
        assert time.monotonic() < deadline, "ingestion did not start"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["stopped", "crashed"])
def test_a_restart_resumes_unfinished_files(database, tmp_path, how):
    data = tmp_path / "data"
    first = start_server(make_settings(database, data, knowledge_lease_s=30, packs="none"))
    try:
        client = _client(first)
        file_id = upload(client, "largo.txt", words(2500, "resume"))
        store = client.vector_stores.create(name="reinicio")
        client.vector_stores.files.create(vector_store_id=store.id, file_id=file_id, chunking_strategy=SMALL)
        _wait_for_chunks(database, store.id, file_id, 2)
    finally:
        first.stop()  # a graceful stop gives the file back
    kept = _chunks(database, store.id, file_id)
    state = sql(database, "SELECT status, lease_owner, attempts FROM vector_store_files WHERE file_id = :f", f=file_id)
    assert state[0] == ("in_progress", None, 0), state
    if how == "crashed":  # as a dead process leaves it: its lease still running, and a half-written slice
        sql(database, "UPDATE vector_store_files SET lease_owner = 'dead:1:x', lease_until = :u, attempts = 1 "
            "WHERE file_id = :f", u=int(time.time() * 1000) + 1500, f=file_id)
        sql(database, "UPDATE knowledge_chunks SET start_index = start_index + 1 WHERE file_id = :f AND ordinal = :o",
            f=file_id, o=kept[-1][0])
        kept = kept[:-1]
    second = start_server(make_settings(database, data, knowledge_lease_s=30, packs="none"), migrate=False)
    try:
        client = _client(second)
        started = time.monotonic()
        member = client.vector_stores.files.poll(file_id, vector_store_id=store.id, poll_interval_ms=100)
        assert member.status == "completed", member.last_error
        if how == "crashed":
            assert time.monotonic() - started >= 1.0  # waited for the dead lease
        chunks = _chunks(database, store.id, file_id)
        assert [o for o, _ in chunks] == list(range(len(chunks))) and len(chunks) > len(kept)
        assert chunks[: len(kept)] == kept  # the chunks written before the restart were kept, not redone
        hits = client.vector_stores.search(store.id, query="resume 40 declaración")
        assert hits.data and hits.data[0].file_id == file_id
        assert wait_store(client, store.id).file_counts.completed == 1
    finally:
        second.stop()


def test_a_store_deleted_while_ingesting(database, tmp_path):
    live = start_server(make_settings(database, tmp_path / "data", packs="none"))
    try:
        client = _client(live)
        big = upload(client, "grande.txt", words(2000, "borrar"))
        doomed = client.vector_stores.create(name="condenada", file_ids=[big], chunking_strategy=SMALL)
        _wait_for_chunks(database, doomed.id, big, 1)
        other = client.vector_stores.create(name="otra")
        small = upload(client, "chico.txt", "Un archivo pequeño que sí termina.")
        client.vector_stores.delete(doomed.id)
        member = client.vector_stores.files.create_and_poll(file_id=small, vector_store_id=other.id,
                                                            poll_interval_ms=100)
        assert member.status == "completed"
        time.sleep(0.5)
        left = sql(database, "SELECT count(*) FROM knowledge_chunks WHERE vector_store_id = :s", s=doomed.id)
        assert left[0][0] == 0
        assert client.files.retrieve(big).id == big
    finally:
        live.stop()


def test_missing_bytes_fail_with_server_error(database, tmp_path):
    data = tmp_path / "data"
    live = start_server(make_settings(database, data, packs="none"))
    try:
        client = _client(live)
        file_id = upload(client, "perdido.txt", "Este archivo pierde sus bytes.")
        (data / "files" / file_id).unlink()
        store = client.vector_stores.create(name="perdidos")
        member = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store.id,
                                                            poll_interval_ms=100)
        assert member.status == "failed" and member.last_error.code == "server_error"
        assert "missing" in member.last_error.message
    finally:
        live.stop()


def test_chunks_and_versions_in_the_database(database, tmp_path):
    """What a completed file leaves: contiguous ordinals, offsets into the parsed text, vectors of
    the embedder's size, usage bytes, and a store version moved by each change."""
    data = tmp_path / "data"
    live = start_server(make_settings(database, data, packs="none"))
    try:
        client = _client(live)
        before = scrape(live.url)
        text = words(400, "offsets")
        file_id = upload(client, "o.txt", text)
        store = client.vector_stores.create(name="filas")
        member = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store.id,
                                                            chunking_strategy=SMALL, poll_interval_ms=100)

        async def read():
            db = Database(database)
            try:
                async with db.sessionmaker() as session:
                    chunks = (await session.scalars(select(KnowledgeChunk).where(KnowledgeChunk.file_id == file_id)
                                                    .order_by(KnowledgeChunk.ordinal))).all()
                    version = await session.scalar(select(VectorStore.version).where(VectorStore.id == store.id))
                    total = await session.scalar(select(func.count()).select_from(KnowledgeChunk))
                    return chunks, version, total
            finally:
                await db.dispose()

        chunks, version, _ = asyncio.run(read())
        parsed = "".join(c.text for c in client.vector_stores.files.content(file_id, vector_store_id=store.id))
        assert len(chunks) > 3 and [c.ordinal for c in chunks] == list(range(len(chunks)))
        for c in chunks:
            assert parsed[c.start_index:c.end_index] == c.text and 0 < c.tokens <= 100
            assert len(c.vector) == 384 * 4 and c.embedder == "e5-small-q4"
        assert member.usage_bytes == sum(len(c.text.encode()) for c in chunks) + len(chunks) * 384 * 4
        after = scrape(live.url)  # the ingestion metrics (GET /metrics)
        assert value(after, "hilo_ingestion_files_total", outcome="completed") == \
            value(before, "hilo_ingestion_files_total", outcome="completed") + 1
        assert value(after, "hilo_ingestion_chunks_total") == value(before, "hilo_ingestion_chunks_total") + len(chunks)
        assert value(after, "hilo_ingestion_files_in_progress") == value(before, "hilo_ingestion_files_in_progress")
        client.vector_stores.files.update(file_id, vector_store_id=store.id, attributes={"a": 1})
        assert asyncio.run(read())[1] == version + 1
    finally:
        live.stop()
