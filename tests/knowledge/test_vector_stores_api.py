"""The vector store API through the official openai SDK, on SQLite and PostgreSQL: stores, files,
batches, the polling helpers, search with filters, content, failures, cancel, delete, expiry."""

from __future__ import annotations

import io
import json
import time

import httpx
import openai
import pytest

from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings
from tests.knowledge.vs_support import (
    PNG,
    SMALL,
    counts_add_up,
    docx_bytes,
    pdf_bytes,
    pptx_bytes,
    sql,
    upload,
    wait_store,
    words,
)

DAY = 86_400


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, database_factory, tmp_path_factory):
    """A server without packs: no pack's knowledge base queued before these tests' files."""
    live = start_server(make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), packs="none"))
    yield live
    live.stop()


def test_store_lifecycle_and_delete_keeps_files(client, server):
    file_id = upload(client, "renta.txt", "El formulario 210 lo presentan las personas naturales residentes.")
    store = client.vector_stores.create(name="manual", description="Guía de renta", metadata={"area": "renta"},
                                        expires_after={"anchor": "last_active_at", "days": 7},
                                        file_ids=[file_id], chunking_strategy=SMALL)
    assert store.object == "vector_store" and store.id.startswith("vs_")
    assert (store.name, store.metadata) == ("manual", {"area": "renta"})
    assert store.model_dump()["description"] == "Guía de renta"
    assert store.expires_after.anchor == "last_active_at" and store.expires_after.days == 7
    assert store.expires_at == store.last_active_at + 7 * DAY
    assert store.file_counts.total == 1 and store.status in ("in_progress", "completed")
    counts_add_up(store)

    store = wait_store(client, store.id)
    assert store.status == "completed" and store.file_counts.completed == 1
    member = client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert member.object == "vector_store.file" and member.id == file_id and member.vector_store_id == store.id
    assert member.status == "completed" and member.last_error is None
    assert member.chunking_strategy.type == "static"
    assert member.chunking_strategy.static.max_chunk_size_tokens == 100
    assert member.usage_bytes > 0 and store.usage_bytes == member.usage_bytes
    raw = client.vector_stores.with_raw_response.retrieve(store.id)
    assert "openai-poll-after-ms" not in raw.headers  # nothing in progress

    updated = client.vector_stores.update(store.id, name="renombrado", metadata={"area": "iva"},
                                          expires_after={"anchor": "last_active_at", "days": 30})
    assert (updated.name, updated.metadata, updated.expires_after.days) == ("renombrado", {"area": "iva"}, 30)
    assert updated.expires_at == updated.last_active_at + 30 * DAY
    cleared = client.vector_stores.update(store.id, expires_after=None)
    assert cleared.expires_after is None and cleared.expires_at is None and cleared.name == "renombrado"
    assert client.vector_stores.retrieve(store.id).name == "renombrado"

    deleted = client.vector_stores.delete(store.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (store.id, "vector_store.deleted", True)
    for call in (lambda: client.vector_stores.retrieve(store.id),
                 lambda: client.vector_stores.search(store.id, query="formulario"),
                 lambda: client.vector_stores.files.list(store.id),
                 lambda: client.vector_stores.files.retrieve(file_id, vector_store_id=store.id),
                 lambda: client.vector_stores.delete(store.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert client.files.retrieve(file_id).id == file_id  # the File stays
    left = sql(server.settings.database_url, "SELECT count(*) FROM knowledge_chunks WHERE vector_store_id = :s",
               s=store.id)
    assert left[0][0] == 0


def test_list_stores_paginates(client):
    ids = [client.vector_stores.create(name=f"p{i}").id for i in range(5)]
    first = client.vector_stores.list(limit=2, order="asc", after=ids[0])
    assert [s.id for s in first.data] == ids[1:3] and first.has_more
    second = client.vector_stores.list(limit=2, order="asc", after=first.data[-1].id)
    assert [s.id for s in second.data] == ids[3:5]
    back = client.vector_stores.list(limit=2, order="asc", before=ids[3])
    assert [s.id for s in back.data] == ids[1:3]
    desc = client.vector_stores.list(limit=3)
    assert [s.id for s in desc.data] == ids[::-1][:3]
    walked = [s.id for s in client.vector_stores.list(limit=2, order="asc", after=ids[0])]  # auto-paging
    assert walked[:4] == ids[1:]
    page = client.vector_stores.list(limit=1).model_dump()
    assert page["object"] == "list" and page["first_id"] == page["last_id"] == ids[-1]
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.list(after="vs_" + "0" * 24)


def test_upload_and_poll_every_format(client):
    store = client.vector_stores.create(name="formatos")
    samples = {
        "notas.txt": ("text/plain", "Las notas dicen que el jaguar vive en la selva húmeda."),
        "guia.md": ("text/markdown", "# Guía\n\nEl **colibrí** mueve las alas ochenta veces por segundo."),
        "tabla.csv": ("text/csv", "animal,habitat\ncapibara,humedal\n"),
        "datos.json": ("application/json", json.dumps({"ave": {"nombre": "cóndor", "region": "andes"}})),
        "pagina.html": ("text/html", "<html><body><h1>Tortuga</h1><p>La tortuga marina pone huevos.</p>"
                                     "<script>var x = 'oculto';</script></body></html>"),
        "informe.pdf": ("application/pdf", pdf_bytes(["El delfin rosado nada en el Amazonas."])),
        "carta.docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                       docx_bytes(["El oso de anteojos vive en los bosques andinos."])),
        "charla.pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation",
                        pptx_bytes("Manatí", "El manatí come plantas acuáticas.")),
    }
    words_of = {"notas.txt": "jaguar", "guia.md": "colibrí", "tabla.csv": "capibara", "datos.json": "cóndor",
                "pagina.html": "tortuga", "informe.pdf": "delfin", "carta.docx": "anteojos", "charla.pptx": "manatí"}
    ids = {}
    for name, (content_type, data) in samples.items():
        raw = data.encode() if isinstance(data, str) else data
        member = client.vector_stores.files.upload_and_poll(vector_store_id=store.id,
                                                            file=(name, io.BytesIO(raw), content_type),
                                                            chunking_strategy=SMALL)
        assert member.status == "completed", (name, member.last_error)
        ids[name] = member.id
    store = client.vector_stores.retrieve(store.id)
    assert store.file_counts.completed == len(samples) == store.file_counts.total
    for name, word in words_of.items():
        results = client.vector_stores.search(store.id, query=word, max_num_results=3)
        assert results.data[0].file_id == ids[name], (name, [(r.filename, r.score) for r in results.data])
        assert results.data[0].filename == name
        assert word.lower() in results.data[0].content[0].text.lower()
    html = client.vector_stores.files.content(ids["pagina.html"], vector_store_id=store.id)
    text = "".join(part.text for part in html)
    assert "tortuga marina" in text and "oculto" not in text
    csv = "".join(part.text for part in client.vector_stores.files.content(ids["tabla.csv"], vector_store_id=store.id))
    assert "capibara" in csv and "humedal" in csv


def test_search_filters_ranking_and_query_lists(client):
    store = client.vector_stores.create(name="búsqueda")
    docs = {
        "f210.txt": ("El formulario 210 lo presentan las personas naturales residentes en Colombia.",
                     {"year": 2024, "kind": "form", "public": True, "code": "210"}),
        "f110.txt": ("El formulario 110 lo usan las personas jurídicas y los no residentes.",
                     {"year": 2023, "kind": "form", "public": False, "code": "110"}),
        "plazos.txt": ("Los plazos de la declaración van de agosto a octubre según los dígitos del NIT.",
                       {"year": 2024.5, "kind": "calendar"}),
    }
    ids = {}
    for name, (text, attributes) in docs.items():
        file_id = upload(client, name, text)
        member = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store.id,
                                                            attributes=attributes, chunking_strategy=SMALL)
        assert member.status == "completed" and member.attributes == attributes
        ids[name] = file_id

    def found(**kwargs) -> list[str]:
        page = client.vector_stores.search(store.id, **kwargs)
        for r in page.data:
            assert 0.0 <= r.score <= 1.0 and r.content[0].type == "text"
        return [r.filename for r in page.data]

    page = client.vector_stores.search(store.id, query="formulario personas naturales")
    assert page.model_dump()["object"] == "vector_store.search_results.page"
    assert page.model_dump()["search_query"] == ["formulario personas naturales"]
    assert page.has_more is False and page.model_dump()["next_page"] is None
    assert page.data[0].filename == "f210.txt" and page.data[0].attributes == docs["f210.txt"][1]
    scores = [r.score for r in page.data]
    assert scores == sorted(scores, reverse=True)

    q = "formulario declaración"
    assert set(found(query=q, filters={"type": "eq", "key": "kind", "value": "form"})) == {"f210.txt", "f110.txt"}
    assert set(found(query=q, filters={"type": "ne", "key": "kind", "value": "form"})) == {"plazos.txt"}
    assert set(found(query=q, filters={"type": "gte", "key": "year", "value": 2024})) == {"f210.txt", "plazos.txt"}
    assert set(found(query=q, filters={"type": "lt", "key": "year", "value": 2024})) == {"f110.txt"}
    assert set(found(query=q, filters={"type": "gt", "key": "year", "value": 2024})) == {"plazos.txt"}
    assert set(found(query=q, filters={"type": "lte", "key": "year", "value": 2023})) == {"f110.txt"}
    assert set(found(query=q, filters={"type": "eq", "key": "public", "value": True})) == {"f210.txt"}
    assert set(found(query=q, filters={"type": "in", "key": "code", "value": ["110", "999"]})) == {"f110.txt"}
    assert set(found(query=q, filters={"type": "nin", "key": "code", "value": ["110"]})) == {"f210.txt", "plazos.txt"}
    both = {"type": "and", "filters": [{"type": "eq", "key": "kind", "value": "form"},
                                       {"type": "gt", "key": "year", "value": 2023}]}
    assert set(found(query=q, filters=both)) == {"f210.txt"}
    either = {"type": "or", "filters": [{"type": "eq", "key": "code", "value": "110"},
                                        {"type": "eq", "key": "kind", "value": "calendar"}]}
    assert set(found(query=q, filters=either)) == {"f110.txt", "plazos.txt"}
    assert found(query=q, filters={"type": "eq", "key": "missing", "value": "x"}) == []

    listed = client.vector_stores.search(store.id, query=["formulario 210 residentes", "plazos agosto octubre NIT"])
    assert listed.model_dump()["search_query"] == ["formulario 210 residentes", "plazos agosto octubre NIT"]
    names = [r.filename for r in listed.data]
    assert "f210.txt" in names[:2] and "plazos.txt" in names[:2] and len(names) == len(set(names))
    assert len(found(query=q, max_num_results=1)) == 1
    dense = client.vector_stores.search(store.id, query="plazos del NIT", ranking_options={"ranker": "none"})
    assert dense.data and dense.data[0].filename == "plazos.txt"
    for ranker in ("auto", "default-2024-11-15"):
        assert found(query="plazos del NIT", ranking_options={"ranker": ranker})[0] == "plazos.txt"
    strict = client.vector_stores.search(store.id, query=q, ranking_options={"score_threshold": 0.99})
    assert all(r.score >= 0.99 for r in strict.data)
    assert len(strict.data) < len(found(query=q))
    rewritten = client.vector_stores.search(store.id, query="  plazos   del NIT ", rewrite_query=True)
    assert rewritten.model_dump()["search_query"] == ["plazos del NIT"]


def test_vector_store_files_operations(client, server):
    store = client.vector_stores.create(name="archivos")
    a = upload(client, "a.txt", "Primer archivo sobre retención en la fuente.")
    b = upload(client, "b.txt", "Segundo archivo sobre el impuesto al patrimonio.")
    bad = upload(client, "roto.pdf", b"%PDF-1.7\nthis is not a pdf", "application/pdf")
    created = client.vector_stores.files.create(vector_store_id=store.id, file_id=a, attributes={"n": 1},
                                                chunking_strategy=SMALL)
    assert created.id == a and created.status in ("in_progress", "completed") and created.attributes == {"n": 1}
    client.vector_stores.files.create_and_poll(file_id=b, vector_store_id=store.id)
    assert client.vector_stores.files.create_and_poll(file_id=bad, vector_store_id=store.id).status == "failed"
    wait_store(client, store.id)

    member = client.vector_stores.files.retrieve(b, vector_store_id=store.id)
    assert member.chunking_strategy.static.max_chunk_size_tokens == 800  # auto: OpenAI's default
    assert member.chunking_strategy.static.chunk_overlap_tokens == 400
    listed = client.vector_stores.files.list(store.id, order="asc")
    assert [m.id for m in listed.data] == [a, b, bad]
    assert [m.id for m in client.vector_stores.files.list(store.id, filter="completed", order="asc")] == [a, b]
    assert [m.id for m in client.vector_stores.files.list(store.id, filter="failed")] == [bad]
    assert list(client.vector_stores.files.list(store.id, filter="in_progress")) == []
    one = client.vector_stores.files.list(store.id, limit=1, order="asc")
    assert [m.id for m in one.data] == [a] and one.has_more
    assert [m.id for m in client.vector_stores.files.list(store.id, limit=1, order="asc", after=a).data] == [b]
    assert [m.id for m in client.vector_stores.files.list(store.id, order="asc", before=bad).data] == [a, b]

    changed = client.vector_stores.files.update(b, vector_store_id=store.id, attributes={"tema": "patrimonio"})
    assert changed.attributes == {"tema": "patrimonio"}
    hits = client.vector_stores.search(store.id, query="impuesto", filters={"type": "eq", "key": "tema",
                                                                            "value": "patrimonio"})
    assert [r.file_id for r in hits.data] == [b] and hits.data[0].attributes == {"tema": "patrimonio"}
    assert client.vector_stores.files.update(b, vector_store_id=store.id, attributes=None).attributes == {}

    content = list(client.vector_stores.files.content(a, vector_store_id=store.id))
    assert [(c.type, c.text) for c in content] == [("text", "Primer archivo sobre retención en la fuente.")]
    assert list(client.vector_stores.files.content(bad, vector_store_id=store.id)) == []

    gone = client.vector_stores.files.delete(a, vector_store_id=store.id)
    assert (gone.id, gone.object, gone.deleted) == (a, "vector_store.file.deleted", True)
    assert client.files.retrieve(a).id == a  # the File stays
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(a, vector_store_id=store.id)
    assert all(r.file_id != a for r in client.vector_stores.search(store.id, query="retención en la fuente").data)
    store = client.vector_stores.retrieve(store.id)
    assert (store.file_counts.total, store.file_counts.completed, store.file_counts.failed) == (2, 1, 1)
    left = sql(server.settings.database_url,
               "SELECT count(*) FROM knowledge_chunks WHERE vector_store_id = :s AND file_id = :f", s=store.id, f=a)
    assert left[0][0] == 0
    # added again: processed again
    again = client.vector_stores.files.create_and_poll(file_id=a, vector_store_id=store.id, attributes={"n": 2})
    assert again.status == "completed" and again.attributes == {"n": 2}
    assert client.vector_stores.search(store.id, query="retención en la fuente").data[0].file_id == a


def test_a_corrupt_file_fails_alone(client):
    store = client.vector_stores.create(name="mezcla")
    files = [
        ("bueno.txt", io.BytesIO("La sanción por extemporaneidad se liquida por cada mes de retraso.".encode()),
         "text/plain"),
        ("roto.pdf", io.BytesIO(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage"), "application/pdf"),
        ("roto.docx", io.BytesIO(b"PK\x03\x04 not really a zip"),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("vacio.txt", io.BytesIO(b""), "text/plain"),
        ("foto.png", io.BytesIO(PNG), "image/png"),
    ]
    batch = client.vector_stores.file_batches.upload_and_poll(store.id, files=files, chunking_strategy=SMALL)
    assert batch.object == "vector_store.files_batch" and batch.status == "completed"
    counts_add_up(batch)
    assert (batch.file_counts.completed, batch.file_counts.failed, batch.file_counts.total) == (1, 4, 5)
    members = {client.files.retrieve(m.id).filename: m
               for m in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)}
    assert members["bueno.txt"].status == "completed"
    codes = {name: (m.status, m.last_error.code if m.last_error else None) for name, m in members.items()}
    assert codes == {"bueno.txt": ("completed", None), "roto.pdf": ("failed", "invalid_file"),
                     "roto.docx": ("failed", "invalid_file"), "vacio.txt": ("failed", "invalid_file"),
                     "foto.png": ("failed", "unsupported_file")}
    for m in members.values():
        if m.last_error:
            assert m.last_error.message and "Traceback" not in m.last_error.message and m.usage_bytes == 0
    failed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, filter="failed")
    assert len(failed.data) == 4
    store = client.vector_stores.retrieve(store.id)
    counts_add_up(store)
    assert store.status == "completed" and store.file_counts.failed == 4
    hits = client.vector_stores.search(store.id, query="sanción por extemporaneidad")
    assert [r.filename for r in hits.data] == ["bueno.txt"]


def test_cancelled_batch_stops(client, server):
    store = client.vector_stores.create(name="cancelar")
    file_ids = [upload(client, f"largo{i}.txt", words(1500, f"parte{i}")) for i in range(4)]
    batch = client.vector_stores.file_batches.create(store.id, file_ids=file_ids, chunking_strategy=SMALL,
                                                     attributes={"lote": "1"})
    assert batch.status == "in_progress" and batch.file_counts.in_progress >= 3
    raw = client.vector_stores.file_batches.with_raw_response.retrieve(batch.id, vector_store_id=store.id)
    assert 100 <= int(raw.headers["openai-poll-after-ms"]) <= 500
    raw = client.vector_stores.with_raw_response.retrieve(store.id)
    assert 100 <= int(raw.headers["openai-poll-after-ms"]) <= 500
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled" and cancelled.file_counts.in_progress == 0
    counts_add_up(cancelled)
    assert cancelled.file_counts.cancelled >= 3
    polled = client.vector_stores.file_batches.poll(batch.id, vector_store_id=store.id)  # ends at once
    assert polled.status == "cancelled"
    states = {m.id: m.status for m in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)}
    assert set(states.values()) <= {"completed", "cancelled"}
    time.sleep(2.0)  # a worker busy with a cancelled file stops and writes nothing
    later = {m.id: m.status for m in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)}
    assert later == states
    cancelled_ids = [f for f, s in states.items() if s == "cancelled"]
    chunks = sql(server.settings.database_url,
                 "SELECT count(*) FROM knowledge_chunks WHERE vector_store_id = :s AND file_id IN "
                 f"({', '.join(repr(f) for f in cancelled_ids)})", s=store.id)
    assert chunks[0][0] == 0
    store = client.vector_stores.retrieve(store.id)
    counts_add_up(store)
    assert store.status == "completed" and store.file_counts.cancelled == len(cancelled_ids)
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, filter="cancelled")
    assert {m.id for m in listed} == set(cancelled_ids)
    assert client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id).status == "cancelled"


