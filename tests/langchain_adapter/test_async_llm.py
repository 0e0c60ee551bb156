"""A LangChain chat model as the engine's llm: ``ainvoke`` runs on the caller's event loop.

``GenericFakeChatModel`` (a real LangChain chat model with scripted replies) stands in
for a hosted model; an async callback handler, which LangChain awaits on the loop that
runs the model, reports that loop.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_multisession import MultiSessionMiddleware, llm_from_langchain

FACTS = '["The user lives in Oslo."]'


class LoopRecorder(AsyncCallbackHandler):
    """Records the event loop each chat model call starts on."""

    def __init__(self) -> None:
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.loops.append(asyncio.get_running_loop())


def extraction_model(recorder: LoopRecorder) -> GenericFakeChatModel:
    replies = itertools.cycle([AIMessage(content=FACTS)])
    return GenericFakeChatModel(messages=replies, callbacks=[recorder])


@pytest.mark.parametrize("wrap", [False, True], ids=["the-model", "llm_from_langchain"])
def test_the_async_methods_await_ainvoke_on_the_callers_loop(open_engine: Any, wrap: bool) -> None:
    recorder = LoopRecorder()
    model = extraction_model(recorder)
    engine = open_engine(llm=llm_from_langchain(model) if wrap else model)

    async def scenario() -> asyncio.AbstractEventLoop:
        await engine.arecord_exchange("alice", "chat", "I moved to Oslo last week")
        return asyncio.get_running_loop()

    caller = asyncio.run(scenario())
    assert recorder.loops and set(recorder.loops) == {caller}
    assert [m.content for m in engine.list("alice")] == ["The user lives in Oslo."]


def test_an_async_agent_run_awaits_the_engines_model_on_its_loop(open_engine: Any) -> None:
    recorder = LoopRecorder()
    engine = open_engine(llm=extraction_model(recorder))
    agent_model = GenericFakeChatModel(messages=iter([AIMessage(content="Welcome to Oslo!")]))
    agent = create_agent(agent_model, middleware=[MultiSessionMiddleware(engine)])

    async def run() -> asyncio.AbstractEventLoop:
        await agent.ainvoke(
            {"messages": [{"role": "user", "content": "I moved to Oslo last week"}]},
            {"configurable": {"thread_id": "chat"}},
            context={"user_id": "alice"},
        )
        return asyncio.get_running_loop()

    caller = asyncio.run(run())
    assert recorder.loops and set(recorder.loops) == {caller}
    assert [m.content for m in engine.list("alice")] == ["The user lives in Oslo."]


def test_the_stores_async_put_awaits_the_lifecycle_model_on_its_loop(open_engine: Any) -> None:
    from langchain_multisession import MultiSessionStore

    threads: list[threading.Thread] = []

    async def decide(prompt: str) -> str:
        threads.append(threading.current_thread())
        return '[{"new": 1, "action": "supersede", "existing": 1}]'

    engine = open_engine(llm=decide)
    store = MultiSessionStore(engine)

    async def session() -> None:
        await store.aput(("memories", "alice"), "home", {"text": "I live in Oslo"})
        await store.aput(("memories", "alice"), "home-now", {"text": "I live in Bergen now"})

    asyncio.run(session())
    assert threads and set(threads) == {threading.main_thread()}
    assert engine.events["lifecycle_llm_decisions"] == 1
