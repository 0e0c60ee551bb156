"""multisession: persistent, cross-session memory for AI applications.

Example:
    >>> from multisession import MemoryEngine
    >>> engine = MemoryEngine("./memory-store")  # doctest: +SKIP
    >>> engine.add("alice", "I'm allergic to peanuts")  # doctest: +SKIP
    >>> engine.search("alice", "food allergies")[0].memory.content  # doctest: +SKIP
    "I'm allergic to peanuts"
"""

from .clock import ManualClock
from .config import PRESETS, RetrievalConfig, TemporalConfig
from .context import BuiltContext, ContextConfig
from .conversations import Conversation, Message
from .embedding import Embedder, MiniLMEmbedder, as_embedder, default_embedder
from .engine import DEFAULT_EMBEDDER, MemoryEngine, RepairReport
from .errors import (
    BackendUnavailableError,
    ConfigurationError,
    InvalidInputError,
    MemoryNotFoundError,
    MultisessionError,
)
from .fusion import reciprocal_rank_fusion
from .packing import ContextBudget, ContextMessage, PackedContext
from .records import Memory, MemoryInput, ScoreBreakdown, SearchHit
from .sessions import ResumeConfig, Resumption
from .text import TokenizerConfig
from .tokens import TokenCounter, token_counter

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
    "TemporalConfig",
    "TokenCounter",
    "TokenizerConfig",
    "as_embedder",
    "default_embedder",
    "reciprocal_rank_fusion",
    "token_counter",
]

__version__ = "0.1.0"
