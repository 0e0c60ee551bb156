"""A Chroma collection per user above the exact limit: bytes, isolation, upgrade.

Each user whose memories outgrow ``exact_vector_limit`` has a collection of their own,
named by a keyed hash. These tests check what that layout adds to the shared-index
tests (test_shared_vectors.py): a deleted member leaves no byte in any of Chroma's
files, HNSW files included (chromadb 1.x keeps a deleted collection's directory); a
search drops any vector not tagged with the user's own tag; a collection another process
dropped and made again is found again; and a store laid out by the previous release (one
collection shared by all members, filtered by owner) moves to this layout on open.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import numpy.typing as npt
import pytest

from multisession import MemoryEngine, RetrievalConfig
from multisession.records import MemoryFilter
from multisession.storage.indexed_users import IndexedUsers
from multisession.storage.sql_store import SQLStore
from multisession.storage.vectors import SHARED_COLLECTION, member_collection

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


class SeededEmbedder:
    """A stand-in for the embedding model: a fixed random unit vector per text.

    Used where a test needs thousands of vectors (enough for Chroma to write its HNSW
    files) and what they mean does not matter.
    """

    name = "test-seeded"
    dimension = 16

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for position, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            out[position] = np.random.default_rng(seed).standard_normal(self.dimension)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def client(store_dir: Path) -> Any:
    return chromadb.PersistentClient(path=str(store_dir / "chroma"))


def names(store_dir: Path) -> set[str]:
    return {c if isinstance(c, str) else c.name for c in client(store_dir).list_collections()}


def owner_of(store_dir: Path, user_id: str) -> str:
    """The keyed tag the store gives a user (and names their collection by)."""
    store = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    try:
        return IndexedUsers(store).owner(user_id)
    finally:
        store.close()


def files_holding(directory: Path, needles: set[bytes]) -> dict[str, int]:
    """For each file under ``directory``, how many of ``needles`` its bytes contain."""
    found = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            count = sum(needle in data for needle in needles)
            if count:
                found[str(path.relative_to(directory))] = count
    return found


def test_a_deleted_member_leaves_no_byte_in_any_chroma_file(store_dir, clock):
    embedder = SeededEmbedder()
    with MemoryEngine(store_dir, embedder=embedder, clock=clock, exact_vector_limit=1000) as engine:
        texts = [f"alice note {i}" for i in range(1200)]
        alice = {m.id for m in engine.add_many("alice", texts)}
        bob = {m.id for m in engine.add_many("bob", [f"bob note {i}" for i in range(1100)])}
        engine.flush_vectors()
        tag = owner_of(store_dir, "alice")
        ids = {memory_id.encode() for memory_id in alice} | {tag.encode()}
        vectors = {vector.tobytes() for vector in embedder.embed(texts)}
        # Chroma wrote alice's ids and vectors beside chroma.sqlite3 too (its HNSW files):
        # the scan below reads those files.
        held = files_holding(store_dir / "chroma", ids | vectors)
        assert any(path.endswith("data_level0.bin") for path in held), held
        assert any(path.endswith(".pickle") for path in held), held
        needles = ids | vectors

        engine.delete_user("alice")
        assert engine.search("bob", "bob note 7", k=3, config=SEMANTIC)
        engine.add_many("carol", [f"carol note {i}" for i in range(1001)])  # a new member
        engine.flush_vectors()

    assert files_holding(store_dir / "chroma", needles) == {}
    assert member_collection(tag) not in names(store_dir)
    kept = files_holding(store_dir / "chroma", {memory_id.encode() for memory_id in bob})
    assert sum(kept.values()) >= len(bob)  # bob's vectors are all still there
    with MemoryEngine(store_dir, embedder=embedder, clock=clock, exact_vector_limit=1000) as engine:
        assert engine.repair().reindexed == 0
        hits = engine.search("bob", "bob note 7", k=5, config=SEMANTIC)
        assert {hit.memory.id for hit in hits} <= bob


def test_a_vector_tagged_for_another_user_is_never_returned(store_dir, minilm, clock):
    """A damaged index (a foreign vector in a member's collection) answers nothing foreign."""
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=2) as engine:
        mine = {m.id for m in engine.add_many("alice", NOTES)}
        engine.flush_vectors()
    collection = client(store_dir).get_collection(member_collection(owner_of(store_dir, "alice")))
    got = collection.get(include=["embeddings", "metadatas"])
    planted = [f"planted-{doc_id}" for doc_id in got["ids"]]
    foreign = [
        {**metadata, "owner": owner_of(store_dir, "mallory")} for metadata in got["metadatas"]
    ]
    collection.upsert(ids=planted, embeddings=got["embeddings"], metadatas=foreign)

    with MemoryEngine(store_dir, embedder=minilm, clock=clock, exact_vector_limit=2) as engine:
        assert engine._vectors is not None
        for query in [*QUERIES, *NOTES]:
            found = engine._vectors.query("alice", minilm.embed([query])[0], 16, MemoryFilter())
            assert found and {doc_id for doc_id, _ in found} <= mine
            hits = engine.search("alice", query, k=10, config=SEMANTIC)
            assert {hit.memory.id for hit in hits} <= mine


