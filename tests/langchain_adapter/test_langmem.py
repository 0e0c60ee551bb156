"""LangMem's memory tools on MultiSessionStore, alone and in a create_agent agent.

The tools keep items under a namespace template (``("memories", "{user_id}")``) read
from ``config["configurable"]``; the store makes those items the user's memories. A
fake tool-calling chat model (the outside boundary) drives the agent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langmem import create_manage_memory_tool, create_search_memory_tool

from langchain_multisession import MultiSessionMiddleware, MultiSessionStore
from multisession import MemoryEngine

NAMESPACE = ("memories", "{user_id}")


def _as(user_id: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user_id}}


def test_manage_and_search_tools_keep_each_users_memories(engine: MemoryEngine) -> None:
    store = MultiSessionStore(engine)
    manage = create_manage_memory_tool(NAMESPACE, store=store)
    search = create_search_memory_tool(NAMESPACE, store=store)

    created = manage.invoke({"content": "allergic to peanuts"}, _as("alice"))
    manage.invoke({"content": "allergic to shellfish"}, _as("bob"))
    key = created.split()[-1]
    assert [m["content"] for m in engine.export_user("alice")["memories"]] == [
        "allergic to peanuts"
    ]

    found = json.loads(search.invoke({"query": "food allergy"}, _as("alice")))
    assert [(hit["key"], hit["value"]) for hit in found] == [
        (key, {"content": "allergic to peanuts"})
    ]
    assert found[0]["score"] > 0

    manage.invoke(
        {"content": "allergic to peanuts and sesame", "action": "update", "id": key},
        _as("alice"),
    )
    found = json.loads(search.invoke({"query": "sesame"}, _as("alice")))
    assert [hit["value"]["content"] for hit in found] == ["allergic to peanuts and sesame"]

    # Bob's tools never see Alice's item, even naming its id.
    manage.invoke({"action": "delete", "id": key}, _as("bob"))
    assert engine.count("alice") == 1
    assert [
        h["value"]["content"] for h in json.loads(search.invoke({"query": "x"}, _as("bob")))
    ] == ["allergic to shellfish"]
    manage.invoke({"action": "delete", "id": key}, _as("alice"))
    assert engine.count("alice") == 0


async def test_the_tools_async(engine: MemoryEngine) -> None:
    store = MultiSessionStore(engine)
    manage = create_manage_memory_tool(NAMESPACE, store=store)
    search = create_search_memory_tool(NAMESPACE, store=store)
    await manage.ainvoke({"content": "prefers window seats"}, _as("alice"))
    found = json.loads(await search.ainvoke({"query": "seat on the plane"}, _as("alice")))
    assert [hit["value"]["content"] for hit in found] == ["prefers window seats"]


def _call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def test_agent_with_store_middleware_and_langmem_tools_over_two_sessions(
    engine: MemoryEngine, clock: Any, recording_model: Callable[..., Any]
) -> None:
    store = MultiSessionStore(engine)
    middleware = MultiSessionMiddleware(engine)
    tools = [
        create_manage_memory_tool(NAMESPACE, store=store),
        create_search_memory_tool(NAMESPACE, store=store),
    ]
    facts = {"alice": "allergic to peanuts", "bob": "allergic to shellfish"}
    seen: dict[str, list[str]] = {user: [] for user in facts}

    def run(user_id: str, thread: str, question: str, *script: AIMessage) -> dict[str, Any]:
        model = recording_model(*script)
        agent = create_agent(
            model,
            tools,
            store=store,
            middleware=[middleware],
            context_schema=dict,
            checkpointer=InMemorySaver(),
        )
        result: dict[str, Any] = agent.invoke(
            {"messages": [{"role": "user", "content": question}]},
            {"configurable": {"thread_id": thread, "user_id": user_id}},
            context={"user_id": user_id},
        )
        seen[user_id].extend(model.prompt_text(i) for i in range(len(model.prompts)))
        seen[user_id].extend(m.text for m in result["messages"] if isinstance(m, ToolMessage))
        return result

    for user_id, fact in facts.items():  # monday
        run(
            user_id,
            f"{user_id}-monday",
            f"Please remember that I am {fact}.",
            _call("manage_memory", {"content": fact}, f"{user_id}-1"),
            AIMessage(content="I'll remember that."),
        )

    clock.advance(days=3)
    for user_id, fact in facts.items():  # thursday, a new thread
        result = run(
            user_id,
            f"{user_id}-thursday",
            "What should I avoid eating?",
            _call("search_memory", {"query": "food allergy"}, f"{user_id}-2"),
            AIMessage(content="Mind your allergy."),
        )
        found = [m.text for m in result["messages"] if isinstance(m, ToolMessage)]
        assert [hit["value"]["content"] for hit in json.loads(found[0])] == [fact]

    for user_id, fact in facts.items():
        other = next(f for u, f in facts.items() if u != user_id)
        assert any(fact in text for text in seen[user_id])
        assert [text for text in seen[user_id] if other in text] == []
        # The tool's item is the user's memory, next to what the middleware recorded.
        contents = [m["content"] for m in engine.export_user(user_id)["memories"]]
        assert fact in contents and other not in " ".join(contents)
        assert sorted(c.conversation_id for c in engine.conversations.list(user_id)) == [
            f"{user_id}-monday",
            f"{user_id}-thursday",
        ]
