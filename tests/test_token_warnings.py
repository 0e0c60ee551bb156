"""The warning for estimated token counts names the fix in the terms of the framework used.

No tiktoken file is anywhere (no variable, no llama-index copy, an empty temp folder), so
every prompt built is counted by estimate; each framework's adapter builds one, and the
one warning it logs must name that framework's fix and not another's.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multisession import MemoryEngine
from multisession._log_once import forget_warnings
from multisession.context._tiktoken_files import forget_encodings
from multisession.context.tokens import estimate_fix


@pytest.fixture
def no_files_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No tiktoken file can be found, as in a new process; restored after the test."""
    forget_encodings()
    forget_warnings()
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        if name == "llama_index" or name.startswith("llama_index."):
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for variable in ("MULTISESSION_TIKTOKEN_DIR", "TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    temp = tmp_path / "tempdir"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    yield
    forget_encodings()
    forget_warnings()


def the_warning(caplog: pytest.LogCaptureFixture) -> str:
    [record] = [r for r in caplog.records if "estimated" in r.getMessage()]
    return record.getMessage()


def test_the_core_warning_names_the_install_the_folder_and_the_download(
    no_files_anywhere: None, engine: MemoryEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="multisession"):
        engine.build_context("alice", "hello")
    message = the_warning(caplog)
    assert "no verified tiktoken file for o200k_base" in message
    assert "Fix: pip install 'llama-index-core>=0.13'" in message
    assert "MULTISESSION_TIKTOKEN_DIR" in message
    assert "token_counter('gpt-4o', allow_download=True)" in message
    assert "LangChain" not in message and "LlamaIndex" not in message


@pytest.mark.parametrize("path", ["sync", "async"])
def test_a_langchain_app_is_told_to_let_tiktoken_cache_the_file(
    no_files_anywhere: None, engine: MemoryEngine, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    from langchain_multisession import MultiSessionMemory

    memory = MultiSessionMemory(engine)
    with caplog.at_level(logging.WARNING, logger="multisession"):
        if path == "sync":
            memory.load("alice", "hello", conversation_id="chat")
        else:
            asyncio.run(memory.aload("alice", "hello", conversation_id="chat"))
    message = the_warning(caplog)
    assert "Fix for LangChain apps" in message
    assert "tiktoken.get_encoding('o200k_base')" in message
    assert "MULTISESSION_TIKTOKEN_DIR" in message
    assert "llama-index" not in message


def test_a_langchain_agent_middleware_names_the_langchain_fix(
    no_files_anywhere: None, engine: MemoryEngine, caplog: pytest.LogCaptureFixture
) -> None:
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from langchain_multisession import MultiSessionMiddleware

    model = GenericFakeChatModel(messages=iter([AIMessage(content="Hi Alice.")]))
    agent = create_agent(model, middleware=[MultiSessionMiddleware(engine)])
    with caplog.at_level(logging.WARNING, logger="multisession"):
        agent.invoke(
            {"messages": [{"role": "user", "content": "hello"}]},
            {"configurable": {"thread_id": "chat"}},
            context={"user_id": "alice"},
        )
    assert "Fix for LangChain apps" in the_warning(caplog)


def test_a_llamaindex_app_is_told_to_upgrade_llama_index_core(
    no_files_anywhere: None, engine: MemoryEngine, caplog: pytest.LogCaptureFixture
) -> None:
    from llamaindex_multisession import MultiSessionMemory

    memory = MultiSessionMemory.from_defaults(engine=engine, user_id="alice", conversation_id="c")
    with caplog.at_level(logging.WARNING, logger="multisession"):
        asyncio.run(memory.aget("hello"))
    message = the_warning(caplog)
    assert "Fix for LlamaIndex apps: pip install -U 'llama-index-core>=0.13'" in message
    assert "MULTISESSION_TIKTOKEN_DIR" in message
    assert "LangChain" not in message


def test_each_framework_warns_once_with_its_own_fix(
    no_files_anywhere: None, engine: MemoryEngine, caplog: pytest.LogCaptureFixture
) -> None:
    from langchain_multisession import MultiSessionMemory

    with caplog.at_level(logging.WARNING, logger="multisession"):
        for _ in range(2):
            engine.build_context("alice", "hello")
            MultiSessionMemory(engine).load("alice", "hello")
    messages = [r.getMessage() for r in caplog.records if "estimated" in r.getMessage()]
    assert len(messages) == 2
    assert ["Fix for LangChain apps" in message for message in messages] == [False, True]


def test_the_fix_names_the_models_encoding() -> None:
    assert "get_encoding('cl100k_base')" in estimate_fix("langchain", "gpt-4")
    assert "o200k_base" in estimate_fix("llamaindex", "gpt-4o-mini")
