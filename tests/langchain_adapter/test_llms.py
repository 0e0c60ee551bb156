"""A LangChain chat model as the engine's llm."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_multisession import llm_from_chat_model, llm_from_langchain
from multisession import MemoryEngine


def test_chat_model_as_the_engine_llm(
    tmp_path: Path, clock: Any, recording_model: Callable[..., Any]
) -> None:
    model = recording_model('["The user lives in Lyon."]')
    llm = llm_from_langchain(model)
    with MemoryEngine(tmp_path / "store", embedder=None, clock=clock, llm=llm) as engine:
        added = engine.record_exchange("alice", "c1", "I moved to Lyon last year", "Nice!")
    assert [memory.content for memory in added] == ["The user lives in Lyon."]
    assert "I moved to Lyon last year" in model.prompt_text()
    assert model.prompts[-1][0].type == "human"


def test_the_first_name_still_works(recording_model: Callable[..., Any]) -> None:
    assert llm_from_chat_model is llm_from_langchain
    assert llm_from_chat_model(recording_model("Hi there."))("Say hi") == "Hi there."
