"""A LlamaIndex LLM as the engine's ``llm``, for summaries and fact extraction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llama_index.core.llms.llm import LLM

__all__ = ["llm_from_llamaindex"]


def llm_from_llamaindex(llm: LLM, **complete_kwargs: Any) -> Callable[[str], str]:
    """A ``prompt -> text`` function over a LlamaIndex LLM, for ``MemoryEngine(llm=...)``.

    The engine then writes rolling summaries and extracts facts with that model.

    Example::

        from llama_index.llms.openai import OpenAI

        engine = MemoryEngine("./memory-store", llm=llm_from_llamaindex(OpenAI()))

    Args:
        llm: The LlamaIndex LLM.
        **complete_kwargs: Passed to ``llm.complete`` on every call.
    """
    if not isinstance(llm, LLM):
        raise TypeError(f"llm must be a LlamaIndex LLM, got {type(llm).__name__}")

    def complete(prompt: str) -> str:
        return llm.complete(prompt, **complete_kwargs).text

    return complete
