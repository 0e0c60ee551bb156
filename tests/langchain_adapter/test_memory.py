"""with_multisession_memory: a chain that remembers across sessions and users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda

from langchain_multisession import (
    MultiSessionChatMessageHistory,
    MultiSessionMemory,
    with_multisession_memory,
)
from multisession import MemoryEngine


def _prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate([MessagesPlaceholder("history"), ("human", "{input}")])


def _config(user_id: str, conversation_id: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user_id, "conversation_id": conversation_id}}


def test_second_session_remembers_the_first(
    engine: MemoryEngine, clock: Any, recording_model: Callable[..., Any]
) -> None:
    model = recording_model("Noted.", "Noted.", "How about a Thai curry without peanuts?")
    chain = with_multisession_memory(_prompt() | model, engine)

    chain.invoke({"input": "I'm allergic to peanuts"}, _config("alice", "monday"))
    chain.invoke({"input": "I'm allergic to shellfish"}, _config("bob", "monday"))
    clock.advance(days=3)
    reply = chain.invoke({"input": "What should I cook tonight?"}, _config("alice", "thursday"))

    assert reply.text == "How about a Thai curry without peanuts?"
    prompt = model.prompts[-1]
    assert isinstance(prompt[0], SystemMessage)
    assert "I'm allergic to peanuts" in prompt[0].text
    assert "The user is back after 3 days" in prompt[0].text
    assert prompt[-1] == HumanMessage(content="What should I cook tonight?")
    assert "shellfish" not in model.prompt_text()
    assert [(m.role, m.content) for m in engine.get_messages("alice", "thursday")] == [
        ("user", "What should I cook tonight?"),
        ("assistant", "How about a Thai curry without peanuts?"),
    ]


async def test_async_path_remembers_and_keeps_the_conversation(
    engine: MemoryEngine, clock: Any, recording_model: Callable[..., Any]
) -> None:
    model = recording_model("Noted.", "Sure.", "Noted.")
    chain = MultiSessionMemory(engine).wrap(_prompt() | model)

    await chain.ainvoke({"input": "I'm allergic to peanuts"}, _config("alice", "c1"))
    clock.advance(minutes=5)
    await chain.ainvoke("Suggest a snack", _config("alice", "c1"))
    await chain.ainvoke({"input": "My favourite snack is popcorn"}, _config("bob", "c1"))

    second = model.prompt_text(1)
    assert "allergic to peanuts" in second
    assert "human: I'm allergic to peanuts\nai: Noted." in second  # recent history
    assert "popcorn" not in second
    assert all("peanut" not in hit.memory.content for hit in engine.search("bob", "peanuts"))


def test_output_key_and_message_parts(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    model = recording_model("Noted.")
    chain_input = {"question": [{"type": "text", "text": "I live in Lyon"}]}
    result = with_multisession_memory(
        ChatPromptTemplate([MessagesPlaceholder("history"), ("human", "{question}")])
        | model
        | RunnableLambda(lambda message: {"answer": message.text}),
        engine,
        input_key="question",
        output_key="answer",
    ).invoke(chain_input, _config("alice", "c1"))
    assert result == {"answer": "Noted."}
    assert [(m.role, m.content) for m in engine.get_messages("alice", "c1")] == [
        ("user", "I live in Lyon"),
        ("assistant", "Noted."),
    ]


def test_missing_session_names_the_fix(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    chain = with_multisession_memory(_prompt() | recording_model(), engine)
    with pytest.raises(ValueError, match=r"needs user_id: call with config="):
        chain.invoke({"input": "Hi"}, {"configurable": {"conversation_id": "c1"}})
    with pytest.raises(ValueError, match="needs user_id and conversation_id"):
        chain.invoke({"input": "Hi"})
    with pytest.raises(ValueError, match="input_key"):
        chain.invoke({"question": "Hi"}, _config("alice", "c1"))


def _tool_exchange() -> list[BaseMessage]:
    return [
        HumanMessage(content="What is the weather in Paris?"),
        AIMessage(
            content="", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1"}]
        ),
        ToolMessage(content="Sunny, 21 C", tool_call_id="call-1", name="weather"),
        AIMessage(content="It is sunny in Paris."),
    ]


_REPLAYED = [
    ("human", "What is the weather in Paris?"),
    ("ai", "Tool result: Sunny, 21 C"),
    ("ai", "It is sunny in Paris."),
]


def test_stored_tool_calls_come_back_as_text(engine: MemoryEngine) -> None:
    MultiSessionChatMessageHistory(engine, "alice", "c1").add_messages(_tool_exchange())

    loaded = MultiSessionMemory(engine).load("alice", "Thanks", conversation_id="c1")

    assert isinstance(loaded[0], SystemMessage)
    assert [(message.type, message.text) for message in loaded[1:]] == _REPLAYED


async def test_async_load_replays_tool_calls_as_text(engine: MemoryEngine) -> None:
    await MultiSessionChatMessageHistory(engine, "alice", "c1").aadd_messages(_tool_exchange())

    loaded = await MultiSessionMemory(engine).aload("alice", "Thanks", conversation_id="c1")

    assert [(message.type, message.text) for message in loaded[1:]] == _REPLAYED


def _streaming_model(reply: str) -> GenericFakeChatModel:
    """A fake chat model that streams its reply word by word (the outside boundary)."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))


def test_stream_yields_the_models_chunks_and_records_the_reply(engine: MemoryEngine) -> None:
    engine.add("alice", "I'm allergic to peanuts")
    chain = with_multisession_memory(
        _prompt() | _streaming_model("Try a coconut curry tonight."), engine
    )

    chunks = list(chain.stream({"input": "What should I cook?"}, _config("alice", "c1")))

    assert len(chunks) > 1  # the model's chunks, not one final message
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks) == "Try a coconut curry tonight."
    assert [(m.role, m.content) for m in engine.get_messages("alice", "c1")] == [
        ("user", "What should I cook?"),
        ("assistant", "Try a coconut curry tonight."),
    ]


async def test_astream_yields_the_models_chunks_and_records_the_reply(
    engine: MemoryEngine,
) -> None:
    chain = with_multisession_memory(_prompt() | _streaming_model("Lentil soup, then."), engine)

    chunks = [chunk async for chunk in chain.astream("Dinner idea?", _config("alice", "c1"))]

    assert len(chunks) > 1
    assert "".join(chunk.text for chunk in chunks) == "Lentil soup, then."
    assert [m.content for m in engine.get_messages("alice", "c1")] == [
        "Dinner idea?",
        "Lentil soup, then.",
    ]


def test_a_prompt_without_the_history_placeholder_is_refused(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    prompt = ChatPromptTemplate([("system", "You cook."), ("human", "{input}")])
    with pytest.raises(ValueError, match=r"no placeholder 'history'.*MessagesPlaceholder"):
        with_multisession_memory(prompt | recording_model(), engine)
    named = ChatPromptTemplate([MessagesPlaceholder("past", optional=True), ("human", "{input}")])
    with pytest.raises(ValueError, match="no placeholder 'history'"):
        with_multisession_memory(named | recording_model(), engine)
    # Naming the placeholder the prompt has is the fix.
    chain = with_multisession_memory(named | recording_model("Hi."), engine, history_key="past")
    assert chain.invoke("Hello", _config("alice", "c1")).text == "Hi."
