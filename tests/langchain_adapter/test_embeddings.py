"""Embeddings both ways between LangChain and the core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_multisession import MultiSessionEmbeddings, embedder_from_langchain
from multisession import Embedder, MemoryEngine


async def test_core_embedder_as_langchain_embeddings(minilm: Embedder) -> None:
    embeddings = MultiSessionEmbeddings(minilm)
    texts = ["I prefer tea", "Where did I park?"]
    expected = minilm.embed(texts)
    assert np.allclose(embeddings.embed_documents(texts), expected, atol=1e-6)
    assert np.allclose(embeddings.embed_query(texts[0]), expected[0], atol=1e-6)
    assert np.allclose(await embeddings.aembed_documents(texts), expected, atol=1e-6)
    assert np.allclose(await embeddings.aembed_query(texts[1]), expected[1], atol=1e-6)


def test_langchain_embeddings_power_the_engine(tmp_path: Path, clock: Any) -> None:
    embedder = embedder_from_langchain(DeterministicFakeEmbedding(size=16), name="fake-16")
    assert (embedder.name, embedder.dimension) == ("fake-16", 16)
    with MemoryEngine(tmp_path / "store", embedder=embedder, clock=clock) as engine:
        stored = engine.add("alice", "I'm allergic to peanuts")
        hits = engine.search("alice", "I'm allergic to peanuts")
    assert [hit.memory.id for hit in hits] == [stored.id]
    assert hits[0].breakdown.vector_rank == 1
