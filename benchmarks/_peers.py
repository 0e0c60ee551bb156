"""Peer retrievers (LangChain, LlamaIndex) and the shared embeddings fed to every system.

Every system in the benchmarks embeds with the same model, the project's default
embedder. :class:`VectorTable` lets a run embed a corpus once and hand the very same
vectors to every system: texts already in the table are looked up, any other text is
embedded by the real model at call time (so query embedding is measured where it should
be). The LangChain ``Embeddings`` and LlamaIndex ``BaseEmbedding`` below are thin
wrappers around it, private to the benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

EmbedFunction = Callable[[list[str]], np.ndarray]

#: Candidates each peer sub-retriever contributes (DESIGN.md's "50 candidates each").
PEER_CANDIDATE_DEPTH = 50
#: Chroma rejects larger single writes; stay well under its max batch size.
CHROMA_WRITE_BATCH = 4000


class VectorTable:
    """Text -> vector lookup with the real embedder as fallback for unseen texts.

    Args:
        embedder: An object with ``embed(list[str]) -> np.ndarray`` (L2-normalised rows).
    """

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}
        self.misses = 0

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, text: object) -> bool:
        return text in self._vectors

    def fill(self, texts: Sequence[str], batch_size: int = 256) -> float:
        """Embed the texts not yet in the table with the real model; return seconds spent."""
        pending = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        started = time.perf_counter()
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            for text, vector in zip(batch, self.embedder.embed(batch), strict=True):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
        return time.perf_counter() - started

    def put(self, text: str, vector: np.ndarray) -> None:
        self._vectors[text] = np.asarray(vector, dtype=np.float32)

    def forget(self, texts: Sequence[str]) -> None:
        for text in texts:
            self._vectors.pop(text, None)

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts``: table rows, the real model for the rest (not cached)."""
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        fresh: dict[str, np.ndarray] = {}
        if missing:
            self.misses += len(missing)
            fresh = dict(zip(missing, self.embedder.embed(missing), strict=True))
        dimension = int(self.embedder.dimension)
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        return np.stack(
            [self._vectors[t] if t in self._vectors else fresh[t] for t in texts]
        ).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- LangChain


def langchain_embeddings(embed: EmbedFunction) -> Any:
    """A LangChain ``Embeddings`` over ``embed``."""
    from langchain_core.embeddings import Embeddings

    class _Embeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embed(list(texts)).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embed([text])[0].tolist()

    return _Embeddings()


def chroma_client(path: str) -> Any:
    """An embedded, persistent Chroma client with telemetry off."""
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))


class LangChainEnsemble:
    """``EnsembleRetriever([BM25Retriever, Chroma retriever], weights=[0.5, 0.5], c=60)``.

    BM25Retriever is langchain_community's (rank_bm25 ``BM25Okapi`` on ``str.split``, its
    default preprocessing); the vector side is langchain_chroma over our embeddings. Each
    contributes :data:`PEER_CANDIDATE_DEPTH` candidates. The ensemble has no add: adding
    a memory means a vector add plus a BM25 rebuild on the grown corpus.
    """

    def __init__(
        self,
        client: Any,
        collection_name: str,
        embed: EmbedFunction,
        depth: int = PEER_CANDIDATE_DEPTH,
    ) -> None:
        from langchain_chroma import Chroma

        self.depth = depth
        self.documents: list[Any] = []
        self.store = Chroma(
            collection_name=collection_name,
            embedding_function=langchain_embeddings(embed),
            client=client,
        )
        self.retriever: Any = None

    def add(self, texts: Sequence[str], ids: Sequence[str], *, rebuild: bool = True) -> None:
        """Add texts to Chroma and (with ``rebuild``) rebuild BM25 + the ensemble."""
        from langchain_core.documents import Document

        for start in range(0, len(texts), CHROMA_WRITE_BATCH):
            batch_texts = list(texts[start : start + CHROMA_WRITE_BATCH])
            batch_ids = list(ids[start : start + CHROMA_WRITE_BATCH])
            self.store.add_texts(
                batch_texts, metadatas=[{"id": i} for i in batch_ids], ids=batch_ids
            )
        self.documents.extend(
            Document(page_content=t, metadata={"id": i}, id=i)
            for t, i in zip(texts, ids, strict=True)
        )
        if rebuild:
            self.rebuild()

    def rebuild(self) -> None:
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever

        bm25 = BM25Retriever.from_documents(self.documents, k=self.depth)
        dense = self.store.as_retriever(search_kwargs={"k": self.depth})
        # id_key: fuse by memory id, not by page_content (two turns can share a text).
        self.retriever = EnsembleRetriever(
            retrievers=[bm25, dense], weights=[0.5, 0.5], c=60, id_key="id"
        )

    def search(self, query: str, k: int) -> list[str]:
        return [doc.metadata["id"] for doc in self.retriever.invoke(query)[:k]]


