"""Hybrid search over real SQLite, real Chroma and the real embedder, below the engine.

Each test builds the pieces the engine wires (SQL store, vector index, write-behind,
user indexes) and writes memories the way the engine does: SQL first, then the vector
side. The answers are checked against what the candidates and :func:`rank` say.
"""

from __future__ import annotations

import doctest
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multisession import InvalidInputError, ManualClock, RetrievalConfig
from multisession._ids import new_id
from multisession.records import IndexRow, MemoryFilter
from multisession.retrieval import hybrid as hybrid_module
from multisession.retrieval.hybrid import HybridSearch
from multisession.retrieval.terms import Tokenizer
from multisession.retrieval.user_indexes import UserIndexes
from multisession.storage.schema import to_bytes
from multisession.storage.sql_store import SQLStore
from multisession.storage.vectors import ChromaVectorIndex
from multisession.storage.write_behind import WriteBehind

NOTES = [
    "I'm allergic to peanuts",
    "My sister Ingrid lives in Oslo",
    "I run every morning before work",
    "I drink my coffee black",
]
SEMANTIC = RetrievalConfig(bm25_weight=0)
KEYWORD = RetrievalConfig(vector_weight=0)
EVERYTHING = MemoryFilter()


@dataclass
class Stack:
    """The pieces below the engine, wired as the engine wires them."""

    sql: SQLStore
    vectors: ChromaVectorIndex | None
    writes: WriteBehind
    indexes: UserIndexes
    search: HybridSearch
    events: Counter[str]
    embedder: Any
    clock: ManualClock

    def add(self, user_id: str, texts: list[str], kind: str = "fact") -> list[str]:
        vectors = self.writes.embed(texts)
        rows = [
            {
                "id": new_id(),
                "content": text,
                "kind": kind,
                "conversation_id": None,
                "metadata": {},
                "created_at": self.clock.now,
                "embedding": None if vectors is None else to_bytes(vectors[position]),
            }
            for position, text in enumerate(texts)
        ]
        version, inserted = self.sql.insert(user_id, rows, self.clock.now)
        assert version is not None
        index_rows = [
            IndexRow(
                row["id"], row["content"], kind, None, self.clock.now, version, row["embedding"]
            )
            for row in inserted
        ]
        self.indexes.apply(user_id, version, upserted=index_rows)
        self.writes.write(user_id, index_rows, vectors)
        return [row.id for row in index_rows]

    def ids(self, user_id: str, query: str, k: int = 10, **options: Any) -> list[str]:
        return [doc_id for doc_id, _ in self.find(user_id, query, k, **options)]

    def find(self, user_id: str, query: str, k: int = 10, **options: Any) -> Any:
        options.setdefault("where", EVERYTHING)
        options.setdefault("settings", RetrievalConfig())
        return self.search.search(user_id, query, k=k, now=self.clock.now, **options)


@pytest.fixture
def stack(store_dir: Path, minilm: Any, clock: ManualClock) -> Iterator[Any]:
    """Builds a Stack: ``vector_url`` (default: embedded), ``exact_limit``, ``flush_size``."""
    built: list[Stack] = []

    def build(
        *,
        embedder: Any = minilm,
        vector_url: str | None = None,
        exact_limit: int = 50_000,
        flush_size: int = 64,
    ) -> Stack:
        store_dir.mkdir(parents=True, exist_ok=True)
        sql = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
        vectors = ChromaVectorIndex.open(
            vector_url or str(store_dir / "chroma"),
            embedder_name=minilm.name,
            dimension=minilm.dimension,
        )
        events: Counter[str] = Counter()
        writes = WriteBehind(sql, vectors, embedder, clock, flush_size, 600.0, events)
        tokenize = Tokenizer()
        indexes = UserIndexes(
            sql,
            tokenize,
            dimension=minilm.dimension,
            exact_limit=exact_limit,
            max_users=8,
            max_vectors=200_000,
        )
        search = HybridSearch(sql, indexes, vectors, writes, embedder, tokenize, events)
        built.append(Stack(sql, vectors, writes, indexes, search, events, embedder, clock))
        return built[-1]

    yield build
    for each in built:
        each.writes.close()
        each.sql.close()
        if each.vectors is not None:
            each.vectors.close()


@pytest.mark.parametrize("exact_limit", [50_000, 0], ids=["exact", "vector-index"])
def test_both_retrievers_feed_the_ranking(stack, exact_limit):
    memories = stack(exact_limit=exact_limit, flush_size=1)
    ids = memories.add("alice", NOTES)
    hits = memories.find("alice", "which foods must I avoid? peanuts", k=3)
    assert len(hits) == 3
    top_id, top = hits[0]
    assert top_id == ids[0]
    assert (top.bm25_rank, top.vector_rank) == (1, 1)
    assert top.vector_similarity > hits[1][1].vector_similarity
    assert [breakdown.final_score for _, breakdown in hits] == sorted(
        (breakdown.final_score for _, breakdown in hits), reverse=True
    )
    by_meaning = memories.ids("alice", "where does my family live", k=1, settings=SEMANTIC)
    assert by_meaning == [ids[1]]
    by_meaning_only = memories.find("alice", "coffee", settings=SEMANTIC)
    assert {breakdown.bm25_rank for _, breakdown in by_meaning_only} == {None}
    keyword_only = memories.find("alice", "coffee", settings=KEYWORD)
    assert [doc_id for doc_id, _ in keyword_only] == [ids[3]]
    assert keyword_only[0][1].vector_rank is None


