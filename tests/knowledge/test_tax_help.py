"""The tax help desk pack (seed 003): its documents load into its store on start, and the
WebSocket answers a tax question from them, with its source, and no model configured."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from openai import OpenAI
from websockets.sync.client import connect

from hilo.packs.loader import discover
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings

DOCS = Path(__file__).parents[2] / "hilo" / "packs" / "tax_help" / "knowledge"
# first start embeds the pack's ~40 chunks: ~15 s on two idle cores, much more on a loaded machine
pytestmark = pytest.mark.timeout(900)


def _store_ready(client: OpenAI, timeout: float = 600.0):
    (assistant,) = [a for a in client.beta.assistants.list(limit=100).data if a.name == "Asistente Virtual DIAN"]
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids
    deadline = time.time() + timeout
    while time.time() < deadline:
        counts = client.vector_stores.retrieve(store_id).file_counts
        if counts.in_progress == 0:
            return assistant, store_id, counts
        time.sleep(0.5)
    raise AssertionError("the pack's documents were still being ingested")


@pytest.fixture(scope="module", params=BACKENDS)
def desk(request, database_factory, tmp_path_factory):
    url = database_factory(request.param)
    data = tmp_path_factory.mktemp("data")
    packs = [discover()["tax_help"]]
    live = start_server(make_settings(url, data, llm_provider="auto", packs="tax_help"), packs=packs)
    client = OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0, timeout=30)
    live.assistant, live.store_id, live.counts = _store_ready(client)
    live.client, live.database_url, live.data_dir = client, url, data
    yield live
    client.close()
    live.stop()


def test_the_pack_loads_its_documents_once(desk):
    documents = sorted(p.name for p in DOCS.iterdir() if p.suffix == ".md")
    assert desk.counts.completed == len(documents) >= 10 and desk.counts.failed == 0
    files = desk.client.vector_stores.files.list(desk.store_id, limit=100).data
    assert sorted(f.attributes["hilo_pack_document"] for f in files) == documents
    # another start on the same database (a restart, a second replica) adds nothing, keeps the store
    again = start_server(make_settings(desk.database_url, desk.data_dir, llm_provider="auto", packs="tax_help"),
                         packs=[discover()["tax_help"]])
    try:
        with OpenAI(base_url=again.url + "/v1", api_key="k", max_retries=0) as client:
            _assistant, store_id, counts = _store_ready(client)
            assert store_id == desk.store_id and counts.total == len(documents)
    finally:
        again.stop()


def test_the_websocket_answers_a_tax_question_with_its_source(desk):
    url = desk.url.replace("http://", "ws://") + "/ws/assistant/"
    with connect(url, open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello == {"type": "connection", "message": "Conectado al asistente virtual DIAN"} or \
            hello["type"] == "connection"
        ws.send(json.dumps({"type": "message", "message": "¿Qué formulario uso para declarar renta si soy residente?"}))
        while True:
            frame = json.loads(ws.recv(timeout=60))
            if frame["type"] in ("response", "error"):
                break
        assert frame["type"] == "response", frame
        answer = frame["message"]
        assert "210" in answer
        sources = re.search(r"Fuentes: (.+)$", answer)
        assert sources and ".md" in sources.group(1), answer
        assert re.search(r"\[1\]", answer)
        # every figure in the answer is in the documents it cites
        body = answer[: sources.start()]
        cited = [DOCS / name.strip() for name in re.findall(r"\[\d+\] ([^;]+)", sources.group(1))]
        text = " ".join(p.read_text(encoding="utf-8") for p in cited)
        for figure in re.findall(r"\d[\d.,]*\d|\d", re.sub(r"\[\d+\]", "", body)):
            assert figure in text, f"{figure} is not in the cited documents"

        ws.send(json.dumps({"type": "reset"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "reset"
