"""The LlamaIndex adapter's public surface: pinned, sorted, importable and documented."""

from __future__ import annotations

import llamaindex_multisession

EXPECTED_ALL = [
    "MultiSessionEmbedding",
    "MultiSessionMemory",
    "MultiSessionMemoryBlock",
    "MultiSessionRetriever",
    "embedder_from_llamaindex",
    "llm_from_llamaindex",
]


def test_all_imports() -> None:
    assert llamaindex_multisession.__all__ == EXPECTED_ALL


def test_all_is_sorted() -> None:
    assert llamaindex_multisession.__all__ == sorted(llamaindex_multisession.__all__)


def test_every_name_is_importable_and_documented() -> None:
    for name in llamaindex_multisession.__all__:
        exported = getattr(llamaindex_multisession, name)
        assert exported.__doc__, name
        assert exported.__module__.startswith("llamaindex_multisession."), name
