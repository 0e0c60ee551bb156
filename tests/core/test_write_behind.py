"""Write-behind on a real SQLite store and real Chroma: buffering, the timer, repair.

The engine's tests show the same behaviour end to end; these pin each rule of the
component where it lives, with SQL's own view (what it marks as vector-indexed, the
access counts it holds) as the evidence.
"""

from __future__ import annotations

import doctest
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multisession import ManualClock
from multisession._ids import new_id
from multisession.records import IndexRow, MemoryFilter
from multisession.storage import write_behind as write_behind_module
from multisession.storage.schema import to_bytes
from multisession.storage.sql_store import SQLStore
from multisession.storage.vectors import ChromaVectorIndex
from multisession.storage.write_behind import RepairReport, WriteBehind

TEXTS = ["I like tea", "My sister lives in Oslo", "I run every morning", "I drink coffee black"]


@pytest.fixture
def sql(store_dir: Path) -> Iterator[SQLStore]:
    store_dir.mkdir(parents=True, exist_ok=True)
    store = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    yield store
    store.close()


def open_index(location: str, minilm: Any) -> ChromaVectorIndex:
    return ChromaVectorIndex.open(location, embedder_name=minilm.name, dimension=minilm.dimension)


@pytest.fixture
def index(store_dir: Path, minilm: Any) -> Iterator[ChromaVectorIndex]:
    vectors = open_index(str(store_dir / "chroma"), minilm)
    yield vectors
    vectors.close()


@pytest.fixture
def make(
    sql: SQLStore, index: ChromaVectorIndex, minilm: Any, clock: ManualClock
) -> Iterator[Callable[..., WriteBehind]]:
    """Builds a WriteBehind over the test's stores; closes what it built."""
    built: list[WriteBehind] = []

    def build(**overrides: Any) -> WriteBehind:
        arguments: dict[str, Any] = {
            "store": sql,
            "vectors": index,
            "embedder": minilm,
            "clock": clock,
            "flush_size": 64,
            "flush_seconds": 600.0,
            "events": Counter(),
        }
        arguments.update(overrides)
        writes = WriteBehind(**arguments)
        built.append(writes)
        return writes

    yield build
    for writes in built:
        writes.close()


def insert(
    sql: SQLStore, user_id: str, texts: list[str], vectors: Any, now: datetime
) -> list[IndexRow]:
    """Memories committed in SQL, as a writer leaves them before the vector index."""
    rows = [
        {
            "id": new_id(),
            "content": text,
            "kind": "fact",
            "conversation_id": None,
            "metadata": {},
            "created_at": now,
            "embedding": None if vectors is None else to_bytes(vectors[position]),
        }
        for position, text in enumerate(texts)
    ]
    version, inserted = sql.insert(user_id, rows, now)
    assert version is not None
    return [
        IndexRow(row["id"], row["content"], "fact", None, now, version, row["embedding"])
        for row in inserted
    ]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the timer did not flush in time"
        time.sleep(0.02)


def test_small_writes_wait_in_the_buffer_until_it_is_full(make, sql, index, minilm, clock):
    writes = make(flush_size=3)
    vectors = minilm.embed(TEXTS[:3])
    first = insert(sql, "alice", TEXTS[:1], vectors[:1], clock.now)
    writes.write("alice", first, vectors[:1])
    assert writes.buffered_vectors == 1
    assert index.ids("alice") == set()
    assert sql.stats()["pending_vectors"] == 1  # a crash now is repaired on open
    rest = insert(sql, "alice", TEXTS[1:3], vectors[1:3], clock.now)
    writes.write("alice", rest, vectors[1:3])  # the third pending vector: flushed
    assert writes.buffered_vectors == 0
    assert index.ids("alice") == {row.id for row in first + rest}
    assert sql.stats()["pending_vectors"] == 0


