"""Loading a user's indexes from SQL in bulk: stored terms, one decode, bounded by bytes.

A search of a user whose indexes are not held loads them from SQL. These tests check
that the bulk load builds exactly what writes applied one by one build, that it reads
the terms stored with each memory only when this tokenizer made them (and tokenizes the
rest), and that the cache keeps within its bound of bytes.
"""

from __future__ import annotations

import gc
import sqlite3
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from multisession import ManualClock, MemoryEngine
from multisession._ids import new_id
from multisession.records import IndexRow
from multisession.retrieval.terms import Tokenizer, TokenizerConfig
from multisession.retrieval.user_indexes import UserIndex, UserIndexes
from multisession.storage.schema import memories_table, to_bytes
from multisession.storage.sql_store import SQLStore

DIMENSION = 8
TEXTS = [
    "We got a puppy last weekend",
    "Look at him, he is so tiny!",
    "He chews on every shoe in the house",
    "The vet said he is healthy",
    "I started running again in the mornings",
    "My knee hurts after long runs",
    "The marathon is in October",
    "I signed up for a half marathon instead",
    "Dinner at the Italian place on Friday",
    "They were out of tiramisu, sadly",
]


@pytest.fixture
def sql(store_dir: Path) -> Iterator[SQLStore]:
    store_dir.mkdir(parents=True, exist_ok=True)
    store = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    yield store
    store.close()


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return vector / np.linalg.norm(vector)


def rows_for(texts: list[str], start: datetime, terms_by: Tokenizer | None) -> list[dict]:
    """Memory rows in three conversations, with vectors; terms stored by ``terms_by``."""
    rows = []
    for position, text in enumerate(texts):
        row = {
            "id": new_id(),
            "content": text,
            "kind": "fact",
            "conversation_id": f"c{position % 3}" if position % 4 else None,
            "metadata": {},
            "created_at": start + timedelta(minutes=position),
            "embedding": to_bytes(unit(position)) if position != 5 else None,
        }
        if terms_by is not None:
            row["terms"] = terms_by.stored(text)
        rows.append(row)
    return rows


def index_rows(rows: list[dict], version: int) -> list[IndexRow]:
    return [
        IndexRow(
            row["id"],
            row["content"],
            row["kind"],
            row["conversation_id"],
            row["created_at"],
            version,
            row["embedding"],
            row.get("terms"),
        )
        for row in rows
    ]


def load(indexes: UserIndexes, sql: SQLStore, user: str) -> UserIndex:
    version = sql.user_version(user)
    assert version is not None
    with indexes.lock_for(user):
        return indexes.synced(user, version)


def snapshot(index: UserIndex, queries: list[list[str]]) -> dict:
    """Everything a search reads of an index, for windows 0 to 2.

    Keyword hits as id -> score (rounded): a document re-indexed by a write moves to
    the end of the corpus order, which changes the order of floating-point sums only.
    """
    assert index.vectors is not None
    return {
        "revisions": index.revisions,
        "created": index.created,
        "keywords": {
            window: [
                {
                    doc_id: round(score, 9)
                    for doc_id, score in index.keywords.index(window).top_n(query, 10)
                }
                for query in queries
            ]
            for window in range(3)
        },
        "documents": {
            window: {
                doc_id: index.keywords.document(doc_id, window)
                for doc_id in index.keywords.index(window).doc_ids()
            }
            for window in range(3)
        },
        "vectors": [index.vectors.search(unit(seed), 10) for seed in range(4)],
        "vector_count": len(index.vectors),
    }


