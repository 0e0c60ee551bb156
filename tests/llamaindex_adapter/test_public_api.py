"""The LlamaIndex adapter's public surface is small, sorted and pinned."""

from __future__ import annotations

import llamaindex_multisession


def test_all_is_pinned() -> None:
    assert llamaindex_multisession.__all__ == [
        "MultiSessionEmbedding",
        "MultiSessionMemory",
        "MultiSessionMemoryBlock",
        "MultiSessionRetriever",
        "embedder_from_llamaindex",
        "llm_from_llamaindex",
    ]
    assert llamaindex_multisession.__all__ == sorted(llamaindex_multisession.__all__)


def test_every_name_is_importable_and_documented() -> None:
    for name in llamaindex_multisession.__all__:
        exported = getattr(llamaindex_multisession, name)
        assert exported.__doc__, name
        assert exported.__module__.startswith("llamaindex_multisession."), name
