"""Memory lifecycle: one current truth per fact, repeats folded in, history kept.

The scenarios run once per backend (``fresh_engine``: SQLite with embedded Chroma,
searched exactly or through the vector index, and PostgreSQL with a Chroma server); the
rules are also checked on their own, on wordings the scenarios do not use, including
pairs that must NOT replace each other.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from multisession import PRESETS, MemoryEngine, MemoryInput
from multisession.errors import InvalidInputError, MemoryNotFoundError
from multisession.lifecycle import LifecycleConfig, claims, conflict

BLUE = "I like the blue theme in my code editor"
RED = "I switched to the red theme in my code editor, the blue one tired my eyes"


def _replaces(old: str, new: str) -> bool:
    return any(conflict(n, o) for n in claims(new) for o in claims(old))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (BLUE, RED),
        ("I work at Acme", "I no longer work at Acme"),
        ("I live in Porto", "We just moved to Austin last month"),
        ("I'm vegetarian", "I eat meat again these days"),
        ("My phone is an iPhone 12", "I got a new Pixel 8 phone"),
        ("I drive a Honda Civic", "I sold my Honda Civic car"),
        ("My yoga class is on Tuesdays", "My yoga class is now on Thursdays"),
        ("The dentist appointment is on Monday", "The dentist appointment moved to Friday"),
        ("My favourite band is Radiohead", "My favorite band is now Muse"),
        ("I'm a software engineer", "I got promoted to engineering manager"),
        ("I am dating Sam", "I'm single now"),
        ("I drink coffee every morning", "I no longer drink coffee"),
        ("I use vim for everything", "I switched from vim to emacs"),
        ("Dana: I work for Initech", "Dana: I quit my job at Initech"),
    ],
)
def test_rules_see_a_replaced_fact(old: str, new: str) -> None:
    assert _replaces(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("I live in Porto", "My sister lives in Lisbon"),  # another subject
        ("Caroline: I work at Acme", "Melanie: I work at Google"),  # another speaker
        ("I like the blue theme in my code editor", "I like jazz in the evening"),
        ("I like tea", "I like coffee too"),  # liking a second thing keeps the first
        ("I live in Porto", "I live in Porto, near the river"),  # the same value
        ("I'm going to the park", "I moved to a new place"),  # no slot, vague value
        ("My phone is an iPhone 12", "I bought a new Kindle e-reader"),  # another device
        ("I work at Acme", "I work at Acme on the data team"),
    ],
)
def test_rules_keep_facts_that_do_not_replace_each_other(old: str, new: str) -> None:
    assert not _replaces(old, new)


def test_two_sessions_a_changed_preference_supersedes_the_old_one(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    engine.record_exchange("alice", "s1", BLUE, "Noted!")
    (old,) = engine.preferences("alice")
    clock.advance(days=120)
    engine.add("alice", RED, kind="preference", conversation_id="s2")

    assert [memory.content for memory in engine.preferences("alice")] == [RED]
    assert engine.events["supersessions"] == 1
    for config in (None, PRESETS["rrf"]):  # convex fusion and RRF alike
        hits = engine.search("alice", "which theme does my code editor use?", k=5, config=config)
        assert hits[0].memory.content == RED
        assert BLUE not in [hit.memory.content for hit in hits]
    stored = engine.get("alice", old.id)
    assert stored.superseded_at == clock.now and stored.supersede_reason == "switched-to"
    assert engine.get("alice", stored.superseded_by).content == RED  # type: ignore[arg-type]
    history = engine.search("alice", "theme code editor", k=5, include_superseded=True)
    assert BLUE in [hit.memory.content for hit in history]
    context = engine.build_context("alice", "what theme should I pick for my new laptop?")
    system = context.messages[0].content
    # The old preference appears only in the note saying it changed (see ContextConfig).
    assert "red theme" in system and system.count(BLUE) == 1
    assert f'(changed on {clock.now.day} {clock.now:%b %Y}; before: "{BLUE}")' in system


def test_no_longer_retracts_the_fact_and_is_itself_kept(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    job = engine.add("bob", "I work at Acme as a backend developer")
    engine.add("bob", "I have a dog named Rex")
    clock.advance(days=30)
    retraction = engine.add("bob", "I no longer work at Acme")

    assert retraction.is_current
    current = {memory.content for memory in engine.list("bob")}
    assert current == {"I have a dog named Rex", "I no longer work at Acme"}
    assert engine.get("bob", job.id).superseded_by == retraction.id
    hits = engine.search("bob", "where do I work?", k=5)
    assert "I work at Acme as a backend developer" not in [hit.memory.content for hit in hits]


def test_a_chain_of_three_as_of_and_history(fresh_engine: MemoryEngine, clock: Any) -> None:
    engine = fresh_engine
    start = clock.now
    porto = engine.add("carol", "I live in Porto")
    engine.add("carol", "I love hiking on weekends")
    clock.advance(days=100)
    austin = engine.add("carol", "We just moved to Austin, still unpacking")
    clock.advance(days=100)
    denver = engine.add("carol", "I relocated to Denver for a new job")

    hits = engine.search("carol", "which city is home now?", k=5)
    contents = [hit.memory.content for hit in hits]
    assert contents[0] == denver.content
    assert porto.content not in contents and austin.content not in contents

    then = engine.search("carol", "which city is home now?", k=5, as_of=start + timedelta(days=150))
    then_contents = [hit.memory.content for hit in then]
    assert austin.content in then_contents
    assert denver.content not in then_contents and porto.content not in then_contents
    assert {m.content for m in engine.list("carol", as_of=start + timedelta(days=1))} == {
        porto.content,
        "I love hiking on weekends",
    }

    history = engine.history("carol", austin.id)
    assert [memory.content for memory in history] == [porto.content, austin.content, denver.content]
    assert [memory.supersede_reason for memory in history] == [
        "residence-moved",
        "residence-moved",
        None,
    ]
    assert history[0].superseded_at == start + timedelta(days=100)
    assert history[0].superseded_by == austin.id and history[1].superseded_by == denver.id

    exported = engine.export_user("carol")["memories"]
    by_id = {memory["id"]: memory for memory in exported}
    assert len(exported) == 4  # history is exported too
    assert by_id[porto.id]["superseded_by"] == austin.id
    assert by_id[austin.id]["superseded_by"] == denver.id
    assert by_id[denver.id]["superseded_at"] is None


def test_duplicates_from_three_sessions_reinforce_one_memory(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    first = engine.add("dave", "I'm allergic to peanuts", conversation_id="s1")
    clock.advance(days=3)
    second = engine.add("dave", "I'm allergic to peanuts!", conversation_id="s2")
    clock.advance(days=3)
    third = engine.add("dave", "i'm allergic to peanuts.", conversation_id="s3")

    current = engine.list("dave")
    assert [memory.id for memory in current] == [first.id]
    assert current[0].mentions == 3 and current[0].last_mentioned_at == clock.now
    assert second.superseded_by == first.id and second.supersede_reason == "duplicate"
    hits = engine.search("dave", "what am I allergic to?", k=5)
    assert [hit.memory.id for hit in hits] == [first.id]
    history = engine.history("dave", first.id)
    assert [memory.content for memory in history] == [
        "I'm allergic to peanuts",
        "I'm allergic to peanuts!",
        "i'm allergic to peanuts.",
    ]
    assert third.id in {memory.id for memory in history}


def test_duplicates_within_one_batch_and_an_older_import(engine: MemoryEngine, clock: Any) -> None:
    now = clock.now
    stored = engine.add_many(
        "erin",
        [
            MemoryInput("I live in Oslo", created_at=now - timedelta(days=10)),
            MemoryInput("I live in Oslo.", created_at=now - timedelta(days=5)),
            # Imported out of order: the Bergen statement is older than the Oslo one.
            MemoryInput("I live in Bergen", created_at=now - timedelta(days=400)),
        ],
    )
    oslo, repeat, bergen = stored
    assert oslo.is_current and oslo.mentions == 2
    assert repeat.superseded_by == oslo.id
    assert bergen.superseded_by == oslo.id and bergen.supersede_reason == "residence-lives"
    assert [memory.content for memory in engine.list("erin")] == ["I live in Oslo"]


def test_near_duplicates_by_vector_and_words(engine: MemoryEngine) -> None:
    first = engine.add("fay", "My daughter Mia starts school in September")
    second = engine.add("fay", "My daughter Mia starts school in September.")
    other = engine.add("fay", "My son Leo starts school in September")
    assert second.superseded_by == first.id
    assert other.is_current  # close in meaning, about someone else


def test_manual_supersede_and_restore(fresh_engine: MemoryEngine) -> None:
    engine = fresh_engine
    tea = engine.add("gus", "I drink green tea in the afternoon")
    coffee = engine.add("gus", "I drink espresso after lunch")

    changed = engine.supersede("gus", tea.id, by=coffee.id)
    assert changed.superseded_by == coffee.id and changed.supersede_reason == "manual"
    assert [hit.memory.id for hit in engine.search("gus", "green tea", k=5)] == [coffee.id]

    restored = engine.restore("gus", tea.id)
    assert restored.is_current and restored.superseded_by is None
    assert tea.id in [hit.memory.id for hit in engine.search("gus", "green tea", k=5)]

    with pytest.raises(MemoryNotFoundError):
        engine.supersede("gus", "0" * 32)
    with pytest.raises(InvalidInputError, match="cannot supersede itself"):
        engine.supersede("gus", tea.id, by=tea.id)
    with pytest.raises(InvalidInputError, match="include_superseded"):
        engine.search("gus", "tea", include_superseded="yes")  # type: ignore[arg-type]
    assert engine.get("gus", tea.id).is_current  # a refused call changed nothing


def test_other_users_are_never_superseded(engine: MemoryEngine) -> None:
    mine = engine.add("hana", "I live in Kyoto")
    engine.add("ivan", "I moved to Nagoya")
    assert engine.get("hana", mine.id).is_current
    with pytest.raises(MemoryNotFoundError):
        engine.history("ivan", mine.id)


def test_lifecycle_off_keeps_every_write(open_engine: Any) -> None:
    engine = open_engine(lifecycle=LifecycleConfig(supersede=False, deduplicate=False))
    engine.add("jo", "I live in Porto")
    engine.add("jo", "I live in Porto")
    engine.add("jo", "I moved to Rome")
    assert len(engine.list("jo")) == 3


class FakeLLM:
    """The LLM boundary: answers memory decisions with a scripted reply, records prompts."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.reply


