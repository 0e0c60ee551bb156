"""Retention: a policy's dry run, then a delete as complete as ``delete()``, audited.

The scenarios run once per backend (``fresh_engine``: SQLite with embedded Chroma,
searched exactly or through the vector index, PostgreSQL with a Chroma server, and
PostgreSQL with pgvector); ages are the fake clock's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from multisession import MemoryEngine, RetrievalConfig
from multisession.errors import ConfigurationError, InvalidInputError, MemoryNotFoundError
from multisession.lifecycle import RetentionPolicy
from multisession.lifecycle.retention import expired

OLD_HIKE = "We hiked up Mount Rainier with the kids and saw marmots near the glacier"
OLD_CONCERT = "Went to the Arcade Fire concert at the Paramount theatre"
NEW_DINNER = "Had dinner at the Ethiopian place on Pike street with Dana"
PREFERENCE = "I prefer window seats on trains"
FACT = "I am allergic to penicillin"


def _fill(engine: MemoryEngine, clock: Any) -> dict[str, str]:
    """Old episodes, an old preference and fact, then a recent episode 100 days later."""
    ids = {
        "hike": engine.add("ana", OLD_HIKE, kind="episode").id,
        "concert": engine.add("ana", OLD_CONCERT, kind="episode").id,
        "preference": engine.add("ana", PREFERENCE, kind="preference").id,
        "fact": engine.add("ana", FACT, kind="fact").id,
        "bob": engine.add("bob", OLD_HIKE, kind="episode").id,
    }
    clock.advance(days=100)
    ids["dinner"] = engine.add("ana", NEW_DINNER, kind="episode").id
    return ids


def _traces(engine: MemoryEngine, user_id: str, memory_id: str, content: str) -> list[str]:
    """Where anything of a memory is still found: SQL, vector index, searches."""
    found = []
    with engine._store.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT content FROM ms_memories WHERE id = :id"), {"id": memory_id}
        ).first()
    if row is not None:
        found.append("sql row")
    engine.flush_vectors()
    if engine._vectors is not None and memory_id in engine._vectors.ids(user_id):
        found.append("vector index")
    for config in (RetrievalConfig(vector_weight=0), RetrievalConfig(bm25_weight=0), None):
        hits = engine.search(user_id, content, k=50, config=config, include_superseded=True)
        if memory_id in [hit.memory.id for hit in hits]:
            found.append(f"search {config}")
    assert engine.embedder is not None
    vector = engine.embedder.embed([content])[0]
    hits = engine.search(
        user_id, content, k=50, query_vector=vector, config=RetrievalConfig(bm25_weight=0)
    )
    if memory_id in [hit.memory.id for hit in hits]:
        found.append("search by its vector")
    return found


def test_a_dry_run_lists_then_a_run_deletes_everywhere_and_audits(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    ids = _fill(engine, clock)
    engine.flush_vectors()
    assert engine._vectors is not None
    # The vector index holds the vectors of users above the exact limit only (the
    # "-ann" stores); the others are searched from the vectors SQL keeps.
    held = engine._vectors.ids("ana")
    assert held == set() or ids["hike"] in held
    # A cached search result holds the memory before the run.
    assert ids["hike"] in [hit.memory.id for hit in engine.search("ana", OLD_HIKE, k=3)]
    policy = RetentionPolicy(ttl_days={"episode": 90})

    dry = engine.apply_retention("ana", policy, dry_run=True)
    assert [item.memory_id for item in dry.items] == [ids["hike"], ids["concert"]]
    assert {item.reason for item in dry.items} == {"ttl"}
    assert all(99 < item.age_days < 101 for item in dry.items)
    assert dry.items[0].preview is not None and dry.items[0].preview.startswith("We hiked up")
    assert dry.deleted == 0 and engine.count("ana") == 5
    assert _traces(engine, "ana", ids["hike"], OLD_HIKE) != []

    report = engine.apply_retention("ana", policy)
    assert report.deleted == 2 and report.by_kind == {"episode": 2}
    assert report.by_reason == {"ttl": 2}
    for name, content in (("hike", OLD_HIKE), ("concert", OLD_CONCERT)):
        assert _traces(engine, "ana", ids[name], content) == []
        with pytest.raises(MemoryNotFoundError):
            engine.get("ana", ids[name])
    # The preference, the fact, the recent episode and bob's memory stay.
    kept = {m.id for m in engine.list("ana", limit=100)}
    assert kept == {ids["preference"], ids["fact"], ids["dinner"]}
    assert engine.get("bob", ids["bob"]).content == OLD_HIKE
    assert engine.events["retention_deleted"] == 2

    log = [entry for entry in engine._store.audit_log() if entry["action"] == "retention"]
    assert len(log) == 1
    assert log[0]["detail"]["memories"] == 2
    assert log[0]["detail"]["by_kind"] == {"episode": 2}
    assert log[0]["detail"]["by_reason"] == {"ttl": 2}
    assert "ana" not in str(log) and "Rainier" not in str(log)
    # Nothing left to do: a second run selects nothing.
    assert engine.apply_retention("ana", policy).items == []


def test_every_user_and_the_unused_rule(fresh_engine: MemoryEngine, clock: Any) -> None:
    engine = fresh_engine
    ids = _fill(engine, clock)
    # The hike is retrieved twice, the concert once, both 100 days after they were said.
    for _ in range(2):
        engine.search("ana", "Mount Rainier hike with the kids", k=1)
    engine.search("ana", "Arcade Fire concert", k=1)
    clock.advance(days=40)
    policy = RetentionPolicy(unused_days=30, min_accesses=2)

    report = engine.apply_retention(None, policy)
    gone = {(item.user_id, item.memory_id) for item in report.items}
    # Not retrieved within 30 days and fewer than 2 times: the concert (once), bob's
    # hike and the dinner (never); the hike, retrieved twice, stays.
    assert gone == {("ana", ids["concert"]), ("bob", ids["bob"]), ("ana", ids["dinner"])}
    assert {item.reason for item in report.items} == {"unused"}
    assert report.deleted == 3
    assert {m.id for m in engine.list("ana", limit=100)} == {
        ids["hike"],
        ids["preference"],
        ids["fact"],
    }
    actions = [entry for entry in engine._store.audit_log() if entry["action"] == "retention"]
    assert sorted(entry["detail"]["memories"] for entry in actions) == [1, 2]


def test_preferences_and_facts_go_only_when_the_policy_names_them(
    engine: MemoryEngine, clock: Any
) -> None:
    ids = _fill(engine, clock)
    clock.advance(days=1000)
    everything = RetentionPolicy(ttl_days={"episode": 1}, unused_days=1)
    report = engine.apply_retention("ana", everything)
    assert {item.kind for item in report.items} == {"episode"}
    assert {m.id for m in engine.list("ana", limit=100)} == {ids["preference"], ids["fact"]}

    facts = RetentionPolicy(ttl_days={"fact": 365})
    (item,) = engine.apply_retention("ana", facts).items
    assert item.memory_id == ids["fact"]
    assert [m.id for m in engine.list("ana", limit=100)] == [ids["preference"]]


def test_sensitive_memories_are_listed_without_their_content(
    engine: MemoryEngine, clock: Any
) -> None:
    card = engine.add("ana", "my card is 4111 1111 1111 1111", kind="episode")
    clock.advance(days=91)
    (item,) = engine.apply_retention("ana", RetentionPolicy(ttl_days={"episode": 90})).items
    assert item.memory_id == card.id and item.sensitivity == "sensitive"
    assert item.preview is None and "4111" not in str(item.to_dict())


def test_the_ttl_counts_from_the_last_time_it_was_said(engine: MemoryEngine, clock: Any) -> None:
    engine.add("ana", OLD_HIKE, kind="episode")
    clock.advance(days=80)
    engine.add("ana", OLD_HIKE, kind="episode")  # a repeat reinforces the first
    clock.advance(days=20)
    policy = RetentionPolicy(ttl_days={"episode": 90})
    assert engine.apply_retention("ana", policy, dry_run=True).items == []
    now = clock.now
    assert (
        expired(
            policy,
            kind="episode",
            created_at=now - timedelta(days=100),
            last_mentioned_at=None,
            last_accessed=None,
            access_count=0,
            now=now,
        )
        == "ttl"
    )


def test_a_policy_given_to_the_engine_and_bad_input(open_engine: Any, clock: Any) -> None:
    engine = open_engine(retention=RetentionPolicy(ttl_days={"episode": 10}))
    engine.add("ana", OLD_HIKE, kind="episode")
    clock.advance(days=11)
    assert len(engine.apply_retention(dry_run=True).items) == 1
    with pytest.raises(MemoryNotFoundError, match="unknown user"):
        engine.apply_retention("nobody")
    with pytest.raises(InvalidInputError, match="dry_run"):
        engine.apply_retention(dry_run="no")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="RetentionPolicy"):
        engine.apply_retention("ana", {"episode": 90})  # type: ignore[arg-type]
    plain = open_engine()
    with pytest.raises(InvalidInputError, match="no retention policy"):
        plain.apply_retention("ana")
    for bad in (
        {"ttl_days": {"episode": 0}},
        {"ttl_days": {"episode": True}},
        {"unused_days": -1},
        {"min_accesses": 0},
        {"unused_kinds": "episode"},
    ):
        with pytest.raises(ValueError):
            RetentionPolicy(**bad)
    assert engine.count("ana") == 1


def test_the_redis_cache_never_serves_a_deleted_memory(
    open_engine: Any, clock: Any, redis_url: str
) -> None:
    engine = open_engine(cache_url=redis_url)
    hike = engine.add("ana", OLD_HIKE, kind="episode")
    engine.add("ana", NEW_DINNER, kind="episode")
    clock.advance(days=100)
    for _ in range(2):  # the second is served from the cache
        assert hike.id in [hit.memory.id for hit in engine.search("ana", "Mount Rainier")]
    assert engine.events["cache_hit"] >= 1
    engine.apply_retention("ana", RetentionPolicy(ttl_days={"episode": 90}))
    assert engine.search("ana", "Mount Rainier") == []


def test_the_async_twin(engine: MemoryEngine, clock: Any) -> None:
    import asyncio

    engine.add("ana", OLD_HIKE, kind="episode")
    clock.advance(days=91)
    policy = RetentionPolicy(ttl_days={"episode": 90})
    report = asyncio.run(engine.aapply_retention("ana", policy))
    assert report.deleted == 1 and engine.count("ana") == 0
