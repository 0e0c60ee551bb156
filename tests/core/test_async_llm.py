"""The engine's ``llm`` on async paths: an async model is awaited on the caller's loop,
a sync one runs in a worker thread while the loop keeps serving other coroutines.

The model is outside the project: fake functions stand in for it. Each fake waits for
an event that only another coroutine on the same loop sets, so a blocked loop shows as
a fake that never gets its go-ahead (a generous deadline turns that into a failure).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from multisession import MemoryEngine
from multisession.errors import ConfigurationError
from multisession.extraction.models import ModelCall, as_llm

REPLY = '["The user lives in Oslo."]'
DEADLINE = 30.0  # seconds; only reached when the loop is blocked (a failure)


async def _until(condition: Callable[[], bool]) -> None:
    """Wait on the loop until ``condition()`` holds; fail after the deadline."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), DEADLINE)


def contents(engine: MemoryEngine, user_id: str) -> list[str]:
    return [memory.content for memory in engine.list(user_id)]


def test_an_async_llm_is_awaited_on_the_loop_that_awaits_the_engine(open_engine: Any) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        go = asyncio.Event()  # only this loop can set it

        async def model(prompt: str) -> str:
            seen["loop"] = asyncio.get_running_loop()
            seen["thread"] = threading.current_thread()
            await asyncio.wait_for(go.wait(), DEADLINE)
            return REPLY

        async def release_when_called() -> None:
            await _until(lambda: "loop" in seen)
            go.set()

        engine = open_engine(llm=model)
        await asyncio.gather(
            engine.arecord_exchange("alice", "chat", "I moved to Oslo last week"),
            release_when_called(),
        )
        seen["caller"] = asyncio.get_running_loop()
        seen["memories"] = contents(engine, "alice")

    asyncio.run(scenario())
    assert seen["loop"] is seen["caller"]
    assert seen["thread"] is threading.main_thread()
    assert seen["memories"] == ["The user lives in Oslo."]


def test_a_sync_llm_runs_in_a_worker_thread_while_the_loop_serves_others(
    open_engine: Any,
) -> None:
    called = threading.Event()
    go = threading.Event()
    seen: dict[str, Any] = {}

    def model(prompt: str) -> str:
        seen["thread"] = threading.current_thread()
        called.set()
        if not go.wait(DEADLINE):  # set by a coroutine: only if the loop is free
            raise AssertionError("the event loop was blocked while the model ran")
        return REPLY

    async def scenario() -> None:
        ticks = 0

        async def other_request() -> None:
            nonlocal ticks
            await _until(called.is_set)
            for _ in range(3):  # the loop keeps running coroutines meanwhile
                ticks += 1
                await asyncio.sleep(0)
            go.set()

        engine = open_engine(llm=model)
        await asyncio.gather(
            engine.arecord_exchange("alice", "chat", "I moved to Oslo last week"),
            other_request(),
        )
        seen["ticks"] = ticks
        seen["memories"] = contents(engine, "alice")

    asyncio.run(scenario())
    assert seen["thread"] is not threading.main_thread()
    assert seen["ticks"] == 3
    assert seen["memories"] == ["The user lives in Oslo."]


def test_an_async_llm_also_serves_the_sync_methods(open_engine: Any) -> None:
    async def model(prompt: str) -> str:
        await asyncio.sleep(0)
        return REPLY

    engine = open_engine(llm=model)
    engine.record_exchange("alice", "chat", "I moved to Oslo last week")
    assert contents(engine, "alice") == ["The user lives in Oslo."]

    async def sync_call_inside_a_running_loop() -> None:
        # A sync method called from async code: the model gets a loop of its own.
        engine.record_exchange("bob", "chat", "I moved to Oslo last week")

    asyncio.run(sync_call_inside_a_running_loop())
    assert contents(engine, "bob") == ["The user lives in Oslo."]


def test_a_model_with_both_forms_uses_each_on_its_own_path(open_engine: Any) -> None:
    calls: list[str] = []

    def sync(prompt: str) -> str:
        calls.append("sync")
        return REPLY

    async def asynchronous(prompt: str) -> str:
        calls.append("async")
        return REPLY

    engine = open_engine(llm=ModelCall(sync, asynchronous, "both"))
    engine.record_exchange("alice", "chat", "I moved to Oslo last week")
    asyncio.run(engine.arecord_exchange("bob", "chat", "I moved to Oslo last week"))
    assert calls == ["sync", "async"]


def test_the_lifecycle_decision_awaits_an_async_llm_too(open_engine: Any) -> None:
    prompts: list[str] = []
    threads: list[threading.Thread] = []

    async def model(prompt: str) -> str:
        prompts.append(prompt)
        threads.append(threading.current_thread())
        return '[{"new": 1, "action": "supersede", "existing": 1}]'

    engine = open_engine(llm=model)
    engine_events = engine.events

    async def scenario() -> list[str]:
        await engine.aadd("alice", "I live in Oslo")
        await engine.aadd("alice", "I live in Bergen now")
        return [memory.content for memory in await engine.alist("alice")]

    assert asyncio.run(scenario()) == ["I live in Bergen now"]
    assert prompts and "I live in Oslo" in prompts[0]
    assert threads == [threading.main_thread()] * len(prompts)
    assert engine_events["lifecycle_llm_decisions"] == 1


@pytest.mark.parametrize("bad", [42, "gpt-4o", object()])
def test_an_llm_of_no_known_form_is_refused_naming_the_forms(open_engine: Any, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="LangChain chat model or a LlamaIndex LLM"):
        open_engine(llm=bad)


def test_as_llm_reads_the_text_of_message_and_completion_replies() -> None:
    class Reply:
        def __init__(self, text: str) -> None:
            self.text = text

    class Completer:
        def complete(self, prompt: str) -> Reply:
            return Reply("sync " + prompt)

        async def acomplete(self, prompt: str) -> Reply:
            return Reply("async " + prompt)

    model = as_llm(Completer())
    assert model is not None and model.is_async
    assert model("hi") == "sync hi"
    assert asyncio.run(model.acall("hi")) == "async hi"
    assert as_llm(model) is model
    assert as_llm(None) is None


@pytest.mark.parametrize("reply", [None, 42, ["not", "text"]])
def test_a_reply_that_is_not_text_falls_back_to_the_rules_on_both_paths(
    open_engine: Any, reply: object
) -> None:
    async def model(prompt: str) -> object:
        return reply

    engine = open_engine(llm=model)
    engine.record_exchange("alice", "chat", "I'm allergic to peanuts")
    asyncio.run(engine.arecord_exchange("bob", "chat", "I'm allergic to peanuts"))
    assert contents(engine, "alice") == contents(engine, "bob") == ["I'm allergic to peanuts"]
