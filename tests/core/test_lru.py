"""Tests for multisession._lru: the bounded map behind the stores' in-process caches."""

from __future__ import annotations

import doctest

from multisession import _lru
from multisession._lru import LRUCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now used more recently than "b"

    cache.put("c", 3)

    assert [cache.get("a"), cache.get("b"), cache.get("c")] == [1, None, 3]
    assert len(cache) == 2


def test_putting_a_kept_key_again_marks_it_used() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)

    cache.put("c", 3)

    assert [cache.get("a"), cache.get("b"), cache.get("c")] == [10, None, 3]


def test_entries_are_dropped_one_by_one_by_condition_or_all_at_once() -> None:
    cache: LRUCache[tuple[str, str], int] = LRUCache(10)
    for user in ("alice", "bob"):
        for conversation in ("trip", "work"):
            cache.put((user, conversation), len(user))

    cache.discard(("alice", "trip"))
    cache.discard(("nobody", "none"))
    cache.discard_where(lambda key: key[0] == "bob")

    assert [cache.get(("alice", "work")), cache.get(("alice", "trip"))] == [5, None]
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


def test_capacity_zero_keeps_nothing() -> None:
    cache: LRUCache[str, int] = LRUCache(0)
    cache.put("a", 1)

    assert cache.get("a") is None
    assert len(cache) == 0


def test_docstring_example_runs() -> None:
    results = doctest.testmod(_lru)

    assert results.attempted >= 4
    assert results.failed == 0