def test_a_bulk_load_equals_the_writes_applied_one_by_one(
    sql: SQLStore, clock: ManualClock
) -> None:
    tokenize = Tokenizer()
    queries = [tokenize(text) for text in ("puppy shoes", "marathon running", "tiramisu", "he")]
    applied = UserIndexes(sql, tokenize, dimension=DIMENSION, exact_limit=100)
    version, _ = sql.insert("alice", rows_for(["placeholder"], clock.now, tokenize), clock.now)
    assert version is not None
    load(applied, sql, "alice")  # held: the writes below are applied to it
    for window in range(3):
        load(applied, sql, "alice").keywords.index(window)
    for text in TEXTS:
        version, inserted = sql.insert("alice", rows_for([text], clock.now, tokenize), clock.now)
        assert version is not None
        applied.apply("alice", version, upserted=index_rows(inserted, version))

    loaded = UserIndexes(sql, tokenize, dimension=DIMENSION, exact_limit=100)
    assert snapshot(load(loaded, sql, "alice"), queries) == snapshot(
        load(applied, sql, "alice"), queries
    )


def test_terms_are_stored_with_every_write(store_dir: Path, clock: ManualClock) -> None:
    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        memory = engine.add("alice", "She's running the marathons")
        engine.update("alice", memory.id, content="Alice swims in the lake")
        other = engine.add_many("alice", ["Bob bakes bread"])[0]
    store = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    try:
        with store.engine.connect() as conn:
            stored = dict(
                conn.execute(sa.select(memories_table.c.id, memories_table.c.terms)).all()
            )
    finally:
        store.close()
    tokenize = Tokenizer()
    assert stored == {
        memory.id: f"{tokenize.key} alic swim lake",
        other.id: f"{tokenize.key} bob bake bread",
    }


def test_rows_without_stored_terms_are_tokenized_when_loaded(
    sql: SQLStore, clock: ManualClock
) -> None:
    tokenize = Tokenizer()
    queries = [tokenize(text) for text in ("puppy shoes", "marathon running", "tiramisu")]
    sql.insert("with", rows_for(TEXTS, clock.now, tokenize), clock.now)
    sql.insert("without", rows_for(TEXTS, clock.now, None), clock.now)  # an earlier version
    indexes = UserIndexes(sql, tokenize, dimension=DIMENSION, exact_limit=100)
    with_terms = snapshot(load(indexes, sql, "with"), queries)
    without_terms = snapshot(load(indexes, sql, "without"), queries)
    # The same memories under other ids: the same rankings, position by position.
    for window in range(3):
        for ranked, expected in zip(
            without_terms["keywords"][window], with_terms["keywords"][window], strict=True
        ):
            assert sorted(ranked.values()) == sorted(expected.values())
            assert ranked != {}


def test_terms_another_tokenizer_stored_are_made_again(sql: SQLStore, clock: ManualClock) -> None:
    plain = Tokenizer(TokenizerConfig(stemmer=None, stopwords=frozenset()))
    stemming = Tokenizer()
    assert plain.key != stemming.key
    rows = rows_for(["I love running"], clock.now, plain)
    assert rows[0]["terms"] == f"{plain.key} i love running"
    sql.insert("alice", rows, clock.now)
    index = load(UserIndexes(sql, stemming, dimension=None, exact_limit=0), sql, "alice")
    # Stemmed at load: the plain terms ("running") would not match "run".
    assert [doc_id for doc_id, _ in index.bm25.top_n(stemming("run"), 1)] == [rows[0]["id"]]
    assert index.keywords.document(rows[0]["id"], 0) == ["love", "run"]


def test_the_cache_keeps_within_its_bytes(sql: SQLStore, clock: ManualClock) -> None:
    tokenize = Tokenizer()
    for user in ("alice", "bob", "carol"):
        sql.insert(user, rows_for(TEXTS, clock.now, tokenize), clock.now)
    probe = UserIndexes(sql, tokenize, dimension=DIMENSION, exact_limit=100)
    one_user = load(probe, sql, "alice").estimated_bytes()
    assert probe.cached_bytes() == one_user > 0

    indexes = UserIndexes(
        sql, tokenize, dimension=DIMENSION, exact_limit=100, max_bytes=int(2.5 * one_user)
    )
    load(indexes, sql, "alice")
    load(indexes, sql, "bob")
    load(indexes, sql, "alice")
    assert indexes.cached_users() == ["bob", "alice"]
    load(indexes, sql, "carol")  # three would not fit: the least recently searched goes
    assert indexes.cached_users() == ["alice", "carol"]
    held = [load(indexes, sql, user).estimated_bytes() for user in ("alice", "carol")]
    assert indexes.cached_bytes() == sum(held) <= 2.5 * one_user
    indexes.forget("alice")
    assert indexes.cached_bytes() == held[1]
    tiny = UserIndexes(sql, tokenize, dimension=DIMENSION, exact_limit=100, max_bytes=1)
    load(tiny, sql, "alice")
    load(tiny, sql, "bob")
    assert tiny.cached_users() == ["bob"]  # the user being searched is always held


