"""Scopes beside the user (an app, agent or run), on every backend, nesting with '/'."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from multisession import InvalidInputError, MemoryEngine, MemoryInput, MemoryNotFoundError


@pytest.fixture
def scoped(fresh_engine: MemoryEngine) -> dict[str, str]:
    """Alice's tea memories in four scopes (and none); Bob's in the same scope."""
    ids = {}
    for scope in ("bot", "bot/run-1", "bot-2", None):
        memory = fresh_engine.add("alice", f"tea note of {scope}", scope=scope)
        ids[str(scope)] = memory.id
    fresh_engine.add("bob", "tea note of bot", scope="bot")
    return ids


def _scopes(memories: list[Any]) -> set[str | None]:
    return {memory.scope for memory in memories}


def test_a_scope_takes_itself_and_the_scopes_nested_in_it(
    fresh_engine: MemoryEngine, scoped: dict[str, str]
) -> None:
    engine = fresh_engine
    assert _scopes(engine.list("alice", scope="bot")) == {"bot", "bot/run-1"}
    assert _scopes(engine.list("alice", scope="bot/run-1")) == {"bot/run-1"}
    assert _scopes(engine.list("alice", scope="bot-2")) == {"bot-2"}
    assert _scopes(engine.list("alice")) == {"bot", "bot/run-1", "bot-2", None}
    assert _scopes(hit.memory for hit in engine.search("alice", "tea note", scope="bot")) == {
        "bot",
        "bot/run-1",
    }
    assert engine.count("alice", scope="bot") == 2
    assert engine.count("alice", scope="b") == 0
    # Another user's memory of the same scope is never among Alice's.
    assert {m.user_id for m in engine.list("alice", scope="bot")} == {"alice"}


def test_scope_is_stored_returned_and_exported(fresh_engine: MemoryEngine) -> None:
    memory = fresh_engine.add("alice", "prefers green tea", scope="bot/run-1")
    assert memory.scope == "bot/run-1"
    assert fresh_engine.get("alice", memory.id).scope == "bot/run-1"
    exported = fresh_engine.export_user("alice")["memories"]
    assert [(m["id"], m["scope"]) for m in exported] == [(memory.id, "bot/run-1")]


def test_add_many_scope_applies_to_items_without_their_own(fresh_engine: MemoryEngine) -> None:
    added = fresh_engine.add_many(
        "alice", ["plain item", MemoryInput("own scope", scope="other")], scope="bot"
    )
    assert [(m.content, m.scope) for m in added] == [("plain item", "bot"), ("own scope", "other")]
    assert _scopes(fresh_engine.list("alice")) == {"bot", "other"}


def test_delete_with_a_scope_only_forgets_a_memory_of_that_scope(
    fresh_engine: MemoryEngine, scoped: dict[str, str]
) -> None:
    with pytest.raises(MemoryNotFoundError, match="bot-2"):
        fresh_engine.delete("alice", scoped["bot"], scope="bot-2")
    assert fresh_engine.get("alice", scoped["bot"]).scope == "bot"
    fresh_engine.delete("alice", scoped["bot/run-1"], scope="bot")
    assert _scopes(fresh_engine.list("alice", scope="bot")) == {"bot"}


@pytest.mark.parametrize("bad", ["", "  ", "bot//run", "/bot", "bot/", 7, "x" * 300])
def test_a_bad_scope_is_refused_and_nothing_is_stored(engine: MemoryEngine, bad: object) -> None:
    with pytest.raises(InvalidInputError, match="scope"):
        engine.add("alice", "tea", scope=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="scope"):
        engine.add_many("alice", [MemoryInput("tea", scope=bad)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="scope"):
        engine.search("alice", "tea", scope=bad)  # type: ignore[arg-type]
    assert engine.count("alice") == 0


def test_a_filtered_search_finds_scoped_memories_beyond_the_unfiltered_top(
    engine: MemoryEngine,
) -> None:
    # Many better keyword matches outside the scope: the filter must reach past them.
    engine.add_many("alice", [f"tea tea tea note {n}" for n in range(60)], scope="other")
    inside = engine.add("alice", "a tea note", scope="bot")
    assert [hit.memory.id for hit in engine.search("alice", "tea note", scope="bot")] == [inside.id]


def test_an_older_store_gains_the_scope_column(tmp_path: Path) -> None:
    with MemoryEngine(tmp_path, embedder=None) as engine:
        memory = engine.add("u", "I live in Porto")
    db = tmp_path / "memory.db"
    with sqlite3.connect(db) as conn:  # as a version without scopes left it
        conn.execute("DROP INDEX ix_ms_memories_user_scope")
        conn.execute("ALTER TABLE ms_memories DROP COLUMN scope")
    with MemoryEngine(tmp_path, embedder=None) as engine:
        assert engine.get("u", memory.id).scope is None
        engine.add("u", "I work in Braga", scope="work")
        assert [m.content for m in engine.list("u", scope="work")] == ["I work in Braga"]
    with sqlite3.connect(db) as conn:
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(ms_memories)")}
    assert "ix_ms_memories_user_scope" in indexes
