"""The write path on a real SQLite store: SQL first, then the user index and the vectors.

The evidence for each rule is what SQL holds, what the held user index finds and what
waits in the write-behind buffer for the vector index.
"""

from __future__ import annotations

import doctest
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multisession import ManualClock, MemoryInput, as_embedder
from multisession._validation import memory_rows
from multisession.retrieval import indexing as indexing_module
from multisession.retrieval.indexing import Indexer
from multisession.retrieval.terms import Tokenizer
from multisession.retrieval.user_indexes import UserIndexes
from multisession.storage.schema import from_bytes
from multisession.storage.sql_store import SQLStore
from multisession.storage.vectors import ChromaVectorIndex
from multisession.storage.write_behind import WriteBehind


@pytest.fixture
def embedded_texts() -> list[str]:
    """Every text the embedder was asked for, in order."""
    return []


@pytest.fixture
def parts(
    store_dir: Path, minilm: Any, clock: ManualClock, embedded_texts: list[str]
) -> Iterator[dict[str, Any]]:
    def embed(texts: list[str]) -> Any:
        embedded_texts.extend(texts)
        return minilm.embed(texts)

    embedder = as_embedder(embed, name=minilm.name)
    store_dir.mkdir(parents=True, exist_ok=True)
    sql = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    vectors = ChromaVectorIndex.open(
        str(store_dir / "chroma"), embedder_name=minilm.name, dimension=minilm.dimension
    )
    writes = WriteBehind(sql, vectors, embedder, clock, 64, 600.0, Counter())
    indexes = UserIndexes(
        sql, Tokenizer(), dimension=minilm.dimension, exact_limit=100, max_users=8, max_vectors=100
    )
    yield {
        "sql": sql,
        "writes": writes,
        "indexes": indexes,
        "indexer": Indexer(sql, indexes, writes),
        "now": clock.now,
    }
    writes.close()
    sql.close()
    vectors.close()


def rows(items: list[Any], now: datetime) -> list[dict[str, Any]]:
    return memory_rows(items, now, 10_000)


def hold(parts: dict[str, Any], user_id: str) -> Any:
    """Load the user's index as a search would, so that writes are applied to it."""
    version = parts["sql"].user_version(user_id)
    with parts["indexes"].lock_for(user_id):
        return parts["indexes"].synced(user_id, version)


def buffered(parts: dict[str, Any], user_id: str) -> dict[str, Any]:
    return {entry.row.id: entry.vector for entry in parts["writes"].pending(user_id)}


def test_add_commits_in_sql_then_reaches_both_indexes(parts):
    indexer, now = parts["indexer"], parts["now"]
    first = indexer.add("alice", rows(["I grow tomatoes"], now), now)
    index = hold(parts, "alice")
    added = indexer.add("alice", rows(["I keep bees", MemoryInput("Bees like sun")], now), now)
    assert [memory.content for memory in added] == ["I keep bees", "Bees like sun"]
    assert {row.id for row in parts["sql"].index_rows("alice")} == {
        memory.id for memory in first + added
    }
    assert index.version == parts["sql"].user_version("alice")  # applied, no reload
    assert sorted(doc for doc, _ in index.bm25.top_n(Tokenizer()("bees"), 5)) == sorted(
        memory.id for memory in added
    )
    assert set(buffered(parts, "alice")) == {memory.id for memory in first + added}
    stored = {
        row.id: row.embedding for row in parts["sql"].index_rows("alice", with_embeddings=True)
    }
    for memory_id, vector in buffered(parts, "alice").items():
        np.testing.assert_array_equal(from_bytes(stored[memory_id], 384), vector)


def test_skipped_ids_are_never_embedded(parts, embedded_texts):
    indexer, now = parts["indexer"], parts["now"]
    items = [MemoryInput(f"imported line {n}", id=f"{n:032x}") for n in range(3)]
    indexer.add("alice", rows(items[:2], now), now)
    embedded_texts.clear()
    again = indexer.add("alice", rows(items, now), now, skip_existing=True)
    assert [memory.id for memory in again] == [f"{2:032x}"]
    assert embedded_texts == ["imported line 2"]
    assert indexer.add("alice", rows(items, now), now, skip_existing=True) == []
    assert embedded_texts == ["imported line 2"]


def test_update_re_embeds_new_content_and_reuses_sql_s_vector_for_a_new_kind(parts, embedded_texts):
    indexer, now, writes = parts["indexer"], parts["now"], parts["writes"]
    (memory,) = indexer.add("alice", rows(["I drive a red bicycle"], now), now)
    writes.flush_vectors()
    index = hold(parts, "alice")
    embedded_texts.clear()
    updated = indexer.update("alice", memory.id, {"content": "I take the tram"}, now)
    assert updated is not None and updated.content == "I take the tram"
    assert embedded_texts == ["I take the tram"]
    assert [doc for doc, _ in index.bm25.top_n(Tokenizer()("tram"), 5)] == [memory.id]
    new_vector = buffered(parts, "alice")[memory.id]
    writes.flush_vectors()
    # A new kind: the vector index filters on it, so its entry is written again, with
    # the vector SQL keeps (nothing is embedded).
    assert indexer.update("alice", memory.id, {"kind": "episode"}, now) is not None
    assert embedded_texts == ["I take the tram"]
    pending = parts["writes"].pending("alice")
    assert [entry.row.kind for entry in pending] == ["episode"]
    np.testing.assert_array_equal(pending[0].vector, new_vector)
    writes.flush_vectors()
    # Metadata alone leaves the vector index as it is.
    assert indexer.update("alice", memory.id, {"metadata": {"v": 2}}, now) is not None
    assert writes.pending("alice") == []
    assert indexer.update("alice", "0" * 32, {"kind": "fact"}, now) is None


def test_content_whose_embedding_fails_drops_the_old_vector(parts, unreachable_embedder):
    indexer, now, sql = parts["indexer"], parts["now"], parts["sql"]
    (memory,) = indexer.add("alice", rows(["I drive a red bicycle"], now), now)
    parts["writes"].flush_vectors()
    failing = WriteBehind(sql, None, unreachable_embedder, lambda: now, 64, 600.0, Counter())
    Indexer(sql, parts["indexes"], failing).update(
        "alice", memory.id, {"content": "I take the tram"}, now
    )
    (row,) = sql.index_rows("alice", with_embeddings=True)
    assert row.embedding is None and row.content == "I take the tram"
    assert sql.stats()["pending_vectors"] == 1  # repair() embeds it later
    assert failing.events["embedding_failed"] == 1


def test_delete_reaches_sql_the_user_index_and_the_buffer(parts):
    indexer, now = parts["indexer"], parts["now"]
    keep, gone = indexer.add("alice", rows(["I like tea", "I like coffee"], now), now)
    index = hold(parts, "alice")
    assert indexer.delete("alice", gone.id, now)
    assert not indexer.delete("alice", gone.id, now)
    assert [row.id for row in parts["sql"].index_rows("alice")] == [keep.id]
    assert gone.id not in index.created and set(buffered(parts, "alice")) == {keep.id}


def test_indexing_docstring_example_runs():
    assert doctest.testmod(indexing_module).failed == 0