# --------------------------------------------------------------------------- LlamaIndex


def llamaindex_embedding(embed: EmbedFunction) -> Any:
    """A LlamaIndex ``BaseEmbedding`` over ``embed``."""
    from llama_index.core.embeddings import BaseEmbedding
    from pydantic import PrivateAttr

    class _Embedding(BaseEmbedding):
        _embed: Any = PrivateAttr()

        def __init__(self, function: EmbedFunction) -> None:
            super().__init__(model_name="all-MiniLM-L6-v2", embed_batch_size=256)
            self._embed = function

        @classmethod
        def class_name(cls) -> str:
            return "BenchmarkEmbedding"

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embed([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embed([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embed(list(texts)).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        async def _aget_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embedding(text)

    return _Embedding(embed)


class LlamaIndexFusion:
    """``QueryFusionRetriever([BM25Retriever, VectorIndexRetriever], mode="reciprocal_rerank")``.

    BM25Retriever is llama-index-retrievers-bm25 (bm25s, English stemming and stopwords);
    the vector side is a ``VectorStoreIndex`` on a ``ChromaVectorStore`` over our
    embeddings. Each contributes :data:`PEER_CANDIDATE_DEPTH` candidates;
    ``num_queries=1`` (no LLM query generation), ``use_async=False``. Adding a memory
    means ``insert_nodes`` plus a BM25 rebuild on the grown corpus.
    """

    def __init__(
        self,
        client: Any,
        collection_name: str,
        embed: EmbedFunction,
        depth: int = PEER_CANDIDATE_DEPTH,
        top_k: int = 20,
    ) -> None:
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.depth = depth
        self.top_k = top_k
        self.nodes: list[Any] = []
        store = ChromaVectorStore(
            chroma_collection=client.get_or_create_collection(collection_name)
        )
        self.index = VectorStoreIndex(
            [],
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=llamaindex_embedding(embed),
            insert_batch_size=CHROMA_WRITE_BATCH,
        )
        self.retriever: Any = None

    def add(self, texts: Sequence[str], ids: Sequence[str], *, rebuild: bool = True) -> None:
        """Insert nodes into the vector index and (with ``rebuild``) rebuild BM25 + fusion."""
        from llama_index.core.schema import TextNode

        nodes = [
            TextNode(
                text=t,
                id_=i,
                metadata={"id": i},
                # keep the id out of the text that BM25 and the embedder see
                excluded_embed_metadata_keys=["id"],
                excluded_llm_metadata_keys=["id"],
            )
            for t, i in zip(texts, ids, strict=True)
        ]
        self.index.insert_nodes(nodes)
        self.nodes.extend(nodes)
        if rebuild:
            self.rebuild()

    def rebuild(self) -> None:
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.retrievers.bm25 import BM25Retriever

        bm25 = BM25Retriever.from_defaults(nodes=self.nodes, similarity_top_k=self.depth)
        dense = self.index.as_retriever(similarity_top_k=self.depth)
        self.retriever = QueryFusionRetriever(
            [bm25, dense],
            llm=MockLLM(),  # never called with num_queries=1; avoids resolving OpenAI
            mode="reciprocal_rerank",
            num_queries=1,
            similarity_top_k=self.top_k,
            use_async=False,
        )

    def search(self, query: str, k: int, query_vector: np.ndarray | None = None) -> list[str]:
        """Top ``k`` ids; with ``query_vector`` the query is not embedded again."""
        from llama_index.core.schema import QueryBundle

        bundle = QueryBundle(
            query_str=query,
            embedding=None if query_vector is None else query_vector.tolist(),
        )
        return [hit.node.metadata["id"] for hit in self.retriever.retrieve(bundle)[:k]]
