"""MultiSessionMemoryBlock inside LlamaIndex's ``Memory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import Memory
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
