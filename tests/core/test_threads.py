"""Many threads on one engine: each user's lock is their own, and nothing is lost or torn.

The engine is shared by the threads of a server. These tests run real searches and
writes from many threads at once, on a real SQLite store (and embedded Chroma where
vectors are searched), and then check what every thread was told: every memory whose
write returned is found, every count agrees with SQL, and no search saw another user's
memory or a half-applied write.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multisession import MemoryEngine, RetrievalConfig, as_embedder
from multisession.retrieval.user_indexes import UserIndex
from multisession.storage.sql_store import SQLStore

THREADS = 8
USERS = 4
WRITES_PER_THREAD = 30
JOIN_SECONDS = 120  # a generous bound on liveness, not a measure of speed
# Look memories up by their unique words: the stand-in vectors would only add noise.
BY_WORDS = RetrievalConfig(vector_weight=0)


def hashed_vectors(texts: list[str]) -> np.ndarray:
    """A stand-in embedding model (the outside boundary): a fixed vector per text."""
    seeds = [int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) for text in texts]
    rows = [np.random.default_rng(seed).standard_normal(16) for seed in seeds]
    return np.asarray(rows, dtype=np.float32)


def held_index(engine: MemoryEngine, store_dir: Path, user: str) -> UserIndex:
    """The user's in-process index, synced as a search would (version read from SQL)."""
    store = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    try:
        version = store.user_version(user)
    finally:
        store.close()
    assert version is not None
    with engine.indexes.lock_for(user):
        return engine.indexes.synced(user, version)


@pytest.fixture(params=["keywords", "exact vectors"])
def shared_engine(request: pytest.FixtureRequest, open_engine: Callable[..., MemoryEngine]) -> Any:
    """One engine for all threads: keyword-only, or with vectors held for exact search."""
    if request.param == "keywords":
        return open_engine(embedder=None)
    return open_engine(embedder=as_embedder(hashed_vectors, name="hashed-16"))


def run_threads(work: Callable[[int], None], count: int = THREADS) -> None:
    """Run ``work(slot)`` in ``count`` threads started together; re-raise the first error."""
    start = threading.Barrier(count)

    def run(slot: int) -> None:
        start.wait()
        work(slot)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run, slot) for slot in range(count)]
        for future in futures:
            future.result(timeout=JOIN_SECONDS)


def test_concurrent_writes_and_searches_lose_nothing(
    shared_engine: MemoryEngine, store_dir: Path
) -> None:
    engine = shared_engine
    acknowledged: dict[str, list[tuple[str, str]]] = {f"user{u}": [] for u in range(USERS)}
    record = threading.Lock()
    foreign: list[str] = []

    def work(slot: int) -> None:
        rng = random.Random(slot)
        for number in range(WRITES_PER_THREAD):
            user = f"user{rng.randrange(USERS)}"
            token = f"marker{slot}x{number}"
            memory = engine.add(user, f"note {token} written by thread {slot}")
            with record:
                acknowledged[user].append((memory.id, token))
            # Search right after, and for a random earlier write of this user too.
            for hit in engine.search(user, token, k=3, config=BY_WORDS):
                if hit.memory.user_id != user:
                    foreign.append(hit.memory.id)
            with record:
                earlier = rng.choice(acknowledged[user])
            found = [hit.memory.id for hit in engine.search(user, earlier[1], k=3, config=BY_WORDS)]
            assert earlier[0] in found, f"{user} lost {earlier}"

    run_threads(work)

    assert foreign == []
    for user, memories in acknowledged.items():
        assert engine.count(user) == len(memories)
        for memory_id, token in memories:
            assert [hit.memory.id for hit in engine.search(user, token, k=1, config=BY_WORDS)] == [
                memory_id
            ]
        index = held_index(engine, store_dir, user)
        ids = {memory_id for memory_id, _ in memories}
        assert set(index.bm25.doc_ids()) == ids
        assert set(index.revisions) == ids == set(index.created)
        if index.vectors is not None:
            assert len(index.vectors) == len(ids)


def test_deletes_and_updates_under_contention_leave_the_index_equal_to_sql(
    shared_engine: MemoryEngine, store_dir: Path
) -> None:
    engine = shared_engine
    user = "alice"
    memories = engine.add_many(user, [f"item{n} original text" for n in range(THREADS * 10)])
    ids = [memory.id for memory in memories]

    def work(slot: int) -> None:
        mine = ids[slot * 10 : (slot + 1) * 10]
        for position, memory_id in enumerate(mine):
            if position % 3 == 0:
                engine.delete(user, memory_id)
            else:
                engine.update(user, memory_id, content=f"item{slot}x{position} changed text")
            engine.search(user, "changed text", k=5)

    run_threads(work)

    stored = {memory.id: memory.content for memory in engine.list(user, limit=1_000)}
    assert len(stored) == THREADS * 10 - THREADS * 4  # positions 0, 3, 6, 9 deleted
    index = held_index(engine, store_dir, user)
    assert set(index.bm25.doc_ids()) == set(stored) == set(index.revisions)
    for memory_id, content in stored.items():
        assert memory_id in [
            hit.memory.id for hit in engine.search(user, content, k=3, config=BY_WORDS)
        ]
    # Another process, loading from SQL alone, agrees.
    fresh = MemoryEngine(sql_url=f"sqlite:///{store_dir / 'memory.db'}", embedder=None)
    try:
        for memory_id, content in stored.items():
            assert memory_id in [hit.memory.id for hit in fresh.search(user, content, k=3)]
    finally:
        fresh.close()


def test_a_user_s_lock_does_not_hold_up_other_users(
    open_engine: Callable[..., MemoryEngine],
) -> None:
    engine = open_engine(embedder=None)
    engine.add("alice", "Alice keeps bees")
    engine.add("bob", "Bob grows tomatoes")
    engine.search("alice", "bees")
    outcome: dict[str, Any] = {}

    def other_users() -> None:
        outcome["search"] = [hit.memory.content for hit in engine.search("bob", "tomatoes")]
        outcome["add"] = engine.add("bob", "Bob sails on weekends").content
        outcome["cold"] = [hit.memory.content for hit in engine.search("carol", "anything")]

    with engine.indexes.lock_for("alice"):  # as a long search or write of Alice would
        worker = threading.Thread(target=other_users)
        worker.start()
        worker.join(JOIN_SECONDS)
        alive = worker.is_alive()
    worker.join()
    assert not alive, "a search of Bob waited for Alice's lock"
    assert outcome == {
        "search": ["Bob grows tomatoes"],
        "add": "Bob sails on weekends",
        "cold": [],
    }


def test_async_searches_wait_in_a_worker_thread_not_in_the_event_loop(
    open_engine: Callable[..., MemoryEngine],
) -> None:
    engine = open_engine(embedder=None)
    engine.add("alice", "Alice keeps bees")
    engine.add("bob", "Bob grows tomatoes")

    async def scenario() -> tuple[list[str], list[str], bool]:
        lock = engine.indexes.lock_for("alice")  # as a long write of Alice would hold it
        lock.__enter__()
        try:
            alice = asyncio.ensure_future(engine.asearch("alice", "bees"))
            bob = await asyncio.wait_for(engine.asearch("bob", "tomatoes"), JOIN_SECONDS)
            alice_waited = not alice.done()
        finally:
            lock.__exit__(None, None, None)
        found = await asyncio.wait_for(alice, JOIN_SECONDS)
        return (
            [hit.memory.content for hit in bob],
            [hit.memory.content for hit in found],
            alice_waited,
        )

    assert asyncio.run(scenario()) == (["Bob grows tomatoes"], ["Alice keeps bees"], True)
