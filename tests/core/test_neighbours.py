"""Keyword documents with neighbour windows, against rank_bm25 over documents built alike.

The oracle rebuilds every document from scratch (the memories of a conversation sorted
by time, then id; the window's terms concatenated in that order) and scores them with
``rank_bm25.BM25Okapi``; the incremental indexes must agree bit for bit after any
sequence of writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from multisession.retrieval.neighbours import NeighbourIndexes, Passage

WORDS = ["tea", "coffe", "puppi", "pari", "bike", "cello", "garden", "bee"]
CONVERSATIONS = ["c1", "c2", None]


def expected_document(passages: dict[str, Passage], doc_id: str, window: int) -> list[str]:
    """The document by the definition, rebuilt from every memory."""
    passage = passages[doc_id]
    if passage.conversation_id is None or window == 0:
        return list(passage.tokens)
    thread = sorted(
        (p.created_at, p.id)
        for p in passages.values()
        if p.conversation_id == passage.conversation_id
    )
    place = thread.index((passage.created_at, doc_id))
    tokens: list[str] = []
    for _, neighbour in thread[max(0, place - window) : place + window + 1]:
        tokens.extend(passages[neighbour].tokens)
    return tokens


def assert_exact(
    indexes: NeighbourIndexes, passages: dict[str, Passage], queries: Sequence[list[str]]
) -> None:
    for window in (0, 1, 2, 3):
        index = indexes.index(window)
        ids = index.doc_ids()
        assert sorted(ids) == sorted(passages)
        corpus = [expected_document(passages, doc_id, window) for doc_id in ids]
        assert [indexes.document(doc_id, window) for doc_id in ids] == corpus
        if not any(corpus):
            continue
        okapi = BM25Okapi(corpus)
        for query in queries:
            assert index.get_scores(query).tolist() == okapi.get_scores(query).tolist()


passage_st = st.tuples(
    st.integers(0, 11),  # id number
    st.lists(st.sampled_from(WORDS), max_size=5),
    st.sampled_from(CONVERSATIONS),
    st.integers(0, 6),  # created_at: ties are common
)
op_st = st.one_of(
    st.tuples(st.just("upsert"), st.lists(passage_st, min_size=1, max_size=4)),
    st.tuples(st.just("remove"), st.lists(st.integers(0, 11), min_size=1, max_size=3)),
    st.tuples(st.just("build"), st.integers(0, 3)),
)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(op_st, max_size=40),
    queries=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), min_size=1),
)
def test_any_sequence_of_writes_scores_like_rank_bm25_over_windowed_documents(
    ops: list[tuple[str, object]], queries: list[list[str]]
) -> None:
    indexes = NeighbourIndexes()
    passages: dict[str, Passage] = {}
    for kind, payload in ops:
        if kind == "upsert":
            assert isinstance(payload, list)
            batch = [
                Passage(f"m{number:02d}", tokens, conversation, float(created))
                for number, tokens, conversation, created in payload
            ]
            indexes.upsert(batch)
            for passage in batch:
                passages[passage.id] = passage
        elif kind == "remove":
            assert isinstance(payload, list)
            indexes.remove([f"m{number:02d}" for number in payload])
            for number in payload:
                passages.pop(f"m{number:02d}", None)
        else:
            assert isinstance(payload, int)
            indexes.index(payload)  # held from here on, kept in step by later writes
    assert_exact(indexes, passages, queries)


def test_a_memory_is_found_by_its_neighbours_words_but_only_in_its_conversation() -> None:
    indexes = NeighbourIndexes()
    indexes.upsert(
        [
            Passage("a", ["we", "got", "puppi"], "c1", 1.0),
            Passage("b", ["look", "at", "him"], "c1", 2.0),
            Passage("c", ["nice", "weather"], "c1", 3.0),
            Passage("d", ["look", "at", "that"], "c2", 2.0),
            Passage("e", ["look", "here"], None, 2.0),
        ]
    )
    assert indexes.document("b", 1) == [
        "we",
        "got",
        "puppi",
        "look",
        "at",
        "him",
        "nice",
        "weather",
    ]
    assert indexes.document("a", 1) == ["we", "got", "puppi", "look", "at", "him"]
    assert indexes.document("e", 2) == ["look", "here"]
    assert {doc_id for doc_id, _ in indexes.index(1).top_n(["puppi"], 5)} == {"a", "b"}
    assert {doc_id for doc_id, _ in indexes.index(0).top_n(["puppi"], 5)} == {"a"}


def test_adding_and_deleting_update_the_neighbours_without_a_rebuild() -> None:
    indexes = NeighbourIndexes()
    indexes.upsert([Passage(f"m{i}", [f"w{i}"], "c1", float(i)) for i in range(0, 10, 2)])
    index = indexes.index(1)
    before = index.doc_ids()
    indexes.upsert([Passage("m5", ["w5"], "c1", 5.0)])  # between m4 and m6
    # Only the new memory and its two neighbours were re-indexed (they moved to the end).
    assert indexes.index(1) is index
    assert index.doc_ids()[:3] == [doc for doc in before if doc not in {"m4", "m6"}]
    assert set(index.doc_ids()[3:]) == {"m4", "m5", "m6"}
    assert indexes.document("m4", 1) == ["w2", "w4", "w5"]
    indexes.remove(["m5"])
    assert indexes.document("m4", 1) == ["w2", "w4", "w6"]
    assert indexes.document("m6", 1) == ["w4", "w6", "w8"]
    assert "m5" not in index and len(indexes) == 5


def test_unknown_ids_are_ignored_on_removal_and_refused_by_document() -> None:
    indexes = NeighbourIndexes()
    indexes.remove(["nothing"])
    assert len(indexes) == 0 and indexes.windows() == []
    with pytest.raises(KeyError):
        indexes.document("nothing", 1)
