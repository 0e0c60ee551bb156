"""The embedded vector index: a collection per user above the exact limit.

Users at or below ``exact_vector_limit`` are searched exactly from SQL and never reach
Chroma; each user above it has a collection named by a keyed owner hash, and every
vector carries that tag. These tests set the limit low so that users cross it, attack
the isolation with identical memories of two users, and upgrade a store laid out the
earliest way (one collection per user, for every user) on open. The layout of the
previous release (one collection shared by those users) is in test_member_vectors.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest

from multisession import MemoryEngine, RetrievalConfig
from multisession.storage.vectors import collection_name, member_collection

SEMANTIC = RetrievalConfig(bm25_weight=0)

NOTES = [
    "I'm allergic to peanuts",
    "My sister Ingrid lives in Oslo",
    "I prefer short answers with code examples",
    "We are migrating the billing pipeline to Airflow",
    "My daughter's birthday is on March 3rd",
    "I run every morning before work",
    "The dentist appointment moved to Friday",
    "I drink my coffee black",
]
QUERIES = ["food allergy", "where does my family live", "exercise habits", "hot drinks"]


def chroma_client(store_dir: Path) -> Any:
    return chromadb.PersistentClient(path=str(store_dir / "chroma"))


def collection_names(store_dir: Path) -> set[str]:
    if not (store_dir / "chroma" / "chroma.sqlite3").exists():
        return set()
    client = chroma_client(store_dir)
    return {c if isinstance(c, str) else c.name for c in client.list_collections()}


def member_names(store_dir: Path) -> set[str]:
    """The collections of users above the exact limit."""
    return {name for name in collection_names(store_dir) if name.startswith("ms-v-")}


def indexed_entries(store_dir: Path) -> dict[str, dict[str, Any]]:
    """Every vector of every member's collection: id -> metadata."""
    entries: dict[str, dict[str, Any]] = {}
    client = chroma_client(store_dir)
    for name in member_names(store_dir):
        got = client.get_collection(name).get(include=["metadatas"])
        entries.update(zip(got["ids"], got["metadatas"], strict=True))
    return entries


def test_users_below_the_limit_never_reach_chroma(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=5) as engine:
        engine.add_many("alice", NOTES[:5])
        for note in NOTES[5:8]:
            engine.add("bob", note)
        engine.flush_vectors()
        assert engine.stats()["pending_vectors"] == 0
        assert engine.stats()["buffered_vectors"] == 0
        hits = engine.search("alice", "food allergy", k=1, config=SEMANTIC)
        assert hits[0].memory.content == "I'm allergic to peanuts"
        assert engine.repair().reindexed == 0
    assert not (store_dir / "chroma" / "chroma.sqlite3").exists()


def test_crossing_the_limit_copies_the_users_vectors_from_sql(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=3) as engine:
        first = engine.add_many("alice", NOTES[:3])
        assert engine.search("alice", "coffee", config=SEMANTIC)
        assert engine.indexes.cached_vectors("alice") == 3
        assert not (store_dir / "chroma" / "chroma.sqlite3").exists()

        later = engine.add("alice", NOTES[7])  # the fourth: past the limit
        engine.flush_vectors()

        assert engine._vectors is not None
        assert engine._vectors.ids("alice") == {m.id for m in [*first, later]}
        hits = engine.search("alice", "food allergy", k=1, config=SEMANTIC)
        assert engine.indexes.cached_vectors("alice") is None  # her collection answered
        assert hits[0].memory.id == first[0].id
        assert hits[0].breakdown.vector_rank == 1
        assert engine.stats()["pending_vectors"] == 0
    assert set(indexed_entries(store_dir)) == {m.id for m in [*first, later]}


