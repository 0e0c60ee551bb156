"""A built context says when history was trimmed to fit the budget, and by how much."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest

from multisession import ContextConfig, MemoryEngine
from multisession.context.packing import ContextBudget
from multisession.context.tokens import token_counter


def chat(engine: MemoryEngine, turns: int) -> None:
    for number in range(turns):
        engine.add_messages(
            "alice",
            "chat",
            [
                ("user", f"Question {number}: " + "tell me more about sailing " * 8),
                ("assistant", f"Answer {number}: " + "sailing is about wind " * 8),
            ],
        )


def test_the_default_budget_is_4096_tokens_with_512_for_the_reply(engine: MemoryEngine) -> None:
    built = engine.build_context("alice", "hello")
    assert (ContextBudget().max_tokens, ContextBudget().response_reserve) == (4096, 512)
    assert built.packed.budget == 3584
    assert engine.context_config.budget == ContextBudget()


def test_nothing_trimmed_reports_zero(engine: MemoryEngine) -> None:
    chat(engine, 2)
    built = engine.build_context("alice", "sailing?", conversation_id="chat")
    assert (built.trimmed, built.trimmed_messages, built.trimmed_tokens) == (False, 0, 0)
    assert len(built.messages) == 1 + 4


def test_trimmed_history_is_counted_in_messages_and_tokens(
    engine: MemoryEngine, caplog: pytest.LogCaptureFixture
) -> None:
    chat(engine, 20)
    small = dataclasses.replace(
        engine.context_config, budget=ContextBudget(max_tokens=1200, response_reserve=200)
    )
    with caplog.at_level(logging.DEBUG, logger="multisession"):
        built = engine.build_context("alice", "sailing?", conversation_id="chat", config=small)

    kept = len(built.messages) - 1  # after the system message
    assert built.trimmed
    assert built.trimmed_messages == 40 - kept
    stored = engine.get_messages("alice", "chat")
    left_out = stored[: built.trimmed_messages]  # the oldest go first
    counter = token_counter(small.model)
    assert built.trimmed_tokens == sum(counter.count(m.content) for m in left_out)
    assert [m.content for m in built.messages[1:]] == [m.content for m in stored[-kept:]]
    [record] = [r for r in caplog.records if "history trimmed" in r.getMessage()]
    assert record.levelname == "DEBUG"
    assert f"{built.trimmed_messages} messages ({built.trimmed_tokens} tokens)" in (
        record.getMessage()
    )


def test_the_async_twin_reports_the_same(engine: MemoryEngine) -> None:
    chat(engine, 20)
    small = ContextConfig(budget=ContextBudget(max_tokens=1200, response_reserve=200))
    built = asyncio.run(
        engine.abuild_context("alice", "sailing?", conversation_id="chat", config=small)
    )
    again = engine.build_context("alice", "sailing?", conversation_id="chat", config=small)
    assert built.trimmed_messages == again.trimmed_messages > 0
    assert built.trimmed_tokens == again.trimmed_tokens > 0


def test_blank_messages_left_out_are_not_trimming(open_engine: Any) -> None:
    engine = open_engine()
    engine.add_messages("alice", "chat", [("user", "hi"), ("assistant", "hello")])
    built = engine.build_context("alice", "hi", conversation_id="chat")
    assert built.trimmed_messages == 0
