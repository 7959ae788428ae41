"""hilo.knowledge.embeddings: the bundled e5 through the fair scheduler, and an
OpenAI-compatible endpoint (a real local HTTP server) through the official SDK."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from hilo.kit.config import Settings
from hilo.knowledge import embeddings as emb
from hilo.knowledge.embeddings import (
    Embeddings,
    EmbeddingsUnavailable,
    LocalEmbeddings,
    OpenAIEmbeddings,
    embeddings_for,
    unit_rows,
)
from hilo.nlu import embed
from hilo.testing.fake_openai import FakeOpenAIServer, _hashed_vector


def _settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


# ---------------------------------------------------------------------- the bundled e5
async def test_local_passages_and_query_are_unit_and_meaningful():
    local = embeddings_for(_settings())
    assert isinstance(local, LocalEmbeddings) and isinstance(local, Embeddings)
    assert (local.name, local.dim) == ("e5-small-q4", 384)
    texts = ["El formulario 210 lo presentan las personas naturales residentes.",
             "Los gatos duermen muchas horas al día.",
             "El plazo para declarar renta depende de los últimos dígitos del NIT."]
    vectors = await local.passages(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = await local.query("¿Qué formulario usan los residentes para la renta?")
    assert query.shape == (384,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    scores = vectors @ query
    assert int(np.argmax(scores)) == 0 and scores[0] > scores[1]
    # passage: and query: prefixes differ (e5 is asymmetric)
    assert not np.allclose((await local.passages([texts[0]]))[0], await local.query(texts[0]))
    assert (await local.passages([])).shape == (0, 384)


async def test_local_runs_through_the_fair_scheduler(monkeypatch):
    calls = []
    submit = embed.SCHEDULER.submit

    def counting(slices):
        calls.append(len(slices))
        return submit(slices)

    monkeypatch.setattr(embed.SCHEDULER, "submit", counting)
    local = LocalEmbeddings(batch=2)
    await local.passages(["uno", "dos", "tres"])
    await local.query("cuatro")
    assert len(calls) == 3  # two passage batches and one query, each one scheduler request


async def test_a_passage_longer_than_the_window_is_embedded_whole():
    head = "La declaración de renta se presenta con el formulario 210 cada año. " * 40
    tail = "Los perros necesitan paseos diarios, agua fresca y visitas al veterinario. " * 12
    text = head + tail
    assert embed.token_count(text, False) > embed.WINDOW_TOKENS
    windows = emb._passage_windows(text)
    assert len(windows) >= 2 and all(embed.token_count(w, False) <= embed.WINDOW_TOKENS for w, _t in windows)
    local = LocalEmbeddings()
    whole, first_window = await local.passages([text, windows[0][0]])
    dogs = await local.query("¿Qué necesitan los perros?")
    assert float(whole @ dogs) > float(first_window @ dogs)  # the end counts, not only the start


def test_unit_rows_refuses_what_cannot_be_compared():
    assert np.allclose(unit_rows([[3.0, 4.0], [0.0, 0.0]]), [[0.6, 0.8], [0.0, 0.0]])
    with pytest.raises(EmbeddingsUnavailable):
        unit_rows([[np.nan, 1.0]])
    with pytest.raises(EmbeddingsUnavailable):
        unit_rows([[1.0, 2.0]], dim=3)


# ---------------------------------------------------------------------- an OpenAI-compatible endpoint
@pytest.fixture
def upstream():
    with FakeOpenAIServer(api_key="sk-embed", embedding_dim=48) as server:
        yield server


def _expected(text: str, dim: int = 48) -> np.ndarray:
    vector = np.array(_hashed_vector(text, dim), dtype=np.float32)
    return vector / np.linalg.norm(vector)


async def test_endpoint_embeds_in_batches_in_order(upstream):
    settings = _settings(embeddings_base_url=upstream.base_url, embeddings_model="fake-embed",
                         embeddings_api_key="sk-embed")
    remote = embeddings_for(settings)
    assert isinstance(remote, OpenAIEmbeddings) and remote.name == "openai:fake-embed"
    assert embeddings_for(settings) is remote  # one client per configuration
    texts = [f"texto número {i} sobre la renta" for i in range(emb.OPENAI_BATCH * 2 + 5)] + ["", "   "]
    try:
        vectors = await remote.passages(texts)
        assert remote.dim == 48 and vectors.shape == (len(texts), 48) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        for i in (0, 1, 64, 130, len(texts) - 3):
            assert np.allclose(vectors[i], _expected(texts[i]), atol=1e-6)
        posts = [r for r in upstream.log if r["path"].endswith("/embeddings")]
        assert [len(r["body"]["input"]) for r in posts] == [64, 64, 7]
        assert all(r["body"]["model"] == "fake-embed" and r["body"]["encoding_format"] == "float" for r in posts)
        assert all(r["headers"]["authorization"] == "Bearer sk-embed" for r in posts)
        assert " " in posts[-1]["body"]["input"] and "" not in posts[-1]["body"]["input"]
        query = await remote.query("renta")
        assert query.shape == (48,) and np.allclose(query, _expected("renta"), atol=1e-6)
    finally:
        await remote.aclose()


async def test_sdk_default_base64_answer_matches_floats(upstream):
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=upstream.base_url, api_key="sk-embed", max_retries=0) as client:
        encoded = await client.embeddings.create(model="m", input=["hola mundo"])  # SDK asks base64
        plain = await client.embeddings.create(model="m", input=["hola mundo"], encoding_format="float")
    assert np.allclose(encoded.data[0].embedding, plain.data[0].embedding, atol=1e-6)
    assert np.allclose(plain.data[0].embedding, _expected("hola mundo"), atol=1e-6)


async def test_endpoint_failures_are_embeddings_unavailable(upstream):
    refused = OpenAIEmbeddings(upstream.base_url, "m", "wrong-key", max_retries=0, timeout=5)
    with pytest.raises(EmbeddingsUnavailable, match="401"):
        await refused.passages(["hola"])
    await refused.aclose()

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = OpenAIEmbeddings(f"http://127.0.0.1:{port}/v1", "m", max_retries=0, timeout=5)
    with pytest.raises(EmbeddingsUnavailable, match="failed"):
        await down.query("hola")
    await down.aclose()

    upstream.api_key = None
    narrow = OpenAIEmbeddings(upstream.base_url, "m", max_retries=0, timeout=5)
    await narrow.passages(["uno"])
    assert narrow.dim == 48
    upstream.embedding_dim = 32  # the server changed its width under us: refused, not mixed
    with pytest.raises(EmbeddingsUnavailable, match="shape"):
        await narrow.passages(["dos"])
    await narrow.aclose()
