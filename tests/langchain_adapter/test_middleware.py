"""MultiSessionMiddleware in a create_agent agent with a tool-calling fake model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from langchain_multisession import MultiSessionMiddleware
from multisession import MemoryEngine


@tool
def pantry() -> str:
    """List what is in the pantry."""
    return "rice, coconut milk, peanuts"


def _script() -> list[AIMessage]:
    return [
        AIMessage(content="", tool_calls=[{"name": "pantry", "args": {}, "id": "call-1"}]),
        AIMessage(content="Make a coconut rice; skip the peanuts."),
    ]


def _run(user_id: str, conversation_id: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user_id, "conversation_id": conversation_id}}


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def test_agent_gets_memories_and_records_the_run(
    engine: MemoryEngine, clock: Any, recording_model: Callable[..., Any]
) -> None:
    engine.record_exchange("alice", "monday", "I'm allergic to peanuts", "Noted.")
    engine.record_exchange("bob", "monday", "I'm allergic to shellfish", "Noted.")
    clock.advance(days=3)
    model = recording_model(*_script())
    agent = create_agent(
        model, [pantry], system_prompt="You cook.", middleware=[MultiSessionMiddleware(engine)]
    )

    result = agent.invoke(_ask("What can I cook tonight?"), _run("alice", "thursday"))

    assert result["messages"][-1].text == "Make a coconut rice; skip the peanuts."
    assert len(model.prompts) == 2  # the tool call, then the answer
    for prompt in model.prompts:
        system = prompt[0]
        assert system.type == "system"
        assert system.text.startswith("You cook.\n\n")
        assert "I'm allergic to peanuts" in system.text
        assert "The user is back after 3 days" in system.text
        assert "shellfish" not in "\n".join(message.text for message in prompt)
    # The context reaches the model only; the agent's state holds no system message.
    assert [message.type for message in result["messages"]] == ["human", "ai", "tool", "ai"]
    assert [(m.role, m.content) for m in engine.get_messages("alice", "thursday")] == [
        ("user", "What can I cook tonight?"),
        ("assistant", "Make a coconut rice; skip the peanuts."),
    ]


async def test_async_agent_run(engine: MemoryEngine, recording_model: Callable[..., Any]) -> None:
    engine.record_exchange("alice", "c1", "I'm allergic to peanuts", "Noted.")
    model = recording_model(*_script())
    agent = create_agent(model, [pantry], middleware=[MultiSessionMiddleware(engine)])

    result = await agent.ainvoke(_ask("What can I cook?"), _run("alice", "c2"))

    assert result["messages"][-1].text == "Make a coconut rice; skip the peanuts."
    assert "I'm allergic to peanuts" in model.prompts[0][0].text
    assert [m.content for m in await engine.aget_messages("alice", "c2")] == [
        "What can I cook?",
        "Make a coconut rice; skip the peanuts.",
    ]


def test_missing_user_names_the_fix(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    agent = create_agent(recording_model(), [], middleware=[MultiSessionMiddleware(engine)])
    with pytest.raises(ValueError, match="needs user_id and conversation_id"):
        agent.invoke(_ask("Hi"))
