"""Fixtures for the LlamaIndex adapter: a model that records its input, an event loop guard.

Engines come from tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools.types import BaseTool


class RecordingLLM(FunctionCallingLLM):
    """The outside boundary: a function-calling model that records every input.

    It answers every call with ``reply`` and never calls a tool.
    """

    reply: str = "Noted."
    _inputs: list[str] = PrivateAttr(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            model_name="recording", is_chat_model=True, is_function_calling_model=True
        )

    @property
    def inputs(self) -> list[str]:
        """The text of every call, one string per call."""
        return self._inputs

    @property
    def last_input(self) -> str:
        return self._inputs[-1]

    def _record_messages(self, messages: Sequence[ChatMessage]) -> None:
        self._inputs.append("\n".join(f"{m.role.value}: {m.content or ''}" for m in messages))

    def _answer(self) -> ChatResponse:
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=self.reply), delta=self.reply
        )

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self._record_messages(messages)
        return self._answer()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._inputs.append(prompt)
        return CompletionResponse(text=self.reply, delta=self.reply)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        self._record_messages(messages)
        yield self._answer()

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt)

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self.chat(messages)

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return self.complete(prompt)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        self._record_messages(messages)
        answer = self._answer()

        async def gen() -> AsyncIterator[ChatResponse]:
            yield answer

        return gen()

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        answer = self.complete(prompt)

        async def gen() -> AsyncIterator[CompletionResponse]:
            yield answer

        return gen()

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        return {"messages": messages}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[Any]:
        return []


@pytest.fixture
def closes_leaked_event_loop() -> Iterator[None]:
    """Close the event loop a sync LlamaIndex call created and left open.

    Some sync paths (``CondensePlusContextChatEngine.chat``) run their async steps on
    ``asyncio.get_event_loop()``, which creates a loop that is never closed.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # no loop was left behind
            return
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def recording_llm() -> RecordingLLM:
    return RecordingLLM()
