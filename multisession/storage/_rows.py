"""How memory rows are read: the columns, the raw-driver statements and the decoders.

The two reads of every search run on the pooled DBAPI connection directly (measured:
SQLAlchemy's statement handling cost several times the queries), so rows arrive either
through SQLAlchemy or from the driver; one decoder serves both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..records import IndexRow, Memory
from .schema import memories_table

VERSION_SQL = "SELECT version FROM ms_users WHERE user_id = ?"
# What a Memory is made of, in the order memory_from_row() reads it.
MEMORY_COLUMNS = tuple(
    memories_table.c[name]
    for name in (
        "user_id",
        "id",
        "content",
        "kind",
        "conversation_id",
        "metadata",
        "created_at",
        "updated_at",
        "last_accessed",
        "access_count",
        "valid_from",
        "superseded_at",
        "superseded_by",
        "supersede_reason",
        "mentions",
        "last_mentioned_at",
        "sensitivity",
        "detectors",
        "scope",
    )
)
GET_MANY_SQL = (
    f"SELECT {', '.join(column.name for column in MEMORY_COLUMNS)} FROM ms_memories "
    "WHERE user_id = ? AND id IN ({markers})"
)


def memory_from_row(row: Sequence[Any]) -> Memory:
    """A Memory from the values of MEMORY_COLUMNS, as SQLAlchemy or the driver gives them."""
    (
        owner,
        memory_id,
        content,
        kind,
        conversation_id,
        metadata,
        created_at,
        updated_at,
        last_accessed,
        access_count,
        valid_from,
        superseded_at,
        superseded_by,
        supersede_reason,
        mentions,
        last_mentioned_at,
        sensitivity,
        detectors,
        scope,
    ) = row[: len(MEMORY_COLUMNS)]
    if isinstance(metadata, (str, bytes)):
        metadata = json.loads(metadata)
    if isinstance(detectors, (str, bytes)):
        detectors = json.loads(detectors)
    return Memory(
        id=memory_id,
        user_id=owner,
        content=content,
        kind=kind,
        created_at=driver_time(created_at),
        updated_at=driver_time(updated_at),
        last_accessed=None if last_accessed is None else driver_time(last_accessed),
        access_count=int(access_count),
        conversation_id=conversation_id,
        metadata=dict(metadata or {}),
        valid_from=driver_time(valid_from or created_at),
        superseded_at=None if superseded_at is None else driver_time(superseded_at),
        superseded_by=superseded_by,
        supersede_reason=supersede_reason,
        mentions=1 if mentions is None else int(mentions),
        last_mentioned_at=None if last_mentioned_at is None else driver_time(last_mentioned_at),
        sensitivity=sensitivity,
        detectors=tuple(detectors or ()),
        scope=scope,
    )


def driver_time(value: datetime | str) -> datetime:
    """A time as the driver returns it (SQLite: naive UTC text) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def index_row_from_row(row: Any) -> IndexRow:
    return IndexRow(
        id=row.id,
        content=row.content,
        kind=row.kind,
        conversation_id=row.conversation_id,
        created_at=row.created_at,
        revision=row.revision,
        embedding=row.embedding if "embedding" in row._fields else None,
        retired=row.superseded_at is not None,
        slot_keys=row.slot_keys,
    )


INDEX_COLUMNS = (
    memories_table.c.id,
    memories_table.c.content,
    memories_table.c.kind,
    memories_table.c.conversation_id,
    memories_table.c.created_at,
    memories_table.c.revision,
    memories_table.c.superseded_at,
    memories_table.c.slot_keys,
)
