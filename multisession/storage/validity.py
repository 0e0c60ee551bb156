"""Which memories hold, and since when: the SQL side of supersession and duplicates.

A memory that a newer one replaced is not deleted: it keeps its row, marked with when
it stopped holding (``superseded_at``), by which memory (``superseded_by``) and why.
Default reads leave such rows out with one clause; ``as_of`` reads ask what held at a
time instead. Every change here bumps the user's version and stamps the rows it
touches with it, like any other write, so in-process indexes catch up by revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..records import MemoryFilter
from ._rows import driver_time
from .schema import memories_table

__all__ = [
    "Candidate",
    "ValidityChange",
    "apply_changes",
    "candidates",
    "chain_ids",
    "recent_predecessors",
    "validity_clauses",
]


@dataclass(frozen=True)
class ValidityChange:
    """One change to an existing memory's validity.

    Attributes:
        memory_id: The memory changed.
        action: ``"supersede"`` (stops holding at ``at``, replaced by ``by``),
            ``"restore"`` (holds again) or ``"reinforce"`` (said again at ``at``).
        at: When it stopped holding, or was said again.
        by: The memory that replaced it (None for a retraction, or a restore).
        reason: Why: a rule's name, ``"llm"``, ``"duplicate"``, ``"manual"``.
    """

    memory_id: str
    action: str
    at: datetime | None = None
    by: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A current memory a new one may replace or repeat."""

    id: str
    content: str
    kind: str
    created_at: datetime
    metadata: dict[str, Any]
    #: The encrypted words of a sealed memory (see storage/encryption.py), else None.
    sealed: bytes | None = None


def candidates(
    conn: Connection, user_id: str, memory_ids: Sequence[str], slot_keys: Sequence[str]
) -> list[Candidate]:
    """The user's current memories with these ids or filling one of these slots."""
    columns = memories_table.c
    either: list[sa.ColumnElement[bool]] = []
    if memory_ids:
        either.append(columns.id.in_(list(memory_ids)))
    for key in slot_keys:
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        either.append(columns.slot_keys.like(f"%;{escaped};%", escape="\\"))
    if not either:
        return []
    rows = conn.execute(
        sa.select(
            columns.id,
            columns.content,
            columns.kind,
            columns.created_at,
            columns.metadata,
            columns.sealed,
        )
        .where(columns.user_id == user_id, columns.superseded_at.is_(None), sa.or_(*either))
        .limit(500)
    )
    return [
        Candidate(
            row.id,
            row.content,
            row.kind,
            row.created_at,
            dict(row.metadata or {}),
            None if row.sealed is None else bytes(row.sealed),
        )
        for row in rows
    ]


def validity_clauses(where: MemoryFilter) -> list[sa.ColumnElement[bool]]:
    """The SQL conditions for which memories a read sees: current ones, all, or as of."""
    columns = memories_table.c
    if where.as_of is not None:
        start = sa.func.coalesce(columns.valid_from, columns.created_at)
        return [
            start <= where.as_of,
            sa.or_(columns.superseded_at.is_(None), columns.superseded_at > where.as_of),
        ]
    if where.include_superseded:
        return []
    return [columns.superseded_at.is_(None)]


def apply_changes(
    conn: Connection, user_id: str, version: int, changes: Sequence[ValidityChange]
) -> list[str]:
    """Apply changes inside the caller's transaction; returns the ids changed.

    ``version`` is the user's version the transaction bumped to: the changed rows are
    stamped with it so that every process's indexes re-read them.
    """
    columns = memories_table.c
    changed: list[str] = []
    for change in changes:
        where = (columns.user_id == user_id, columns.id == change.memory_id)
        values: dict[str, object]
        if change.action == "supersede":
            values = {
                "superseded_at": change.at,
                "superseded_by": change.by,
                "supersede_reason": change.reason,
            }
        elif change.action == "restore":
            values = {"superseded_at": None, "superseded_by": None, "supersede_reason": None}
        elif change.action == "reinforce":
            values = {
                "mentions": sa.func.coalesce(columns.mentions, 1) + 1,
                "last_mentioned_at": change.at,
            }
        else:  # pragma: no cover - callers build changes from the three actions
            raise ValueError(f"unknown validity action {change.action!r}")
        result = conn.execute(
            memories_table.update().where(*where).values(revision=version, **values)
        )
        if result.rowcount:
            changed.append(change.memory_id)
    return changed


def chain_ids(conn: Connection, user_id: str, memory_id: str) -> list[str]:
    """Every memory linked to this one by supersession, either way (the fact's versions)."""
    columns = memories_table.c
    seen = {memory_id}
    frontier = [memory_id]
    while frontier:
        rows = conn.execute(
            sa.select(columns.id, columns.superseded_by).where(
                columns.user_id == user_id,
                sa.or_(columns.id.in_(frontier), columns.superseded_by.in_(frontier)),
            )
        ).all()
        frontier = []
        for row_id, by in rows:
            for found in (row_id, by):
                if found is not None and found not in seen:
                    seen.add(found)
                    frontier.append(found)
        if len(seen) > 10_000:
            break
    return sorted(seen)


def recent_predecessors(
    conn: Connection, user_id: str, memory_ids: Sequence[str], since: datetime
) -> dict[str, tuple[str, datetime]]:
    """What each of these memories replaced at or after ``since``: its content and when.

    Repeats folded into a memory (reason ``"duplicate"``) are no change and are left
    out; of several memories one replaced, the latest counts.
    """
    columns = memories_table.c
    found: dict[str, tuple[str, datetime]] = {}
    if not memory_ids:
        return found
    rows = conn.execute(
        sa.select(columns.superseded_by, columns.content, columns.superseded_at)
        .where(
            columns.user_id == user_id,
            columns.superseded_by.in_(list(memory_ids)),
            columns.superseded_at >= since,
            sa.or_(columns.supersede_reason.is_(None), columns.supersede_reason != "duplicate"),
        )
        .order_by(columns.superseded_at, columns.created_at)
    ).all()
    for by, content, at in rows:
        found[by] = (content, driver_time(at))
    return found
