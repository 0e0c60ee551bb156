"""What the lifecycle changes for reads: the asked slot first, small talk silent, the
prompt's "changed on" note, and slot keys kept right by edits and by ``repair()``.

The scenarios run once per backend (``fresh_engine``: SQLite with embedded Chroma,
searched exactly or through the vector index, and PostgreSQL); the question reader and
the small-talk rule are also checked on their own, on wordings of their own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from multisession import PRESETS, MemoryEngine, MemoryInput, RetrievalConfig
from multisession.context.builder import ContextConfig
from multisession.errors import ConfigurationError
from multisession.lifecycle.slot_keys import slot_keys
from multisession.lifecycle.small_talk import is_follow_up, is_small_talk
from multisession.retrieval.slots import asked_slots

# -- the question's slot ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Where do I live nowadays?", {"residence|self"}),
        ("Which town is home now?", {"residence|self"}),
        ("Who do I work for?", {"employer|self"}),
        ("What's my profession?", {"role|self"}),
        ("Do I eat meat?", {"diet|self"}),
        ("Am I married?", {"partner|self"}),
        ("What do I drive?", {"vehicle|self"}),
        ("Which laptop do I use?", {"device:laptop|self", "device:computer|self"}),
        ("Where does Dana live?", {"residence|dana", "residence|dana/self"}),
        ("Where does she live?", set()),  # someone unnamed: no subject to match
        ("What did we talk about last week?", set()),
        ("Any plans for the weekend?", set()),
    ],
)
def test_the_slot_a_question_asks_about(question: str, expected: set[str]) -> None:
    assert asked_slots(question) == expected


def test_slot_boost_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="slot_boost must be a number >= 1"):
        RetrievalConfig(slot_boost=0.5)
    assert PRESETS["rrf"].slot_boost == 1.0


FILLER = [
    "Had coffee with an old friend at home and talked about gardening",
    "The weather was awful today, stayed home and read about castles",
    "Watched a documentary about volcanoes at home these days",
    "Spent the afternoon at home reading about jazz history",
    "Cleaned the whole flat and found an old note about chess",
    "Listened to a podcast on maps during my run",
]


def test_the_memory_filling_the_asked_slot_ranks_first(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    engine.add("erin", "I live in Porto")
    clock.advance(days=40)
    engine.add_many("erin", [MemoryInput(text) for text in FILLER])
    clock.advance(days=40)
    newest = engine.add("erin", "We just relocated to Leeds, boxes everywhere")
    engine.add_many("erin", [MemoryInput(text) for text in FILLER[:3]])  # repeats

    question = "Which city is home these days?"
    unboosted = engine.search(
        "erin", question, k=5, config=replace(RetrievalConfig(), slot_boost=1.0)
    )
    assert unboosted[0].memory.id != newest.id  # everyday memories share its words
    hits = engine.search("erin", question, k=5)
    assert hits[0].memory.id == newest.id
    assert hits[0].breakdown.slot_boost == 2.0
    assert {hit.breakdown.slot_boost for hit in hits[1:]} == {1.0}
    assert "I live in Porto" not in [hit.memory.content for hit in hits]


def test_a_slot_memory_no_retriever_found_joins_the_candidates(engine: MemoryEngine) -> None:
    engine.add_many("finn", [MemoryInput(text) for text in FILLER])
    engine.add("finn", "My collection of toy vehicle models keeps growing")
    car = engine.add("finn", "I drive a Volvo XC40")
    question = "Which vehicle do I own?"
    narrow = replace(RetrievalConfig(), candidate_depth=1)
    plain = engine.search("finn", question, k=1, config=replace(narrow, slot_boost=1.0))
    assert [hit.memory.id for hit in plain] != [car.id]
    assert [hit.memory.id for hit in engine.search("finn", question, k=1, config=narrow)] == [
        car.id
    ]
    # Another user's slot memory never joins.
    engine.add("gus", "I drive a Honda Civic")
    assert all(hit.memory.user_id == "finn" for hit in engine.search("finn", question, k=10))


# -- small talk ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "Heyyy!",
        "thank u so much :)",
        "ok, got it",
        "cya later!",
        "hahaha",
        "You there?",
        "hey, how have you been?",
        "Seriously?",
        "you too",
    ],
)
def test_small_talk_is_recognised(message: str) -> None:
    assert is_small_talk(message)
    assert not is_follow_up(message)


@pytest.mark.parametrize(
    "message",
    [
        "And for me?",
        "what about her?",
        "and yesterday?",
        "And my brother",
        "how about you?",
        "Same for Dana?",
        "Did I?",
        "Is it?",
        "but then?",
    ],
)
def test_a_follow_up_is_not_small_talk(message: str) -> None:
    assert is_follow_up(message)
    assert not is_small_talk(message)


@pytest.mark.parametrize(
    "message",
    [
        "thanks! what's my sister called?",
        "hi, where did I park?",
        "hello Dana",
        "Paris",
        "what about tomorrow?",
    ],
)
def test_a_message_with_a_topic_is_not_small_talk(message: str) -> None:
    assert not is_small_talk(message)


def test_small_talk_retrieves_nothing_above_a_floor(fresh_engine: MemoryEngine) -> None:
    engine = fresh_engine
    engine.add_many(
        "hana",
        [MemoryInput("Thanks to Dana I found a dentist"), MemoryInput("Hi from Lisbon!")],
    )
    # On by default, at the floor measured on LoCoMo and the small-talk set.
    assert engine.min_relevance == 0.1
    assert engine.search("hana", "thanks!") == []
    assert engine.search("hana", "hi there :)") == []
    assert engine.build_context("hana", "thanks!").hits == []
    # A floor of 0 turns the rule off; a real question is answered.
    assert engine.search("hana", "thanks!", min_relevance=0)
    assert engine.search("hana", "who found me a dentist?")[0].memory.content.startswith("Thanks")


def test_a_follow_up_keeps_its_hits_under_the_floor(fresh_engine: MemoryEngine) -> None:
    engine = fresh_engine
    engine.add("ivo", "Ivo is allergic to shellfish")
    # No word of its own to weigh: its topic is the turn before's, so no floor applies.
    assert engine.min_relevance > 0
    for follow_up in ("And for me?", "What about him?", "Did I?"):
        assert [hit.memory.content for hit in engine.search("ivo", follow_up)] == [
            "Ivo is allergic to shellfish"
        ]
    assert engine.build_context("ivo", "And for me?").hits
    # The same words with nothing to follow up on fall under the floor.
    assert engine.search("ivo", "Thanks, you too!") == []


# -- the "changed on" note ----------------------------------------------------------------


def test_the_prompt_says_once_that_a_fact_changed_recently(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    engine.add("ivy", "My favourite colour is blue", kind="preference")
    clock.advance(days=200)
    engine.add("ivy", "My favourite colour is now red", kind="preference")
    clock.advance(days=3)

    built = engine.build_context("ivy", "what is my favourite colour?")
    text = built.as_text()
    assert "My favourite colour is now red (changed on " in text
    assert text.count('before: "My favourite colour is blue"') == 1
    assert "- (" in text  # rendered as a memory line

    # Not after the window, nor with the note turned off.
    assert (
        "changed on"
        not in engine.build_context(
            "ivy",
            "what is my favourite colour?",
            config=ContextConfig(changed_within_days=0),
        ).as_text()
    )
    clock.advance(days=40)
    assert "changed on" not in engine.build_context("ivy", "what is my favourite colour?").as_text()


def test_a_repeat_is_no_change(engine: MemoryEngine, clock: Any) -> None:
    engine.add("jo", "I live in Porto")
    clock.advance(days=2)
    engine.add("jo", "I live in Porto")  # folded in as a duplicate
    assert "changed on" not in engine.build_context("jo", "where do I live?").as_text()


def test_changed_within_days_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="changed_within_days must be a number >= 0"):
        ContextConfig(changed_within_days=-1)


# -- slot keys: edits and stores written before them -------------------------------------


def _slot_keys(url: str, memory_id: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT slot_keys FROM ms_memories WHERE id = :id"), {"id": memory_id}
            ).scalar_one()
    finally:
        engine.dispose()


def _sql_url(backend: dict[str, Any]) -> str:
    return backend["sql_url"] or f"sqlite:///{Path(backend['directory']) / 'memory.db'}"


def test_update_recomputes_slot_keys(backend: dict[str, Any], open_engine: Any, clock: Any) -> None:
    engine = open_engine(**backend)
    memory = engine.add("kim", "I drive a Honda Civic")
    assert _slot_keys(_sql_url(backend), memory.id) == ";vehicle|self;"

    edited = engine.update("kim", memory.id, content="I live in Porto")
    assert _slot_keys(_sql_url(backend), memory.id) == ";residence|self;"
    assert engine.search("kim", "where do I live?", k=1)[0].breakdown.slot_boost == 2.0
    # The edited memory is replaced as what it now says, not as what it said.
    engine.add("kim", "I bought a Tesla Model 3 car")
    assert engine.get("kim", edited.id).is_current
    clock.advance(days=1)
    lisbon = engine.add("kim", "We moved to Lisbon")
    assert engine.get("kim", edited.id).superseded_by == lisbon.id
    # Metadata alone keeps the keys.
    engine.update("kim", lisbon.id, metadata={"source": "chat"})
    assert _slot_keys(_sql_url(backend), lisbon.id) == ";residence|self;"
    assert engine.search("kim", "where do I live?", k=1)[0].breakdown.slot_boost == 2.0


def test_repair_computes_slot_keys_of_memories_written_before_them(
    backend: dict[str, Any], open_engine: Any, clock: Any
) -> None:
    first = open_engine(**backend)
    porto = first.add("lee", "I live in Porto")
    other = first.add("lee", "Went to the farmers market for peaches")
    first.close()
    url = _sql_url(backend)
    sql = sa.create_engine(url)
    with sql.begin() as conn:  # as a version without slot keys left the rows
        conn.execute(sa.text("UPDATE ms_memories SET slot_keys = NULL"))
    sql.dispose()

    engine = open_engine(**backend)
    assert engine.search("lee", "which city is home?", k=1)[0].breakdown.slot_boost == 1.0
    engine.repair()
    assert engine.events["slot_keys_stored"] == 2
    assert _slot_keys(url, porto.id) == ";residence|self;"
    assert _slot_keys(url, other.id) == slot_keys(other.content) == ";"
    hit = engine.search("lee", "which city is home?", k=1)[0]
    assert hit.memory.id == porto.id and hit.breakdown.slot_boost == 2.0
    engine.repair()  # nothing left to do
    assert engine.events["slot_keys_stored"] == 2
    clock.advance(days=1)
    leeds = engine.add("lee", "I relocated to Leeds")
    assert engine.get("lee", porto.id).superseded_by == leeds.id
