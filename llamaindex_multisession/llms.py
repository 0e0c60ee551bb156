"""A LlamaIndex LLM as the engine's ``llm``, for summaries and fact extraction.

The engine also takes the LLM itself (``MemoryEngine(llm=llm)``); this wrapper adds
arguments for every completion call.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.llms.llm import LLM

from multisession.extraction.models import ModelCall

__all__ = ["llm_from_llamaindex"]


def llm_from_llamaindex(llm: LLM, **complete_kwargs: Any) -> ModelCall:
    """A ``prompt -> text`` function over a LlamaIndex LLM, for ``MemoryEngine(llm=...)``.

    The engine then writes rolling summaries and extracts facts with that model: its
    async methods call ``acomplete`` on the caller's event loop, its sync methods
    ``complete``.

    Example::

        from llama_index.llms.openai import OpenAI

        engine = MemoryEngine("./memory-store", llm=llm_from_llamaindex(OpenAI()))

    Args:
        llm: The LlamaIndex LLM.
        **complete_kwargs: Passed to ``llm.complete`` and ``llm.acomplete`` on every call.
    """
    if not isinstance(llm, LLM):
        raise TypeError(f"llm must be a LlamaIndex LLM, got {type(llm).__name__}")

    def complete(prompt: str) -> str:
        return llm.complete(prompt, **complete_kwargs).text

    async def acomplete(prompt: str) -> str:
        return (await llm.acomplete(prompt, **complete_kwargs)).text

    return ModelCall(complete, acomplete, llm)
