"""The LangGraph store contract, run on LangGraph's own InMemoryStore and on ours.

Every test in the first part runs three times: on ``InMemoryStore`` (which proves the
test encodes LangGraph's semantics), on ``MultiSessionStore`` over the embedded default
(SQLite + embedded Chroma) and over PostgreSQL + a Chroma server. Both kinds of store
use the same MiniLM embeddings. Where MultiSessionStore differs on purpose, the test
says so: its scores are hybrid (fused, recency-weighted) rather than cosine
similarities, and a search prefix must name one user.

The second part holds what only MultiSessionStore has: ownership, TTL, the engine's
view of store items.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    PutOp,
    SearchItem,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from langchain_multisession import (
    MultiSessionEmbeddings,
    MultiSessionSearchItem,
    MultiSessionStore,
)
from multisession import MemoryEngine

ALICE = ("memories", "alice")
BOB = ("memories", "bob")


@pytest.fixture(params=["InMemoryStore", "embedded", "postgresql"])
def store(request: pytest.FixtureRequest, open_engine: Any, minilm: Any) -> BaseStore:
    """A fresh store of each kind (all on the same MiniLM embeddings)."""
    if request.param == "InMemoryStore":
        return InMemoryStore(
            index={"dims": minilm.dimension, "embed": MultiSessionEmbeddings(minilm)}
        )
    if request.param == "embedded":
        return MultiSessionStore(open_engine())
    engine = open_engine(
        directory=None,
        sql_url=request.getfixturevalue("postgres_url"),
        vector_url=request.getfixturevalue("chroma_url"),
    )
    return MultiSessionStore(engine)


def _keys(items: list[SearchItem]) -> list[str]:
    return [item.key for item in items]


# -- the contract ---------------------------------------------------------------------


def test_put_then_get_returns_the_item(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "allergic to peanuts", "level": 3})
    item = store.get(ALICE, "diet")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (
        ALICE,
        "diet",
        {"text": "allergic to peanuts", "level": 3},
    )
    assert item.created_at.tzinfo is not None
    assert item.updated_at >= item.created_at
    assert store.get(ALICE, "nothing") is None


def test_put_replaces_the_value(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "allergic to peanuts"})
    store.put(ALICE, "diet", {"text": "no allergies after all"})
    item = store.get(ALICE, "diet")
    assert item is not None and item.value == {"text": "no allergies after all"}
    assert _keys(store.search(ALICE)) == ["diet"]


def test_delete_and_put_none_remove_the_item(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "allergic to peanuts"})
    store.put(ALICE, "job", {"text": "works at a bakery"})
    store.delete(ALICE, "diet")
    store.batch([PutOp(ALICE, "job", None)])
    store.delete(ALICE, "never-stored")  # no error
    assert store.get(ALICE, "diet") is None
    assert store.get(ALICE, "job") is None
    assert store.search(ALICE) == []


def test_search_covers_the_prefix_and_nothing_beside_it(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "allergic to peanuts"})
    store.put((*ALICE, "work"), "job", {"text": "works at a bakery"})
    store.put(("memories", "alicex"), "other", {"text": "a neighbour's label"})
    store.put(("notes", "alice"), "note", {"text": "another root"})
    assert sorted(_keys(store.search(ALICE))) == ["diet", "job"]
    assert _keys(store.search((*ALICE, "work"))) == ["job"]
    assert store.search(("memories", "ali")) == []  # labels match whole, not as prefixes


def test_labels_with_separators_stay_apart(store: BaseStore) -> None:
    # ("a/b",) must not read as ("a", "b"), nor "%2F" as an escaped "/".
    store.put((*ALICE, "a/b"), "slash", {"text": "one label with a slash"})
    store.put((*ALICE, "a", "b"), "nested", {"text": "two labels"})
    store.put((*ALICE, "a%2Fb"), "percent", {"text": "a label that looks escaped"})
    assert _keys(store.search((*ALICE, "a/b"))) == ["slash"]
    assert _keys(store.search((*ALICE, "a"))) == ["nested"]
    assert _keys(store.search((*ALICE, "a%2Fb"), query="label")) == ["percent"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"color": "red"}, ["a", "c"]),
        ({"color": {"$ne": "red"}}, ["b"]),
        ({"size": {"$gt": 3}}, ["b", "c"]),
        ({"size": {"$gte": 3, "$lt": 12}}, ["a", "b"]),
        ({"size": {"$lte": 3}}, ["a"]),
        ({"color": "red", "size": 12}, ["c"]),
        ({"place": {"city": "Oslo"}}, ["c"]),
        ({"fresh": True}, ["a"]),
    ],
)
def test_filter_matches_value_fields(
    store: BaseStore, where: dict[str, Any], expected: list[str]
) -> None:
    store.put(ALICE, "a", {"text": "red apple", "color": "red", "size": 3, "fresh": True})
    store.put(ALICE, "b", {"text": "green apple", "color": "green", "size": 7})
    store.put(
        ALICE, "c", {"text": "red brick", "color": "red", "size": 12, "place": {"city": "Oslo"}}
    )
    assert sorted(_keys(store.search(ALICE, filter=where))) == expected
    assert sorted(_keys(store.search(ALICE, query="apple", filter=where))) == expected


def test_pages_cover_every_item_once(store: BaseStore) -> None:
    for number in range(7):
        store.put(ALICE, f"k{number}", {"text": f"note number {number}"})
    pages = [store.search(ALICE, limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(key for page in pages for key in _keys(page)) == [f"k{n}" for n in range(7)]


def test_query_ranks_the_relevant_item_first(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "I am allergic to peanuts"})
    store.put(ALICE, "job", {"text": "I work as a baker in Oslo"})
    store.put(ALICE, "pet", {"text": "My cat is called Miso"})
    hits = store.search(ALICE, query="which foods give me an allergic reaction?")
    assert _keys(hits)[0] == "diet"
    assert sorted(_keys(hits)) == ["diet", "job", "pet"]
    scores = [hit.score for hit in hits]
    assert all(isinstance(score, float) for score in scores)
    # Best first on both stores. Differs on purpose: InMemoryStore's scores are cosine
    # similarities; ours are hybrid (fused, recency-weighted) scores.
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_index_decides_what_a_query_can_find(store: BaseStore) -> None:
    store.put(ALICE, "fields", {"title": "allergic to peanuts", "note": "blue"}, index=["note"])
    store.put(ALICE, "hidden", {"text": "allergic to peanuts"}, index=False)
    store.put(ALICE, "plain", {"text": "peanut allergy, carries an epipen"})
    hits = store.search(ALICE, query="peanut allergy")
    assert _keys(hits)[0] == "plain"
    assert set(_keys(hits)) == {"fields", "hidden", "plain"}
    # An unindexed item comes after the scored ones, without a score.
    assert (hits[-1].key, hits[-1].score) == ("hidden", None)


def test_list_namespaces_with_prefix_suffix_wildcards_and_depth(store: BaseStore) -> None:
    for namespace in [ALICE, (*ALICE, "work"), (*ALICE, "home"), BOB, (*BOB, "work")]:
        store.put(namespace, "k", {"text": "x"})
    assert store.list_namespaces(prefix=ALICE) == [ALICE, (*ALICE, "home"), (*ALICE, "work")]
    assert store.list_namespaces(suffix=("work",)) == [(*ALICE, "work"), (*BOB, "work")]
    assert store.list_namespaces(prefix=("memories", "*", "work")) == [
        (*ALICE, "work"),
        (*BOB, "work"),
    ]
    assert store.list_namespaces(prefix=("memories",), max_depth=2) == [ALICE, BOB]
    assert store.list_namespaces(limit=2, offset=1) == [(*ALICE, "home"), (*ALICE, "work")]


def test_batch_reads_before_its_writes(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "allergic to peanuts"})
    results = store.batch(
        [
            PutOp(ALICE, "diet", {"text": "no allergies"}),
            GetOp(ALICE, "diet"),
            SearchOp(ALICE, None, 10, 0, None),
            ListNamespacesOp(None, None, 10, 0),
            GetOp(BOB, "diet"),
            PutOp(ALICE, "job", {"text": "baker"}),
            PutOp(ALICE, "job", {"text": "pastry chef"}),
        ]
    )
    # Reads see the store as before the batch; of two puts to one item the last wins.
    assert results[0] is None
    assert results[1] is not None and results[1].value == {"text": "allergic to peanuts"}
    assert _keys(results[2]) == ["diet"]  # type: ignore[arg-type]
    assert results[3] == [ALICE]
    assert results[4] is None
    assert [store.get(ALICE, key).value for key in ("diet", "job")] == [  # type: ignore[union-attr]
        {"text": "no allergies"},
        {"text": "pastry chef"},
    ]


async def test_async_twins(store: BaseStore) -> None:
    await store.aput(ALICE, "diet", {"text": "allergic to peanuts"})
    item = await store.aget(ALICE, "diet")
    assert item is not None and item.value == {"text": "allergic to peanuts"}
    assert _keys(await store.asearch(ALICE, query="peanuts")) == ["diet"]
    assert await store.alist_namespaces() == [ALICE]
    await store.adelete(ALICE, "diet")
    assert await store.aget(ALICE, "diet") is None


def test_bad_namespaces_are_refused(store: BaseStore) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(("langgraph", "alice"), "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        store.put(("memories", "al.ice"), "k", {"text": "x"})
    if not isinstance(store, InMemoryStore):
        # Differs on purpose: ops given to batch directly are checked too, as LangGraph
        # asks of stores that keep namespaces as text (InMemoryStore checks none).
        with pytest.raises(InvalidNamespaceError):
            store.batch([GetOp(("memories", "al.ice"), "k")])


# -- isolation attacks ----------------------------------------------------------------


def test_another_users_items_are_out_of_reach(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "allergic to peanuts", "owner": "alice"})
    store.put(BOB, "diet", {"text": "eats everything", "owner": "bob"})
    store.put(BOB, "secret", {"text": "bob's secret", "owner": "bob"})
    # The same key in another namespace is another item.
    alice_diet = store.get(ALICE, "diet")
    assert alice_diet is not None and alice_diet.value["owner"] == "alice"
    assert store.get(ALICE, "secret") is None
    store.delete(ALICE, "secret")
    assert store.get(BOB, "secret") is not None
    # Searches, filters and queries never cross into bob's items.
    assert sorted(_keys(store.search(ALICE, query="bob's secret"))) == ["diet"]
    assert store.search(ALICE, filter={"owner": "bob"}) == []
    # A wildcard or a shorter label is a literal label of a search prefix: no match.
    assert store.search(("memories", "*")) == []
    assert store.search(("memories", "bo")) == []
    assert store.list_namespaces(prefix=ALICE) == [ALICE]


def test_a_prefix_above_the_users(store: BaseStore) -> None:
    store.put(ALICE, "diet", {"text": "allergic to peanuts"})
    store.put(BOB, "diet", {"text": "eats everything"})
    if isinstance(store, InMemoryStore):
        assert len(store.search(("memories",))) == 2
        return
    # Differs on purpose: a search spans one user at most, so a prefix that names no
    # user is refused, with the fix.
    with pytest.raises(ValueError, match=re.escape("names no user")):
        store.search(("memories",))


# -- only MultiSessionStore -----------------------------------------------------------


@pytest.fixture
def engine_store(engine: MemoryEngine, clock: Any) -> MultiSessionStore:
    return MultiSessionStore(engine, ttl={"omit_expired": True}, clock=clock)


def test_usage_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = MultiSessionStore.__doc__ or ""
    snippet = doc.split("Example::", 1)[1].split("\n\n", 2)[1]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {
        "MemoryEngine": MemoryEngine,
        "MultiSessionStore": MultiSessionStore,
    }
    exec(
        compile("\n".join(line[8:] for line in snippet.splitlines()), "snippet", "exec"), namespace
    )
    assert isinstance(namespace["hits"][0], MultiSessionSearchItem)
    assert namespace["hits"][0].breakdown is not None
    namespace["engine"].close()


def test_items_are_memories_of_their_user(engine: MemoryEngine) -> None:
    store = MultiSessionStore(engine)
    store.put(ALICE, "diet", {"text": "allergic to peanuts"})
    store.put(BOB, "diet", {"text": "eats everything"})
    exported = engine.export_user("alice")["memories"]
    assert [m["metadata"]["store"]["key"] for m in exported] == ["diet"]
    assert [m["content"] for m in exported] == ["allergic to peanuts"]
    # The namespace is the memory's scope: the engine's own searches can use it.
    assert [m["scope"] for m in exported] == ["memories/alice"]
    assert [hit.memory.content for hit in engine.search("alice", "peanuts")] == [
        "allergic to peanuts"
    ]
    engine.delete_user("alice")
    assert store.get(ALICE, "diet") is None
    assert store.search(ALICE) == []
    assert store.get(BOB, "diet") is not None


def test_owner_mapping_is_configurable(engine: MemoryEngine) -> None:
    store = MultiSessionStore(engine, owner=0)
    store.put(("alice", "prefs"), "theme", {"theme": "dark"})
    assert engine.count("alice") == 1
    by_tenant = MultiSessionStore(
        engine, owner=lambda ns: f"{ns[0]}:{ns[1]}" if len(ns) > 1 else None
    )
    by_tenant.put(("acme", "carol"), "theme", {"theme": "light"})
    assert engine.users() == ["acme:carol", "alice"]
    with pytest.raises(ValueError, match="names no user.*owner="):
        by_tenant.put(("acme",), "k", {"x": 1})
    with pytest.raises(TypeError, match="owner must be"):
        MultiSessionStore(engine, owner=-1)
    with pytest.raises(TypeError, match="engine must be a MemoryEngine"):
        MultiSessionStore("./memory-store")  # type: ignore[arg-type]


def test_ttl_expires_refreshes_and_sweeps(engine_store: MultiSessionStore, clock: Any) -> None:
    engine_store.put(ALICE, "short", {"text": "parked on level 3"}, ttl=10)
    engine_store.put(ALICE, "kept", {"text": "allergic to peanuts"})
    clock.advance(minutes=8)
    assert engine_store.get(ALICE, "short") is not None  # and refreshed: 10 more minutes
    clock.advance(minutes=8)
    assert engine_store.get(ALICE, "short", refresh_ttl=False) is not None
    clock.advance(minutes=3)
    assert engine_store.get(ALICE, "short") is None  # expired, omitted before a sweep
    assert _keys(engine_store.search(ALICE)) == ["kept"]
    assert engine_store.sweep_ttl() == 1
    assert engine_store.engine.count("alice") == 1


def test_default_ttl_and_the_sweeper_thread(engine: MemoryEngine, clock: Any) -> None:
    store = MultiSessionStore(
        engine, ttl={"default_ttl": 1, "sweep_interval_minutes": 1}, clock=clock
    )
    store.put(ALICE, "short", {"text": "parked on level 3"})
    clock.advance(minutes=2)
    assert store.get(ALICE, "short", refresh_ttl=False) is not None  # omit_expired is off
    store.start_ttl_sweeper(interval_minutes=1e-4)
    try:
        # Waits for the thread's first sweep (what is asserted is the deletion, not when).
        for _ in range(400):
            if engine.count("alice") == 0:
                break
            time.sleep(0.05)
        assert engine.count("alice") == 0
    finally:
        assert store.stop_ttl_sweeper(timeout=10)
    with pytest.raises(ValueError, match="interval"):
        MultiSessionStore(engine).start_ttl_sweeper()


def test_search_results_carry_the_breakdown(engine: MemoryEngine) -> None:
    store = MultiSessionStore(engine)
    store.put(ALICE, "diet", {"text": "allergic to peanuts"})
    hit = store.search(ALICE, query="peanuts")[0]
    assert isinstance(hit, MultiSessionSearchItem)
    assert hit.breakdown is not None and hit.score == hit.breakdown.final_score
    assert store.search(ALICE)[0].breakdown is None  # no query, no score
