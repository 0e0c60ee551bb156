"""Each memory and message keeps its privacy class: written on every path, filtered in SQL,
reported without content, and erased by class as completely as delete() erases."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from multisession import MemoryEngine, MemoryInput
from multisession.errors import ConfigurationError, InvalidInputError, MemoryNotFoundError
from multisession.privacy import DEFAULT_DETECTOR_CLASSES, PrivacyConfig

CARD = "4111 1111 1111 1111"
SENSITIVE = f"my card number is {CARD}"
PERSONAL = "my email is nora.lind@example.se"
PUBLIC = "I prefer window seats on long flights"


def classes(memories: Any) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return sorted(
        (
            getattr(m, "memory", m).content,
            getattr(m, "memory", m).sensitivity,
            getattr(m, "memory", m).detectors,
        )
        for m in memories
    )


def test_every_write_path_stores_the_class_and_the_detectors(fresh_engine):
    one = fresh_engine.add("nora", SENSITIVE)
    many = fresh_engine.add_many("nora", [PERSONAL, MemoryInput(PUBLIC, kind="preference")])
    assert (one.sensitivity, one.detectors) == ("sensitive", ("payment_card",))
    assert [(m.sensitivity, m.detectors) for m in many] == [
        ("personal", ("email",)),
        ("public", ()),
    ]
    # What the write returned is what SQL holds, through every read.
    assert fresh_engine.get("nora", one.id) == one
    assert classes(fresh_engine.list("nora")) == classes([one, *many])
    exported = fresh_engine.export_user("nora")["memories"]
    assert sorted((m["content"], m["sensitivity"], m["detectors"]) for m in exported) == [
        (text, cls, list(found)) for text, cls, found in classes([one, *many])
    ]

    updated = fresh_engine.update("nora", many[1].id, content="I have asthma, no smoking rooms")
    assert (updated.sensitivity, updated.detectors) == ("sensitive", ("health",))
    assert fresh_engine.get("nora", many[1].id).sensitivity == "sensitive"
    kept = fresh_engine.update("nora", one.id, kind="payment")  # content unchanged
    assert kept.sensitivity == "sensitive"

    messages = fresh_engine.add_messages(
        "nora", "c1", [("user", "call me on +44 7700 900123"), ("assistant", "Noted.")]
    )
    assert [(m.sensitivity, m.detectors) for m in messages] == [
        ("personal", ("phone",)),
        ("public", ()),
    ]
    remembered = fresh_engine.record_exchange(
        "nora", "c2", "Remember that I'm allergic to penicillin", "I will remember that."
    )
    assert remembered and all(m.sensitivity == "sensitive" for m in remembered)
    stored = fresh_engine.get_messages("nora", "c2")
    assert [(m.role, m.sensitivity) for m in stored] == [
        ("user", "sensitive"),
        ("assistant", "public"),
    ]
    assert fresh_engine.get_messages("nora", "c1") == messages


def test_list_search_and_count_filter_on_the_class(fresh_engine):
    fresh_engine.add_many(
        "nora",
        [SENSITIVE, f"the spare card is {CARD} too", PERSONAL, PUBLIC, "my card is blue"],
    )
    fresh_engine.add("olaf", f"olaf's card {CARD}")
    assert fresh_engine.count("nora", sensitivity="sensitive") == 2
    assert fresh_engine.count("nora", sensitivity=["public", "personal"]) == 3
    assert {m.content for m in fresh_engine.list("nora", sensitivity="personal")} == {PERSONAL}
    hits = fresh_engine.search("nora", "card", sensitivity="sensitive", k=10)
    assert {hit.memory.content for hit in hits} == {SENSITIVE, f"the spare card is {CARD} too"}
    # No relevance floor: both public memories, however weakly they match, pass the filter.
    public = fresh_engine.search("nora", "card", sensitivity="public", k=10, min_relevance=0)
    assert [hit.memory.content for hit in public][0] == "my card is blue"
    assert {hit.memory.content for hit in public} == {"my card is blue", PUBLIC}
    with pytest.raises(InvalidInputError, match="sensitivity must be one or more of the classes"):
        fresh_engine.list("nora", sensitivity="secret")
    with pytest.raises(InvalidInputError, match="sensitivity"):
        fresh_engine.count("nora", sensitivity=[])


def test_the_filter_is_part_of_the_sql_statement(engine):
    engine.add("nora", SENSITIVE)
    seen: list[str] = []
    import sqlalchemy as sa

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    sa.event.listen(engine._store.engine, "before_cursor_execute", record)
    try:
        assert engine.count("nora", sensitivity="sensitive") == 1
    finally:
        sa.event.remove(engine._store.engine, "before_cursor_execute", record)
    assert any("ms_memories.sensitivity IN" in statement for statement in seen)


def test_privacy_report_counts_without_printing_content(fresh_engine):
    fresh_engine.add_many("nora", [SENSITIVE, PERSONAL, PUBLIC, f"{PERSONAL}, card {CARD}"])
    fresh_engine.add_messages("nora", "c1", [("user", "I'm bisexual"), ("assistant", "OK")])
    fresh_engine.add("olaf", SENSITIVE)
    report = fresh_engine.privacy_report("nora")
    assert report == {
        "user_id": "nora",
        "classes": ["public", "personal", "sensitive"],
        "memories": {
            "total": 4,
            "by_class": {"personal": 1, "public": 1, "sensitive": 2},
            "by_detector": {"email": 2, "payment_card": 2},
        },
        "messages": {
            "total": 2,
            "by_class": {"public": 1, "sensitive": 1},
            "by_detector": {"sexual_orientation": 1},
        },
    }
    assert CARD not in str(report) and "nora.lind" not in str(report)
    with pytest.raises(MemoryNotFoundError, match="unknown user"):
        fresh_engine.privacy_report("nobody")


def test_forget_class_erases_one_class_of_one_user_everywhere(fresh_engine, backend, minilm):
    keep = fresh_engine.add_many("nora", [PERSONAL, PUBLIC])
    gone = fresh_engine.add_many("nora", [SENSITIVE, "I take sertraline every morning"])
    fresh_engine.add_messages("nora", "c1", [("user", "my SSN is 536-22-1847"), ("user", "hi")])
    fresh_engine.conversations.update_state(
        "nora",
        "c1",
        summary="Nora gave her SSN 536-22-1847",
        decisions=["use the SSN 536-22-1847 for the form", "book the train"],
        action_items=[{"text": "my password is Tr0ub4dor&3", "done": False}],
    )
    olaf = fresh_engine.add("olaf", "olaf's card is 5555 5555 5555 4444")
    fresh_engine.flush_vectors()

    assert fresh_engine.forget_class("nora", "sensitive") == {"memories": 2, "messages": 1}
    assert classes(fresh_engine.list("nora")) == classes(keep)
    for memory in gone:
        with pytest.raises(MemoryNotFoundError):
            fresh_engine.get("nora", memory.id)
    assert fresh_engine.search("nora", "card number sertraline", k=10) != []
    assert all(
        hit.memory.sensitivity != "sensitive"
        for hit in fresh_engine.search("nora", "card number sertraline", k=10)
    )
    assert [m.content for m in fresh_engine.get_messages("nora", "c1")] == ["hi"]
    conversation = fresh_engine.conversations.get("nora", "c1")
    assert conversation is not None
    assert (conversation.summary, conversation.message_count) == (None, 1)
    assert conversation.decisions == ["book the train"]
    assert conversation.action_items == []
    assert fresh_engine.get("olaf", olaf.id) == olaf  # another user's are untouched
    assert fresh_engine.forget_class("nora", "sensitive") == {"memories": 0, "messages": 0}
    with pytest.raises(MemoryNotFoundError, match="unknown user"):
        fresh_engine.forget_class("nobody", "sensitive")
    with pytest.raises(InvalidInputError, match="classes"):
        fresh_engine.forget_class("nora", "secret")
    fresh_engine.close()

    reopened = MemoryEngine(**backend, embedder=minilm)
    try:
        assert reopened.repair().orphans_kept == 0  # no vector left behind
        log = reopened._store.audit_log()
        erasures = [entry["detail"] for entry in log if entry["action"] == "forget_class"]
        assert erasures == [
            {"classes": ["sensitive"], "memories": 2, "messages": 1},
            {"classes": ["sensitive"], "memories": 0, "messages": 0},
        ]
        assert [entry["action"] for entry in log].count("delete_memory") == 2
        assert "nora" not in str(log)
    finally:
        reopened.close()
    if backend["directory"]:
        left = {
            str(path.relative_to(backend["directory"]))
            for path in Path(backend["directory"]).rglob("*")
            if path.is_file() and path.name.startswith("memory.db")
            for needle in (CARD.encode(), b"sertraline", b"536-22-1847", b"Tr0ub4dor")
            if needle in path.read_bytes()
        }
        assert left == set()


def test_classification_turned_off_stores_nothing_and_erases_nothing(open_engine):
    engine = open_engine(privacy=False, embedder=None)
    memory = engine.add("nora", SENSITIVE)
    assert (memory.sensitivity, memory.detectors) == (None, ())
    assert engine.get("nora", memory.id).sensitivity is None
    assert engine.privacy_report("nora")["memories"]["by_class"] == {"unclassified": 1}
    assert engine.forget_class("nora", "sensitive") == {"memories": 0, "messages": 0}
    assert engine.count("nora") == 1


def test_the_engine_uses_the_configured_classes(open_engine):
    with pytest.raises(ConfigurationError, match="'street_address' maps to class 'personal'"):
        PrivacyConfig(  # the detectors left out keep their default classes
            classes=("open", "restricted"),
            detector_classes={name: "restricted" for name in ("email", "phone")},
        )

    config = PrivacyConfig(
        classes=("open", "restricted"),
        detector_classes=dict.fromkeys(DEFAULT_DETECTOR_CLASSES, "restricted"),
    )
    engine = open_engine(privacy=config, embedder=None)
    assert engine.add("nora", PERSONAL).sensitivity == "restricted"
    assert engine.add("nora", PUBLIC).sensitivity == "open"
    assert engine.count("nora", sensitivity="restricted") == 1
    with pytest.raises(InvalidInputError, match="'open', 'restricted'"):
        engine.count("nora", sensitivity="sensitive")
    with pytest.raises(ConfigurationError, match="privacy must be"):
        open_engine(privacy="on", embedder=None)


def test_an_older_store_gains_the_columns_and_reads_as_unclassified(tmp_path: Path):
    with MemoryEngine(tmp_path, embedder=None) as engine:
        old = engine.add("nora", SENSITIVE)
        engine.add_messages("nora", "c1", [("user", PERSONAL)])
    db = tmp_path / "memory.db"
    with sqlite3.connect(db) as conn:  # as the version before classification left it
        conn.execute("DROP INDEX ix_ms_memories_user_sensitivity")
        for table in ("ms_memories", "ms_messages"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN sensitivity")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN detectors")

    with MemoryEngine(tmp_path, embedder=None) as engine:
        assert engine.get("nora", old.id).sensitivity is None
        assert engine.get_messages("nora", "c1")[0].sensitivity is None
        new = engine.add("nora", PERSONAL)
        assert engine.count("nora", sensitivity="personal") == 1
        assert engine.privacy_report("nora")["memories"]["by_class"] == {
            "personal": 1,
            "unclassified": 1,
        }
        assert engine.get("nora", new.id).detectors == ("email",)
