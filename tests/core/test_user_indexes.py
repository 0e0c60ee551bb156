"""The per-user index cache on a real SQLite store: in step with SQL, and bounded.

Writes go to SQL through the store, as another process's would; writes of "this
process" are also handed to :meth:`UserIndexes.apply`. What a search would find is read
from the synced index itself: its BM25 ranking, its timestamps and its exact vectors.
"""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from multisession import ManualClock
from multisession._ids import new_id
from multisession.records import IndexRow
from multisession.retrieval import user_indexes as user_indexes_module
from multisession.retrieval.terms import Tokenizer
from multisession.retrieval.user_indexes import UserIndex, UserIndexes
from multisession.storage.schema import to_bytes
from multisession.storage.sql_store import SQLStore

DIMENSION = 4


@pytest.fixture
def sql(store_dir: Path) -> Iterator[SQLStore]:
    store_dir.mkdir(parents=True, exist_ok=True)
    store = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    yield store
    store.close()


def cache(sql: SQLStore, **bounds: int) -> UserIndexes:
    settings = {"exact_limit": 100, "max_users": 8, "max_vectors": 1_000, **bounds}
    return UserIndexes(sql, Tokenizer(), dimension=DIMENSION, **settings)


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return vector / np.linalg.norm(vector)


def insert(
    sql: SQLStore, user_id: str, texts: list[str], now: datetime, *, embedded: bool = True
) -> tuple[int, list[IndexRow]]:
    """Memories committed in SQL; returns the user's new version and the rows."""
    rows = [
        {
            "id": new_id(),
            "content": text,
            "kind": "fact",
            "conversation_id": None,
            "metadata": {},
            "created_at": now,
            "embedding": to_bytes(unit(len(text))) if embedded else None,
        }
        for text in texts
    ]
    version, inserted = sql.insert(user_id, rows, now)
    assert version is not None
    return version, [
        IndexRow(row["id"], row["content"], "fact", None, now, version, row["embedding"])
        for row in inserted
    ]


def synced(indexes: UserIndexes, sql: SQLStore, user_id: str) -> UserIndex:
    """What a search does: read the version, then sync under the user's lock."""
    version = sql.user_version(user_id)
    assert version is not None
    with indexes.lock_for(user_id):
        return indexes.synced(user_id, version)


def keyword_hits(index: UserIndex, query: str) -> list[str]:
    return [doc_id for doc_id, _ in index.bm25.top_n(Tokenizer()(query), 10)]


def test_first_search_loads_the_user_from_sql(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql)
    version, rows = insert(sql, "alice", ["I grow tomatoes", "I keep bees"], clock.now)
    insert(sql, "bob", ["I grow tomatoes too"], clock.now)
    index = synced(indexes, sql, "alice")
    assert index.version == version
    assert keyword_hits(index, "tomatoes") == [rows[0].id]
    assert index.created == {row.id: clock.now.timestamp() for row in rows}
    assert index.vectors is not None
    assert [doc_id for doc_id, _ in index.vectors.search(unit(len("I keep bees")), 1)] == [
        rows[1].id
    ]
    assert indexes.cached_users() == ["alice"]
    assert indexes.cached_vectors("alice") == 2


def test_an_unchanged_version_reads_nothing_more(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql)
    version, _ = insert(sql, "alice", ["I grow tomatoes"], clock.now)
    first = synced(indexes, sql, "alice")
    insert(sql, "alice", ["Tomatoes need sun"], clock.now)
    with indexes.lock_for("alice"):
        # The version the search read is the one held: the index is used as it is.
        assert indexes.synced("alice", version) is first
        assert len(keyword_hits(first, "tomatoes")) == 1


def test_another_process_s_writes_are_caught_up(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql)
    _, (kept, changed, gone) = insert(
        sql, "alice", ["I grow tomatoes", "I keep bees", "I sail on weekends"], clock.now
    )
    index = synced(indexes, sql, "alice")
    _, (added,) = insert(sql, "alice", ["Tomatoes and basil"], clock.now)
    result = sql.update("alice", changed.id, {"content": "I keep chickens"}, clock.now)
    assert result is not None
    version = sql.delete("alice", gone.id, clock.now)
    assert synced(indexes, sql, "alice") is index  # caught up in place
    assert index.version == version
    assert sorted(keyword_hits(index, "tomatoes")) == sorted([kept.id, added.id])
    assert keyword_hits(index, "chickens") == [changed.id] and keyword_hits(index, "bees") == []
    assert keyword_hits(index, "sail") == [] and gone.id not in index.created
    assert indexes.cached_vectors("alice") == 3


