"""MultiSessionMiddleware the LangChain 1.x way: runtime context, thread ids, checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_multisession import MultiSessionMiddleware
from multisession import MemoryEngine


@dataclass
class Context:
    user_id: str


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _checkpointed_text(saver: InMemorySaver) -> str:
    """Everything the checkpointer holds, as text (serialised values show as bytes)."""
    return repr(saver.storage) + repr(saver.writes) + repr(saver.blobs)


def test_user_from_the_runtime_context_and_conversation_from_the_thread(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    engine.add("alice", "Alice is allergic to peanuts")
    engine.add("bob", "Bob is allergic to shellfish")
    model = recording_model("Coconut rice.", "Grilled fish is out.")
    agent = create_agent(
        model,
        [],
        middleware=[MultiSessionMiddleware(engine)],
        context_schema=Context,
        checkpointer=InMemorySaver(),
    )

    agent.invoke(
        _ask("What can I cook?"), {"configurable": {"thread_id": "t-1"}}, context=Context("alice")
    )
    agent.invoke(
        _ask("And for me?"), {"configurable": {"thread_id": "t-2"}}, context=Context("bob")
    )

    assert "peanuts" in model.prompt_text(0) and "shellfish" not in model.prompt_text(0)
    assert "shellfish" in model.prompt_text(1) and "peanuts" not in model.prompt_text(1)
    assert [(m.role, m.content) for m in engine.get_messages("alice", "t-1")] == [
        ("user", "What can I cook?"),
        ("assistant", "Coconut rice."),
    ]
    assert [m.content for m in engine.get_messages("bob", "t-2")] == [
        "And for me?",
        "Grilled fish is out.",
    ]


def test_a_dict_context_works_too(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    engine.add("alice", "Alice is allergic to peanuts")
    model = recording_model("Noted.")
    agent = create_agent(
        model, [], middleware=[MultiSessionMiddleware(engine)], context_schema=dict
    )
    agent.invoke(
        _ask("Snack ideas?"),
        {"configurable": {"thread_id": "t-1"}},
        context={"user_id": "alice", "conversation_id": "snacks"},
    )
    assert "peanuts" in model.prompt_text(0)
    assert len(engine.get_messages("alice", "snacks")) == 2


def test_a_missing_user_names_both_ways_to_pass_one(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    agent = create_agent(
        recording_model(),
        [],
        middleware=[MultiSessionMiddleware(engine)],
        checkpointer=InMemorySaver(),
    )
    with pytest.raises(ValueError, match="needs the user") as raised:
        agent.invoke(_ask("Hi"), {"configurable": {"thread_id": "t-1"}})
    assert "context={'user_id': ...}" in str(raised.value)
    assert "config={'configurable': {'user_id': ...}}" in str(raised.value)
    assert engine.users() == []


def test_a_missing_conversation_names_the_thread_id(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    agent = create_agent(recording_model(), [], middleware=[MultiSessionMiddleware(engine)])
    with pytest.raises(ValueError, match="needs the conversation.*thread_id"):
        agent.invoke(_ask("Hi"), context={"user_id": "alice"})


@pytest.mark.parametrize("system_prompt", [None, "You are Chef Remy."])
def test_one_system_message(
    engine: MemoryEngine, recording_model: Callable[..., Any], system_prompt: str | None
) -> None:
    engine.add("alice", "Alice is allergic to peanuts")
    model = recording_model("Coconut rice.")
    agent = create_agent(
        model, [], system_prompt=system_prompt, middleware=[MultiSessionMiddleware(engine)]
    )
    agent.invoke(_ask("What can I cook?"), {"configurable": {"user_id": "alice", "thread_id": "t"}})

    prompt = model.prompts[0]
    systems = [m for m in prompt if isinstance(m, SystemMessage)]
    assert len(systems) == 1 and prompt[0] is systems[0]
    assert "peanuts" in systems[0].text
    assert "You are a helpful assistant" not in systems[0].text
    if system_prompt is not None:
        assert systems[0].text.startswith(system_prompt + "\n\n")


def test_memory_text_never_reaches_the_checkpoints(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    engine.add("alice", "Alice is allergic to peanuts")
    saver = InMemorySaver()
    model = recording_model("Coconut rice.", "Lentil soup.")
    agent = create_agent(
        model,
        [],
        middleware=[MultiSessionMiddleware(engine)],
        context_schema=Context,
        checkpointer=saver,
    )
    run = {"configurable": {"thread_id": "t-1"}}
    agent.invoke(_ask("What can I cook?"), run, context=Context("alice"))
    agent.invoke(_ask("And tomorrow?"), run, context=Context("alice"))

    assert all("peanuts" in model.prompt_text(i) for i in (0, 1))  # the model saw it
    checkpointed = _checkpointed_text(saver)
    assert "What can I cook?" in checkpointed  # the run was checkpointed
    assert "peanuts" not in checkpointed
    engine.delete_user("alice")
    assert not engine.has_user("alice")
    assert "peanuts" not in _checkpointed_text(saver)
