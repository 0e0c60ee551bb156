"""Consolidation: related episodes become one summary that links them, idempotently.

The scenarios run once per backend (``fresh_engine``: SQLite with embedded Chroma,
searched exactly or through the vector index, PostgreSQL with a Chroma server, and
PostgreSQL with pgvector); the time is the fake clock's. The LLM is a fake (the
outside boundary); everything else is the real engine.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from multisession import MemoryEngine, MemoryInput
from multisession.errors import InvalidInputError, MemoryNotFoundError
from multisession.lifecycle import ConsolidationConfig

TRIP = [
    "We landed in Tokyo for our Japan trip and checked into a hotel in Shinjuku",
    "On the Japan trip we took the bullet train from Tokyo to Kyoto",
    "In Kyoto we visited the Fushimi Inari shrine during our Japan trip",
    "The last day of the Japan trip we ate sushi at the Tsukiji market in Tokyo",
]
JOB = [
    "I had my first interview for the data engineer job at Globex today",
    "The second interview at Globex for the data engineer job went well",
    "Globex offered me the data engineer job after the final interview",
]


def _fill(engine: MemoryEngine, clock: Any) -> dict[str, list[str]]:
    """Two topics a month apart, a preference and a fact; the ids by topic."""
    ids: dict[str, list[str]] = {"trip": [], "job": []}
    for text in TRIP:
        ids["trip"].append(engine.add("ana", text, kind="episode").id)
        clock.advance(hours=20)
    clock.advance(days=30)
    for text in JOB:
        ids["job"].append(engine.add("ana", text, kind="episode").id)
        clock.advance(days=1)
    ids["kept"] = [
        engine.add("ana", "I prefer aisle seats on long flights", kind="preference").id,
        engine.add("ana", "My sister lives in Osaka and works at a bank", kind="fact").id,
    ]
    return ids


def test_consolidation_writes_one_summary_per_group_with_provenance(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    ids = _fill(engine, clock)
    before = engine.count("ana")

    report = engine.consolidate("ana")

    assert report.considered == len(TRIP) + len(JOB)
    assert sorted(list(group.source_ids) for group in report.groups) == sorted(
        [ids["trip"], ids["job"]]
    )
    assert report.written == 2 and engine.count("ana") == before + 2
    assert engine.events["summaries_written"] == 2
    for group in report.groups:
        assert group.summary_id is not None and group.method == "extractive"
        summary = engine.get("ana", group.summary_id)
        assert summary.kind == "summary"
        assert summary.metadata["sources"] == list(group.source_ids)
        assert summary.created_at == engine.get("ana", group.source_ids[-1]).created_at
        # Extractive: sentences of the sources, each with its date.
        sources = engine.sources("ana", summary.id)
        assert [memory.id for memory in sources] == list(group.source_ids)
        assert all(memory.consolidated_into == summary.id for memory in sources)
        dated = [f"{m.created_at.day} {m.created_at:%B %Y}" for m in sources]
        assert any(date in summary.content for date in dated)
        assert any(m.content.split(" ")[2] in summary.content for m in sources)
    # Preferences and facts are not episodes: untouched.
    for memory_id in ids["kept"]:
        assert engine.get("ana", memory_id).consolidated_into is None
        assert engine.sources("ana", memory_id) == []

    # The export shows both directions of the link.
    exported = {memory["id"]: memory for memory in engine.export_user("ana")["memories"]}
    trip_summary = exported[ids["trip"][0]]["consolidated_into"]
    assert exported[trip_summary]["metadata"]["sources"] == ids["trip"]

    # Search lists the summary before its sources, and still reaches the sources.
    hits = engine.search("ana", "what did we do on the Japan trip in Kyoto?", k=6)
    found = [hit.memory.id for hit in hits]
    assert found[0] == trip_summary
    assert set(ids["trip"]) & set(found)
    hits = engine.search("ana", "Fushimi Inari shrine", k=3)
    assert ids["trip"][2] in [hit.memory.id for hit in hits]


def test_a_second_run_writes_nothing_and_a_new_episode_replaces_its_group_s_summary(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    ids = _fill(engine, clock)
    first = engine.consolidate("ana")
    count = engine.count("ana")

    again = engine.consolidate("ana")
    assert again.groups == [] and engine.count("ana") == count

    # A fourth step of the job story, within the window of the last one.
    late = engine.add(
        "ana", "I signed the Globex contract for the data engineer job", kind="episode"
    )
    (extended,) = engine.consolidate("ana").groups
    (old_job,) = [g.summary_id for g in first.groups if g.source_ids == tuple(ids["job"])]
    assert extended.replaces == (old_job,)
    assert list(extended.source_ids) == [*ids["job"], late.id]
    assert extended.summary_id is not None
    old = engine.get("ana", old_job)
    assert old.superseded_by == extended.summary_id and old.supersede_reason == "consolidation"
    # One current summary per group; the replaced one is history of the new one.
    current = engine.list("ana", kinds=["summary"])
    assert sorted(m.id for m in current) == sorted(
        [extended.summary_id, *(g.summary_id for g in first.groups if g.summary_id != old_job)]
    )
    assert [m.id for m in engine.history("ana", extended.summary_id)] == [
        old_job,
        extended.summary_id,
    ]
    assert all(
        engine.get("ana", memory_id).consolidated_into == extended.summary_id
        for memory_id in extended.source_ids
    )
    assert engine.consolidate("ana").groups == []


def test_deleting_a_source_deletes_every_summary_that_quotes_it(
    fresh_engine: MemoryEngine, clock: Any
) -> None:
    engine = fresh_engine
    ids = _fill(engine, clock)
    first = engine.consolidate("ana")
    engine.add("ana", "I signed the Globex contract for the data engineer job", kind="episode")
    (extended,) = engine.consolidate("ana").groups
    (old_job,) = [g.summary_id for g in first.groups if g.source_ids == tuple(ids["job"])]
    (trip_summary,) = [g.summary_id for g in first.groups if g.summary_id != old_job]
    assert extended.summary_id is not None and trip_summary is not None
    # "second interview" is in both job summaries, the current one and its history.
    quoted = "The second interview at Globex"
    assert quoted in engine.get("ana", extended.summary_id).content

    engine.delete("ana", ids["job"][1])

    for gone in (extended.summary_id, old_job):
        with pytest.raises(MemoryNotFoundError):
            engine.get("ana", gone)
    everything = engine.list("ana", include_superseded=True)
    assert not any(quoted in memory.content for memory in everything)
    hits = engine.search("ana", "second interview at Globex", k=20, include_superseded=True)
    assert not any(quoted in hit.memory.content for hit in hits)
    # The other sources and the other topic's summary stay.
    assert all(engine.get("ana", memory_id) for memory_id in ids["job"][::2])
    assert engine.get("ana", trip_summary).kind == "summary"


def test_a_dry_run_writes_nothing_and_calls_no_llm(fresh_engine: MemoryEngine, clock: Any) -> None:
    engine = fresh_engine
    _fill(engine, clock)
    prompts: list[str] = []

    def llm(prompt: str) -> str:
        prompts.append(prompt)
        return "A summary."

    count = engine.count("ana")
    report = engine.consolidate("ana", dry_run=True, llm=llm)
    assert len(report.groups) == 2 and report.written == 0
    assert all(group.summary_id is None for group in report.groups)
    assert engine.count("ana") == count and prompts == []
    assert all(m.consolidated_into is None for m in engine.list("ana", limit=100))


def test_an_llm_writes_one_summary_per_group_and_a_bad_reply_falls_back(
    engine: MemoryEngine, clock: Any
) -> None:
    _fill(engine, clock)
    prompts: list[str] = []

    def llm(prompt: str) -> str:
        prompts.append(prompt)
        if "Japan" in prompt:
            return "Ana spent four days in Japan from 1 March 2026: Tokyo, Kyoto, sushi."
        return ""  # unusable: the extractive summary is written instead

    report = engine.consolidate("ana", llm=llm)
    assert len(prompts) == 2  # one call per group
    assert all("1 March 2026" in p or "31 March 2026" in p or "April" in p for p in prompts)
    methods = {group.method for group in report.groups}
    assert methods == {"llm", "extractive"}
    by_method = {group.method: group for group in report.groups}
    assert engine.get("ana", by_method["llm"].summary_id or "").content.startswith("Ana spent")
    fallback = engine.get("ana", by_method["extractive"].summary_id or "")
    assert "Globex" in fallback.content
    assert fallback.metadata["consolidation"] == "extractive"
    assert engine.events["consolidation_llm_unusable"] == 1


def test_a_failing_llm_falls_back_to_extractive(engine: MemoryEngine, clock: Any) -> None:
    _fill(engine, clock)

    def llm(prompt: str) -> str:
        raise TimeoutError("the model did not answer")

    report = engine.consolidate("ana", llm=llm)
    assert report.written == 2
    assert {group.method for group in report.groups} == {"extractive"}
    assert engine.events["consolidation_llm_failed"] == 2


def test_keyword_only_stores_group_by_shared_words(open_engine: Any, clock: Any) -> None:
    engine = open_engine(embedder=None)
    ids = _fill(engine, clock)
    report = engine.consolidate("ana")
    assert sorted(list(group.source_ids) for group in report.groups) == sorted(
        [ids["trip"], ids["job"]]
    )


def test_groups_respect_the_window_the_minimum_scopes_and_the_sensitive_class(
    engine: MemoryEngine, clock: Any
) -> None:
    # Three trip episodes, each 10 days apart: beyond the default window of 7 days.
    for text in TRIP[:3]:
        engine.add("ana", text, kind="episode")
        clock.advance(days=10)
    assert engine.consolidate("ana", dry_run=True).groups == []
    wide = ConsolidationConfig(window=timedelta(days=11))
    assert len(engine.consolidate("ana", config=wide, dry_run=True).groups) == 1
    assert engine.consolidate("ana", config=wide, dry_run=True, min_group=4).groups == []

    # The same story in two scopes: a group never mixes them.
    engine.add_many("ben", [MemoryInput(text, kind="episode", scope="bot-a") for text in TRIP[:2]])
    engine.add_many("ben", [MemoryInput(text, kind="episode", scope="bot-b") for text in TRIP[2:]])
    assert engine.consolidate("ben", dry_run=True).groups == []
    engine.add(
        "ben",
        "Back from the Japan trip we showed our Tokyo and Kyoto photos to friends",
        kind="episode",
        scope="bot-a",
    )
    (group,) = engine.consolidate("ben").groups
    assert group.scope == "bot-a"
    assert engine.get("ben", group.summary_id or "").scope == "bot-a"

    # A memory of the sensitive class is never repeated in a summary.
    card = "On the Japan trip I paid the Kyoto hotel with my card 4111 1111 1111 1111"
    engine.add_many("cy", [MemoryInput(t, kind="episode") for t in [*TRIP[:2], card]])
    assert engine.consolidate("cy", dry_run=True).groups == []


def test_bad_arguments_are_refused_and_write_nothing(engine: MemoryEngine) -> None:
    engine.add("ana", TRIP[0], kind="episode")
    with pytest.raises(MemoryNotFoundError, match="unknown user"):
        engine.consolidate("nobody")
    with pytest.raises(InvalidInputError, match="min_group"):
        engine.consolidate("ana", min_group=1)
    with pytest.raises(InvalidInputError, match="dry_run"):
        engine.consolidate("ana", dry_run="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="summary"):
        ConsolidationConfig(kinds=("episode", "summary"))
    with pytest.raises(ValueError, match="window"):
        ConsolidationConfig(window=timedelta(0))
    assert engine.count("ana") == 1


def test_the_async_twins(engine: MemoryEngine, clock: Any) -> None:
    ids = _fill(engine, clock)

    async def scenario() -> list[str]:
        report = await engine.aconsolidate("ana")
        assert report.written == 2
        (trip,) = [g for g in report.groups if g.source_ids == tuple(ids["trip"])]
        return [m.id for m in await engine.asources("ana", trip.summary_id or "")]

    assert asyncio.run(scenario()) == ids["trip"]
