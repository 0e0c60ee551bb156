"""A store made by an earlier version gains the columns added since, on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from multisession import MemoryEngine
from multisession.storage.migrations import add_missing_columns


def _columns(db: Path, table: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_an_older_store_gains_missing_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    with MemoryEngine(tmp_path, embedder=None) as engine:
        memory = engine.add("u", "I live in Porto")
    db = tmp_path / "memory.db"
    with sqlite3.connect(db) as conn:  # as an earlier version left it
        conn.execute("ALTER TABLE ms_memories DROP COLUMN last_accessed")
    assert "last_accessed" not in _columns(db, "ms_memories")

    with MemoryEngine(tmp_path, embedder=None) as engine:
        assert "last_accessed" in _columns(db, "ms_memories")
        assert engine.get("u", memory.id).content == "I live in Porto"
        assert [hit.memory.id for hit in engine.search("u", "Porto")] == [memory.id]


def test_a_current_store_is_left_as_it_is(tmp_path: Path) -> None:
    with MemoryEngine(tmp_path, embedder=None):
        pass
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    try:
        assert add_missing_columns(engine) == []
    finally:
        engine.dispose()


def test_a_new_column_must_be_nullable_or_defaulted(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    sa.Table("t", sa.MetaData(), sa.Column("key", sa.String(64))).create(engine)
    wanted = sa.MetaData()
    sa.Table(
        "t",
        wanted,
        sa.Column("key", sa.String(64)),
        sa.Column("optional", sa.Integer, nullable=True),
        sa.Column("required_without_default", sa.Integer, nullable=False),
    )
    try:
        with pytest.raises(AssertionError, match="t.required_without_default"):
            add_missing_columns(engine, wanted)
        # What could be added before the refusal was, and nothing else changed.
        assert {c["name"] for c in sa.inspect(engine).get_columns("t")} == {"key", "optional"}
    finally:
        engine.dispose()
