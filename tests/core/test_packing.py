"""Tests for multisession.context.packing: prompts packed within a token budget."""

from __future__ import annotations

import doctest
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from multisession.context import packing
from multisession.context.packing import (
    ContextBudget,
    ContextMessage,
    Dropped,
    MemorySnippet,
    PackedContext,
    pack_context,
)
from multisession.context.tokens import EstimatingCounter, TiktokenCounter, TokenCounter
from multisession.errors import ConfigurationError, InvalidInputError

UTC = timezone.utc


class WordCounter:
    """One token per whitespace-separated word: easy to reason about in examples."""

    def count(self, text: str) -> int:
        return len(text.split())

    def count_messages(self, messages: Sequence[ContextMessage]) -> int:
        return sum(3 + self.count(m.role) + self.count(m.content) for m in messages) + 3


class QuadraticCounter:
    """Joined text costs more than its parts, so line-by-line costs under-estimate."""

    def count(self, text: str) -> int:
        return len(text) ** 2 // 200 + (1 if text else 0)

    def count_messages(self, messages: Sequence[ContextMessage]) -> int:
        return sum(3 + self.count(m.role) + self.count(m.content) for m in messages) + 3


def words(count: int, stem: str = "w") -> str:
    return " ".join(f"{stem}{index}" for index in range(count))


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def ranking_key(memory: MemorySnippet) -> tuple[float, float]:
    created = memory.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (-memory.score, -created.timestamp())


# --------------------------------------------------------------------------- layout


def test_layout() -> None:
    history = [
        ContextMessage("user", "Hi"),
        ContextMessage("assistant", "Hello! How can I help?"),
        ContextMessage("user", "Plan my trip"),
    ]
    peanuts = MemorySnippet("I'm allergic to peanuts", at("2026-03-02T09:30"), score=0.9)
    berlin = MemorySnippet("Lives in Berlin", at("2026-01-10T00:00"), score=0.2, id="m-2")

    packed = pack_context(
        system_prompt="You are helpful.",
        preferences=["Prefers window seats", "Vegetarian"],
        resumption="We were planning a trip to Lisbon.",
        history=history,
        memories=[berlin, peanuts],
        counter=WordCounter(),
    )

    assert packed.messages == [
        ContextMessage(
            "system",
            "You are helpful.\n"
            "\n"
            "Known preferences:\n"
            "- Prefers window seats\n"
            "- Vegetarian\n"
            "\n"
            "Where we left off:\n"
            "We were planning a trip to Lisbon.\n"
            "\n"
            "Relevant memories:\n"
            "- (2026-03-02) I'm allergic to peanuts\n"
            "- (2026-01-10) Lives in Berlin",
        ),
        *history,
    ]
    assert packed.memories == [peanuts, berlin]
    assert packed.dropped == []
    assert packed.budget == 4096 - 512
    assert packed.tokens == WordCounter().count_messages(packed.messages)
    assert packed.as_text().startswith("system: You are helpful.\n\nKnown preferences:")
    assert packed.as_text().endswith("\n\nassistant: Hello! How can I help?\n\nuser: Plan my trip")
    assert packed.as_dicts()[1:] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Plan my trip"},
    ]


def test_only_the_system_prompt() -> None:
    packed = pack_context(system_prompt="Be brief.", counter=WordCounter())

    assert packed == PackedContext(
        messages=[ContextMessage("system", "Be brief.")],
        tokens=3 + 1 + 2 + 3,
        budget=3584,
        dropped=[],
        memories=[],
    )


def test_empty_system_prompt_still_opens_with_a_system_message() -> None:
    packed = pack_context(
        system_prompt="",
        preferences=["Tea"],
        history=[ContextMessage("user", "hi")],
        counter=WordCounter(),
    )

    assert packed.messages == [
        ContextMessage("system", "Known preferences:\n- Tea"),
        ContextMessage("user", "hi"),
    ]