def test_identical_memories_of_another_user_are_never_returned(store_dir, minilm, clock):
    with MemoryEngine(
        store_dir, embedder=minilm, clock=clock, exact_vector_limit=2, vector_flush_size=1
    ) as engine:
        mine = {m.id for m in engine.add_many("alice", NOTES)}
        theirs = {m.id for m in engine.add_many("mallory", NOTES)}
        engine.add_many("mallory", [f"{note} (again)" for note in NOTES])
        for query in [*QUERIES, *NOTES]:
            hits = engine.search("alice", query, k=20, config=SEMANTIC)
            assert engine.indexes.cached_vectors("alice") is None  # served by Chroma
            assert hits and {hit.memory.id for hit in hits} <= mine
            assert all(hit.breakdown.vector_rank is not None for hit in hits)
        only_theirs = engine.search("mallory", "again", k=40, config=RetrievalConfig(bm25_weight=0))
        assert {hit.memory.id for hit in only_theirs}.isdisjoint(mine)
    entries = indexed_entries(store_dir)
    owners = {entries[i]["owner"] for i in mine} | {entries[i]["owner"] for i in theirs}
    assert len(owners) == 2
    # Nothing of the user or the content in Chroma: a keyed tag, kind and time only.
    stored = repr(sorted(entries.values(), key=repr))
    assert "alice" not in stored and "mallory" not in stored and "peanuts" not in stored
    for owner in owners:
        assert owner not in {collection_name("alice")[3:], collection_name("mallory")[3:]}
    # A collection each, named by the keyed tag (not by the user id or its plain hash),
    # holding that user's vectors and no one else's.
    names = member_names(store_dir)
    assert names == {member_collection(owner) for owner in owners}
    client = chroma_client(store_dir)
    held = [set(client.get_collection(name).get(include=[])["ids"]) for name in names]
    assert sorted(held, key=len) == sorted([mine, set(entries) - mine], key=len)
    assert not any("alice" in name or "mallory" in name for name in names)


def test_a_conversation_filter_is_applied_inside_the_vector_index(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=2) as engine:
        engine.add_many("alice", [{"content": n, "conversation_id": "c1"} for n in NOTES[:4]])
        wanted = engine.add_many(
            "alice", [{"content": n, "conversation_id": "c2"} for n in NOTES[4:]]
        )
        engine.add_many("bob", [{"content": n, "conversation_id": "c2"} for n in NOTES])
        engine.flush_vectors()
        hits = engine.search("alice", "food allergy", k=10, conversation_id="c2", config=SEMANTIC)
        assert hits and {hit.memory.id for hit in hits} <= {m.id for m in wanted}
    conversations = {entry.get("conversation_id") for entry in indexed_entries(store_dir).values()}
    assert "c1" not in conversations and "c2" not in conversations  # keyed tags only


def test_deleting_removes_vectors_from_the_members_collections(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=2) as engine:
        alice = {m.id for m in engine.add_many("alice", NOTES)}
        bob = [m.id for m in engine.add_many("bob", NOTES)]
        engine.flush_vectors()
        assert set(indexed_entries(store_dir)) == alice | set(bob)

        engine.delete_user("alice")
        engine.delete("bob", bob[0])
        assert engine._vectors is not None
        assert engine._vectors.ids("alice") == set()

        assert engine.repair().orphans_removed == 0  # nothing was left behind
    assert set(indexed_entries(store_dir)) == set(bob[1:])
    chroma_file = (store_dir / "chroma" / "chroma.sqlite3").read_bytes()
    # A deleted user's collection was dropped and Chroma's file rewritten: no byte of
    # theirs is left (test_member_vectors.py scans every file, with HNSW files on disk).
    assert not any(memory_id.encode() in chroma_file for memory_id in alice)
    assert all(memory_id.encode() in chroma_file for memory_id in bob[1:])


def test_repair_reindexes_what_a_members_collection_lost(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=2) as engine:
        ids = [m.id for m in engine.add_many("alice", NOTES)]
        engine.add_many("bob", NOTES[:2])  # below the limit: not in Chroma
        engine.flush_vectors()
    (only,) = member_names(store_dir)  # alice's
    chroma_client(store_dir).get_collection(only).delete(ids=ids[:3])

    with MemoryEngine(
        store_dir, embedder=minilm, clock=clock, exact_vector_limit=2, repair_on_open=False
    ) as engine:
        assert engine.repair().reindexed == 3
        assert engine._vectors is not None
        assert engine._vectors.ids("alice") == set(ids)
        assert engine._vectors.ids("bob") == set()


