"""LlamaIndex adapters for multisession: memory, memory block, retriever, embeddings.

Example:
    >>> from multisession import MemoryEngine
    >>> from llamaindex_multisession import MultiSessionMemory
    >>> engine = MemoryEngine("./memory-store")  # doctest: +SKIP
    >>> memory = MultiSessionMemory.from_defaults(  # doctest: +SKIP
    ...     engine=engine, user_id="alice", conversation_id="chat-1"
    ... )
"""

try:
    import llama_index.core  # noqa: F401
except ModuleNotFoundError as error:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "llamaindex_multisession needs LlamaIndex: pip install 'multisession[llamaindex]'"
    ) from error

from .embeddings import MultiSessionEmbedding, embedder_from_llamaindex
from .llms import llm_from_llamaindex
from .memory import MultiSessionMemory
from .memory_blocks import MultiSessionMemoryBlock
from .retrievers import MultiSessionRetriever

__all__ = [
    "MultiSessionEmbedding",
    "MultiSessionMemory",
    "MultiSessionMemoryBlock",
    "MultiSessionRetriever",
    "embedder_from_llamaindex",
    "llm_from_llamaindex",
]
