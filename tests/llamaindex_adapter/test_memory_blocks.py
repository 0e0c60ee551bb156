"""MultiSessionMemoryBlock inside LlamaIndex's ``Memory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import Memory
from llama_index.core.storage.chat_store.sql import MessageStatus
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from llamaindex_multisession import MultiSessionMemoryBlock
from multisession import MemoryEngine


def block_for(engine: MemoryEngine, user_id: str, conversation_id: str) -> MultiSessionMemoryBlock:
    return MultiSessionMemoryBlock(engine=engine, user_id=user_id, conversation_id=conversation_id)


@pytest_asyncio.fixture
async def chat_store_engine() -> AsyncIterator[AsyncEngine]:
    """The SQL engine of Memory's own chat store, closed after the test."""
    async_engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    yield async_engine
    await async_engine.dispose()


@pytest.mark.asyncio
async def test_flushed_messages_become_memories_shown_in_a_later_session(
    engine: MemoryEngine, clock: Any, chat_store_engine: AsyncEngine
) -> None:
    monday = clock.now.date().isoformat()
    first = Memory.from_defaults(
        session_id="monday",
        token_limit=60,
        token_flush_size=20,
        chat_history_token_ratio=0.5,
        async_engine=chat_store_engine,
        memory_blocks=[block_for(engine, "alice", "monday")],
    )
    turns = [
        ("user", "I'm allergic to peanuts"),
        ("assistant", "Thanks, I'll keep that in mind."),
        ("user", "Let's talk about the weather in Lisbon this spring instead."),
        ("assistant", "Spring in Lisbon is mild and mostly sunny, with some rain."),
        ("user", "Good to know, thanks for all the detail about that trip."),
        ("assistant", "You're welcome, enjoy your time in Portugal this year."),
    ]
    for role, content in turns:
        await first.aput(ChatMessage(role=role, content=content))

    stored = engine.get_messages("alice", "monday")
    assert [(m.role, m.content) for m in stored[:2]] == turns[:2]
    assert "I'm allergic to peanuts" in [m.content for m in engine.list("alice")]
    engine.add("bob", "I'm allergic to shellfish")

    clock.advance(days=5)
    second = Memory.from_defaults(
        session_id="saturday",
        token_limit=2000,
        memory_blocks=[block_for(engine, "alice", "sat")],
        async_engine=chat_store_engine,
    )
    await second.aput(ChatMessage(role=MessageRole.USER, content="What should I not eat?"))

    messages = await second.aget()

    system = messages[0]
    assert system.role == MessageRole.SYSTEM
    content = system.content or ""
    assert "<memory>" in content and "<multisession>" in content
    assert f"- ({monday}, fact) I'm allergic to peanuts" in content
    assert "allergic to peanuts" in content
    assert "shellfish" not in content
    assert messages[-1].content == "What should I not eat?"


@pytest.mark.asyncio
async def test_truncation_drops_the_last_lines(engine: MemoryEngine) -> None:
    block = block_for(engine, "alice", "chat")

    assert await block.atruncate("- one\n- two\n- three", 2) == "- one\n- two"
    assert await block.atruncate("- one", 100) is None


@pytest.mark.asyncio
async def test_memories_stay_while_the_agent_calls_a_tool(engine: MemoryEngine) -> None:
    engine.add("alice", "I'm allergic to peanuts")
    block = block_for(engine, "alice", "chat")
    question = ChatMessage(role=MessageRole.USER, content="What should I not eat?")
    tool_call = ChatMessage(role=MessageRole.ASSISTANT, content="")
    tool_result = ChatMessage(role=MessageRole.TOOL, content="rice, peanuts")

    during_the_call = await block.aget(messages=[question, tool_call])
    after_the_result = await block.aget(messages=[question, tool_call, tool_result])

    assert "I'm allergic to peanuts" in during_the_call
    assert after_the_result == during_the_call


@pytest.mark.asyncio
async def test_no_query_no_search(engine: MemoryEngine) -> None:
    assert await block_for(engine, "alice", "chat").aget(messages=[]) == ""