def test_an_unknown_user_has_no_hits(stack):
    memories = stack()
    memories.add("alice", NOTES)
    assert memories.find("bob", "peanuts") == []
    assert memories.indexes.cached_users() == []


@pytest.mark.parametrize("exact_limit", [50_000, 0], ids=["exact", "vector-index"])
def test_filters_apply_inside_both_retrievers(stack, exact_limit):
    memories = stack(exact_limit=exact_limit, flush_size=1)
    facts = memories.add("alice", NOTES[:2])
    (preference,) = memories.add("alice", ["I prefer peanut-free snacks"], kind="preference")
    preferences = MemoryFilter(kinds=("preference",))
    assert memories.ids("alice", "peanuts allergy", where=preferences) == [preference]
    assert memories.ids("alice", "peanuts allergy", where=preferences, settings=SEMANTIC) == [
        preference
    ]
    later = MemoryFilter(since=memories.clock.now + timedelta(seconds=1))
    assert memories.ids("alice", "peanuts", where=later) == []
    assert facts[0] in memories.ids("alice", "peanuts")


def test_buffered_vectors_are_searched_with_the_vector_index(stack):
    memories = stack(exact_limit=0)  # flush_size 64: these vectors stay buffered
    indexed = memories.add("alice", NOTES[:2])
    memories.writes.flush_vectors()
    (buffered,) = memories.add("alice", ["My locker code is 4471"])
    assert memories.writes.buffered_vectors == 1
    hits = memories.find("alice", "how do I open my locker", settings=SEMANTIC)
    assert [doc_id for doc_id, _ in hits][0] == buffered
    assert {doc_id for doc_id, _ in hits} == {buffered, *indexed}
    # A buffered vector is the newest of its memory: it wins over the indexed one.
    content = "I live in a lighthouse"
    vector = memories.writes.embed([content])
    assert vector is not None
    changed = {"content": content, "embedding": to_bytes(vector[0])}
    result = memories.sql.update("alice", indexed[0], changed, memories.clock.now)
    assert result is not None
    _, version, embedding = result
    row = IndexRow(indexed[0], content, "fact", None, memories.clock.now, version, embedding)
    memories.indexes.apply("alice", version, upserted=[row])
    memories.writes.write("alice", [row], vector)
    question = "unusual home by the sea"
    top_id, top = memories.find("alice", question, k=1, settings=SEMANTIC)[0]
    assert top_id == indexed[0]
    expected = float(np.dot(vector[0], memories.embedder.embed([question])[0]))
    assert top.vector_similarity == pytest.approx(expected, abs=1e-5)


def test_a_vector_of_a_deleted_memory_is_never_returned(stack):
    memories = stack(exact_limit=0, flush_size=1)
    keep, gone = memories.add("alice", ["I like tea", "I like coffee"])
    assert memories.sql.delete("alice", gone, memories.clock.now) is not None
    assert memories.vectors is not None and gone in memories.vectors.ids("alice")
    assert memories.ids("alice", "coffee", settings=SEMANTIC) == [keep]


def test_an_unreachable_vector_server_answers_from_keywords(stack, own_chroma_server):
    memories = stack(exact_limit=0, flush_size=1, vector_url=own_chroma_server.url)
    ids = memories.add("alice", NOTES)
    own_chroma_server.stop()
    hits = memories.find("alice", "peanuts")
    assert [doc_id for doc_id, _ in hits] == [ids[0]]
    assert hits[0][1].vector_rank is None
    assert memories.events["vector_search_failed"] == 1


def test_a_failing_query_embedding_answers_from_keywords(stack, unreachable_embedder):
    memories = stack(embedder=unreachable_embedder)
    (memory,) = memories.add("alice", ["I'm allergic to peanuts"])  # no vector either
    hits = memories.find("alice", "peanuts")
    assert [doc_id for doc_id, _ in hits] == [memory]
    assert memories.events["query_embedding_failed"] == 1
    assert memories.events["embedding_failed"] == 1


def test_a_given_query_vector_is_normalised_and_checked(stack, minilm):
    memories = stack()
    ids = memories.add("alice", NOTES)
    vector = minilm.embed(["food allergy"])[0]
    scaled = memories.find("alice", "x", query_vector=vector * 7.0, settings=SEMANTIC)
    plain = memories.find("alice", "x", query_vector=list(vector), settings=SEMANTIC)
    assert scaled[0][0] == plain[0][0] == ids[0]
    assert scaled[0][1].vector_similarity == pytest.approx(plain[0][1].vector_similarity)
    with pytest.raises(InvalidInputError, match="query_vector must hold 384 finite numbers"):
        memories.find("alice", "x", query_vector=[0.1, 0.2])
    with pytest.raises(InvalidInputError, match="query_vector"):
        memories.find("alice", "x", query_vector=[float("nan")] * 384)
    # Keyword-only settings never look at the vector.
    assert memories.ids("alice", "peanuts", query_vector=[0.1], settings=KEYWORD) == [ids[0]]


def test_hybrid_docstring_example_runs():
    assert doctest.testmod(hybrid_module).failed == 0
