"""Vectors shipped beside a pack's documents: ingestion takes them and embeds only what they lack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hilo.packs.tax_help
from hilo.knowledge import shipped
from hilo.knowledge.embeddings import LocalEmbeddings
from hilo.packs import load_assistant_spec
from hilo.packs.knowledge import chunk_texts

TAX = load_assistant_spec("tax_help", Path(hilo.packs.tax_help.__file__).parent / "dian.toml")


def _shipped_keys() -> set[str]:
    with np.load(shipped.path_for(TAX.knowledge), allow_pickle=False) as data:
        return {str(k) for k in data["keys"]}


def test_the_tax_pack_ships_a_vector_for_every_chunk_of_its_documents():
    # fails when a document is edited without `python -m hilo.packs.knowledge hilo/packs/tax_help/dian.toml`
    texts = chunk_texts(TAX)
    assert len(texts) >= 13
    missing = [t[:60] for t in texts if shipped.key(LocalEmbeddings.name, t) not in _shipped_keys()]
    assert missing == []


class _Counting:
    name = LocalEmbeddings.name

    def __init__(self):
        self.asked: list[str] = []

    async def passages(self, texts):
        self.asked += texts
        return np.stack([np.full(384, (i + 1) / np.sqrt(384) / 10, dtype=np.float32) for i in range(len(texts))])


async def test_ingestion_embeds_only_the_chunks_without_a_shipped_vector():
    assert shipped.register(shipped.path_for(TAX.knowledge)) >= 0  # idempotent: 0 when already registered
    known = chunk_texts(TAX)[:2]
    model = _Counting()
    out = await shipped.passages(model, [known[0], "un texto nuevo", known[1]])
    assert model.asked == ["un texto nuevo"]
    assert out.shape == (3, 384) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out[[0, 2]], axis=1), 1.0, atol=1e-2)
    assert np.allclose(out[1], np.full(384, 1 / np.sqrt(384) / 10))
    other = _Counting()
    other.name = "openai:text-embedding-3-small"  # another embedder: nothing shipped applies
    await shipped.passages(other, known)
    assert other.asked == known


def test_a_shipped_vector_is_the_bundled_models_own():
    from hilo.nlu import embed

    shipped.register(shipped.path_for(TAX.knowledge))
    text = min(chunk_texts(TAX), key=len)  # the cheapest chunk to embed again
    fresh = embed.passage_vectors([text])[0]
    with np.load(shipped.path_for(TAX.knowledge), allow_pickle=False) as data:
        row = list(map(str, data["keys"])).index(shipped.key(LocalEmbeddings.name, text))
        stored = data["vectors"][row].astype(np.float32)
    assert float(fresh @ stored) / float(np.linalg.norm(stored)) > 0.999


def test_a_damaged_or_foreign_vectors_file_is_ignored(tmp_path, caplog):
    bad = tmp_path / "docs.vectors.npz"
    bad.write_bytes(b"not a zip")
    assert shipped.register(bad) == 0
    old = tmp_path / "old.vectors.npz"
    np.savez(old, keys=np.array(["k"]), vectors=np.zeros((1, 384), dtype=np.float16), model_version=np.array("0.0.1"))
    assert shipped.register(old) == 0
    assert "0.0.1" in caplog.text
    assert shipped.register(tmp_path / "missing.vectors.npz") == 0


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level("WARNING", logger="hilo.knowledge")