def test_a_write_of_flush_size_or_more_goes_straight_to_the_index(make, sql, index, minilm, clock):
    writes = make(flush_size=2)
    vectors = minilm.embed(TEXTS[:2])
    rows = insert(sql, "alice", TEXTS[:2], vectors, clock.now)
    writes.write("alice", rows, vectors)
    assert writes.buffered_vectors == 0
    assert index.ids("alice") == {row.id for row in rows}


def test_buffered_vectors_are_pending_for_search_until_flushed(make, sql, index, minilm, clock):
    writes = make()
    vectors = minilm.embed(TEXTS)
    rows = insert(sql, "alice", TEXTS, vectors, clock.now)
    writes.write("alice", rows, vectors)
    assert [entry.row.id for entry in writes.pending("alice")] == [row.id for row in rows]
    np.testing.assert_array_equal(writes.pending("alice")[1].vector, vectors[1])
    allowed = {rows[0].id, rows[2].id}
    assert [entry.row.id for entry in writes.pending("alice", allowed)] == [rows[0].id, rows[2].id]
    assert writes.pending("bob") == []
    assert writes.flush_vectors() == len(TEXTS)
    assert writes.pending("alice") == []
    assert index.ids("alice") == {row.id for row in rows}


def test_one_timer_flushes_vectors_and_access_counts(make, sql, index, minilm, clock):
    writes = make(flush_seconds=0.05)
    vectors = minilm.embed(TEXTS[:1])
    rows = insert(sql, "alice", TEXTS[:1], vectors, clock.now)
    writes.write("alice", rows, vectors)
    writes.record_access("alice", sql.get_many("alice", [rows[0].id]), clock.now)
    wait_for(lambda: writes.buffered_vectors == 0 and writes.pending_accesses == 0)
    assert index.ids("alice") == {rows[0].id}
    stored = sql.get_many("alice", [rows[0].id])[rows[0].id]
    assert (stored.access_count, stored.last_accessed) == (1, clock.now)


def test_retrievals_count_at_once_and_reach_sql_in_one_write(make, sql, minilm, clock):
    writes = make()
    rows = insert(sql, "alice", TEXTS[:2], None, clock.now)
    ids = [row.id for row in rows]
    first = writes.record_access("alice", sql.get_many("alice", ids), clock.now)
    assert {memory.access_count for memory in first.values()} == {1}
    earlier = clock.now - timedelta(days=1)  # another caller's older "now"
    second = writes.record_access("alice", sql.get_many("alice", ids[:1]), earlier)
    assert (second[ids[0]].access_count, second[ids[0]].last_accessed) == (2, clock.now)
    assert writes.pending_accesses == 2
    writes.flush_access("bob")  # nothing of bob's pending: nothing written
    assert sql.get_many("alice", ids)[ids[0]].access_count == 0
    writes.flush_access("alice")
    stored = sql.get_many("alice", ids)
    assert [stored[memory_id].access_count for memory_id in ids] == [2, 1]
    assert stored[ids[0]].last_accessed == clock.now
    assert writes.pending_accesses == 0


def test_delete_and_drop_user_reach_buffered_and_indexed_vectors(make, sql, index, minilm, clock):
    writes = make(flush_size=3)
    vectors = minilm.embed(TEXTS)
    indexed = insert(sql, "alice", TEXTS[:3], vectors[:3], clock.now)
    writes.write("alice", indexed, vectors[:3])
    buffered = insert(sql, "alice", TEXTS[3:], vectors[3:], clock.now)
    writes.write("alice", buffered, vectors[3:])
    writes.delete("alice", indexed[0].id)
    writes.delete("alice", buffered[0].id)
    assert writes.pending("alice") == []
    assert index.ids("alice") == {indexed[1].id, indexed[2].id}
    writes.record_access("alice", sql.get_many("alice", [indexed[1].id]), clock.now)
    writes.drop_user("alice")
    assert index.ids("alice") == set()
    assert writes.pending_accesses == 0
    assert writes.events == Counter()


