"""create_agent with MultiSessionStore: tools remember and recall through Runtime.store.

A fake tool-calling chat model (the outside boundary) drives two users over two
sessions three days apart; each user's tools see only that user's items.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_multisession import MultiSessionStore
from multisession import MemoryEngine


@dataclass
class Context:
    user_id: str


def _namespace(runtime: ToolRuntime[Context]) -> tuple[str, ...]:
    return ("memories", runtime.context.user_id)


@tool
def remember(key: str, text: str, runtime: ToolRuntime[Context]) -> str:
    """Remember a fact about the user under a short key."""
    assert runtime.store is not None
    runtime.store.put(_namespace(runtime), key, {"text": text})
    return f"remembered {key}"


@tool
def recall(query: str, runtime: ToolRuntime[Context]) -> str:
    """Find what is remembered about the user."""
    assert runtime.store is not None
    hits = runtime.store.search(_namespace(runtime), query=query, limit=5)
    return json.dumps([hit.value["text"] for hit in hits])


def _call(name: str, args: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{name}"}])


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _tool_outputs(result: dict[str, Any]) -> list[str]:
    return [m.text for m in result["messages"] if isinstance(m, ToolMessage)]


def test_two_users_two_sessions_days_apart(
    engine: MemoryEngine, clock: Any, recording_model: Callable[..., Any]
) -> None:
    store = MultiSessionStore(engine)
    facts = {"alice": "allergic to peanuts", "bob": "allergic to shellfish"}

    def run(user_id: str, thread: str, *script: AIMessage) -> dict[str, Any]:
        agent = create_agent(
            recording_model(*script),
            [remember, recall],
            store=store,
            context_schema=Context,
            checkpointer=InMemorySaver(),
        )
        return agent.invoke(  # type: ignore[no-any-return]
            _ask("What should I keep in mind about my diet?"),
            {"configurable": {"thread_id": thread}},
            context=Context(user_id=user_id),
        )

    for user_id, fact in facts.items():  # monday
        result = run(
            user_id,
            f"{user_id}-monday",
            _call("remember", {"key": "allergy", "text": fact}),
            AIMessage(content="Noted."),
        )
        assert _tool_outputs(result) == ["remembered allergy"]

    clock.advance(days=3)
    for user_id, fact in facts.items():  # thursday, a new thread
        result = run(
            user_id,
            f"{user_id}-thursday",
            _call("recall", {"query": "food allergies"}),
            AIMessage(content="Mind your allergy."),
        )
        assert _tool_outputs(result) == [json.dumps([fact])]

    # The items are each user's memories, and nobody else's.
    for user_id, fact in facts.items():
        memories = engine.export_user(user_id)["memories"]
        assert [m["content"] for m in memories] == [fact]
    assert store.list_namespaces() == [("memories", "alice"), ("memories", "bob")]
