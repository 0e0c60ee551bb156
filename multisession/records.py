"""The plain data that crosses the engine's public API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import InvalidInputError

__all__ = [
    "ContextMessage",
    "Conversation",
    "IndexColumns",
    "IndexRow",
    "Memory",
    "MemoryFilter",
    "MemoryInput",
    "Message",
    "MetadataCondition",
    "ScoreBreakdown",
    "SearchHit",
]


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
    #: Where in the user's memory it belongs, beside the user (an app, agent or run:
    #: ``"support-bot"``, ``"support-bot/run-7"``); see :meth:`MemoryEngine.search`.
    scope: str | None = None


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
    #: From when the memory holds (its ``created_at`` unless set otherwise).
    valid_from: datetime | None = None
    #: When a newer memory (``superseded_by``, None for a retraction) replaced it.
    superseded_at: datetime | None = None
    superseded_by: str | None = None
    #: Why it was superseded: a rule's name, ``"llm"``, ``"duplicate"`` or ``"manual"``.
    supersede_reason: str | None = None
    #: How many times it was said (a repeat reinforces the memory instead of adding one).
    mentions: int = 1
    last_mentioned_at: datetime | None = None

    @property
    def is_current(self) -> bool:
        """Whether the memory still holds (nothing superseded it)."""
        return self.superseded_at is None

    #: The privacy class of the content (``"public"``, ``"personal"``, ``"sensitive"``
    #: by default), or None if it was stored unclassified.
    sensitivity: str | None = None
    #: The detectors that fired on the content, sorted.
    detectors: tuple[str, ...] = ()
    scope: str | None = None
    #: The summary memory this one was consolidated into, or None (see
    #: :meth:`MemoryEngine.consolidate`); a summary lists its sources in its metadata.
    consolidated_into: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings)."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "content": self.content,
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "scope": self.scope,
            "metadata": dict(self.metadata),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_accessed": self.last_accessed.isoformat() if self.last_accessed else None,
            "access_count": self.access_count,
            "valid_from": (self.valid_from or self.created_at).isoformat(),
            "superseded_at": self.superseded_at.isoformat() if self.superseded_at else None,
            "superseded_by": self.superseded_by,
            "supersede_reason": self.supersede_reason,
            "mentions": self.mentions,
            "last_mentioned_at": (
                self.last_mentioned_at.isoformat() if self.last_mentioned_at else None
            ),
            "sensitivity": self.sensitivity,
            "detectors": list(self.detectors),
            "consolidated_into": self.consolidated_into,
        }


@dataclass(frozen=True)
class ScoreBreakdown:
    """Why a memory was returned: each retriever's view and how they combined.

    Attributes:
        bm25_rank: 1-based rank in the keyword candidates, or None if not among them.
        bm25_score: Okapi BM25 score, or None.
        vector_rank: 1-based rank in the vector candidates, or None.
        vector_similarity: cosine similarity to the query, or None.
        fused_score: the two retrievers combined: with ``fusion="convex"`` the weighted
            mean of min-max normalised BM25 score and cosine, in ``[0, 1]``; with
            ``fusion="rrf"`` weighted reciprocal rank fusion, ``sum w_i / (k + rank_i)``.
        recency: the decay curve's value for the memory's age, in ``[floor, 1]``.
        temporal_multiplier: what recency multiplied the fused score by,
            ``1 - weight + weight * recency`` (1.0 when temporal weighting is off).
        final_score: ``fused_score * temporal_multiplier * date_boost * slot_boost``;
            hits are sorted by it.
        date_boost: what the score was multiplied by because the memory is dated inside
            a date the query names (1.0 when it names none, or the memory lies outside).
        slot_boost: what the score was multiplied by because the memory fills the
            personal slot the query asks about (1.0 otherwise; see
            :mod:`multisession.retrieval.slots`).
    """

    bm25_rank: int | None
    bm25_score: float | None
    vector_rank: int | None
    vector_similarity: float | None
    fused_score: float
    recency: float
    temporal_multiplier: float
    final_score: float
    date_boost: float = 1.0
    slot_boost: float = 1.0

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
            "date_boost": self.date_boost,
            "slot_boost": self.slot_boost,
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

    def to_metadata(self) -> dict[str, Any]:
        """The flat metadata a framework's document or node carries for this hit.

        The memory's ``kind``, ``created_at`` (ISO 8601) and ``conversation_id``, the
        final ``score``, then every field of the score breakdown; all JSON-ready. Both
        framework retrievers use it, so a document and a node describe a hit alike.
        """
        return {
            "kind": self.memory.kind,
            "created_at": self.memory.created_at.isoformat(),
            "conversation_id": self.memory.conversation_id,
            "score": self.score,
            **self.breakdown.to_dict(),
        }


@dataclass(frozen=True)
class Message:
    """One stored chat message."""

    role: str
    content: str
    created_at: datetime
    id: str = ""
    conversation_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The privacy class of the content, or None if it was stored unclassified.
    sensitivity: str | None = None
    #: The detectors that fired on the content, sorted.
    detectors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "role": self.role,
            "content": self.content,
            "created_at": self.created_at.isoformat(),
            "metadata": dict(self.metadata),
            "sensitivity": self.sensitivity,
            "detectors": list(self.detectors),
        }


@dataclass(frozen=True)
class Conversation:
    """A conversation's state: counts, rolling summary, decisions and action items.

    ``action_items`` are dicts ``{"text": str, "done": bool}``.
    """

    user_id: str
    conversation_id: str
    created_at: datetime
    last_interaction_at: datetime
    message_count: int
    summary: str | None
    summarized_count: int
    decisions: list[str]
    action_items: list[dict[str, Any]]
    metadata: dict[str, Any]

    @property
    def open_action_items(self) -> list[str]:
        return [item["text"] for item in self.action_items if not item.get("done")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "created_at": self.created_at.isoformat(),
            "last_interaction_at": self.last_interaction_at.isoformat(),
            "message_count": self.message_count,
            "summary": self.summary,
            "decisions": list(self.decisions),
            "action_items": [dict(item) for item in self.action_items],
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class ContextMessage:
    """One chat message: a role (``"system"``, ``"user"``, ``"assistant"``, ...) and text.

    Example:
        >>> ContextMessage("user", "Book me a table for two")
        ContextMessage(role='user', content='Book me a table for two')
    """

    role: str
    content: str

    def __post_init__(self) -> None:
        if not isinstance(self.role, str) or not self.role.strip():
            raise InvalidInputError(
                f"ContextMessage.role must be a non-empty string, got {self.role!r}"
            )
        if not isinstance(self.content, str):
            raise InvalidInputError(
                f"ContextMessage.content must be a string, got {type(self.content).__name__}"
            )

    def to_dict(self) -> dict[str, str]:
        """``{"role": ..., "content": ...}``, the shape chat APIs and JSON take."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class MetadataCondition:
    """One test on a metadata field, from a search's or list's ``filter``.

    ``path`` leads from the metadata's top level to the field (``("color",)``, or
    ``("address", "city")`` for a nested dict); ``operator`` is one of ``$eq``, ``$ne``,
    ``$gt``, ``$gte``, ``$lt``, ``$lte``; ``value`` is a string, number, bool or None
    (the comparisons take numbers only).
    """

    path: tuple[str, ...]
    operator: str
    value: str | int | float | bool | None


