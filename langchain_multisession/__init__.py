"""LangChain adapters for multisession.

``MultiSessionMiddleware`` needs the ``langchain`` package (``create_agent``) and
``MultiSessionStore`` the ``langgraph`` package; the rest needs only ``langchain-core``.
"""

from typing import TYPE_CHECKING, Any

try:
    import langchain_core  # noqa: F401
except ModuleNotFoundError as error:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "langchain_multisession needs LangChain: pip install 'multisession[langchain]'"
    ) from error

from .chat_message_histories import MultiSessionChatMessageHistory
from .embeddings import MultiSessionEmbeddings, embedder_from_langchain
from .llms import llm_from_chat_model, llm_from_langchain
from .memory import MultiSessionMemory, with_multisession_memory
from .retrievers import MultiSessionRetriever

if TYPE_CHECKING:
    from .middleware import MultiSessionMiddleware
    from .stores import MultiSessionSearchItem, MultiSessionStore

__all__ = [
    "MultiSessionChatMessageHistory",
    "MultiSessionEmbeddings",
    "MultiSessionMemory",
    "MultiSessionMiddleware",
    "MultiSessionRetriever",
    "MultiSessionSearchItem",
    "MultiSessionStore",
    "embedder_from_langchain",
    "llm_from_chat_model",
    "llm_from_langchain",
    "with_multisession_memory",
]


def __getattr__(name: str) -> Any:
    # The middleware imports `langchain` (agents), an optional dependency: load it on use.
    if name == "MultiSessionMiddleware":
        try:
            from .middleware import MultiSessionMiddleware
        except ModuleNotFoundError as error:
            if error.name is None or error.name.split(".")[0] not in ("langchain", "langgraph"):
                raise
            raise ImportError(
                f"{name} needs LangChain's agents: pip install 'multisession[langchain-agents]'"
            ) from error
        return MultiSessionMiddleware
    # The store imports `langgraph`, also optional.
    if name in ("MultiSessionSearchItem", "MultiSessionStore"):
        try:
            from . import stores
        except ModuleNotFoundError as error:
            if error.name is None or not error.name.startswith("langgraph"):
                raise
            raise ImportError(
                f"{name} needs LangGraph: pip install 'multisession[langchain-agents]'"
            ) from error
        return getattr(stores, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
