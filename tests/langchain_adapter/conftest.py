"""Fixtures of the LangChain adapter tests: fake chat models (engines: tests/conftest.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    # Coroutine tests here run on pytest-asyncio, including those langchain-tests'
    # standard suites inherit unmarked; marking them now, before pytest-asyncio's own
    # wrapper sees the items, keeps the repository's strict asyncio mode.
    result = yield
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.asyncio)
    return result


class RecordingChatModel(FakeMessagesListChatModel):
    """A fake chat model (the outside boundary) that keeps every prompt it was sent."""

    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        # The scripted replies already hold the tool calls; the tools change nothing.
        return self  # type: ignore[return-value]

    def prompt_text(self, index: int = -1) -> str:
        """One recorded prompt as plain text, one message per line."""
        return "\n".join(f"{m.type}: {m.text}" for m in self.prompts[index])


@pytest.fixture
def recording_model() -> Callable[..., RecordingChatModel]:
    """Build a :class:`RecordingChatModel` answering with the given texts or messages."""

    def build(*replies: str | BaseMessage) -> RecordingChatModel:
        messages = [r if isinstance(r, BaseMessage) else AIMessage(content=r) for r in replies]
        return RecordingChatModel(responses=messages or [AIMessage(content="OK.")])

    return build
