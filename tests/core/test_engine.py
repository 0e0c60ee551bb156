"""The engine's public contract on SQLite + embedded Chroma with the real embedder."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import chromadb
import pytest
import sqlalchemy as sa

from multisession import (
    DEFAULT_EMBEDDER,
    ConfigurationError,
    InvalidInputError,
    MemoryEngine,
    MemoryInput,
    MemoryNotFoundError,
    RetrievalConfig,
    TemporalConfig,
)

UTC = timezone.utc


def contents(results):  # type: ignore[no-untyped-def]
    """The texts of search hits or of listed memories, in order."""
    return [getattr(item, "memory", item).content for item in results]


def test_add_then_get_round_trips_every_field(fresh_engine, clock):
    then = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    added = fresh_engine.add(
        "alice",
        "Alice is allergic to peanuts",
        kind="fact",
        conversation_id="c1",
        metadata={"source": "chat", "turn": 3},
        created_at=then,
    )
    got = fresh_engine.get("alice", added.id)
    assert got == dataclasses.replace(added)
    assert got.created_at == then and got.created_at.tzinfo == UTC
    assert got.updated_at == clock.now
    assert (got.kind, got.conversation_id, got.metadata) == (
        "fact",
        "c1",
        {"source": "chat", "turn": 3},
    )
    assert (got.last_accessed, got.access_count) == (None, 0)


def test_search_returns_relevant_memory_first_with_breakdown(fresh_engine, clock):
    fresh_engine.add_many(
        "alice",
        [
            "My name is Alice and I work at Acme Corp",
            "I'm allergic to peanuts",
            "My favorite color is green",
            "I went hiking in the Alps last summer",
        ],
    )
    hits = fresh_engine.search("alice", "What foods should you avoid suggesting to me?", k=4)
    assert hits[0].memory.content == "I'm allergic to peanuts"
    top = hits[0].breakdown
    assert top.vector_rank == 1 and top.vector_similarity is not None
    assert top.fused_score > 0 and top.recency == pytest.approx(1.0)
    assert top.final_score == pytest.approx(top.fused_score * top.temporal_multiplier)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)

    keyword_hit = fresh_engine.search("alice", "Acme Corp", k=1)[0]
    assert keyword_hit.memory.content.startswith("My name is Alice")
    assert keyword_hit.breakdown.bm25_rank == 1 and keyword_hit.breakdown.bm25_score > 0


def test_search_records_access(fresh_engine, clock):
    memory = fresh_engine.add("alice", "I live in Lisbon")
    clock.advance(hours=2)
    hit = fresh_engine.search("alice", "where do I live", k=1)[0]
    assert (hit.memory.access_count, hit.memory.last_accessed) == (1, clock.now)
    stored = fresh_engine.get("alice", memory.id)
    assert (stored.access_count, stored.last_accessed) == (1, clock.now)


def test_access_counts_are_batched_and_reach_every_reader(backend, minilm, clock):
    # A long flush interval: only reads and close() write the counts in this test.
    engine = MemoryEngine(**backend, embedder=minilm, clock=clock, vector_flush_seconds=600)
    other = MemoryEngine(**backend, embedder=minilm, clock=clock)
    try:
        memory = engine.add("alice", "I live in Lisbon")
        for hour in range(3):
            clock.advance(hours=1)
            hit = engine.search("alice", "where do I live", k=1)[0]
            assert hit.memory.access_count == hour + 1  # each hit counts itself at once
        assert engine.stats()["pending_accesses"] == 1  # one batched write waits
        assert other.get("alice", memory.id).access_count == 0
        latest = clock.now
        listed = engine.list("alice")  # a read of this engine writes the counts first
        assert (listed[0].access_count, listed[0].last_accessed) == (3, latest)
        assert engine.stats()["pending_accesses"] == 0
        assert other.get("alice", memory.id).access_count == 3
        # The other process searched too, at an earlier time: counts add up and the
        # latest time stays.
        other.search("alice", "Lisbon", k=1, now=latest - timedelta(days=1))
        other.close()
        stored = engine.get("alice", memory.id)
        assert (stored.access_count, stored.last_accessed) == (4, latest)
        clock.advance(hours=1)
        engine.search("alice", "Lisbon", k=1)
    finally:
        engine.close()  # writes what is pending
    with MemoryEngine(**backend, embedder=minilm) as reopened:
        assert reopened.get("alice", memory.id).access_count == 5


def test_filters_apply_inside_search_and_list(fresh_engine, clock):
    start = clock.now
    fresh_engine.add_many(
        "alice",
        [
            MemoryInput(
                "Coffee order: oat flat white",
                kind="preference",
                conversation_id="a",
                created_at=start - timedelta(days=10),
            ),
            MemoryInput(
                "Coffee beans from Ethiopia taste best",
                kind="fact",
                conversation_id="b",
                created_at=start - timedelta(days=5),
            ),
            MemoryInput(
                "Talked about coffee machines",
                kind="episode",
                conversation_id="a",
                created_at=start - timedelta(days=1),
            ),
        ],
    )
    assert contents(fresh_engine.search("alice", "coffee", kinds=["preference"])) == [
        "Coffee order: oat flat white"
    ]
    assert sorted(contents(fresh_engine.search("alice", "coffee", conversation_id="a"))) == [
        "Coffee order: oat flat white",
        "Talked about coffee machines",
    ]
    window = fresh_engine.search(
        "alice", "coffee", since=start - timedelta(days=6), until=start - timedelta(days=2)
    )
    assert contents(window) == ["Coffee beans from Ethiopia taste best"]
    assert contents(fresh_engine.list("alice")) == [
        "Talked about coffee machines",
        "Coffee beans from Ethiopia taste best",
        "Coffee order: oat flat white",
    ]
    assert contents(fresh_engine.list("alice", limit=1, offset=1)) == [
        "Coffee beans from Ethiopia taste best"
    ]
    assert contents(fresh_engine.list("alice", kinds=["episode", "fact"], newest_first=False)) == [
        "Coffee beans from Ethiopia taste best",
        "Talked about coffee machines",
    ]
    assert fresh_engine.count("alice", conversation_id="a") == 2


def test_update_reindexes_content_for_both_retrievers(fresh_engine, clock):
    memory = fresh_engine.add("alice", "I drive a red bicycle to work")
    clock.advance(minutes=5)
    updated = fresh_engine.update(
        "alice", memory.id, content="I take the tram to the office", metadata={"v": 2}
    )
    assert (updated.content, updated.metadata, updated.updated_at) == (
        "I take the tram to the office",
        {"v": 2},
        clock.now,
    )
    assert fresh_engine.search("alice", "bicycle", config=RetrievalConfig(vector_weight=0)) == []
    assert contents(
        fresh_engine.search("alice", "tram", config=RetrievalConfig(vector_weight=0))
    ) == ["I take the tram to the office"]
    semantic = fresh_engine.search(
        "alice", "public transport commute", config=RetrievalConfig(bm25_weight=0)
    )
    assert contents(semantic) == ["I take the tram to the office"]


def test_delete_forgets_everywhere(fresh_engine):
    keep, gone = fresh_engine.add_many("alice", ["I like jazz", "I like techno music"])
    fresh_engine.delete("alice", gone.id)
    with pytest.raises(MemoryNotFoundError):
        fresh_engine.get("alice", gone.id)
    assert contents(fresh_engine.search("alice", "techno music")) == ["I like jazz"]
    with pytest.raises(MemoryNotFoundError, match="no memory"):
        fresh_engine.delete("alice", gone.id)


def test_users_are_isolated(fresh_engine):
    secret = fresh_engine.add("alice", "Alice's bank PIN hint is her cat's name")
    fresh_engine.add("bob", "Bob likes cats")
    assert contents(fresh_engine.search("bob", "bank PIN hint cat name", k=10)) == [
        "Bob likes cats"
    ]
    with pytest.raises(MemoryNotFoundError):
        fresh_engine.get("bob", secret.id)
    with pytest.raises(MemoryNotFoundError):
        fresh_engine.delete("bob", secret.id)
    with pytest.raises(MemoryNotFoundError):
        fresh_engine.update("bob", secret.id, content="overwritten")
    assert fresh_engine.get("alice", secret.id).content == secret.content
    assert fresh_engine.search("carol", "cat") == []


def test_delete_user_removes_every_trace(fresh_engine, backend, minilm):
    fresh_engine.add_many("alice", ["I live in Oslo", "My sister is called Ingrid"])
    bob = fresh_engine.add("bob", "I live in Rome")
    assert fresh_engine.delete_user("alice") == 2
    assert fresh_engine.users() == ["bob"]
    assert fresh_engine.search("alice", "Oslo sister Ingrid") == []
    with pytest.raises(MemoryNotFoundError):
        fresh_engine.export_user("alice")
    with pytest.raises(MemoryNotFoundError, match="unknown user"):
        fresh_engine.delete_user("alice")
    fresh_engine.close()

    # Besides the collection of each user above the exact-search limit (bob's, when the
    # limit is 0), only the index's marker of the store it belongs to (no user data): a
    # collection on a server, a file beside embedded Chroma's own.
    if backend["directory"] or backend["vector_url"]:
        marker = {"multisession-store"} if backend["vector_url"] else set()
        members = {name for name in collection_names(backend) if name.startswith("ms-v-")}
        assert len(members) == (1 if backend.get("exact_vector_limit") == 0 else 0)
        assert collection_names(backend) == members | marker
        if members:
            client = chromadb.PersistentClient(path=str(Path(backend["directory"]) / "chroma"))
            (bobs,) = members
            assert client.get_collection(bobs).get(include=[])["ids"] == [bob.id]
    else:  # pgvector: the vectors were columns of the deleted rows
        sql = sa.create_engine(backend["sql_url"])
        with sql.connect() as conn:
            left = conn.exec_driver_sql("SELECT user_id FROM ms_memories").scalars().all()
        sql.dispose()
        assert left == ["bob"]
    if backend["directory"]:
        database = (Path(backend["directory"]) / "memory.db").read_bytes()
        assert b"Ingrid" not in database and b"alice" not in database
    reopened = MemoryEngine(**backend, embedder=minilm)
    log = reopened._store.audit_log()
    assert [entry["action"] for entry in log] == ["delete_user"]
    assert log[0]["detail"] == {"memories": 2} and "alice" not in str(log)
    assert reopened.count("alice") == 0
    assert contents(reopened.search("bob", "Rome")) == ["I live in Rome"]
    reopened.close()


def collection_names(backend) -> set[str]:  # type: ignore[no-untyped-def]
    if backend["directory"]:
        client = chromadb.PersistentClient(path=str(Path(backend["directory"]) / "chroma"))
        return {c if isinstance(c, str) else c.name for c in client.list_collections()}
    parsed = urlparse(backend["vector_url"])
    database = parse_qs(parsed.query)["database"][0]
    url = f"http://{parsed.netloc}/api/v2/tenants/default_tenant/databases/{database}/collections"
    with urllib.request.urlopen(url, timeout=10) as response:
        return {collection["name"] for collection in json.load(response)}


def test_has_user_and_the_store_s_embedder(fresh_engine, minilm):
    assert not fresh_engine.has_user("alice")
    fresh_engine.add_messages("alice", "c1", [("user", "hello")])
    assert fresh_engine.has_user("alice")  # a conversation alone makes a user
    assert not fresh_engine.has_user("bob")
    expected = f"{minilm.name} (dimension {minilm.dimension})"
    assert fresh_engine.stats()["store_embedder"] == expected


def test_export_user_holds_every_memory(fresh_engine):
    added = fresh_engine.add_many("alice", ["one thing", "another thing"])
    exported = fresh_engine.export_user("alice")
    assert exported["user_id"] == "alice"
    assert [m["id"] for m in exported["memories"]] == [m.id for m in added]
    assert exported["memories"][0] == added[0].to_dict()


def test_memories_survive_reopening(backend, minilm, clock):
    with MemoryEngine(**backend, embedder=minilm, clock=clock) as engine:
        engine.add("alice", "My daughter's birthday is on March 3rd")
    with MemoryEngine(**backend, embedder=minilm, clock=clock) as engine:
        hit = engine.search("alice", "when is my kid's birthday", k=1)[0]
        assert hit.memory.content == "My daughter's birthday is on March 3rd"
        assert hit.breakdown.vector_rank == 1 and hit.breakdown.bm25_rank == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.add("alice", ""), "empty"),
        (lambda e: e.add("alice", "   \n"), "empty"),
        (lambda e: e.add("alice", 42), "must be a string"),
        (lambda e: e.add("alice", "x" * 40_000), "over the limit"),
        (lambda e: e.add("", "text"), "user_id"),
        (lambda e: e.add(None, "text"), "user_id"),
        (lambda e: e.add("alice", "text", kind="Not A Kind"), "kind"),
        (lambda e: e.add("alice", "text", metadata={"x": object()}), "JSON"),
        (lambda e: e.add("alice", "text", created_at=datetime(2025, 1, 1)), "timezone-aware"),
        (lambda e: e.add_many("alice", ["fine", ""]), "empty"),
        (lambda e: e.add_many("alice", ["fine", 3]), "item 1"),
        (lambda e: e.get("alice", "not-an-id"), "malformed memory id"),
        (lambda e: e.delete("alice", "../../etc"), "malformed memory id"),
        (lambda e: e.update("alice", "0" * 32), "needs content"),
        (lambda e: e.search("alice", ""), "query"),
        (lambda e: e.search("alice", "x", k=0), "k must"),
        (lambda e: e.search("alice", "x", kinds="fact"), "list of kinds"),
        (lambda e: e.search("alice", "x", query_vector=[0.1, 0.2]), "query_vector"),
        (lambda e: e.list("alice", offset=-1), "offset"),
        (lambda e: e.add("alice", "text", id="nope"), "malformed memory id"),
        (lambda e: e.add("alice", "bad \ud800 text"), "not valid Unicode"),
        (lambda e: e.add("al\udfffice", "text"), "user_id holds"),
        (lambda e: e.add("alice", "text", metadata={"k": "\ud800"}), "metadata holds"),
        (lambda e: e.add_messages("alice", "c1", [("user", "x \ud800")]), "message content"),
        (lambda e: e.search("alice", "q \ud800"), "query holds"),
        (lambda e: e.add_many("alice", [{"content": "a", "id": "a" * 32}] * 2), "given twice"),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(fresh_engine, call, message):
    fresh_engine.add("alice", "existing memory")
    before = fresh_engine.export_user("alice")["memories"]
    with pytest.raises(InvalidInputError, match=message):
        call(fresh_engine)
    assert fresh_engine.export_user("alice")["memories"] == before
    assert fresh_engine.users() == ["alice"]


def test_own_ids_make_a_repeated_import_store_each_memory_once(fresh_engine):
    items = [MemoryInput(f"imported line {n} about sailing", id=f"{n:032x}") for n in range(3)]
    first = fresh_engine.add_many("alice", items[:2])
    assert [m.id for m in first] == [f"{0:032x}", f"{1:032x}"]
    with pytest.raises(InvalidInputError, match="already has memories"):
        fresh_engine.add_many("alice", items)
    assert fresh_engine.count("alice") == 2
    again = fresh_engine.add_many("alice", items, skip_existing=True)
    assert [m.id for m in again] == [f"{2:032x}"]
    assert fresh_engine.count("alice") == 3
    assert fresh_engine.add_many("alice", items, skip_existing=True) == []
    hits = fresh_engine.search("alice", "line 2 sailing", k=3)
    assert sorted(hit.memory.id for hit in hits) == [f"{n:032x}" for n in range(3)]
    # Ids are unique across users: another user's id is refused, even when skipping.
    with pytest.raises(InvalidInputError, match="already in use"):
        fresh_engine.add_many("bob", items[:1], skip_existing=True)
    assert fresh_engine.users() == ["alice"]


def test_invalid_configuration_names_the_problem(store_dir):
    with pytest.raises(ConfigurationError, match="candidate_depth"):
        RetrievalConfig(candidate_depth=0)
    with pytest.raises(ConfigurationError, match="both are 0"):
        RetrievalConfig(bm25_weight=0, vector_weight=0)
    with pytest.raises(ConfigurationError, match="half_life_days"):
        TemporalConfig(half_life_days=-1)
    with pytest.raises(ConfigurationError, match="weight"):
        TemporalConfig(weight=1.5)
    with pytest.raises(ConfigurationError, match="directory"):
        MemoryEngine(embedder=None)
    with pytest.raises(ConfigurationError, match="database URL"):
        MemoryEngine(sql_url="not a url", embedder=None)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"config": "fast"}, "config must be a RetrievalConfig, got str"),
        ({"tokenizer": {"stem": True}}, "tokenizer must be a TokenizerConfig, got dict"),
        ({"context": 3}, "context must be a ContextConfig, got int"),
        ({"max_content_chars": 0}, "max_content_chars must be an integer from 1 to"),
        ({"max_cached_users": 0}, "max_cached_users must be an integer from 1 to"),
        ({"max_cached_users": True}, "max_cached_users must be an integer"),
        ({"exact_vector_limit": -1}, "exact_vector_limit must be an integer from 0 to"),
        ({"max_cached_vectors": 1.5}, "max_cached_vectors must be an integer from 0 to"),
        ({"max_cached_bytes": -1}, "max_cached_bytes must be an integer from 0 to"),
        ({"max_cached_bytes": None}, "max_cached_bytes must be an integer"),
        ({"vector_flush_size": 0}, "vector_flush_size must be an integer from 1 to"),
        ({"vector_flush_seconds": 0}, "vector_flush_seconds must be a positive, finite"),
        ({"vector_flush_seconds": -1.0}, "vector_flush_seconds must be a positive"),
        ({"vector_flush_seconds": float("nan")}, "vector_flush_seconds must be a positive"),
        ({"vector_flush_seconds": float("inf")}, "vector_flush_seconds must be a positive"),
        ({"vector_flush_seconds": "1"}, "vector_flush_seconds must be a positive"),
        ({"llm": "gpt-4o"}, "llm must be a function prompt -> text"),
        ({"directory": None}, "give a directory for the embedded stores, or sql_url"),
    ],
)
def test_every_bad_setting_raises_configuration_error_before_opening_anything(
    store_dir, arguments, message
):
    arguments = {"directory": store_dir, "embedder": None, **arguments}
    with pytest.raises(ConfigurationError, match=message) as raised:
        MemoryEngine(**arguments)
    assert isinstance(raised.value, ValueError)
    assert not store_dir.exists()  # checked before a store was opened or created


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"embedder": 42}, r"embedder: as_embedder\(\) expects an Embedder"),
        ({"embedder": MemoryInput}, r"the class MemoryInput \(pass an instance\)"),
        ({"vector_url": "ftp://host/chroma"}, "unsupported vector store location"),
    ],
)
def test_bad_stores_and_embedders_raise_configuration_error(store_dir, arguments, message):
    with pytest.raises(ConfigurationError, match=message):
        MemoryEngine(store_dir, **arguments)


def test_default_embedder_marker_keeps_its_name():
    assert repr(DEFAULT_EMBEDDER) == str(DEFAULT_EMBEDDER) == "DEFAULT_EMBEDDER"
    default = inspect.signature(MemoryEngine).parameters["embedder"].default
    assert default is DEFAULT_EMBEDDER


def test_newer_of_two_contradicting_preferences_wins(fresh_engine, clock):
    """Temporal weighting, case (a): same subject, the recent memory ranks first."""
    fresh_engine.add(
        "alice",
        "User liked blue theme",
        kind="preference",
        created_at=clock.now - timedelta(days=90),
    )
    fresh_engine.add("alice", "User switched to red theme", kind="preference")
    timeless = RetrievalConfig(temporal=TemporalConfig(enabled=False))
    without = contents(fresh_engine.search("alice", "color theme preference", config=timeless))
    with_decay = contents(fresh_engine.search("alice", "color theme preference"))
    assert with_decay == ["User switched to red theme", "User liked blue theme"]
    # The test can fail: without temporal weighting the old memory comes first.
    assert without == ["User liked blue theme", "User switched to red theme"]


def test_clearly_relevant_old_memory_is_not_buried(fresh_engine, clock):
    """Temporal weighting, case (b): months-old evidence beats fresh weak matches."""
    fresh_engine.add(
        "alice",
        "I adopted a golden retriever puppy named Biscuit",
        created_at=clock.now - timedelta(days=200),
    )
    fresh_engine.add_many(
        "alice",
        [
            "I had pasta for dinner",
            "The weather is nice today",
            "I bought new running shoes",
            "My neighbour has a cat",
        ],
    )
    hit = fresh_engine.search("alice", "what is the name of my dog Biscuit", k=5)[0]
    assert hit.memory.content.startswith("I adopted a golden retriever")
    assert hit.breakdown.recency == pytest.approx(0.1)


def test_keyword_only_engine(store_dir, clock):
    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        engine.add_many("alice", ["I play the cello", "I speak Portuguese"])
        hit = engine.search("alice", "cello lessons", k=5)
        assert contents(hit) == ["I play the cello"]
        assert hit[0].breakdown.vector_rank is None
        assert engine.stats()["embedder"] is None


def test_async_twins(fresh_engine):
    async def scenario() -> list[str]:
        memory = await fresh_engine.aadd("alice", "I collect vinyl records")
        await fresh_engine.aadd_many("alice", ["I own a turntable"])
        await fresh_engine.aupdate("alice", memory.id, metadata={"checked": True})
        assert (await fresh_engine.aget("alice", memory.id)).metadata == {"checked": True}
        assert len(await fresh_engine.alist("alice")) == 2
        hits = await fresh_engine.asearch("alice", "vinyl", k=1)
        await fresh_engine.adelete("alice", memory.id)
        exported = await fresh_engine.aexport_user("alice")
        assert len(exported["memories"]) == 1
        assert await fresh_engine.adelete_user("alice") == 1
        return contents(hits)

    assert asyncio.run(scenario()) == ["I collect vinyl records"]