def test_with_an_llm_one_call_decides_a_whole_batch(open_engine: Any) -> None:
    llm = FakeLLM(
        '[{"new": 1, "action": "supersede", "existing": 1}, {"new": 2, "action": "ignore", '
        '"existing": 1}]'
    )
    engine = open_engine(llm=llm)
    llm.reply = "[]"
    old_job = engine.add("kim", "Kim is employed by the city library")
    old_pet = engine.add("kim", "Kim owns a grey cat called Pixel")
    llm.prompts.clear()
    llm.reply = (
        '[{"new": 1, "action": "supersede", "existing": 1}, {"new": 2, "action": "ignore", '
        '"existing": 1}]'
    )
    new_job, repeat = engine.add_many(
        "kim", ["Kim is employed by the city museum now", "Kim owns a grey cat named Pixel"]
    )
    assert len(llm.prompts) == 1
    assert "NEW 1: Kim is employed by the city museum now" in llm.prompts[0]
    assert engine.get("kim", old_job.id).superseded_by == new_job.id
    assert engine.get("kim", old_job.id).supersede_reason == "llm:supersede"
    assert repeat.superseded_by == old_pet.id
    assert engine.get("kim", old_pet.id).mentions == 2


def test_an_unusable_llm_reply_falls_back_to_the_rules(open_engine: Any) -> None:
    llm = FakeLLM("I am not sure what you mean")
    engine = open_engine(llm=llm)
    old = engine.add("lou", "I live in Madrid")
    engine.add("lou", "I moved to Seville")
    assert llm.prompts  # asked, and its reply was not used
    assert engine.get("lou", old.id).supersede_reason == "residence-moved"
    assert engine.events["lifecycle_llm_failed"] >= 1