def test_own_writes_apply_without_a_reload(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql)
    insert(sql, "alice", ["I grow tomatoes"], clock.now)
    index = synced(indexes, sql, "alice")
    version, rows = insert(sql, "alice", ["I keep bees"], clock.now)
    indexes.apply("alice", version, upserted=rows)
    assert index.version == version  # the next search reads nothing more
    assert keyword_hits(index, "bees") == [rows[0].id]
    removed_at = sql.delete("alice", rows[0].id, clock.now)
    assert removed_at is not None
    indexes.apply("alice", removed_at, removed=[rows[0].id])
    assert keyword_hits(index, "bees") == [] and indexes.cached_vectors("alice") == 1
    # A write of another process in between: the version stays behind, and the next
    # search catches up with both.
    _, (foreign,) = insert(sql, "alice", ["Bees like lavender"], clock.now)
    version, (own,) = insert(sql, "alice", ["Lavender grows by the bees"], clock.now)
    indexes.apply("alice", version, upserted=[own])
    assert index.version == removed_at
    assert sorted(keyword_hits(synced(indexes, sql, "alice"), "lavender")) == sorted(
        [foreign.id, own.id]
    )


def test_a_write_for_a_user_not_held_waits_for_their_search(
    sql: SQLStore, clock: ManualClock
) -> None:
    indexes = cache(sql)
    version, rows = insert(sql, "alice", ["I grow tomatoes"], clock.now)
    indexes.apply("alice", version, upserted=rows)
    assert indexes.cached_users() == []
    assert keyword_hits(synced(indexes, sql, "alice"), "tomatoes") == [rows[0].id]


def test_memories_without_a_vector_are_left_to_repair(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql)
    _, (first,) = insert(sql, "alice", ["I grow tomatoes"], clock.now)
    _, (late,) = insert(sql, "alice", ["I keep bees"], clock.now, embedded=False)
    index = synced(indexes, sql, "alice")
    assert keyword_hits(index, "bees") == [late.id]  # searchable by keyword at once
    assert indexes.cached_vectors("alice") == 1
    # New content whose embedding failed: the old vector no longer describes it.
    changed = {"content": "I grow chillies", "embedding": None}
    assert sql.update("alice", first.id, changed, clock.now) is not None
    assert keyword_hits(synced(indexes, sql, "alice"), "chillies") == [first.id]
    assert indexes.cached_vectors("alice") == 0


def test_a_user_who_outgrows_exact_search_lets_go_of_their_vectors(
    sql: SQLStore, clock: ManualClock
) -> None:
    indexes = cache(sql, exact_limit=2)
    insert(sql, "alice", ["one", "two"], clock.now)
    insert(sql, "bob", ["one", "two", "three"], clock.now)
    synced(indexes, sql, "alice")
    synced(indexes, sql, "bob")
    assert indexes.cached_vectors("alice") == 2
    assert indexes.cached_vectors("bob") is None  # over the limit from the start
    version, rows = insert(sql, "alice", ["three"], clock.now)
    indexes.apply("alice", version, upserted=rows)
    assert indexes.cached_vectors("alice") is None
    assert indexes.cached_users() == ["alice", "bob"]  # their keyword index stays


def test_the_least_recently_searched_users_go_first(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql, max_users=2)
    for user in ("alice", "bob", "carol"):
        insert(sql, user, ["hello"], clock.now)
    synced(indexes, sql, "alice")
    synced(indexes, sql, "bob")
    synced(indexes, sql, "alice")
    synced(indexes, sql, "carol")
    assert indexes.cached_users() == ["alice", "carol"]


def test_held_vectors_stay_within_their_bound(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql, max_vectors=5)
    insert(sql, "alice", ["a1", "a2", "a3"], clock.now)
    insert(sql, "bob", ["b1", "b2", "b3"], clock.now)
    insert(sql, "carol", ["c1", "c2", "c3", "c4", "c5", "c6"], clock.now)
    synced(indexes, sql, "alice")
    synced(indexes, sql, "bob")  # 6 vectors together: alice goes
    assert indexes.cached_users() == ["bob"]
    synced(indexes, sql, "carol")  # more than the bound alone: keyword index only
    assert indexes.cached_users() == ["bob", "carol"]
    assert (indexes.cached_vectors("bob"), indexes.cached_vectors("carol")) == (3, None)


def test_keyword_only_search_holds_no_vectors(sql: SQLStore, clock: ManualClock) -> None:
    indexes = UserIndexes(
        sql, Tokenizer(), dimension=None, exact_limit=100, max_users=8, max_vectors=1_000
    )
    _, rows = insert(sql, "alice", ["I grow tomatoes"], clock.now)
    index = synced(indexes, sql, "alice")
    assert index.vectors is None and keyword_hits(index, "tomatoes") == [rows[0].id]
    assert indexes.cached_vectors("alice") is None


def test_forget_and_clear_let_go(sql: SQLStore, clock: ManualClock) -> None:
    indexes = cache(sql)
    for user in ("alice", "bob"):
        insert(sql, user, ["hello"], clock.now)
        synced(indexes, sql, user)
    indexes.forget("alice")
    assert indexes.cached_users() == ["bob"]
    indexes.clear()
    assert indexes.cached_users() == []


def test_user_indexes_docstring_example_runs() -> None:
    assert doctest.testmod(user_indexes_module).failed == 0
