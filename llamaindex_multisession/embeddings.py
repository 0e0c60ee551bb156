"""Embeddings both ways between LlamaIndex and multisession."""

from __future__ import annotations

import asyncio

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

from multisession import Embedder, MiniLMEmbedder, as_embedder

__all__ = ["MultiSessionEmbedding", "embedder_from_llamaindex"]


class MultiSessionEmbedding(BaseEmbedding):
    """A multisession embedder (by default the offline all-MiniLM-L6-v2) for LlamaIndex.

    Example::

        from llama_index.core import Settings, VectorStoreIndex
        from llamaindex_multisession import MultiSessionEmbedding

        Settings.embed_model = MultiSessionEmbedding()
        index = VectorStoreIndex.from_documents(documents)

    Indexes built with it share the vector space of a :class:`~multisession.MemoryEngine`
    using the same embedder, so a query embedded once serves both.

    Args:
        embedder: Any multisession :class:`~multisession.Embedder`; default: the offline
            all-MiniLM-L6-v2.
        embed_batch_size: Texts per call when LlamaIndex embeds in batches.

    Raises:
        ConfigurationError: No embedder was given and the default model is not installed.
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder | None = None, *, embed_batch_size: int = 32) -> None:
        resolved = as_embedder(embedder) if embedder is not None else MiniLMEmbedder()
        super().__init__(model_name=resolved.name, embed_batch_size=embed_batch_size)
        self._embedder = resolved

    @classmethod
    def class_name(cls) -> str:
        return "MultiSessionEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The wrapped multisession embedder (pass it to ``MemoryEngine(embedder=...)``)."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embeddings([query])[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [[float(value) for value in row] for row in self._embedder.embed(texts)]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


def embedder_from_llamaindex(embed_model: BaseEmbedding, *, name: str | None = None) -> Embedder:
    """A multisession embedder that embeds with a LlamaIndex embedding model.

    Example::

        from llama_index.embeddings.openai import OpenAIEmbedding

        engine = MemoryEngine("./memory-store", embedder=embedder_from_llamaindex(
            OpenAIEmbedding(model="text-embedding-3-small")
        ))

    Args:
        embed_model: The LlamaIndex embedding model.
        name: The model id stored with the vectors; default ``<class>:<model_name>``.
            An engine refuses to mix vectors of different models.

    Returns:
        An :class:`~multisession.Embedder`.
    """
    if not isinstance(embed_model, BaseEmbedding):
        raise TypeError(
            f"embed_model must be a LlamaIndex BaseEmbedding, got {type(embed_model).__name__}"
        )
    return as_embedder(embed_model, name=name)
