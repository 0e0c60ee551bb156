"""A LlamaIndex retriever over one user's multisession memories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from multisession import MemoryEngine, RetrievalConfig, SearchHit

__all__ = ["MultiSessionRetriever"]

# Shown to the LLM with each memory; the score breakdown stays out of the prompt.
_LLM_METADATA = ("kind", "created_at")


class MultiSessionRetriever(BaseRetriever):
    """Hybrid (BM25 + vector) search over one user's memories, as LlamaIndex nodes.

    Example::

        from llama_index.core.query_engine import RetrieverQueryEngine
        from llamaindex_multisession import MultiSessionRetriever

        retriever = MultiSessionRetriever(engine, user_id="alice", similarity_top_k=5)
        nodes = retriever.retrieve("what foods should I avoid?")
        query_engine = RetrieverQueryEngine.from_args(retriever, llm=llm)

    Each node's id is the memory's id and its text the memory's content; its metadata
    (:meth:`~multisession.SearchHit.to_metadata`) holds ``kind``, ``created_at``
    (ISO 8601), ``conversation_id``, the final ``score`` and the score breakdown
    (``bm25_rank``, ``vector_similarity``, ``fused_score``, ...). Only ``kind`` and
    ``created_at`` are shown to the LLM. The node's score is the engine's final score.

    A query bundle that already carries an embedding of the engine's dimension is
    searched with it instead of embedding the query again. A retriever that runs first
    on the same bundle (``QueryFusionRetriever``) may have set it with another model of
    that dimension: pass ``use_query_embedding=False`` then.

    Args:
        engine: The memory engine.
        user_id: Whose memories are searched; no other user's are ever returned.
        similarity_top_k: How many memories at most.
        kinds: Only memories of these kinds (e.g. ``["fact", "preference"]``).
        conversation_id: Only memories from this conversation.
        since: Only memories created at or after this time.
        until: Only memories created before this time.
        config: Retrieval settings (e.g. ``PRESETS["keyword"]``); the engine's when
            ``None``.
        use_query_embedding: Search with ``query_bundle.embedding`` when it fits.
        callback_manager: LlamaIndex callbacks.
        verbose: LlamaIndex's verbose flag.
    """

    def __init__(
        self,
        engine: MemoryEngine,
        user_id: str,
        *,
        similarity_top_k: int = 10,
        kinds: Sequence[str] | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        config: RetrievalConfig | None = None,
        use_query_embedding: bool = True,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(engine, MemoryEngine):
            raise TypeError(f"engine must be a MemoryEngine, got {type(engine).__name__}")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_id must be a non-empty string")
        if isinstance(similarity_top_k, bool) or not isinstance(similarity_top_k, int):
            raise TypeError(f"similarity_top_k must be an int, got {similarity_top_k!r}")
        if similarity_top_k < 1:
            raise ValueError(f"similarity_top_k must be at least 1, got {similarity_top_k}")
        if isinstance(kinds, str):
            raise TypeError("kinds must be a list of kinds, e.g. ['fact'], not a string")
        if config is not None and not isinstance(config, RetrievalConfig):
            raise TypeError(f"config must be a RetrievalConfig, got {type(config).__name__}")
        super().__init__(callback_manager=callback_manager, verbose=verbose)
        self.engine = engine
        self.user_id = user_id
        self.similarity_top_k = similarity_top_k
        self.kinds = list(kinds) if kinds is not None else None
        self.conversation_id = conversation_id
        self.since = since
        self.until = until
        self.config = config
        self.use_query_embedding = use_query_embedding

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.engine.search(
            self.user_id, query_bundle.query_str, **self._search_kwargs(query_bundle)
        )
        return [_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self.engine.asearch(
            self.user_id, query_bundle.query_str, **self._search_kwargs(query_bundle)
        )
        return [_node(hit) for hit in hits]

    def _search_kwargs(self, query_bundle: QueryBundle) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "k": self.similarity_top_k,
            "kinds": self.kinds,
            "conversation_id": self.conversation_id,
            "since": self.since,
            "until": self.until,
            "config": self.config,
        }
        embedder = self.engine.embedder
        embedding = query_bundle.embedding
        if (
            self.use_query_embedding
            and embedding is not None
            and embedder is not None
            and len(embedding) == embedder.dimension
        ):
            kwargs["query_vector"] = embedding
        return kwargs


def _node(hit: SearchHit) -> NodeWithScore:
    metadata = hit.to_metadata()
    hidden = [key for key in metadata if key not in _LLM_METADATA]
    node = TextNode(
        text=hit.memory.content,
        id_=hit.memory.id,
        metadata=metadata,
        excluded_llm_metadata_keys=hidden,
        excluded_embed_metadata_keys=list(metadata),
    )
    return NodeWithScore(node=node, score=hit.score)
