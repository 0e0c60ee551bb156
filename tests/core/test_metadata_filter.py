"""Metadata filters on search, list and count, on every backend (applied in SQL)."""

from __future__ import annotations

from typing import Any

import pytest

from multisession import InvalidInputError, MemoryEngine

ITEMS: list[dict[str, Any]] = [
    {"content": "red apple from Oslo", "metadata": {"color": "red", "size": 3, "fresh": True}},
    {"content": "green apple", "metadata": {"color": "green", "size": 7, "fresh": False}},
    {"content": "red brick", "metadata": {"color": "red", "size": 12, "where": {"city": "Oslo"}}},
    {"content": "apple of no colour", "metadata": {"size": "3"}},
]


def _contents(memories: list[Any]) -> set[str]:
    return {memory.content for memory in memories}


def _listed(engine: MemoryEngine, where: dict[str, Any]) -> set[str]:
    return _contents(engine.list("alice", filter=where))


@pytest.fixture
def filled(fresh_engine: MemoryEngine) -> MemoryEngine:
    fresh_engine.add_many("alice", ITEMS)
    # Another user with the same metadata: never matched through alice.
    fresh_engine.add("bob", "red apple", metadata={"color": "red", "size": 3})
    return fresh_engine


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"color": "red"}, {"red apple from Oslo", "red brick"}),
        ({"color": {"$eq": "green"}}, {"green apple"}),
        ({"color": {"$ne": "red"}}, {"green apple", "apple of no colour"}),
        ({"size": 3}, {"red apple from Oslo"}),  # the string "3" is not the number 3
        ({"size": {"$gt": 3}}, {"green apple", "red brick"}),
        ({"size": {"$gte": 3, "$lt": 12}}, {"red apple from Oslo", "green apple"}),
        ({"size": {"$lte": 7}}, {"red apple from Oslo", "green apple"}),
        ({"fresh": True}, {"red apple from Oslo"}),
        ({"fresh": False}, {"green apple"}),
        ({"color": None}, {"apple of no colour"}),  # a missing field equals None
        ({"where": {"city": "Oslo"}}, {"red brick"}),
        ({"color": "red", "size": {"$gt": 5}}, {"red brick"}),
    ],
)
def test_list_and_count_keep_only_matching_memories(
    filled: MemoryEngine, where: dict[str, Any], expected: set[str]
) -> None:
    assert _listed(filled, where) == expected
    assert filled.count("alice", filter=where) == len(expected)


def test_search_applies_the_filter_inside_both_retrievers(filled: MemoryEngine) -> None:
    hits = filled.search("alice", "apple", k=10, filter={"color": "red"})
    assert {hit.memory.content for hit in hits} == {"red apple from Oslo", "red brick"}
    assert all(hit.memory.user_id == "alice" for hit in hits)


def test_a_page_is_taken_after_the_filter(filled: MemoryEngine) -> None:
    first = filled.list("alice", filter={"color": "red"}, limit=1)
    second = filled.list("alice", filter={"color": "red"}, limit=1, offset=1)
    assert _contents(first + second) == {"red apple from Oslo", "red brick"}


def test_list_orders_by_updated_at_on_request(engine: MemoryEngine, clock: Any) -> None:
    older = engine.add("alice", "first written")
    clock.advance(minutes=1)
    engine.add("alice", "second written")
    clock.advance(minutes=1)
    engine.update("alice", older.id, content="first written, then changed")
    by_update = engine.list("alice", order_by="updated_at")
    by_creation = engine.list("alice")
    assert [m.content for m in by_update] == ["first written, then changed", "second written"]
    assert [m.content for m in by_creation] == ["second written", "first written, then changed"]
    with pytest.raises(InvalidInputError, match="order_by must be"):
        engine.list("alice", order_by="content")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({}, "non-empty dict"),
        ({"$eq": 1}, "field names"),
        ({"size": {"$in": [1, 2]}}, "unknown operator '\\$in'"),
        ({"size": {"$gt": "3"}}, "compares numbers"),
        ({"tags": ["a"]}, "string, number, bool or None"),
        ({'we"ird': 1}, "field names"),
    ],
)
def test_a_bad_filter_is_refused_with_the_fix(
    engine: MemoryEngine, where: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        engine.list("alice", filter=where)


def test_a_narrow_filter_finds_matches_below_many_others(fresh_engine: MemoryEngine) -> None:
    # Sixty better keyword matches that the filter rejects: the unfiltered candidates
    # hold no match, and the search filters inside both retrievers instead.
    fresh_engine.add_many(
        "alice",
        [{"content": f"apple apple apple {n}", "metadata": {"color": "green"}} for n in range(60)],
    )
    fresh_engine.add_many(
        "alice",
        [
            {
                "content": "an apple in a long sentence about the orchard",
                "metadata": {"color": "red"},
            },
            {"content": "one apple among many other words here", "metadata": {"color": "red"}},
        ],
    )
    hits = fresh_engine.search("alice", "apple", k=5, filter={"color": "red"})
    assert sorted(hit.memory.content for hit in hits) == [
        "an apple in a long sentence about the orchard",
        "one apple among many other words here",
    ]
