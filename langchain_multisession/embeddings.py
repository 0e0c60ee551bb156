"""Embeddings both ways between LangChain and the core."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from multisession import Embedder, MiniLMEmbedder, as_embedder

__all__ = ["MultiSessionEmbeddings", "embedder_from_langchain"]


class MultiSessionEmbeddings(Embeddings):
    """The core's offline embedder (all-MiniLM-L6-v2 by default) as LangChain ``Embeddings``.

    Example::

        embeddings = MultiSessionEmbeddings()
        vector = embeddings.embed_query("I prefer tea")
        assert len(vector) == 384

    ``aembed_documents`` and ``aembed_query`` run in a worker thread (LangChain's default).

    Args:
        embedder: Any core :class:`~multisession.Embedder`; a :class:`MiniLMEmbedder`
            when ``None``.
    """

    def __init__(self, embedder: Embedder | None = None) -> None:
        self.embedder: Embedder = embedder if embedder is not None else MiniLMEmbedder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Unit-length vectors of ``texts``, in order."""
        return [[float(value) for value in row] for row in self.embedder.embed(texts)]

    def embed_query(self, text: str) -> list[float]:
        """The unit-length vector of ``text``."""
        return self.embed_documents([text])[0]


def embedder_from_langchain(embeddings: Embeddings, *, name: str | None = None) -> Embedder:
    """Any LangChain ``Embeddings`` as the core's :class:`~multisession.Embedder`.

    Example::

        engine = MemoryEngine("./memory-store", embedder=embedder_from_langchain(
            OpenAIEmbeddings(model="text-embedding-3-small"), name="openai:3-small"
        ))

    Args:
        embeddings: The LangChain embeddings model (its ``embed_documents`` is used).
        name: The model id stored with the vectors, so that a change of model is noticed;
            by default the class name and its ``model``/``model_name`` attribute.
    """
    return as_embedder(embeddings, name=name)
