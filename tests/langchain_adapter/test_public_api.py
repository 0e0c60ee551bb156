"""The public surface of langchain_multisession."""

from __future__ import annotations

import subprocess
import sys

import langchain_multisession

EXPECTED_ALL = [
    "MultiSessionChatMessageHistory",
    "MultiSessionEmbeddings",
    "MultiSessionMemory",
    "MultiSessionMiddleware",
    "MultiSessionRetriever",
    "MultiSessionSearchItem",
    "MultiSessionStore",
    "embedder_from_langchain",
    "llm_from_chat_model",
    "llm_from_langchain",
    "with_multisession_memory",
]


def test_all_imports() -> None:
    assert langchain_multisession.__all__ == EXPECTED_ALL


def test_public_names_are_sorted_and_documented() -> None:
    assert langchain_multisession.__all__ == sorted(langchain_multisession.__all__)
    for name in langchain_multisession.__all__:
        exported = getattr(langchain_multisession, name)
        assert exported.__doc__, name
        assert exported.__module__.startswith("langchain_multisession."), name


def test_importing_needs_only_langchain_core() -> None:
    code = (
        "import sys, langchain_multisession; "
        "print('langchain.agents' in sys.modules, 'langgraph' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert output.split() == ["False", "False"]