def test_rejects_a_missing_engine() -> None:
    with pytest.raises(TypeError):
        MultiSessionMemoryBlock(engine=None, user_id="alice", conversation_id="c")  # type: ignore[arg-type]


# -- short sessions: Memory never flushes, the block stores what it is shown ------------

SHORT_SESSION = [
    ("I'm allergic to peanuts", "Noted, no peanuts."),
    ("I live in Oslo", "Oslo is lovely."),
    ("Any dinner idea?", "A coconut rice."),
]


async def chat_turn(memory: Memory, question: str, answer: str) -> None:
    """What a chat app does with LlamaIndex's Memory in one turn."""
    await memory.aput(ChatMessage(role=MessageRole.USER, content=question))
    await memory.aget()  # the prompt for the model: the blocks are asked here
    await memory.aput(ChatMessage(role=MessageRole.ASSISTANT, content=answer))


def stored(engine: MemoryEngine, conversation_id: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in engine.get_messages("alice", conversation_id)]


def as_pairs(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [pair for q, a in turns for pair in (("user", q), ("assistant", a))]


@pytest.mark.asyncio
async def test_a_short_session_is_stored_though_memory_never_flushes(
    engine: MemoryEngine, chat_store_engine: AsyncEngine
) -> None:
    block = block_for(engine, "alice", "short")
    memory = Memory.from_defaults(
        session_id="short", memory_blocks=[block], async_engine=chat_store_engine
    )
    for question, answer in SHORT_SESSION:
        await chat_turn(memory, question, answer)

    # Every turn before the last one is complete and stored; nothing was flushed.
    assert await memory.aget_all(status=MessageStatus.ARCHIVED) == []
    assert stored(engine, "short") == as_pairs(SHORT_SESSION[:2])
    assert "I'm allergic to peanuts" in [m.content for m in engine.list("alice")]

    await block.astore_session(memory)
    await block.astore_session(memory)  # twice: nothing is stored twice
    assert stored(engine, "short") == as_pairs(SHORT_SESSION)


@pytest.mark.asyncio
async def test_flushes_after_the_window_was_stored_add_nothing_twice(
    engine: MemoryEngine, chat_store_engine: AsyncEngine
) -> None:
    block = block_for(engine, "alice", "long")
    memory = Memory.from_defaults(
        session_id="long",
        token_limit=80,
        token_flush_size=20,
        chat_history_token_ratio=0.5,
        memory_blocks=[block],
        async_engine=chat_store_engine,
    )
    turns = [(f"Question {n} about sailing boats", f"Answer {n} about sailing") for n in range(8)]
    for question, answer in turns:
        await chat_turn(memory, question, answer)
    archived = await memory.aget_all(status=MessageStatus.ARCHIVED)
    assert archived  # Memory did flush some turns to the block

    await block.astore_session(memory)
    assert stored(engine, "long") == as_pairs(turns)


@pytest.mark.asyncio
async def test_the_next_session_on_the_same_session_id_stores_the_last_turn(
    engine: MemoryEngine, chat_store_engine: AsyncEngine
) -> None:
    first = Memory.from_defaults(
        session_id="same",
        memory_blocks=[block_for(engine, "alice", "same")],
        async_engine=chat_store_engine,
    )
    for question, answer in SHORT_SESSION:
        await chat_turn(first, question, answer)
    assert stored(engine, "same") == as_pairs(SHORT_SESSION[:2])

    # A new process: new objects over the same chat store and session.
    later = Memory.from_defaults(
        session_id="same",
        memory_blocks=[block_for(engine, "alice", "same")],
        async_engine=chat_store_engine,
    )
    await chat_turn(later, "And for dessert?", "A mango sorbet.")
    assert stored(engine, "same") == as_pairs(SHORT_SESSION)
    later.put(ChatMessage(role=MessageRole.USER, content="Thanks!"))
    block_for(engine, "alice", "same").store_session(later)
    assert stored(engine, "same") == [
        *as_pairs([*SHORT_SESSION, ("And for dessert?", "A mango sorbet.")]),
        ("user", "Thanks!"),
    ]