def test_memory_dates_are_utc_and_multiline_text_is_indented() -> None:
    east = timezone(timedelta(hours=5))
    memory = MemorySnippet("line one\nline two", datetime(2026, 3, 2, 1, 0, tzinfo=east))
    naive = MemorySnippet("naive", datetime(2026, 3, 5, 23, 59))

    packed = pack_context(system_prompt="S", memories=[memory, naive], counter=WordCounter())

    assert packed.messages[0].content.endswith(
        "Relevant memories:\n- (2026-03-05) naive\n- (2026-03-01) line one\n  line two"
    )


def test_memories_best_first_ties_newest_first_then_input_order() -> None:
    old = MemorySnippet("old", at("2025-01-01"), score=0.5)
    new = MemorySnippet("new", at("2026-01-01"), score=0.5)
    best = MemorySnippet("best", at("2020-01-01"), score=0.9)
    twin_a = MemorySnippet("twin a", at("2024-01-01"), score=0.1)
    twin_b = MemorySnippet("twin b", at("2024-01-01"), score=0.1)

    packed = pack_context(
        system_prompt="S", memories=[twin_a, old, twin_b, new, best], counter=WordCounter()
    )

    assert packed.memories == [best, new, old, twin_a, twin_b]


def test_blank_items_are_dropped_as_empty() -> None:
    packed = pack_context(
        system_prompt="S",
        preferences=["  ", "Tea"],
        resumption="\n",
        memories=[MemorySnippet("", at("2026-01-01"), id="m-1")],
        counter=WordCounter(),
    )

    assert packed.messages[0].content == "S\n\nKnown preferences:\n- Tea"
    assert packed.dropped == [
        Dropped("preferences", "  ", "empty"),
        Dropped("resumption", "\n", "empty"),
        Dropped("memories", "", "empty", "m-1"),
    ]


# --------------------------------------------------------------------------- budget shares

# With WordCounter the system prompt "S" costs 3 + 1 + 1 + 3 = 8 tokens, so
# max_tokens=108 and no reserve leave a room of 100 tokens for the other sections:
# shares 0.10 / 0.15 / 0.45 / 0.30 give caps of 10 / 15 / 45 / 30.
ROOM_100 = ContextBudget(max_tokens=108, response_reserve=0)


def shares_only(
    preferences: float = 0.0, resumption: float = 0.0, history: float = 0.0, memories: float = 0.0
) -> ContextBudget:
    """ROOM_100 with only the given sections allowed a share."""
    return replace(
        ROOM_100,
        preferences_share=preferences,
        resumption_share=resumption,
        history_share=history,
        memories_share=memories,
    )


TEN_MESSAGES = [ContextMessage("user", words(9, stem=f"m{index}-")) for index in range(10)]
# Each message costs 3 + 1 (role) + 9 (words) = 13 tokens.


def test_unused_preference_space_flows_to_history() -> None:
    without = pack_context(
        system_prompt="S", history=TEN_MESSAGES, budget=ROOM_100, counter=WordCounter()
    )
    # "Known preferences:" costs 2 and "- " plus 7 words costs 8: exactly the share.
    with_preferences = pack_context(
        system_prompt="S",
        preferences=[words(7)],
        history=TEN_MESSAGES,
        budget=ROOM_100,
        counter=WordCounter(),
    )

    # 10 (preferences) + 15 (resumption) + 45 (history) = 70 -> 5 messages of 13.
    assert without.messages[1:] == TEN_MESSAGES[-5:]
    # Preferences used their 10: 15 + 45 = 60 -> 4 messages.
    assert with_preferences.messages[1:] == TEN_MESSAGES[-4:]
    assert with_preferences.tokens - without.tokens == 10 - 13
    assert [d.reason for d in with_preferences.dropped] == ["section share exhausted"] * 6