def test_an_unreachable_vector_server_keeps_vectors_buffered(
    own_chroma_server, sql, minilm, clock, make
):
    server_index = open_index(own_chroma_server.url, minilm)
    try:
        writes = make(vectors=server_index, flush_size=8)
        vectors = minilm.embed(TEXTS[:2])
        rows = insert(sql, "alice", TEXTS[:2], vectors, clock.now)
        writes.write("alice", rows, vectors)
        own_chroma_server.stop()
        assert writes.flush_vectors() == 0
        assert writes.events["vector_write_failed"] == 1
        assert [entry.row.id for entry in writes.pending("alice")] == [row.id for row in rows]
        assert sql.stats()["pending_vectors"] == 2  # repair() still knows
        writes.delete("alice", rows[0].id)
        assert writes.events["vector_delete_failed"] == 1
        assert [entry.row.id for entry in writes.pending("alice")] == [rows[1].id]
        writes.drop_user("alice")
        assert writes.events["vector_delete_failed"] == 2
        assert writes.buffered_vectors == 0
    finally:
        server_index.close()


def test_a_failing_embedder_is_counted_and_leaves_the_vectors_to_repair(make, unreachable_embedder):
    writes = make(embedder=unreachable_embedder)
    assert writes.embed(["I like tea"]) is None
    assert writes.events["embedding_failed"] == 1
    assert make(embedder=None).embed(["I like tea"]) is None  # keyword-only: no vectors


def test_repair_indexes_what_sql_holds_and_removes_orphans(make, sql, index, minilm, clock):
    writes = make()
    vectors = minilm.embed(TEXTS)
    with_vectors = insert(sql, "alice", TEXTS[:2], vectors[:2], clock.now)
    never_embedded = insert(sql, "bob", TEXTS[2:], None, clock.now)
    index.upsert("alice", ["f" * 32], vectors[3:], [{"kind": "fact", "created_ts": 0.0}])
    # A vector whose memory SQL never recorded deleting is kept (SQL may have lost it).
    assert writes.repair() == RepairReport(reindexed=4, orphans_removed=0, orphans_kept=1)
    assert index.ids("alice") == {row.id for row in with_vectors} | {"f" * 32}
    assert index.ids("bob") == {row.id for row in never_embedded}
    # The vectors embedded now are kept in SQL too, under a new revision.
    _, revisions = sql.revisions("bob")
    assert all(revisions[row.id] > row.revision for row in never_embedded)
    stored = sql.index_rows("bob", with_embeddings=True)
    assert all(row.embedding is not None for row in stored)
    assert sql.stats()["pending_vectors"] == 0
    # A vector index that lost vectors SQL believes it has: restored from SQL.
    index.delete("alice", [with_vectors[0].id])
    assert writes.repair() == RepairReport(reindexed=1, orphans_removed=0, orphans_kept=1)
    assert index.ids("alice") == {row.id for row in with_vectors} | {"f" * 32}
    assert writes.repair() == RepairReport(reindexed=0, orphans_removed=0, orphans_kept=1)


def test_reindex_pending_uses_sql_s_vectors_without_the_embedder(
    make, sql, index, minilm, unreachable_embedder, clock
):
    vectors = minilm.embed(TEXTS[:2])
    rows = insert(sql, "alice", TEXTS[:2], vectors, clock.now)
    writes = make(embedder=unreachable_embedder)
    assert writes.reindex_pending() == 2
    assert writes.events == Counter()
    assert index.ids("alice") == {row.id for row in rows}
    found = index.query("alice", vectors[1], 1, MemoryFilter())
    assert found[0][0] == rows[1].id


def test_close_writes_everything_pending(make, sql, index, minilm, clock):
    writes = make()
    vectors = minilm.embed(TEXTS[:1])
    rows = insert(sql, "alice", TEXTS[:1], vectors, clock.now)
    writes.write("alice", rows, vectors)
    writes.record_access("alice", sql.get_many("alice", [rows[0].id]), clock.now)
    writes.close()
    assert index.ids("alice") == {rows[0].id}
    assert sql.get_many("alice", [rows[0].id])[rows[0].id].access_count == 1


def test_write_behind_docstring_example_runs():
    assert doctest.testmod(write_behind_module).failed == 0
