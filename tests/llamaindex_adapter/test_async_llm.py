"""A LlamaIndex LLM as the engine's llm: ``acomplete`` runs on the caller's event loop.

``MockLLM`` (a real LlamaIndex LLM that echoes its prompt) stands in for a hosted model;
LlamaIndex's own instrumentation reports the thread each completion starts in.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.llm import LLMCompletionStartEvent
from llama_index.core.llms import MockLLM

from llamaindex_multisession import MultiSessionMemory, llm_from_llamaindex


class CompletionThreads(BaseEventHandler):
    """Records the thread every LLM completion starts in."""

    threads: list[threading.Thread] = []

    @classmethod
    def class_name(cls) -> str:
        return "CompletionThreads"

    def handle(self, event: Any, **kwargs: Any) -> None:
        if isinstance(event, LLMCompletionStartEvent):
            self.threads.append(threading.current_thread())


@pytest.fixture
def completion_threads() -> Iterator[list[threading.Thread]]:
    handler = CompletionThreads(threads=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    yield handler.threads
    dispatcher.event_handlers.remove(handler)


@pytest.mark.parametrize("wrap", [False, True], ids=["the-llm", "llm_from_llamaindex"])
def test_the_async_methods_await_acomplete_on_the_callers_loop(
    open_engine: Any, completion_threads: list[threading.Thread], wrap: bool
) -> None:
    llm = MockLLM()
    engine = open_engine(llm=llm_from_llamaindex(llm) if wrap else llm)
    asyncio.run(engine.arecord_exchange("alice", "chat", "I moved to Oslo last week"))
    assert completion_threads
    assert set(completion_threads) == {threading.main_thread()}


def test_the_sync_methods_call_complete_where_they_run(
    open_engine: Any, completion_threads: list[threading.Thread]
) -> None:
    engine = open_engine(llm=MockLLM())
    worker: list[threading.Thread] = []

    def record() -> None:
        worker.append(threading.current_thread())
        engine.record_exchange("alice", "chat", "I moved to Oslo last week")

    thread = threading.Thread(target=record)
    thread.start()
    thread.join()
    assert completion_threads and set(completion_threads) == set(worker)


def test_the_memorys_aput_awaits_the_llm_on_the_callers_loop(
    open_engine: Any, completion_threads: list[threading.Thread]
) -> None:
    engine = open_engine(llm=MockLLM())
    memory = MultiSessionMemory.from_defaults(engine=engine, user_id="alice", conversation_id="c")

    async def session() -> None:
        await memory.aput(ChatMessage(role=MessageRole.USER, content="I moved to Oslo"))
        await memory.aput_messages(
            [
                ChatMessage(role=MessageRole.USER, content="I play the cello"),
                ChatMessage(role=MessageRole.ASSISTANT, content="Lovely!"),
            ]
        )

    asyncio.run(session())
    assert len(completion_threads) >= 2
    assert set(completion_threads) == {threading.main_thread()}
    assert [m.content for m in engine.get_messages("alice", "c")] == [
        "I moved to Oslo",
        "I play the cello",
        "Lovely!",
    ]