def test_a_preference_over_its_share_is_skipped_and_the_space_flows_on() -> None:
    packed = pack_context(
        system_prompt="S",
        preferences=[words(20, stem="long"), words(3, stem="short")],
        history=TEN_MESSAGES,
        budget=ROOM_100,
        counter=WordCounter(),
    )

    # The short one costs 2 (header) + 4 = 6, leaving 4 + 15 + 45 = 64 for history.
    assert packed.messages[0].content == "S\n\nKnown preferences:\n- short0 short1 short2"
    assert packed.dropped[0] == Dropped(
        "preferences", words(20, stem="long"), "section share exhausted"
    )
    assert packed.messages[1:] == TEN_MESSAGES[-4:]


def test_history_stops_at_the_first_message_that_does_not_fit() -> None:
    history = [
        ContextMessage("user", "old"),
        ContextMessage("assistant", words(80)),
        ContextMessage("user", "new"),
    ]

    packed = pack_context(
        system_prompt="S", history=history, budget=ROOM_100, counter=WordCounter()
    )

    assert packed.messages[1:] == [ContextMessage("user", "new")]
    assert packed.dropped == [
        Dropped("history", "old", "section share exhausted"),
        Dropped("history", words(80), "section share exhausted"),
    ]


def test_over_budget_when_the_total_runs_out() -> None:
    budget = replace(
        ROOM_100, preferences_share=1.0, resumption_share=1.0, history_share=1.0, memories_share=1.0
    )

    packed = pack_context(
        system_prompt="S",
        history=TEN_MESSAGES,
        memories=[MemorySnippet(words(30), at("2026-01-01"), id="m-1")],
        budget=budget,
        counter=WordCounter(),
    )

    assert packed.messages[1:] == TEN_MESSAGES[-7:]  # 7 x 13 = 91 of 100
    assert {d.reason for d in packed.dropped} == {"over budget"}
    assert packed.dropped[-1] == Dropped("memories", words(30), "over budget", "m-1")
    assert packed.tokens == 8 + 91


def test_memories_skip_one_that_does_not_fit_and_try_the_next() -> None:
    budget = shares_only(memories=0.5)
    big_best = MemorySnippet(words(60, "a"), at("2026-01-01"), score=0.9, id="big-best")
    small = MemorySnippet(words(5, "b"), at("2026-01-01"), score=0.5, id="small")
    big = MemorySnippet(words(50, "c"), at("2026-01-01"), score=0.1, id="big")
    smaller = MemorySnippet(words(3, "d"), at("2026-01-01"), score=0.05, id="smaller")

    packed = pack_context(
        system_prompt="S",
        memories=[big, smaller, big_best, small],
        budget=budget,
        counter=WordCounter(),
    )

    # Cap 50: header 2 + "- (date) 5 words" 7 = 9, then "- (date) 3 words" 5.
    assert packed.memories == [small, smaller]
    assert [(d.id, d.reason) for d in packed.dropped] == [
        ("big-best", "section share exhausted"),
        ("big", "section share exhausted"),
    ]


def test_a_memory_shown_as_a_preference_is_not_repeated_and_one_left_out_is_kept() -> None:
    shown = "I prefer tea"
    left_out = "I prefer window seats on long flights because I like to sleep"
    memories = [
        MemorySnippet(shown, at("2026-01-01"), score=0.9, id="shown"),
        MemorySnippet(left_out, at("2026-01-01"), score=0.8, id="left-out"),
    ]

    packed = pack_context(
        system_prompt="S",
        preferences=[shown, left_out],
        memories=memories,
        budget=shares_only(preferences=0.1, memories=0.5),
        counter=WordCounter(),
    )

    assert [(d.section, d.content, d.reason) for d in packed.dropped] == [
        ("preferences", left_out, "section share exhausted"),
        ("memories", shown, "shown as a preference"),
    ]
    assert packed.memories == [memories[1]]
    assert packed.messages[0].content.count(shown) == 1


def test_shares_below_one_leave_room_unused() -> None:
    budget = shares_only(history=0.3)

    packed = pack_context(
        system_prompt="S", history=TEN_MESSAGES, budget=budget, counter=WordCounter()
    )

    assert packed.messages[1:] == TEN_MESSAGES[-2:]  # 30 // 13
    assert packed.tokens == 8 + 26


