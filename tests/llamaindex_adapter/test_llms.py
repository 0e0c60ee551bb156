"""A LlamaIndex LLM as the engine's llm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.llms import MockLLM

from llamaindex_multisession import llm_from_llamaindex
from multisession import MemoryEngine

from .conftest import RecordingLLM


def test_an_engine_extracts_facts_with_a_llamaindex_llm(store_dir: Path, clock: Any) -> None:
    llm = RecordingLLM(reply='["The user is allergic to peanuts."]')
    with MemoryEngine(
        store_dir, embedder=None, clock=clock, llm=llm_from_llamaindex(llm)
    ) as engine:
        engine.record_exchange("alice", "chat", "By the way, peanuts make me sick.")

        contents = [memory.content for memory in engine.list("alice")]

    assert "peanuts make me sick" in llm.last_input
    assert "The user is allergic to peanuts." in contents


def test_llm_bridge_returns_the_completion_text() -> None:
    assert llm_from_llamaindex(MockLLM())("hello") == "hello"


def test_the_llm_bridge_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        llm_from_llamaindex("gpt-4o")  # type: ignore[arg-type]
