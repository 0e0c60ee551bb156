"""The plain data that crosses the engine's public API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Memory", "MemoryInput", "ScoreBreakdown", "SearchHit"]


@dataclass(frozen=True)
class MemoryInput:
    """One memory to add, for :meth:`MemoryEngine.add_many`.

    Example:
        >>> MemoryInput("Alice is allergic to peanuts", kind="fact").kind
        'fact'
    """

    content: str
    kind: str = "fact"
    conversation_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    #: Your own id (32 lowercase hex characters), e.g. derived from a source record so
    #: that importing it twice stores it once; by default a new one is made.
    id: str | None = None


@dataclass(frozen=True)
class Memory:
    """A stored memory, as returned by the engine. Times are timezone-aware UTC."""

    id: str
    user_id: str
    content: str
    kind: str
    created_at: datetime
    updated_at: datetime
    last_accessed: datetime | None = None
    access_count: int = 0
    conversation_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings)."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "content": self.content,
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "metadata": dict(self.metadata),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_accessed": self.last_accessed.isoformat() if self.last_accessed else None,
            "access_count": self.access_count,
        }


@dataclass(frozen=True)
class ScoreBreakdown:
    """Why a memory was returned: each retriever's view and how they combined.

    Attributes:
        bm25_rank: 1-based rank in the keyword candidates, or None if not among them.
        bm25_score: Okapi BM25 score, or None.
        vector_rank: 1-based rank in the vector candidates, or None.
        vector_similarity: cosine similarity to the query, or None.
        fused_score: weighted reciprocal rank fusion, ``sum w_i / (k + rank_i)``.
        recency: the decay curve's value for the memory's age, in ``[floor, 1]``.
        temporal_multiplier: what recency multiplied the fused score by,
            ``1 - weight + weight * recency`` (1.0 when temporal weighting is off).
        final_score: ``fused_score * temporal_multiplier``; hits are sorted by it.
    """

    bm25_rank: int | None
    bm25_score: float | None
    vector_rank: int | None
    vector_similarity: float | None
    fused_score: float
    recency: float
    temporal_multiplier: float
    final_score: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "bm25_rank": self.bm25_rank,
            "bm25_score": self.bm25_score,
            "vector_rank": self.vector_rank,
            "vector_similarity": self.vector_similarity,
            "fused_score": self.fused_score,
            "recency": self.recency,
            "temporal_multiplier": self.temporal_multiplier,
            "final_score": self.final_score,
        }


@dataclass(frozen=True)
class SearchHit:
    """One search result: the memory, its final score and the score breakdown."""

    memory: Memory
    breakdown: ScoreBreakdown

    @property
    def score(self) -> float:
        """The final score (``breakdown.final_score``)."""
        return self.breakdown.final_score