def test_a_write_killed_while_a_user_joins_is_indexed_on_open(store_dir, minilm, clock):
    """The state a kill leaves between marking the user's memories and indexing them."""
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=20) as engine:
        ids = {m.id for m in engine.add_many("alice", NOTES)}
    with sqlite3.connect(store_dir / "memory.db") as database:
        database.execute("UPDATE ms_memories SET vector_indexed = 0")

    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=4) as engine:
        assert engine.stats()["pending_vectors"] == 0
        assert engine._vectors is not None
        assert engine._vectors.ids("alice") == ids


# -- stores laid out the earlier way: one Chroma collection per user ---------------------


def write_earlier_layout(store_dir: Path, dimension: int, embedder_name: str) -> None:
    """Lay out the vector index as earlier stores did, from the vectors SQL holds.

    One collection per user, named by ``collection_name``, every memory's vector in it,
    and no record in SQL of a later layout nor of who joined it.
    """
    with sqlite3.connect(store_dir / "memory.db") as database:
        rows = database.execute(
            "SELECT user_id, id, kind, created_at, embedding FROM ms_memories"
        ).fetchall()
        database.execute("DELETE FROM ms_settings WHERE key = 'vector_layout' OR key LIKE 'ann:%'")
    client = chroma_client(store_dir)
    for user_id in sorted({row[0] for row in rows}):
        collection = client.get_or_create_collection(
            collection_name(user_id),
            metadata={"embedder": embedder_name, "dimension": dimension},
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        mine = [row for row in rows if row[0] == user_id]
        collection.upsert(
            ids=[row[1] for row in mine],
            embeddings=np.stack([np.frombuffer(row[4], dtype="<f4") for row in mine]),
            metadatas=[{"kind": row[2], "created_ts": 0.0} for row in mine],
        )


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_store_with_a_collection_per_user_moves_to_collections_per_member(
    store_dir, minilm, clock, interrupted
):
    users = {"alice": NOTES, "bob": NOTES[:2], "carol": NOTES[2:7]}
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=10**6) as engine:
        for user_id, notes in users.items():
            engine.add_many(user_id, notes)
        before = {
            (user_id, query): [h.memory.id for h in engine.search(user_id, query, config=SEMANTIC)]
            for user_id in users
            for query in QUERIES
        }
    write_earlier_layout(store_dir, minilm.dimension, minilm.name)
    assert collection_names(store_dir) == {collection_name(user) for user in users}
    if interrupted:
        # What an upgrade killed halfway leaves: memories marked, one collection gone.
        with sqlite3.connect(store_dir / "memory.db") as database:
            database.execute("UPDATE ms_memories SET vector_indexed = 0")
        chroma_client(store_dir).delete_collection(collection_name("carol"))

    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=4) as engine:
        assert {user: engine.count(user) for user in users} == {
            user: len(notes) for user, notes in users.items()
        }
        after = {
            (user_id, query): [h.memory.id for h in engine.search(user_id, query, config=SEMANTIC)]
            for user_id in users
            for query in QUERIES
        }
        assert engine.indexes.cached_vectors("alice") is None  # through her collection
        assert engine.indexes.cached_vectors("bob") == 2  # exactly, from SQL
        assert engine.stats()["pending_vectors"] == 0
        alice = {m.id for m in engine.list("alice", limit=100)}
        carol = {m.id for m in engine.list("carol", limit=100)}

    assert after == before
    assert len(collection_names(store_dir)) == 2  # alice's and carol's, nobody else's
    assert member_names(store_dir) == collection_names(store_dir)
    assert set(indexed_entries(store_dir)) == alice | carol  # only the users above 4
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=4) as engine:
        assert engine.repair().reindexed == 0
