"""In-process exact vector search: same answers as the vector index, always in step."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from multisession import (
    ConfigurationError,
    MemoryEngine,
    RetrievalConfig,
    as_embedder,
)
from multisession.retrieval.exact_vectors import ExactVectors

SEMANTIC = RetrievalConfig(bm25_weight=0)

NOTES = [
    "I'm allergic to peanuts",
    "My sister Ingrid lives in Oslo",
    "I prefer short answers with code examples",
    "We are migrating the billing pipeline to Airflow",
    "My daughter's birthday is on March 3rd",
    "I run every morning before work",
    "The dentist appointment moved to Friday",
    "I switched to the red theme",
    "Our team standup is at 9:30",
    "I'm learning Portuguese for the Lisbon trip",
    "Budget for the kitchen renovation is 12k",
    "I drink my coffee black",
]
QUERIES = ["food allergy", "where does my family live", "exercise habits", "travel plans"]


def test_exact_search_agrees_with_the_vector_index(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock) as exact:
        exact.add_many("alice", NOTES)
        exact.flush_vectors()
        exact_hits = {q: exact.search("alice", q, k=5, config=SEMANTIC) for q in QUERIES}
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=0) as ann:
        for query, hits in exact_hits.items():
            expected = ann.search("alice", query, k=5, config=SEMANTIC)
            assert [h.memory.id for h in hits] == [h.memory.id for h in expected]
            for got, want in zip(hits, expected, strict=True):
                assert got.breakdown.vector_similarity == pytest.approx(
                    want.breakdown.vector_similarity, abs=1e-4
                )


def test_another_process_write_is_found_by_meaning_at_once(store_dir, minilm, clock):
    reader = MemoryEngine(store_dir, embedder=minilm, clock=clock)
    writer = MemoryEngine(store_dir, embedder=minilm, clock=clock)
    try:
        reader.add("alice", "I drink my coffee black")
        assert reader.search("alice", "beverages", config=SEMANTIC)  # index loaded
        writer.add("alice", "I'm allergic to peanuts")
        # A user searched exactly has their vectors in SQL alone: nothing waits for Chroma.
        assert writer.stats()["buffered_vectors"] == 0
        assert writer.stats()["pending_vectors"] == 0
        hits = reader.search("alice", "food intolerance", config=SEMANTIC)
        assert hits[0].memory.content == "I'm allergic to peanuts"
        assert hits[0].breakdown.vector_rank == 1
        # An update by the other process replaces the vector the reader searches.
        writer.update("alice", hits[0].memory.id, content="I live in a lighthouse")
        hits = reader.search("alice", "food intolerance", k=2, config=SEMANTIC)
        assert "I'm allergic to peanuts" not in [h.memory.content for h in hits]
        top = reader.search("alice", "unusual home by the sea", k=1, config=SEMANTIC)
        assert top[0].memory.content == "I live in a lighthouse"
    finally:
        writer.close()
        reader.close()


def test_a_user_past_the_limit_is_searched_through_the_vector_index(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=5) as engine:
        engine.add_many("alice", NOTES[:4])
        assert engine.search("alice", "peanut allergy", config=SEMANTIC)
        assert engine.indexes.cached_vectors("alice") == 4  # searched exactly
        engine.add_many("alice", NOTES[4:])
        engine.flush_vectors()
        assert engine.stats()["buffered_vectors"] == 0  # Chroma has to answer
        hits = engine.search("alice", "coffee", k=1, config=SEMANTIC)
        assert engine.indexes.cached_users() == ["alice"]
        assert engine.indexes.cached_vectors("alice") is None  # let go of its vectors
        assert engine.events["vector_search_failed"] == 0
        assert hits[0].memory.content == "I drink my coffee black"
        assert hits[0].breakdown.vector_rank == 1


def test_cached_vectors_stay_within_their_bound(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, max_cached_vectors=6) as engine:
        engine.add_many("alice", NOTES[:4])
        engine.add_many("bob", NOTES[4:8])
        for user, expected in [("alice", NOTES[0]), ("bob", NOTES[7]), ("alice", NOTES[0])]:
            query = "peanut allergy" if user == "alice" else "dark red colour scheme"
            assert engine.search(user, query, k=1, config=SEMANTIC)[0].memory.content == expected
            assert engine.indexes.cached_users() == [user]


def test_store_without_vectors_in_sql_is_upgraded_on_open(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock) as engine:
        engine.add_many("alice", NOTES)
    with sqlite3.connect(store_dir / "memory.db") as conn:  # the earlier layout
        conn.execute("ALTER TABLE ms_memories DROP COLUMN embedding")
    with MemoryEngine(store_dir, embedder=minilm, clock=clock) as engine:
        assert engine.stats()["pending_vectors"] == 0
        hits = engine.search("alice", "food intolerance", k=1, config=SEMANTIC)
        assert hits[0].memory.content == "I'm allergic to peanuts"
        assert hits[0].breakdown.vector_rank == 1


def test_repair_brings_late_vectors_to_every_process(
    store_dir, minilm, unreachable_embedder, clock
):
    reader = MemoryEngine(store_dir, embedder=minilm, clock=clock)
    try:
        reader.add("alice", "I drink my coffee black")
        with MemoryEngine(store_dir, embedder=unreachable_embedder, clock=clock) as failing:
            failing.add("alice", "My passport expires in June 2027")
        hits = reader.search("alice", "travel documents validity", config=SEMANTIC)
        assert "My passport expires in June 2027" not in [h.memory.content for h in hits]
        with MemoryEngine(store_dir, embedder=minilm, clock=clock) as repairing:
            assert repairing.stats()["pending_vectors"] == 0  # repaired on open
        hits = reader.search("alice", "travel documents validity", k=1, config=SEMANTIC)
        assert hits[0].memory.content == "My passport expires in June 2027"
    finally:
        reader.close()


def test_exact_vectors_search_filters_and_reuses_slots():
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = ExactVectors(8, capacity=4)
    for i in range(50):
        index.upsert(f"m{i}", vectors[i])
    query = vectors[3]
    expected = np.argsort(-(vectors @ query), kind="stable")
    assert [doc for doc, _ in index.search(query, 5)] == [f"m{i}" for i in expected[:5]]
    allowed = {f"m{i}" for i in range(0, 50, 2)}
    filtered = [f"m{i}" for i in expected if f"m{i}" in allowed][:5]
    assert [doc for doc, _ in index.search(query, 5, allowed)] == filtered  # most rows
    few = {f"m{i}" for i in range(0, 50, 10)}
    assert [doc for doc, _ in index.search(query, 3, few)] == [
        f"m{i}" for i in expected if f"m{i}" in few
    ][:3]
    index.remove("m3")
    assert "m3" not in [doc for doc, _ in index.search(query, 50)]
    assert len(index.search(query, 100)) == 49
    index.upsert("new", vectors[3])
    assert index.search(query, 1)[0][0] == "new" and len(index) == 50
    assert index.search(query, 3, allowed=set()) == []


def test_invalid_exact_search_settings_are_refused(store_dir, minilm):
    with pytest.raises(ConfigurationError, match="exact_vector_limit"):
        MemoryEngine(store_dir, embedder=minilm, exact_vector_limit=-1)
    with pytest.raises(ConfigurationError, match="max_cached_vectors"):
        MemoryEngine(store_dir, embedder=minilm, max_cached_vectors=1.5)  # type: ignore[arg-type]


def test_a_store_refuses_another_embedder_and_keeps_its_data(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock) as engine:
        engine.add_many("alice", NOTES[:3])

    def other_model(texts: list[str]) -> np.ndarray:  # another 384-dimension model
        return np.ones((len(texts), 384), dtype=np.float32)

    other = as_embedder(other_model, name="other-model")
    with pytest.raises(ConfigurationError, match="all-MiniLM-L6-v2.*embedder=None"):
        MemoryEngine(store_dir, embedder=other, clock=clock)
    with MemoryEngine(store_dir, embedder=None, clock=clock) as keyword_only:
        assert keyword_only.count("alice") == 3
        assert keyword_only.search("alice", "peanuts")[0].memory.content == NOTES[0]
    with MemoryEngine(store_dir, embedder=minilm, clock=clock) as engine:
        hit = engine.search("alice", "food intolerance", k=1, config=SEMANTIC)[0]
        assert hit.memory.content == NOTES[0]


def test_repair_rebuilds_a_lost_vector_index_from_sql(
    store_dir, minilm, unreachable_embedder, clock
):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock) as engine:
        engine.add_many("alice", NOTES)
        engine.add_many("bob", NOTES[:2])
    shutil.rmtree(store_dir / "chroma")  # the vector index is lost
    # The embedder is down: every vector must come from SQL.
    with MemoryEngine(
        store_dir, embedder=unreachable_embedder, clock=clock, exact_vector_limit=0
    ) as engine:
        query = minilm.embed(["food intolerance"])[0]
        # Opening noticed the index was lost and rebuilt it: repair has nothing left.
        hits = engine.search("alice", "food intolerance", config=SEMANTIC, query_vector=query)
        assert hits[0].memory.content == NOTES[0]
        assert engine.repair().reindexed == 0
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=0) as engine:
        hit = engine.search("alice", "food intolerance", k=1, config=SEMANTIC)[0]
        assert hit.memory.content == NOTES[0] and hit.breakdown.vector_rank == 1
        bobs = engine.search("bob", "peanuts and Oslo", k=5, config=SEMANTIC)
        assert sorted(h.memory.content for h in bobs) == sorted(NOTES[:2])


def test_searching_for_unknown_users_leaves_the_cache_to_real_ones(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, max_cached_users=1) as engine:
        engine.add("alice", NOTES[0])
        assert engine.search("alice", "peanuts")
        for visitor in range(5):
            assert engine.search(f"visitor-{visitor}", "peanuts") == []
        assert engine.indexes.cached_users() == ["alice"]
