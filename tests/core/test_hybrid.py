"""Hybrid search over real SQLite, real Chroma and the real embedder, below the engine.

Each test builds the pieces the engine wires (SQL store, vector index, write-behind,
user indexes) and writes memories the way the engine does: SQL first, then the vector
side. The answers are checked against what the candidates and :func:`rank` say.
"""

from __future__ import annotations

import doctest
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from multisession import PRESETS, InvalidInputError, ManualClock, RetrievalConfig
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
WINDOWED = replace(KEYWORD, neighbour_window=2)
RECALL = PRESETS["recall"]
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

    def add(
        self,
        user_id: str,
        texts: list[str],
        kind: str = "fact",
        conversation_id: str | None = None,
    ) -> list[str]:
        vectors = self.writes.embed(texts)
        rows = [
            {
                "id": new_id(),
                "content": text,
                "kind": kind,
                "conversation_id": conversation_id,
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
                row["id"],
                row["content"],
                kind,
                conversation_id,
                self.clock.now,
                version,
                row["embedding"],
            )
            for row in inserted
        ]
        self.indexes.apply(user_id, version, upserted=index_rows)
        self.writes.write(user_id, index_rows, vectors)
        return [row.id for row in index_rows]

    def delete(self, user_id: str, memory_id: str) -> None:
        version = self.sql.delete(user_id, memory_id, self.clock.now)
        assert version is not None
        self.indexes.apply(user_id, version, removed=[memory_id])
        self.writes.delete(user_id, memory_id)

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


CHAT = [
    "We adopted a puppy last weekend",
    "Look at him sleeping on the sofa",
    "He already chewed one of my slippers",
    "The weather was lovely all week",
]


def test_a_memory_is_found_by_the_words_of_its_neighbours_in_its_conversation(stack):
    memories = stack()
    chat = memories.add("alice", CHAT, conversation_id="c1")
    other = memories.add("alice", ["Look at him go, said the coach"], conversation_id="c2")
    loose = memories.add("alice", ["He chewed gum all day"])
    window = {
        size: set(memories.ids("alice", "puppy", settings=replace(KEYWORD, neighbour_window=size)))
        for size in (0, 1, 2)
    }
    assert window == {0: {chat[0]}, 1: set(chat[:2]), 2: set(chat[:3])}
    # Only memories of the same conversation are neighbours; none without a conversation.
    assert set(memories.ids("alice", "chewed", settings=WINDOWED)) == {*chat[:4], *loose}
    assert other[0] not in memories.ids("alice", "puppy slippers", settings=WINDOWED)
    # Deleting a memory updates its neighbours' documents: the weather turn moves to
    # within two turns of the puppy.
    memories.delete("alice", chat[1])
    assert set(memories.ids("alice", "puppy", settings=WINDOWED)) == {chat[0], *chat[2:]}
    assert set(memories.ids("alice", "sofa", settings=WINDOWED)) == set()


def test_windowed_scores_are_reproducible_from_sql(stack, minilm):
    """An index kept in step by writes scores like rank_bm25 over documents built from SQL."""
    memories = stack()
    first = memories.add("alice", CHAT, conversation_id="c1")
    memories.find("alice", "puppy", settings=RECALL)  # from here on window 2 is kept in step
    memories.add("alice", NOTES)
    memories.add("alice", ["We walked the puppy", "My slippers are gone"], conversation_id="c1")
    memories.delete("alice", first[2])
    query = Tokenizer()("puppy slippers weather")
    rows = memories.sql.index_rows("alice")
    tokens = {row.id: Tokenizer()(row.content) for row in rows}
    thread = sorted((row.created_at, row.id) for row in rows if row.conversation_id == "c1")
    order = [doc_id for _, doc_id in thread]

    def document(doc_id: str) -> list[str]:
        if doc_id not in order:
            return tokens[doc_id]
        place = order.index(doc_id)
        return [t for neighbour in order[max(0, place - 2) : place + 3] for t in tokens[neighbour]]

    reloaded = UserIndexes(
        memories.sql, Tokenizer(), dimension=None, exact_limit=0, max_users=8, max_vectors=0
    )
    version = memories.sql.user_version("alice")
    assert version is not None
    for indexes in (memories.indexes, reloaded):
        with indexes.lock_for("alice"):
            index = indexes.synced("alice", version).keywords.index(2)
            ids = index.doc_ids()
            expected = BM25Okapi([document(doc_id) for doc_id in ids]).get_scores(query)
            assert index.get_scores(query).tolist() == expected.tolist()


def test_convex_fusion_scores_every_candidate_on_both_sides(stack, minilm):
    memories = stack()
    family = ["My brother lives in Bergen", "My parents live in Stockholm"]
    ids = memories.add("alice", NOTES + family)
    # The words point at the peanuts, the vector at the family in Scandinavia.
    vector = minilm.embed(["My sister Ingrid lives in Oslo"])[0]
    options = {"k": 2, "query_vector": vector}
    narrow = replace(RECALL, candidate_depth=1)
    convex = dict(memories.find("alice", "peanuts", settings=narrow, **options))
    reciprocal = dict(
        memories.find("alice", "peanuts", settings=replace(narrow, fusion="rrf"), **options)
    )
    assert reciprocal[ids[0]].vector_similarity is None  # outside the vector candidates
    assert convex[ids[0]].vector_similarity is not None  # scored for the fusion anyway
    assert convex[ids[0]].bm25_rank == 1 and convex[ids[1]].bm25_score is None


def test_a_date_the_query_names_boosts_memories_written_then(stack):
    memories = stack()
    before = memories.add("alice", ["I baked bread"])
    memories.clock.advance(days=3)
    inside = memories.add("alice", ["I baked a cake"])
    memories.clock.advance(days=1)
    hits = dict(memories.find("alice", "what did I bake yesterday?", settings=RECALL))
    assert hits[inside[0]].date_boost == 1.5 and hits[before[0]].date_boost == 1.0
    assert hits[inside[0]].final_score == pytest.approx(
        hits[inside[0]].fused_score * hits[inside[0]].temporal_multiplier * 1.5
    )
    unboosted = dict(
        memories.find("alice", "what did I bake yesterday?", settings=RetrievalConfig(date_boost=1))
    )
    assert {breakdown.date_boost for breakdown in unboosted.values()} == {1.0}


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
    _, version, embedding, _ = result
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