def test_joined_lines_costing_more_than_their_parts_are_trimmed() -> None:
    counter = QuadraticCounter()
    memories = [
        MemorySnippet(f"memory number {index} " + "x" * 20, at("2026-01-01"), score=index)
        for index in range(10)
    ]
    budget = ContextBudget(max_tokens=400, response_reserve=0)

    packed = pack_context(system_prompt="S", memories=memories, budget=budget, counter=counter)

    assert packed.tokens == counter.count_messages(packed.messages) <= 400
    assert any(d.reason == "over budget" for d in packed.dropped)
    assert packed.memories == sorted(memories, key=ranking_key)[: len(packed.memories)]


def test_system_prompt_that_cannot_fit_is_an_error() -> None:
    budget = ContextBudget(max_tokens=20, response_reserve=10)

    with pytest.raises(InvalidInputError, match=r"needs 17 tokens .* only 10 are available"):
        pack_context(system_prompt=words(10), budget=budget, counter=WordCounter())
    packed = pack_context(system_prompt=words(3), budget=budget, counter=WordCounter())
    assert packed.tokens == 10


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_tokens": 0},
        {"max_tokens": -5},
        {"max_tokens": 100.0},
        {"max_tokens": True},
        {"response_reserve": -1},
        {"max_tokens": 512, "response_reserve": 512},
        {"preferences_share": -0.1},
        {"resumption_share": 1.5},
        {"history_share": math.nan},
        {"memories_share": "0.3"},
    ],
)
def test_bad_budgets_are_rejected(arguments: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ContextBudget(**arguments)


@pytest.mark.parametrize(
    "arguments",
    [
        {"system_prompt": None},
        {"preferences": "one string"},
        {"preferences": [1]},
        {"resumption": 3},
        {"history": [{"role": "user", "content": "hi"}]},
        {"memories": ["a memory"]},
        {"budget": 4096},
    ],
)
def test_bad_arguments_are_rejected(arguments: dict[str, Any]) -> None:
    call: dict[str, Any] = {"system_prompt": "S", "counter": WordCounter(), **arguments}
    with pytest.raises(InvalidInputError):
        pack_context(**call)


def test_bad_records_are_rejected() -> None:
    with pytest.raises(InvalidInputError):
        ContextMessage("", "hi")
    with pytest.raises(InvalidInputError):
        ContextMessage("user", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        MemorySnippet("x", "2026-01-01")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        MemorySnippet("x", at("2026-01-01"), score=math.inf)


# --------------------------------------------------------------------------- properties

text = st.text(max_size=60)
long_text = st.text(max_size=300)
messages = st.builds(
    ContextMessage, role=st.sampled_from(["user", "assistant", "system", "tool"]), content=long_text
)
memory_snippets = st.builds(
    MemorySnippet,
    content=st.text(max_size=120),
    created_at=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-7))]),
    ),
    score=st.floats(min_value=-10, max_value=10, allow_nan=False) | st.sampled_from([0.0, 0.5]),
    kind=st.sampled_from(["fact", "preference", "episode"]),
    id=st.none() | st.text(max_size=8),
)
shares = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def budgets(draw: st.DrawFn) -> ContextBudget:
    max_tokens = draw(st.integers(min_value=1, max_value=6000))
    return ContextBudget(
        max_tokens=max_tokens,
        response_reserve=draw(st.integers(min_value=0, max_value=max_tokens - 1)),
        preferences_share=draw(shares),
        resumption_share=draw(shares),
        history_share=draw(shares),
        memories_share=draw(shares),
    )


@pytest.fixture(scope="module")
def counters_by_kind(exact_counters: dict[str, TiktokenCounter]) -> dict[str, TokenCounter]:
    """An exact counter (gpt-4o's encoding), the estimate, and one where joined text costs more."""
    return {
        "tiktoken": exact_counters["o200k_base"],
        "estimate": EstimatingCounter(),
        "quadratic": QuadraticCounter(),
    }