def test_batch_with_files_and_their_own_attributes(client):
    store = client.vector_stores.create(name="lote")
    one = upload(client, "uno.txt", "El RUT es el registro único tributario.")
    two = upload(client, "dos.txt", "La firma electrónica se tramita en línea.")
    batch = client.vector_stores.file_batches.create_and_poll(
        store.id, files=[{"file_id": one, "attributes": {"tema": "rut"}, "chunking_strategy": SMALL},
                         {"file_id": two, "attributes": {"tema": "firma"}}])
    assert batch.status == "completed" and batch.file_counts.completed == 2
    members = {m.id: m for m in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)}
    assert members[one].attributes == {"tema": "rut"} and members[two].attributes == {"tema": "firma"}
    assert members[one].chunking_strategy.static.max_chunk_size_tokens == 100
    assert members[two].chunking_strategy.static.max_chunk_size_tokens == 800
    again = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert again.id == batch.id and again.vector_store_id == store.id and again.status == "completed"


def test_expired_store(client, server):
    file_id = upload(client, "x.txt", "Contenido de una tienda que expira.")
    store = client.vector_stores.create(name="efímero", file_ids=[file_id],
                                        expires_after={"anchor": "last_active_at", "days": 1})
    wait_store(client, store.id)
    assert client.vector_stores.search(store.id, query="tienda").data
    sql(server.settings.database_url, "UPDATE vector_stores SET last_active_at = last_active_at - :d WHERE id = :s",
        d=2 * DAY, s=store.id)
    expired = client.vector_stores.retrieve(store.id)
    assert expired.status == "expired" and expired.expires_at < time.time()
    for call in (lambda: client.vector_stores.search(store.id, query="tienda"),
                 lambda: client.vector_stores.files.create(vector_store_id=store.id, file_id=file_id),
                 lambda: client.vector_stores.file_batches.create(store.id, file_ids=[file_id]),
                 lambda: client.vector_stores.update(store.id, name="revivir")):
        with pytest.raises(openai.BadRequestError, match="expired") as caught:
            call()
        assert caught.value.code == "vector_store_expired"
    assert [s.status for s in client.vector_stores.list() if s.id == store.id] == ["expired"]
    assert client.vector_stores.files.list(store.id).data[0].id == file_id  # still readable
    assert client.vector_stores.delete(store.id).deleted


