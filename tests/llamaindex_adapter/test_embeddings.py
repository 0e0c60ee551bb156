"""LlamaIndex embedding models and the engine's embedder, both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.embeddings import MockEmbedding

from llamaindex_multisession import MultiSessionEmbedding, embedder_from_llamaindex
from multisession import MemoryEngine


def test_embedding_matches_the_engines_embedder(minilm: Any) -> None:
    embed_model = MultiSessionEmbedding(minilm)
    texts = ["I prefer tea", "Where did I park?"]

    expected = minilm.embed(texts)

    assert embed_model.model_name == minilm.name
    assert np.allclose(embed_model.get_text_embedding_batch(texts), expected, atol=1e-6)
    assert np.allclose(embed_model.get_query_embedding("I prefer tea"), expected[0], atol=1e-6)


@pytest.mark.asyncio
async def test_async_embedding(minilm: Any) -> None:
    embed_model = MultiSessionEmbedding(minilm)

    query = await embed_model.aget_query_embedding("I prefer tea")
    texts = await embed_model.aget_text_embedding_batch(["I prefer tea"])

    assert np.allclose(query, minilm.embed(["I prefer tea"])[0], atol=1e-6)
    assert np.allclose(texts[0], query, atol=1e-6)


def test_the_default_is_the_offline_model() -> None:
    assert MultiSessionEmbedding().model_name == "all-MiniLM-L6-v2"


def test_an_engine_embeds_with_a_llamaindex_model(store_dir: Path, clock: Any) -> None:
    embedder = embedder_from_llamaindex(MockEmbedding(embed_dim=8))
    with MemoryEngine(store_dir, embedder=embedder, clock=clock) as engine:
        engine.add("alice", "I'm allergic to peanuts")

        hits = engine.search("alice", "peanuts")

    assert embedder.name == "MockEmbedding:unknown"
    assert embedder.dimension == 8
    assert hits[0].memory.content == "I'm allergic to peanuts"
    assert hits[0].breakdown.vector_rank == 1  # found by its vector, not by keywords alone


def test_the_embedding_bridge_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        embedder_from_llamaindex(lambda texts: texts)  # type: ignore[arg-type]
