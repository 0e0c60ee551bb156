"""A LangChain retriever over one user's memories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from multisession import MemoryEngine, RetrievalConfig, SearchHit

__all__ = ["MultiSessionRetriever"]


class MultiSessionRetriever(BaseRetriever):
    """Hybrid (keyword + vector, recency-weighted) search over one user's memories.

    Example::

        engine = MemoryEngine("./memory-store")
        engine.add("alice", "I'm allergic to peanuts")
        retriever = MultiSessionRetriever(engine=engine, user_id="alice", k=3)
        docs = retriever.invoke("what should I not eat?")
        docs = retriever.invoke("what should I not eat?", k=1)  # per-call k
        print(docs[0].page_content, docs[0].metadata["score"])

    Each document's ``id`` is the memory's id; its metadata holds the memory's ``kind``,
    ``created_at`` (ISO 8601), ``conversation_id``, the final ``score`` and the score
    breakdown (``bm25_rank``, ``vector_similarity``, ``recency``, ...).

    Attributes:
        engine: The engine holding the memories.
        user_id: Whose memories are searched.
        k: How many documents to return; ``invoke(query, k=...)`` overrides it.
        kinds: Only memories of these kinds (e.g. ``["fact", "preference"]``).
        conversation_id: Only memories from this conversation.
        since: Only memories created at or after this time.
        until: Only memories created before this time.
        config: Retrieval settings; the engine's default when ``None``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: MemoryEngine
    user_id: str
    k: int = 4
    kinds: list[str] | None = None
    conversation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    config: RetrievalConfig | None = None

    def _search_arguments(self, k: int | None) -> dict[str, Any]:
        return {
            "k": self.k if k is None else k,
            "kinds": self.kinds,
            "conversation_id": self.conversation_id,
            "since": self.since,
            "until": self.until,
            "config": self.config,
        }

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        hits = self.engine.search(self.user_id, query, **self._search_arguments(k))
        return [_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        hits = await self.engine.asearch(self.user_id, query, **self._search_arguments(k))
        return [_document(hit) for hit in hits]


def _document(hit: SearchHit) -> Document:
    return Document(page_content=hit.memory.content, id=hit.memory.id, metadata=hit.to_metadata())