def _in_order(haystack: str, needles: Sequence[str]) -> bool:
    position = 0
    for needle in needles:
        found = haystack.find(needle, position)
        if found < 0:
            return False
        position = found + len(needle)
    return True


@pytest.mark.parametrize("counter_name", ["estimate", "quadratic", "tiktoken"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    system_prompt=text,
    preferences=st.lists(text, max_size=10, unique=True),
    resumption=st.none() | long_text,
    history=st.lists(messages, max_size=20) | st.lists(messages, min_size=50, max_size=200),
    memories=st.lists(memory_snippets, max_size=30),
    budget=budgets(),
)
def test_packing_properties(
    counters_by_kind: dict[str, TokenCounter],
    counter_name: str,
    system_prompt: str,
    preferences: list[str],
    resumption: str | None,
    history: list[ContextMessage],
    memories: list[MemorySnippet],
    budget: ContextBudget,
) -> None:
    counter = counters_by_kind[counter_name]
    arguments: dict[str, Any] = {
        "system_prompt": system_prompt,
        "preferences": preferences,
        "resumption": resumption,
        "history": history,
        "memories": memories,
        "budget": budget,
        "counter": counter,
    }
    if counter.count_messages([ContextMessage("system", system_prompt)]) > budget.available:
        with pytest.raises(InvalidInputError, match="system prompt"):
            pack_context(**arguments)
        return

    packed = pack_context(**arguments)

    # Within budget, counted by the rule.
    assert packed.budget == budget.available
    assert packed.tokens == counter.count_messages(packed.messages) <= budget.available
    # The system prompt always comes first.
    system, *included_history = packed.messages
    assert system.role == "system"
    assert system.content.startswith(system_prompt)
    # History: whole messages, the most recent contiguous run; the rest dropped in order.
    kept = len(included_history)
    assert included_history == history[len(history) - kept :]
    dropped_by = {
        section: [d for d in packed.dropped if d.section == section]
        for section in ("preferences", "resumption", "history", "memories")
    }
    assert [d.content for d in dropped_by["history"]] == [
        m.content for m in history[: len(history) - kept]
    ]
    # Memories: best first, rendered in that order, and every one included or dropped.
    ranked = sorted(memories, key=ranking_key)
    assert [ranking_key(m) for m in packed.memories] == sorted(
        ranking_key(m) for m in packed.memories
    )
    assert _in_order(
        system.content, [f") {m.content}".replace("\n", "\n  ") for m in packed.memories]
    )
    assert Counter((m.content, m.id) for m in packed.memories) + Counter(
        (d.content, d.id) for d in dropped_by["memories"]
    ) == Counter((m.content, m.id) for m in ranked)
    # Preferences: kept in order; every one included or dropped.
    not_included = Counter(d.content for d in dropped_by["preferences"])
    included_preferences = []
    for preference in preferences:
        if not_included[preference] > 0:
            not_included[preference] -= 1
        else:
            included_preferences.append(preference)
    assert len(included_preferences) + len(dropped_by["preferences"]) == len(preferences)
    assert _in_order(system.content, ["- " + p.replace("\n", "\n  ") for p in included_preferences])
    # Resumption: included or dropped, never both and never lost.
    if resumption is None:
        assert dropped_by["resumption"] == []
    elif dropped_by["resumption"]:
        assert [d.content for d in dropped_by["resumption"]] == [resumption]
    else:
        assert f"Where we left off:\n{resumption}" in system.content
    # Deterministic.
    assert pack_context(**arguments) == packed
    event("history kept: " + ("all" if kept == len(history) else "some" if kept else "none"))
    event(
        "memories kept: "
        + ("all" if not dropped_by["memories"] else "some" if packed.memories else "none")
    )
    event("reasons: " + ", ".join(sorted({d.reason for d in packed.dropped})))


# --------------------------------------------------------------------------- docs


def test_docstring_examples_run() -> None:
    results = doctest.testmod(packing)

    assert results.attempted >= 8
    assert results.failed == 0