def test_search_keeps_the_store_alive(client, server):
    store = client.vector_stores.create(name="activo", expires_after={"anchor": "last_active_at", "days": 2})
    sql(server.settings.database_url, "UPDATE vector_stores SET last_active_at = last_active_at - :d WHERE id = :s",
        d=DAY, s=store.id)
    before = client.vector_stores.retrieve(store.id)
    client.vector_stores.search(store.id, query="algo")
    after = client.vector_stores.retrieve(store.id)
    assert after.last_active_at >= before.last_active_at + DAY - 5
    assert after.expires_at == after.last_active_at + 2 * DAY


def test_bad_input(client, server):
    file_id = upload(client, "ok.txt", "texto")
    store = client.vector_stores.create(name="errores")
    missing_store, missing_file = "vs_" + "0" * 24, "file_" + "0" * 24

    def bad(call, param: str | None = None, status=openai.BadRequestError):
        with pytest.raises(status) as caught:
            call()
        if param is not None:
            assert caught.value.body.get("param") == param, caught.value.body
        return caught.value

    vs = client.vector_stores
    for chunking in ({"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}},
                     {"type": "static", "static": {"max_chunk_size_tokens": 5000, "chunk_overlap_tokens": 0}},
                     {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}},
                     {"type": "fancy"}, {"type": "static"}):
        error = bad(lambda c=chunking: vs.create(file_ids=[file_id], chunking_strategy=c))
        assert "chunking_strategy" in (error.body.get("param") or "")
        bad(lambda c=chunking: vs.files.create(vector_store_id=store.id, file_id=file_id, chunking_strategy=c))
    bad(lambda: vs.create(name="x" * 300), "name")
    bad(lambda: vs.create(name="nul\x00"), "name")
    bad(lambda: vs.create(expires_after={"anchor": "last_active_at", "days": 0}))
    bad(lambda: vs.create(expires_after={"anchor": "last_active_at", "days": 366}))
    bad(lambda: vs.create(expires_after={"anchor": "created_at", "days": 3}))
    bad(lambda: vs.create(metadata={f"k{i}": "v" for i in range(17)}), "metadata")
    bad(lambda: vs.create(file_ids=[missing_file]), "file_ids", openai.NotFoundError)
    bad(lambda: vs.retrieve(missing_store), None, openai.NotFoundError)
    bad(lambda: vs.update(missing_store, name="x"), None, openai.NotFoundError)
    bad(lambda: vs.files.create(vector_store_id=missing_store, file_id=file_id), None, openai.NotFoundError)
    bad(lambda: vs.files.create(vector_store_id=store.id, file_id=missing_file), "file_id", openai.NotFoundError)
    bad(lambda: vs.files.retrieve(file_id, vector_store_id=store.id), "file_id", openai.NotFoundError)
    bad(lambda: vs.file_batches.retrieve("vsfb_" + "0" * 24, vector_store_id=store.id), "batch_id",
        openai.NotFoundError)
    # attributes as OpenAI documents them
    for attributes, param in (({f"k{i}": 1 for i in range(17)}, "attributes"), ({"k" * 65: 1}, "attributes"),
                              ({"k": "v" * 513}, "attributes"), ({"k": {"nested": 1}}, "attributes.k"),
                              ({"k": [1, 2]}, "attributes.k")):
        error = bad(lambda a=attributes: vs.files.create(vector_store_id=store.id, file_id=file_id, attributes=a))
        assert (error.body.get("param") or "").startswith(param)
    ok = vs.files.create(vector_store_id=store.id, file_id=file_id,
                         attributes={f"k{i}": i for i in range(15)} | {"s": "v" * 512})
    assert len(ok.attributes) == 16
    with httpx.Client(base_url=server.url) as http:
        r = http.post(f"/v1/vector_stores/{store.id}/files", content=b'{"file_id": "%s", "attributes": {"x": NaN}}'
                      % file_id.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
    # batches
    bad(lambda: vs.file_batches.create(store.id, file_ids=[]))
    bad(lambda: vs.file_batches.create(store.id, file_ids=[file_id], files=[{"file_id": file_id}]))
    bad(lambda: vs.file_batches.create(store.id, files=[{"file_id": missing_file}]), "files.0.file_id",
        openai.NotFoundError)
    bad(lambda: vs.file_batches.create(store.id, files=[{"file_id": file_id, "chunking_strategy": {"type": "x"}}]))
    # search
    bad(lambda: vs.search(store.id, query=""))
    bad(lambda: vs.search(store.id, query=[]))
    bad(lambda: vs.search(store.id, query="x", max_num_results=0), "max_num_results")
    bad(lambda: vs.search(store.id, query="x", max_num_results=51), "max_num_results")
    bad(lambda: vs.search(store.id, query="x", ranking_options={"score_threshold": 1.5}))
    bad(lambda: vs.search(store.id, query="x", ranking_options={"ranker": "best"}))
    for filters in ({"type": "eq", "key": "k"}, {"type": "like", "key": "k", "value": "v"},
                    {"type": "and", "filters": []}, {"type": "in", "key": "k", "value": "v"},
                    {"type": "eq", "key": "k", "value": [1]}, {"type": "or", "filters": [{"type": "eq"}]},
                    {"type": "eq", "key": "", "value": "v"}, [1, 2]):
        bad(lambda f=filters: vs.search(store.id, query="x", filters=f), "filters")
    deep: dict = {"type": "eq", "key": "k", "value": 1}
    for _ in range(20):
        deep = {"type": "and", "filters": [deep]}
    bad(lambda: vs.search(store.id, query="x", filters=deep), "filters")
    bad(lambda: vs.search(missing_store, query="x"), None, openai.NotFoundError)
    # lists
    bad(lambda: vs.list(limit=0), "limit")
    bad(lambda: vs.list(limit=101), "limit")
    bad(lambda: vs.files.list(store.id, filter="done"), "filter")
    bad(lambda: vs.files.list(store.id, after=missing_file), "after", openai.NotFoundError)
    bad(lambda: vs.files.list(store.id, limit=2**40), "limit")
    with httpx.Client(base_url=server.url) as http:  # ids and cursors of any shape: a 4xx, never a 500
        for path in (f"/v1/vector_stores/{'v' * 5000}", f"/v1/vector_stores/{store.id}/files/{'f' * 5000}",
                     f"/v1/vector_stores/{store.id}/file_batches/%E2%82%AC/files",
                     f"/v1/vector_stores/{store.id}/files?after={'x' * 3000}", "/v1/vector_stores/%00"):
            r = http.get(path)
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text)


def test_a_file_deleted_from_the_files_api_leaves_its_stores(client, server):
    file_id = upload(client, "borrar.txt", "El archivo que se borra de la API de archivos.")
    keep = upload(client, "queda.txt", "El archivo que queda en la tienda.")
    stores = [client.vector_stores.create(name=f"s{i}", file_ids=[file_id, keep]) for i in range(2)]
    for store in stores:
        wait_store(client, store.id)
        assert {r.file_id for r in client.vector_stores.search(store.id, query="archivo que se borra").data} \
            == {file_id, keep}
    client.files.delete(file_id)
    for store in stores:
        assert [m.id for m in client.vector_stores.files.list(store.id)] == [keep]
        assert {r.file_id for r in client.vector_stores.search(store.id, query="archivo que se borra").data} == {keep}
        assert client.vector_stores.retrieve(store.id).file_counts.total == 1
    left = sql(server.settings.database_url, "SELECT count(*) FROM knowledge_chunks WHERE file_id = :f", f=file_id)
    assert left[0][0] == 0
