"""multisession: persistent, cross-session memory for AI applications.

Example:
    >>> from multisession import MemoryEngine
    >>> engine = MemoryEngine("./memory-store")  # doctest: +SKIP
    >>> engine.add("alice", "I'm allergic to peanuts")  # doctest: +SKIP
    >>> engine.search("alice", "food allergies")[0].memory.content  # doctest: +SKIP
    "I'm allergic to peanuts"
"""

from .clock import ManualClock
from .context.builder import BuiltContext, ContextConfig
from .context.packing import ContextBudget, PackedContext
from .context.sessions import ResumeConfig, Resumption
from .context.tokens import TokenCounter, token_counter
from .embeddings.base import Embedder, as_embedder
from .embeddings.minilm import MiniLMEmbedder, default_embedder
from .engine import DEFAULT_EMBEDDER, MemoryEngine, RepairReport
from .errors import (
    BackendUnavailableError,
    ConfigurationError,
    InvalidInputError,
    MemoryNotFoundError,
    MultisessionError,
    StoreDamagedError,
)
from .records import (
    ContextMessage,
    Conversation,
    Memory,
    MemoryInput,
    Message,
    ScoreBreakdown,
    SearchHit,
)
from .retrieval.config import PRESETS, RetrievalConfig, TemporalConfig
from .retrieval.fusion import reciprocal_rank_fusion
from .retrieval.terms import TokenizerConfig

__all__ = [
    "BackendUnavailableError",
    "BuiltContext",
    "ConfigurationError",
    "ContextBudget",
    "ContextConfig",
    "ContextMessage",
    "Conversation",
    "DEFAULT_EMBEDDER",
    "Embedder",
    "InvalidInputError",
    "ManualClock",
    "Memory",
    "MemoryEngine",
    "MemoryInput",
    "MemoryNotFoundError",
    "Message",
    "MiniLMEmbedder",
    "MultisessionError",
    "PRESETS",
    "PackedContext",
    "RepairReport",
    "ResumeConfig",
    "Resumption",
    "RetrievalConfig",
    "ScoreBreakdown",
    "SearchHit",
    "StoreDamagedError",
    "TemporalConfig",
    "TokenCounter",
    "TokenizerConfig",
    "as_embedder",
    "default_embedder",
    "reciprocal_rank_fusion",
    "token_counter",
]


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata on first use.

    Importing :mod:`importlib.metadata` and scanning the installed distributions costs a
    process start tens of milliseconds that a search never needs.
    """
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("multisession")
    except PackageNotFoundError:  # a checkout used without installing it
        found = "0+unknown"
    globals()["__version__"] = found
    return found