def test_the_cli_shows_a_facts_history(
    store_dir: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from multisession.cli.main import main

    with MemoryEngine(store_dir, embedder=None, clock=clock) as engine:
        old = engine.add("mo", "I live in Porto")
        clock.advance(days=2)
        new = engine.add("mo", "I moved to Lisbon")
    assert main(["--store", str(store_dir), "--no-embed", "history", "mo", new.id, "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [(v["id"], v["superseded_by"], v["supersede_reason"]) for v in versions] == [
        (old.id, new.id, "residence-moved"),
        (new.id, None, None),
    ]
    assert main(["--store", str(store_dir), "--no-embed", "history", "mo", new.id]) == 0
    assert "residence-moved" in capsys.readouterr().out


def test_the_async_twins_read_and_change_history(engine: MemoryEngine) -> None:
    import asyncio

    old = engine.add("nia", "I live in Quito")
    new = engine.add("nia", "I moved to Lima")

    async def scenario() -> tuple[list[str], bool, bool]:
        versions = await engine.ahistory("nia", new.id)
        restored = await engine.arestore("nia", old.id)
        superseded = await engine.asupersede("nia", old.id, by=new.id)
        return [v.id for v in versions], restored.is_current, superseded.is_current

    assert asyncio.run(scenario()) == ([old.id, new.id], True, False)


def test_a_reopened_store_still_leaves_superseded_memories_out(open_engine: Any) -> None:
    first = open_engine()
    porto = first.add("dana", "I live in Porto")
    lisbon = first.add("dana", "I moved to Lisbon last spring")
    first.add("dana", "I collect old maps")
    first.close()

    # A new process loads the user's indexes from SQL: what is superseded stays out.
    again = open_engine()
    found = [hit.memory.id for hit in again.search("dana", "where do I live? Porto", k=5)]
    assert porto.id not in found and lisbon.id in found
    history = again.search("dana", "Porto", k=5, include_superseded=True)
    assert porto.id in [hit.memory.id for hit in history]
