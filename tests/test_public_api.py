"""The public surface is small, sorted and pinned; the core imports no framework."""

from __future__ import annotations

import subprocess
import sys

import multisession


def test_core_all_is_pinned() -> None:
    assert multisession.__all__ == sorted(multisession.__all__)
    assert multisession.__all__ == [
        "BackendUnavailableError",
        "BuiltContext",
        "ConfigurationError",
        "ContextBudget",
        "ContextConfig",
        "ContextMessage",
        "Conversation",
        "DEFAULT_EMBEDDER",
        "Embedder",
        "InvalidInputError",
        "ManualClock",
        "Memory",
        "MemoryEngine",
        "MemoryInput",
        "MemoryNotFoundError",
        "Message",
        "MiniLMEmbedder",
        "MultisessionError",
        "PRESETS",
        "PackedContext",
        "RepairReport",
        "ResumeConfig",
        "Resumption",
        "RetrievalConfig",
        "ScoreBreakdown",
        "SearchHit",
        "StoreDamagedError",
        "TemporalConfig",
        "TokenCounter",
        "TokenizerConfig",
        "as_embedder",
        "default_embedder",
        "reciprocal_rank_fusion",
        "token_counter",
    ]
    for name in multisession.__all__:
        assert hasattr(multisession, name), name


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, multisession, multisession.engine, multisession.storage.vectors;"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'langchain', 'llama_index', 'torch', 'sentence_transformers')];"
        "print(loaded)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_errors_subclass_the_builtins_callers_catch() -> None:
    assert issubclass(multisession.InvalidInputError, ValueError)
    assert issubclass(multisession.ConfigurationError, ValueError)
    assert issubclass(multisession.MemoryNotFoundError, KeyError)
    for error in (
        multisession.InvalidInputError,
        multisession.ConfigurationError,
        multisession.MemoryNotFoundError,
        multisession.BackendUnavailableError,
    ):
        assert issubclass(error, multisession.MultisessionError)
    assert str(multisession.MemoryNotFoundError("no memory x")) == "no memory x"