@dataclass(frozen=True)
class MemoryFilter:
    """Restrictions shared by search and list; None means no restriction."""

    kinds: tuple[str, ...] | None = None
    conversation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    metadata: tuple[MetadataCondition, ...] = ()
    #: Also superseded memories (history); by default only current ones.
    include_superseded: bool = False
    #: What held at this time: valid from before it, not superseded until after it.
    as_of: datetime | None = None
    #: The privacy classes to keep (tested in SQL), or None for all.
    sensitivity: tuple[str, ...] | None = None
    #: The scope and the scopes nested in it (``"a"`` takes ``"a"`` and ``"a/..."``).
    scope: str | None = None

    @property
    def is_empty(self) -> bool:
        """Whether SQL has nothing to test (which memories are current the index knows)."""
        return (
            self.kinds is None
            and self.conversation_id is None
            and self.scope is None
            and self.since is None
            and self.until is None
            and not self.metadata
            and self.as_of is None
            and self.sensitivity is None
        )


@dataclass(frozen=True)
class IndexRow:
    """What the in-process indexes need of a memory."""

    id: str
    content: str
    kind: str
    conversation_id: str | None
    created_at: datetime
    revision: int
    embedding: bytes | None = None
    #: Superseded (or folded into another memory): left out of default searches.
    retired: bool = False
    #: The personal slots it fills (``";residence|self;"``), see multisession.lifecycle.
    slot_keys: str | None = None
    #: The content's terms as stored in SQL (see ``Tokenizer.stored``), or None.
    terms: str | None = None


@dataclass(frozen=True)
class IndexColumns:
    """A user's memories as loading the in-process indexes needs them, column by column.

    One list per column, aligned, in the order the indexes take them (revision, then id):
    a load of thousands of memories builds no object per memory.
    """

    ids: list[str]
    contents: list[str]
    conversation_ids: list[str | None]
    #: ``created_at`` as POSIX timestamps.
    created: list[float]
    revisions: list[int]
    #: As stored (see ``Tokenizer.stored``); None where not stored.
    terms: list[str | None]
    #: Whether each is superseded (left out of default searches; see IndexRow.retired).
    retired: list[bool]
    #: The personal slots each fills (see IndexRow.slot_keys).
    slot_keys: list[str | None]
    #: The stored vectors (None where not embedded yet), or None when not read.
    embeddings: list[bytes | None] | None = None
