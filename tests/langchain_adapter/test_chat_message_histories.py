"""MultiSessionChatMessageHistory, alone and under RunnableWithMessageHistory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import ConfigurableFieldSpec
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_multisession import MultiSessionChatMessageHistory
from multisession import MemoryEngine

# LangChain now points to LangGraph persistence, but RunnableWithMessageHistory is still
# how LCEL chains keep a history, and this class's main use.
_DEPRECATED = pytest.mark.filterwarnings(
    "ignore:RunnableWithMessageHistory is deprecated:langchain_core._api.deprecation"
    ".LangChainDeprecationWarning"
)


def _with_history(engine: MemoryEngine, model: Any) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    return RunnableWithMessageHistory(
        prompt | model,
        lambda user_id, conversation_id: MultiSessionChatMessageHistory(
            engine, user_id, conversation_id
        ),
        input_messages_key="input",
        history_messages_key="history",
        history_factory_config=[
            ConfigurableFieldSpec(id="user_id", annotation=str, name="User id"),
            ConfigurableFieldSpec(id="conversation_id", annotation=str, name="Conversation id"),
        ],
    )


def _config(user_id: str, conversation_id: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user_id, "conversation_id": conversation_id}}


def _texts(messages: list[BaseMessage]) -> list[tuple[str, str]]:
    return [(message.type, message.text) for message in messages]


_TURNS = [
    ("alice", "trip", "Plan a trip to Lisbon"),
    ("bob", "trip", "Plan a trip to Oslo"),
    ("alice", "work", "Draft the quarterly report"),
    ("alice", "trip", "Add a day in Sintra"),
]


def _expected(user_id: str, conversation_id: str) -> list[tuple[str, str]]:
    expected = []
    for user, conversation, text in _TURNS:
        if (user, conversation) == (user_id, conversation_id):
            expected += [("human", text), ("ai", f"Reply to {text}")]
    return expected


@_DEPRECATED
def test_sync_histories_never_mix_and_survive_reopening(
    open_engine: Callable[[], MemoryEngine], recording_model: Callable[..., Any]
) -> None:
    engine = open_engine()
    model = recording_model(*(f"Reply to {text}" for _, _, text in _TURNS))
    chain = _with_history(engine, model)
    for user_id, conversation_id, text in _TURNS:
        chain.invoke({"input": text}, _config(user_id, conversation_id))

    # The last prompt held only alice's trip conversation so far.
    assert _texts(model.prompts[-1]) == [
        ("system", "Be brief."),
        *_expected("alice", "trip")[:2],
        ("human", "Add a day in Sintra"),
    ]
    engine.close()

    reopened = open_engine()
    for user_id, conversation_id in [("alice", "trip"), ("alice", "work"), ("bob", "trip")]:
        history = MultiSessionChatMessageHistory(reopened, user_id, conversation_id)
        assert _texts(history.messages) == _expected(user_id, conversation_id)
    assert MultiSessionChatMessageHistory(reopened, "bob", "work").messages == []


@_DEPRECATED
async def test_async_histories_never_mix(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    model = recording_model(*(f"Reply to {text}" for _, _, text in _TURNS))
    chain = _with_history(engine, model)
    for user_id, conversation_id, text in _TURNS:
        await chain.ainvoke({"input": text}, _config(user_id, conversation_id))

    for user_id, conversation_id in [("alice", "trip"), ("alice", "work"), ("bob", "trip")]:
        history = MultiSessionChatMessageHistory(engine, user_id, conversation_id)
        assert _texts(await history.aget_messages()) == _expected(user_id, conversation_id)


def test_roles_and_content_parts_round_trip(engine: MemoryEngine) -> None:
    history = MultiSessionChatMessageHistory(engine, "alice", "c1")
    history.add_messages(
        [
            SystemMessage(content="Be brief."),
            HumanMessage(content=[{"type": "text", "text": "What is "}, "the weather?"]),
            AIMessage(
                content="",
                tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1"}],
            ),
            ToolMessage(content="Sunny", tool_call_id="call-1", name="weather"),
            AIMessage(content="It is sunny."),
        ]
    )
    stored = engine.get_messages("alice", "c1")
    assert [(m.role, m.content) for m in stored] == [
        ("system", "Be brief."),
        ("user", "What is the weather?"),
        ("assistant", ""),
        ("tool", "Sunny"),
        ("assistant", "It is sunny."),
    ]
    messages = history.messages
    assert isinstance(messages[0], SystemMessage)
    assert isinstance(messages[2], AIMessage)
    assert [call["args"] for call in messages[2].tool_calls] == [{"city": "Paris"}]
    assert isinstance(messages[3], ToolMessage)
    assert (messages[3].tool_call_id, messages[3].name) == ("call-1", "weather")


async def test_async_add_and_clear(engine: MemoryEngine) -> None:
    history = MultiSessionChatMessageHistory(engine, "alice", "c1")
    other = MultiSessionChatMessageHistory(engine, "alice", "c2")
    await history.aadd_messages([HumanMessage(content="Hi"), AIMessage(content="Hello")])
    await other.aadd_messages([HumanMessage(content="Elsewhere")])
    await history.aclear()
    assert await history.aget_messages() == []
    assert _texts(await other.aget_messages()) == [("human", "Elsewhere")]
    other.clear()
    assert other.messages == []


def test_unknown_message_type_is_rejected(engine: MemoryEngine) -> None:
    from langchain_core.messages import ChatMessage

    history = MultiSessionChatMessageHistory(engine, "alice", "c1")
    with pytest.raises(ValueError, match="HumanMessage, AIMessage"):
        history.add_messages([ChatMessage(role="narrator", content="Once upon a time")])


def test_adding_an_exchange_keeps_its_memories(engine: MemoryEngine) -> None:
    history = MultiSessionChatMessageHistory(engine, "alice", "c1")
    history.add_messages(
        [HumanMessage(content="I'm allergic to peanuts"), AIMessage(content="Noted.")]
    )
    history.add_messages([HumanMessage(content="ok"), AIMessage(content="Anything else?")])
    memories = engine.list("alice")
    assert [(m.content, m.conversation_id) for m in memories] == [("I'm allergic to peanuts", "c1")]
    assert [hit.memory.content for hit in engine.search("alice", "food allergy")] == [
        "I'm allergic to peanuts"
    ]
    assert len(history.messages) == 4