def test_a_collection_dropped_and_made_again_elsewhere_is_found_again(store_dir, minilm, clock):
    """Another engine deletes a member, who comes back past the limit: no stale handle."""
    options = {"embedder": minilm, "clock": clock, "exact_vector_limit": 2}
    with MemoryEngine(store_dir, **options) as first, MemoryEngine(store_dir, **options) as other:
        first.add_many("alice", NOTES[:4])
        first.flush_vectors()
        assert first.search("alice", "food allergy", k=1, config=SEMANTIC)  # handle cached

        other.delete_user("alice")
        again = {m.id for m in other.add_many("alice", NOTES[4:])}
        other.flush_vectors()

        hits = first.search("alice", "hot drinks", k=10, config=SEMANTIC)
        assert hits and {hit.memory.id for hit in hits} <= again
        assert hits[0].memory.content == "I drink my coffee black"
        assert hits[0].breakdown.vector_rank == 1


# -- stores laid out by the previous release: one collection shared by all members -------


def write_shared_layout(
    store_dir: Path, dimension: int, embedder_name: str, members: set[str]
) -> None:
    """Lay out the vector index as the previous release did, from the vectors SQL holds.

    One collection, ``multisession-vectors``, with every member's vectors tagged by
    their keyed owner; SQL records the layout as ``shared`` and each member as
    ``ann:<tag>`` (what that release writes, checked against a store it made).
    """
    tags = {user_id: owner_of(store_dir, user_id) for user_id in members}
    with sqlite3.connect(store_dir / "memory.db") as database:
        rows = database.execute(
            "SELECT user_id, id, kind, created_at, embedding FROM ms_memories"
        ).fetchall()
        database.execute("UPDATE ms_settings SET value = 'shared' WHERE key = 'vector_layout'")
    chroma = client(store_dir)
    for name in names(store_dir):
        if name.startswith("ms-v-"):
            chroma.delete_collection(name)
    shared = chroma.get_or_create_collection(
        SHARED_COLLECTION,
        metadata={"embedder": embedder_name, "dimension": dimension},
        configuration={"hnsw": {"space": "cosine"}},
        embedding_function=None,
    )
    held = [row for row in rows if row[0] in members]
    shared.upsert(
        ids=[row[1] for row in held],
        embeddings=np.stack([np.frombuffer(row[4], dtype="<f4") for row in held]),
        metadatas=[{"kind": row[2], "created_ts": 0.0, "owner": tags[row[0]]} for row in held],
    )


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_store_with_the_shared_collection_moves_to_collections_per_member(
    store_dir, minilm, clock, interrupted
):
    users = {"alice": NOTES, "bob": NOTES[:2], "carol": NOTES[2:8]}
    options = {"embedder": minilm, "clock": clock, "exact_vector_limit": 4}
    with MemoryEngine(store_dir, **options) as engine:
        for user_id, notes in users.items():
            engine.add_many(user_id, notes)
        engine.flush_vectors()
        before = {
            (user_id, query): [h.memory.id for h in engine.search(user_id, query, config=SEMANTIC)]
            for user_id in users
            for query in QUERIES
        }
    write_shared_layout(store_dir, minilm.dimension, minilm.name, {"alice", "carol"})
    assert names(store_dir) == {SHARED_COLLECTION}
    shared_ids = set(client(store_dir).get_collection(SHARED_COLLECTION).get(include=[])["ids"])
    if interrupted:
        # What an upgrade killed halfway leaves: members' memories marked, the shared
        # collection gone, the layout not yet recorded.
        with sqlite3.connect(store_dir / "memory.db") as database:
            database.execute(
                "UPDATE ms_memories SET vector_indexed = 0 WHERE user_id IN ('alice', 'carol')"
            )
        client(store_dir).delete_collection(SHARED_COLLECTION)

    with MemoryEngine(store_dir, **options) as engine:
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
    tags = {user: owner_of(store_dir, user) for user in ("alice", "carol")}
    assert names(store_dir) == {member_collection(tag) for tag in tags.values()}
    chroma = client(store_dir)
    for user_id, ids in (("alice", alice), ("carol", carol)):
        got = chroma.get_collection(member_collection(tags[user_id])).get(include=["metadatas"])
        assert set(got["ids"]) == ids
        assert {metadata["owner"] for metadata in got["metadatas"]} == {tags[user_id]}
    assert shared_ids == alice | carol
    # The shared collection's files went with it: no directory but the live segments'.
    with sqlite3.connect(store_dir / "chroma" / "chroma.sqlite3") as database:
        live = {row[0] for row in database.execute("SELECT id FROM segments")}
    assert {entry.name for entry in (store_dir / "chroma").iterdir() if entry.is_dir()} <= live
    with sqlite3.connect(store_dir / "memory.db") as database:
        layout = database.execute(
            "SELECT value FROM ms_settings WHERE key = 'vector_layout'"
        ).fetchone()
    assert layout == ("members",)
    with MemoryEngine(store_dir, **options) as engine:
        assert engine.repair().reindexed == 0
