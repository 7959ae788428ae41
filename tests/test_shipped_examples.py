"""The installed packs' example sentences ship with their vectors: a first start embeds none of them."""

from __future__ import annotations

import numpy as np

from hilo.nlu import embed
from hilo.testing.examples import example_texts


def _shipped() -> dict[str, np.ndarray]:
    with np.load(embed.SHIPPED, allow_pickle=False) as data:
        assert str(data["model_version"]) == embed._version()
        return {str(k): v for k, v in zip(data["keys"], data["vectors"], strict=True)}


def test_every_example_of_the_installed_packs_has_a_shipped_vector():
    # fails when a pack's or a tool's examples change: run `python -m hilo.testing.examples`
    shipped = _shipped()
    texts = example_texts()
    assert len(texts) > 100
    assert [t for t in texts if f"query: {t}" not in shipped] == []


def test_shipped_vectors_are_the_models_own_and_nothing_is_embedded_again(tmp_path, monkeypatch):
    shipped = _shipped()
    sample = example_texts()[:3]
    fresh = np.atleast_2d(embed.query_vectors(sample))
    for text, vector in zip(sample, fresh, strict=True):
        assert float(vector @ shipped[f"query: {text}"]) > 0.9999
    calls = []
    real = embed.query_vectors
    monkeypatch.setattr(embed, "query_vectors", lambda texts, *a, **k: calls.append(texts) or real(texts, *a, **k))
    vectors = embed.Embedder(cache_dir=tmp_path).examples(example_texts())
    assert calls == [] and vectors.shape == (len(example_texts()), embed.DIM)
    assert not list(tmp_path.iterdir())  # nothing new to cache: the data directory stays empty
