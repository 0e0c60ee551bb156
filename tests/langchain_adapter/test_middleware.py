"""MultiSessionMiddleware in a create_agent agent with a tool-calling fake model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_multisession import MultiSessionMiddleware
from multisession import ContextBudget, ContextConfig, Embedder, MemoryEngine


@tool
def pantry() -> str:
    """List what is in the pantry."""
    return "rice, coconut milk, peanuts"


def _script() -> list[AIMessage]:
    return [
        AIMessage(content="", tool_calls=[{"name": "pantry", "args": {}, "id": "call-1"}]),
        AIMessage(content="Make a coconut rice; skip the peanuts."),
    ]


class SpyEmbedder:
    """The real embedder, noting every text it is asked to embed (the outside boundary)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.texts: list[str] = []

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def dimension(self) -> int:
        return self.embedder.dimension

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts.extend(texts)
        return self.embedder.embed(texts)


_DISHES = [
    "mushroom risotto",
    "lentil soup",
    "green curry",
    "paella",
    "lasagne",
    "ramen",
    "shakshuka",
    "moussaka",
    "pad thai",
    "gnocchi",
    "chili con carne",
    "fish pie",
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


def test_each_run_records_its_own_question_and_answer(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    # The second answer holds no text: the run has no reply, and the first run's answer
    # in the agent's kept history must not stand in for it.
    model = recording_model(*_script(), AIMessage(content=""))
    agent = create_agent(
        model, [pantry], middleware=[MultiSessionMiddleware(engine)], checkpointer=InMemorySaver()
    )
    run = {"configurable": {"user_id": "alice", "conversation_id": "c1", "thread_id": "t1"}}

    agent.invoke(_ask("What can I cook tonight?"), run)
    agent.invoke(_ask("And for dessert?"), run)

    assert [(m.role, m.content) for m in engine.get_messages("alice", "c1")] == [
        ("user", "What can I cook tonight?"),
        ("assistant", "Make a coconut rice; skip the peanuts."),
        ("user", "And for dessert?"),
    ]


async def test_async_agent_run(engine: MemoryEngine, recording_model: Callable[..., Any]) -> None:
    engine.record_exchange("alice", "c1", "I'm allergic to peanuts", "Noted.")
    model = recording_model(*_script())
    agent = create_agent(model, [pantry], middleware=[MultiSessionMiddleware(engine)])

    result = await agent.ainvoke(_ask("What can I cook?"), _run("alice", "c2"))

    assert result["messages"][-1].text == "Make a coconut rice; skip the peanuts."
    for prompt in model.prompts:
        # Without a prompt of the agent's own, the memory context is the whole message.
        assert prompt[0].text.startswith("Where we left off:")
        assert "I'm allergic to peanuts" in prompt[0].text
    assert [m.content for m in await engine.aget_messages("alice", "c2")] == [
        "What can I cook?",
        "Make a coconut rice; skip the peanuts.",
    ]


def test_one_search_per_run_however_many_model_calls(
    store_dir: Path, minilm: Embedder, clock: Any, recording_model: Callable[..., Any]
) -> None:
    spy = SpyEmbedder(minilm)
    engine = MemoryEngine(store_dir, embedder=spy, clock=clock)
    engine.add("alice", "I'm allergic to peanuts")
    spy.texts.clear()
    model = recording_model(*_script())
    agent = create_agent(model, [pantry], middleware=[MultiSessionMiddleware(engine)])

    agent.invoke(_ask("What can I cook tonight?"), _run("alice", "c1"))
    engine.close()

    assert spy.texts == ["What can I cook tonight?"]
    assert len(model.prompts) == 2
    for prompt in model.prompts:
        assert "I'm allergic to peanuts" in prompt[0].text


def test_memories_take_the_room_the_agent_keeps_the_history(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    dishes = [f"I cooked a lovely {dish} last week" for dish in _DISHES]
    for dish in dishes:
        engine.add("alice", dish)
    engine.add_messages(
        "alice",
        "c1",
        [("user", "Tell me a long story about cooking " * 20), ("assistant", "Once upon " * 60)],
    )
    budget = ContextBudget(max_tokens=320, response_reserve=0)
    middleware = MultiSessionMiddleware(engine, context=ContextConfig(budget=budget))
    model = recording_model("Try the risotto again.")
    agent = create_agent(model, [], system_prompt="You cook.", middleware=[middleware])

    agent.invoke(_ask("What did I cook recently?"), _run("alice", "c1"))

    system = model.prompts[0][0].text
    assert system.startswith("You cook.\n\nWhere we left off:")
    assert "You are a helpful assistant" not in system  # the engine's prompt
    assert "Once upon" not in system
    assert [dish for dish in dishes if dish not in system] == []


def test_missing_user_names_the_fix(
    engine: MemoryEngine, recording_model: Callable[..., Any]
) -> None:
    agent = create_agent(recording_model(), [], middleware=[MultiSessionMiddleware(engine)])
    with pytest.raises(ValueError, match="needs the user.*context=.*configurable"):
        agent.invoke(_ask("Hi"))