def test_the_byte_estimate_is_close_to_what_an_index_takes(
    sql: SQLStore, clock: ManualClock
) -> None:
    tokenize = Tokenizer()
    texts = [f"{TEXTS[n % len(TEXTS)]} (note {n} of day {n % 31})" for n in range(600)]
    sql.insert("alice", rows_for(texts, clock.now, tokenize), clock.now)
    indexes = UserIndexes(sql, tokenize, dimension=DIMENSION, exact_limit=10_000)
    load(indexes, sql, "alice").keywords.index(0)  # warm up: imports, caches
    indexes.forget("alice")
    gc.collect()
    tracemalloc.start()
    try:
        index = load(indexes, sql, "alice")
        index.keywords.index(0)
        index.keywords.index(2)
        gc.collect()
        taken, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.7 * taken <= index.estimated_bytes() <= 1.4 * taken


def test_a_store_from_before_terms_were_stored_gains_them(
    store_dir: Path, clock: ManualClock
) -> None:
    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        old = engine.add("alice", "I keep bees in the garden")
    db = store_dir / "memory.db"
    with sqlite3.connect(db) as conn:  # as an earlier version left it
        conn.execute("ALTER TABLE ms_memories DROP COLUMN terms")

    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        new = engine.add("alice", "The bees swarmed in May")
        assert [hit.memory.id for hit in engine.search("alice", "bees garden")] == [old.id, new.id]
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT id, terms FROM ms_memories").fetchall())
    assert stored == {old.id: None, new.id: f"{Tokenizer().key} bee swarm may"}


def test_the_engine_bounds_its_held_indexes_by_bytes(store_dir: Path, clock: ManualClock) -> None:
    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        for user in ("alice", "bob", "carol"):
            engine.add_many(user, TEXTS)
            engine.search(user, "marathon")
        assert engine.indexes.cached_users() == ["alice", "bob", "carol"]  # 1 GiB: all fit
        one_user = engine.indexes.cached_bytes() // 3
    with MemoryEngine(
        store_dir, embedder=None, clock=clock, max_cached_bytes=2 * one_user + one_user // 2
    ) as engine:
        for user in ("alice", "bob", "carol", "alice"):
            assert engine.search(user, "marathon")
        assert engine.indexes.cached_users() == ["carol", "alice"]
        assert engine.indexes.cached_bytes() <= 2 * one_user + one_user // 2


def test_repair_stores_the_terms_an_earlier_version_did_not(
    store_dir: Path, clock: ManualClock
) -> None:
    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        first = engine.add("alice", "I keep bees in the garden")
        second = engine.add("bob", "Bob bakes bread")
    db = store_dir / "memory.db"
    with sqlite3.connect(db) as conn:  # as an earlier version wrote them
        conn.execute("UPDATE ms_memories SET terms = NULL")
        versions_before = conn.execute("SELECT * FROM ms_users ORDER BY user_id").fetchall()

    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        engine.repair()
        assert engine.events["terms_stored"] == 2
        engine.repair()
        assert engine.events["terms_stored"] == 2  # nothing left to store
        assert [hit.memory.id for hit in engine.search("alice", "bees")] == [first.id]
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT id, terms FROM ms_memories").fetchall())
        versions = conn.execute("SELECT * FROM ms_users ORDER BY user_id").fetchall()
    key = Tokenizer().key
    assert stored == {first.id: f"{key} keep bee garden", second.id: f"{key} bob bake bread"}
    assert versions == versions_before  # no index has anything to catch up with
