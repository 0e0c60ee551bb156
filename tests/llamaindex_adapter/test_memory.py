"""MultiSessionMemory inside LlamaIndex's chat engines and agents, across sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.chat_engine import (
    CondensePlusContextChatEngine,
    ContextChatEngine,
    SimpleChatEngine,
)
from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.tools import FunctionTool

from llamaindex_multisession import MultiSessionMemory, MultiSessionRetriever
from multisession import ContextConfig, MemoryEngine, token_counter

from .conftest import RecordingLLM

FACT = "I'm allergic to peanuts"
OTHER_USERS_FACT = "I'm allergic to shellfish"
QUESTION = "What should I not eat?"


def memory_for(engine: MemoryEngine, user_id: str, conversation_id: str) -> MultiSessionMemory:
    return MultiSessionMemory.from_defaults(
        engine=engine, user_id=user_id, conversation_id=conversation_id
    )


def simple(llm: RecordingLLM, memory: MultiSessionMemory, engine: MemoryEngine) -> BaseChatEngine:
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory)


def context(llm: RecordingLLM, memory: MultiSessionMemory, engine: MemoryEngine) -> BaseChatEngine:
    retriever = MultiSessionRetriever(engine, memory.user_id, similarity_top_k=3)
    return ContextChatEngine.from_defaults(retriever=retriever, llm=llm, memory=memory)


def condense_plus_context(
    llm: RecordingLLM, memory: MultiSessionMemory, engine: MemoryEngine
) -> BaseChatEngine:
    retriever = MultiSessionRetriever(engine, memory.user_id, similarity_top_k=3)
    return CondensePlusContextChatEngine.from_defaults(retriever=retriever, llm=llm, memory=memory)


CHAT_ENGINES: dict[str, Callable[[RecordingLLM, MultiSessionMemory, MemoryEngine], Any]] = {
    "simple": simple,
    "context": context,
    "condense_plus_context": condense_plus_context,
}


def first_sessions(engine: MemoryEngine, llm: RecordingLLM, build: Callable[..., Any]) -> None:
    """Alice and Bob each say something about themselves in a first session."""
    build(llm, memory_for(engine, "alice", "monday"), engine).chat(FACT)
    build(llm, memory_for(engine, "bob", "monday"), engine).chat(OTHER_USERS_FACT)


@pytest.mark.usefixtures("closes_leaked_event_loop")
@pytest.mark.parametrize("name", sorted(CHAT_ENGINES))
def test_chat_engine_remembers_across_sessions(
    name: str, engine: MemoryEngine, recording_llm: RecordingLLM, clock: Any
) -> None:
    build = CHAT_ENGINES[name]
    first_sessions(engine, recording_llm, build)
    clock.advance(days=4)

    build(recording_llm, memory_for(engine, "alice", "friday"), engine).chat(QUESTION)

    seen = recording_llm.last_input
    assert QUESTION in seen
    assert "allergic to peanuts" in seen
    assert "shellfish" not in seen


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(CHAT_ENGINES))
async def test_async_chat_engine_remembers_across_sessions(
    name: str, engine: MemoryEngine, recording_llm: RecordingLLM, clock: Any
) -> None:
    build = CHAT_ENGINES[name]
    await build(recording_llm, memory_for(engine, "alice", "monday"), engine).achat(FACT)
    await build(recording_llm, memory_for(engine, "bob", "monday"), engine).achat(OTHER_USERS_FACT)
    clock.advance(days=4)

    await build(recording_llm, memory_for(engine, "alice", "friday"), engine).achat(QUESTION)

    seen = recording_llm.last_input
    assert QUESTION in seen
    assert "allergic to peanuts" in seen
    assert "shellfish" not in seen


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


# Building a workflow inspects every member, and pydantic warns about deprecated ones.
AGENT_WARNINGS = "ignore::pydantic.warnings.PydanticDeprecationWarning"


@pytest.mark.asyncio
@pytest.mark.filterwarnings(AGENT_WARNINGS)
async def test_function_agent_remembers_across_sessions(
    engine: MemoryEngine, recording_llm: RecordingLLM, clock: Any
) -> None:
    tools = [FunctionTool.from_defaults(get_weather)]
    agent = FunctionAgent(tools=tools, llm=recording_llm)
    await agent.run(user_msg=FACT, memory=memory_for(engine, "alice", "monday"))
    await agent.run(user_msg=OTHER_USERS_FACT, memory=memory_for(engine, "bob", "monday"))
    clock.advance(days=6)

    response = await agent.run(user_msg=QUESTION, memory=memory_for(engine, "alice", "sunday"))

    assert str(response) == recording_llm.reply
    seen = recording_llm.last_input
    assert QUESTION in seen
    assert "allergic to peanuts" in seen
    assert "shellfish" not in seen
    stored = [(m.role, m.content) for m in engine.get_messages("alice", "sunday")]
    assert stored == [("user", QUESTION), ("assistant", recording_llm.reply)]


def test_session_resumption_is_taken_when_the_session_starts(
    engine: MemoryEngine, recording_llm: RecordingLLM, clock: Any
) -> None:
    SimpleChatEngine.from_defaults(
        llm=recording_llm, memory=memory_for(engine, "alice", "trip")
    ).chat("Let's plan the Lisbon trip")
    clock.advance(days=30)
    at_session_start = engine.resume("alice", "trip")
    returning = memory_for(engine, "alice", "trip")
    returning.put(ChatMessage(role=MessageRole.USER, content="Where were we?"))
    after_the_message = engine.resume("alice", "trip")

    system = returning.get()[0].content or ""

    assert at_session_start.mode != after_the_message.mode == "continue"
    assert at_session_start.instruction in system
    assert after_the_message.instruction not in system


def test_get_stays_within_the_token_limit(engine: MemoryEngine) -> None:
    memory = MultiSessionMemory.from_defaults(
        engine=engine, user_id="alice", conversation_id="long", token_limit=200
    )
    for number in range(40):
        memory.put(ChatMessage(role=MessageRole.USER, content=f"Message number {number} here"))
        memory.put(ChatMessage(role=MessageRole.ASSISTANT, content=f"Reply number {number}"))

    messages = memory.get(input="number", initial_token_count=50)

    counter = token_counter("gpt-4o")
    assert messages[0].role == MessageRole.SYSTEM
    assert messages[-1].content == "Reply number 39"
    assert sum(counter.count(m.content or "") for m in messages) <= 150


def test_put_set_get_all_and_reset(engine: MemoryEngine) -> None:
    memory = memory_for(engine, "alice", "chat")
    memory.put_messages(
        [
            ChatMessage(role=MessageRole.USER, content=FACT),
            ChatMessage(role=MessageRole.ASSISTANT, content="I'll remember that."),
        ]
    )
    assert [(m.role, m.content) for m in memory.get_all()] == [
        (MessageRole.USER, FACT),
        (MessageRole.ASSISTANT, "I'll remember that."),
    ]
    assert [m.content for m in engine.list("alice")] == [FACT]

    memory.set([ChatMessage(role=MessageRole.USER, content="Hello again")])
    assert [m.content for m in memory.get_all()] == ["Hello again"]

    memory.reset()
    assert memory.get_all() == []
    assert [m.content for m in engine.list("alice")] == [FACT]


def test_a_reply_that_confirms_makes_a_memory(engine: MemoryEngine) -> None:
    memory = memory_for(engine, "alice", "chat")

    memory.put_messages(
        [
            ChatMessage(role=MessageRole.USER, content="I had pasta for lunch"),
            ChatMessage(role=MessageRole.ASSISTANT, content="Noted, I'll remember that."),
        ]
    )

    assert [m.content for m in engine.list("alice")] == ["I had pasta for lunch"]
    assert [(m.role, m.content) for m in engine.get_messages("alice", "chat")] == [
        ("user", "I had pasta for lunch"),
        ("assistant", "Noted, I'll remember that."),
    ]


def test_a_confirming_reply_pairs_with_the_latest_user_message(engine: MemoryEngine) -> None:
    memory = memory_for(engine, "alice", "chat")

    memory.put_messages(
        [
            ChatMessage(role=MessageRole.USER, content="I had soup for dinner"),
            ChatMessage(role=MessageRole.USER, content="I had pasta for lunch"),
            ChatMessage(role=MessageRole.ASSISTANT, content="Noted, I'll remember that."),
        ]
    )

    assert [m.content for m in engine.list("alice")] == ["I had pasta for lunch"]


def test_tool_messages_between_a_question_and_its_answer_keep_their_order(
    engine: MemoryEngine,
) -> None:
    memory = memory_for(engine, "alice", "chat")
    run = [
        (MessageRole.SYSTEM, "Be brief."),
        (MessageRole.USER, "I had pasta for lunch"),
        (MessageRole.ASSISTANT, ""),
        (MessageRole.TOOL, "calendar: lunch at 12:30"),
        (MessageRole.ASSISTANT, "Noted, I'll remember that."),
        (MessageRole.USER, FACT),
    ]

    memory.put_messages([ChatMessage(role=role, content=text) for role, text in run])

    assert [(m.role, m.content) for m in memory.get_all()] == run
    # The answer is not next to the question, so the question was judged alone.
    assert [m.content for m in engine.list("alice")] == [FACT]


def test_get_searches_for_the_user_message_during_a_tool_call(engine: MemoryEngine) -> None:
    engine.add("alice", FACT)
    engine.add("alice", "I'm moving to Lisbon in May")
    one_memory = ContextConfig(memories_k=1)

    def top_memory(memory: MultiSessionMemory) -> str:
        system = memory.get()[0].content or ""
        return system.split("Relevant memories:\n")[-1]

    memory = MultiSessionMemory.from_defaults(
        engine=engine, user_id="alice", conversation_id="chat", context_config=one_memory
    )
    memory.put_messages(
        [
            ChatMessage(role=MessageRole.USER, content=QUESTION),
            ChatMessage(role=MessageRole.ASSISTANT, content=""),
            ChatMessage(role=MessageRole.TOOL, content="Sunny in Lisbon"),
        ]
    )
    # A new object for the same conversation finds the user's message in the store.
    reopened = MultiSessionMemory.from_defaults(
        engine=engine, user_id="alice", conversation_id="chat", context_config=one_memory
    )

    assert FACT in top_memory(memory)
    assert FACT in top_memory(reopened)


@pytest.mark.asyncio
async def test_async_twins(engine: MemoryEngine) -> None:
    memory = memory_for(engine, "alice", "chat")
    await memory.aput_messages(
        [
            ChatMessage(role=MessageRole.USER, content=FACT),
            ChatMessage(role=MessageRole.TOOL, content="42"),
            ChatMessage(role=MessageRole.ASSISTANT, content=""),
        ]
    )
    assert [(m.role, m.content) for m in await memory.aget_all()] == [
        (MessageRole.USER, FACT),
        (MessageRole.TOOL, "42"),
        (MessageRole.ASSISTANT, ""),
    ]

    context = await memory.aget()

    assert "allergic to peanuts" in (context[0].content or "")
    assert [(m.role, m.content) for m in context[1:]] == [
        (MessageRole.USER, FACT),
        (MessageRole.ASSISTANT, "Tool result: 42"),
    ]

    await memory.aset([ChatMessage(role=MessageRole.USER, content="Hi")])
    assert [m.content for m in await memory.aget_all()] == ["Hi"]
    await memory.areset()
    assert await memory.aget_all() == []


def test_system_prompt_replaces_the_engines(engine: MemoryEngine) -> None:
    memory = MultiSessionMemory.from_defaults(
        engine=engine, user_id="alice", conversation_id="chat", system_prompt="You are Ada."
    )

    assert (memory.get(input="hello")[0].content or "").startswith("You are Ada.")


@pytest.mark.parametrize("name", ["context", "context_config"])
def test_context_settings_under_either_name(engine: MemoryEngine, name: str) -> None:
    settings = ContextConfig(system_prompt="You are Ada.")
    memory = MultiSessionMemory.from_defaults(
        engine=engine, user_id="alice", conversation_id="chat", **{name: settings}
    )

    assert (memory.get(input="hello")[0].content or "").startswith("You are Ada.")


def test_context_under_both_names_is_refused(engine: MemoryEngine) -> None:
    settings = ContextConfig()
    with pytest.raises(TypeError, match="not both"):
        MultiSessionMemory(
            engine=engine,
            user_id="alice",
            conversation_id="chat",
            context=settings,
            context_config=settings,
        )
    with pytest.raises(TypeError, match="context must be a ContextConfig"):
        MultiSessionMemory(
            engine=engine,
            user_id="alice",
            conversation_id="chat",
            context="brief",  # type: ignore[arg-type]
        )


def test_rejects_a_non_engine() -> None:
    with pytest.raises(TypeError):
        MultiSessionMemory(engine="not an engine", user_id="alice", conversation_id="c")  # type: ignore[arg-type]
