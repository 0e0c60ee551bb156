"""multisession: persistent, cross-session memory for AI applications.

Example:
    >>> from multisession import MemoryEngine
    >>> engine = MemoryEngine("./memory-store")  # doctest: +SKIP
    >>> engine.add("alice", "I'm allergic to peanuts")  # doctest: +SKIP
    >>> engine.search("alice", "food allergies")[0].memory.content  # doctest: +SKIP
    "I'm allergic to peanuts"
"""

from .config import PRESETS, RetrievalConfig, TemporalConfig
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
from .records import Memory, MemoryInput, ScoreBreakdown, SearchHit
from .text import TokenizerConfig

__all__ = [
    "BackendUnavailableError",
    "ConfigurationError",
    "DEFAULT_EMBEDDER",
    "Embedder",
    "InvalidInputError",
    "Memory",
    "MemoryEngine",
    "MemoryInput",
    "MemoryNotFoundError",
    "MiniLMEmbedder",
    "MultisessionError",
    "PRESETS",
    "RepairReport",
    "RetrievalConfig",
    "ScoreBreakdown",
    "SearchHit",
    "TemporalConfig",
    "TokenizerConfig",
    "as_embedder",
    "default_embedder",
    "reciprocal_rank_fusion",
]

__version__ = "0.1.0"
