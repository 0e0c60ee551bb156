"""Retention: which memories have outlived their use, by a policy the application sets.

Two rules, each by kind: a time to live (episodes older than 90 days go), and the
guide's rule for memories nobody uses (not retrieved within ``unused_days`` and
retrieved fewer than ``min_accesses`` times in all). Preferences and facts are what a
user told us holds; a policy touches them only where it names them.

This module decides; :mod:`multisession._maintenance_methods` deletes through the same
path as :meth:`MemoryEngine.delete` (SQL, vector index, in-process indexes, the cached
search results) and writes the counts to the audit log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..storage.schema import memories_table

__all__ = [
    "PROTECTED_KINDS",
    "RetentionItem",
    "RetentionPolicy",
    "RetentionReport",
    "expired",
    "find_expired",
]

#: Kinds a policy leaves alone unless it names them: what a user said holds.
PROTECTED_KINDS = frozenset({"preference", "fact"})
#: How much of a memory a report shows (none of a sensitive one).
PREVIEW_CHARS = 60


@dataclass(frozen=True)
class RetentionPolicy:
    """What retention deletes.

    Example:
        >>> policy = RetentionPolicy(ttl_days={"episode": 90}, unused_days=30, min_accesses=2)
        >>> policy.unused_kinds
        ('episode',)

    Attributes:
        ttl_days: Per kind, the days a memory lives after it was last said (its
            ``created_at``, or ``last_mentioned_at`` if said again since).
        unused_days: Delete memories of ``unused_kinds`` not retrieved within this many
            days (never retrieved counts from when it was written) ...
        min_accesses: ... and retrieved fewer times than this in all. None for
            ``unused_days`` turns the rule off.
        unused_kinds: The kinds the unused rule applies to.
        include_superseded: Apply the rules to superseded memories (history) too, as
            by default; False keeps every superseded memory.
    """

    ttl_days: Mapping[str, float] = field(default_factory=dict)
    unused_days: float | None = None
    min_accesses: int = 1
    unused_kinds: tuple[str, ...] = ("episode",)
    include_superseded: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.ttl_days, Mapping):
            raise ValueError("ttl_days must map a kind to days, e.g. {'episode': 90}")
        for kind, days in self.ttl_days.items():
            if not isinstance(kind, str) or not kind:
                raise ValueError(f"ttl_days keys must be kinds, got {kind!r}")
            if isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0:
                raise ValueError(f"ttl_days[{kind!r}] must be a positive number of days")
        # Frozen means frozen: a caller's dict changed later must not change the policy.
        object.__setattr__(self, "ttl_days", MappingProxyType(dict(self.ttl_days)))
        if self.unused_days is not None and (
            isinstance(self.unused_days, bool)
            or not isinstance(self.unused_days, (int, float))
            or self.unused_days <= 0
        ):
            raise ValueError("unused_days must be a positive number of days, or None")
        if isinstance(self.min_accesses, bool) or not isinstance(self.min_accesses, int):
            raise ValueError("min_accesses must be a whole number")
        if self.min_accesses < 1:
            raise ValueError("min_accesses must be at least 1 (fewer than 1 access: never)")
        if isinstance(self.unused_kinds, str) or not all(
            isinstance(kind, str) and kind for kind in self.unused_kinds
        ):
            raise ValueError("unused_kinds must be a tuple of kinds, e.g. ('episode',)")
        object.__setattr__(self, "unused_kinds", tuple(self.unused_kinds))

    @property
    def kinds(self) -> frozenset[str]:
        """Every kind the policy may delete."""
        unused = self.unused_kinds if self.unused_days is not None else ()
        return frozenset(self.ttl_days) | frozenset(unused)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the audit log records the policy applied)."""
        return {
            "ttl_days": dict(self.ttl_days),
            "unused_days": self.unused_days,
            "min_accesses": self.min_accesses,
            "unused_kinds": list(self.unused_kinds),
            "include_superseded": self.include_superseded,
        }


@dataclass(frozen=True)
class RetentionItem:
    """A memory retention deletes (or would).

    ``preview`` is the start of the content, or None for a memory of the
    ``"sensitive"`` class: a report never shows what it holds.
    """

    user_id: str
    memory_id: str
    kind: str
    created_at: datetime
    age_days: float
    reason: str
    sensitivity: str | None
    preview: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "user_id": self.user_id,
            "memory_id": self.memory_id,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "age_days": round(self.age_days, 2),
            "reason": self.reason,
            "sensitivity": self.sensitivity,
            "preview": self.preview,
        }


@dataclass(frozen=True)
class RetentionReport:
    """What :meth:`MemoryEngine.apply_retention` selected and deleted.

    Attributes:
        dry_run: True if nothing was deleted.
        items: The memories selected, per user oldest first.
        deleted: How many were deleted (0 on a dry run; fewer than selected if some
            were deleted meanwhile by another process).
    """

    dry_run: bool
    items: list[RetentionItem]
    deleted: int = 0

    @property
    def by_kind(self) -> dict[str, int]:
        """How many were selected, by kind."""
        return dict(Counter(item.kind for item in self.items))

    @property
    def by_reason(self) -> dict[str, int]:
        """How many were selected, by rule (``"ttl"`` or ``"unused"``)."""
        return dict(Counter(item.reason for item in self.items))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "dry_run": self.dry_run,
            "selected": len(self.items),
            "deleted": self.deleted,
            "by_kind": self.by_kind,
            "by_reason": self.by_reason,
            "items": [item.to_dict() for item in self.items],
        }


def expired(
    policy: RetentionPolicy,
    *,
    kind: str,
    created_at: datetime,
    last_mentioned_at: datetime | None,
    last_accessed: datetime | None,
    access_count: int,
    now: datetime,
) -> str | None:
    """The rule that deletes a memory (``"ttl"``, ``"unused"``), or None if it stays."""
    said = max(created_at, last_mentioned_at) if last_mentioned_at else created_at
    ttl = policy.ttl_days.get(kind)
    if ttl is not None and now - said > timedelta(days=ttl):
        return "ttl"
    if policy.unused_days is not None and kind in policy.unused_kinds:
        used = max(said, last_accessed) if last_accessed else said
        if now - used > timedelta(days=policy.unused_days) and access_count < policy.min_accesses:
            return "unused"
    return None


def find_expired(
    conn: Connection,
    user_id: str | None,
    policy: RetentionPolicy,
    now: datetime,
    sensitive: frozenset[str] = frozenset({"sensitive"}),
) -> Iterator[RetentionItem]:
    """The memories the policy selects, of one user or of all, each user oldest first."""
    columns = memories_table.c
    kinds = sorted(policy.kinds)
    if not kinds:
        return
    statement = (
        sa.select(
            columns.user_id,
            columns.id,
            columns.kind,
            columns.content,
            columns.created_at,
            columns.last_mentioned_at,
            columns.last_accessed,
            columns.access_count,
            columns.sensitivity,
            columns.superseded_at,
        )
        .where(columns.kind.in_(kinds))
        .order_by(columns.user_id, columns.created_at, columns.id)
    )
    if user_id is not None:
        statement = statement.where(columns.user_id == user_id)
    if not policy.include_superseded:
        statement = statement.where(columns.superseded_at.is_(None))
    for row in conn.execute(statement):
        reason = expired(
            policy,
            kind=row.kind,
            created_at=row.created_at,
            last_mentioned_at=row.last_mentioned_at,
            last_accessed=row.last_accessed,
            access_count=int(row.access_count or 0),
            now=now,
        )
        if reason is None:
            continue
        preview = None
        if row.sensitivity not in sensitive:
            text = " ".join(row.content.split())
            preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
        yield RetentionItem(
            user_id=row.user_id,
            memory_id=row.id,
            kind=row.kind,
            created_at=row.created_at,
            age_days=(now - row.created_at).total_seconds() / 86400,
            reason=reason,
            sensitivity=row.sensitivity,
            preview=preview,
        )
