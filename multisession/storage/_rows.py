"""How memory rows are read: the columns, the raw-driver statements and the decoders.

The two reads of every search run on the pooled DBAPI connection directly (measured:
SQLAlchemy's statement handling cost several times the queries), so rows arrive either
through SQLAlchemy or from the driver; one decoder serves both. So does the read that
loads a user's in-process indexes (:func:`index_rows_sql`, the one statement that says
which memories the indexes hold): through SQLAlchemy it was half the cost of a load.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ..records import IndexColumns, IndexRow, Memory
from .schema import memories_table

VERSION_SQL = "SELECT version FROM ms_users WHERE user_id = ?"
COUNT_SQL = "SELECT count(*) FROM ms_memories WHERE user_id = ?"
# What the in-process indexes read of a memory, in the order the decoders below read it.
INDEX_ROW_NAMES = (
    "id",
    "content",
    "kind",
    "conversation_id",
    "created_at",
    "revision",
    "terms",
    "superseded_at",
    "slot_keys",
    "sealed",
)
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
        "consolidated_into",
        "sealed",  # opened before decoding (see storage/encryption.py)
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
        consolidated_into,
        _sealed,
    ) = row[: len(MEMORY_COLUMNS)]
    if isinstance(metadata, (str, bytes)):
        metadata = None if metadata == "{}" else json.loads(metadata)  # most have none
    if isinstance(detectors, (str, bytes)):
        detectors = json.loads(detectors)
    # A search reads ten of these per call: a time equal to the creation time (most
    # updates and validity starts) is parsed once.
    created = driver_time(created_at)
    return Memory(
        id=memory_id,
        user_id=owner,
        content=content,
        kind=kind,
        created_at=created,
        updated_at=created if updated_at == created_at else driver_time(updated_at),
        last_accessed=None if last_accessed is None else driver_time(last_accessed),
        access_count=int(access_count),
        conversation_id=conversation_id,
        metadata=dict(metadata or {}),
        valid_from=(
            created if not valid_from or valid_from == created_at else driver_time(valid_from)
        ),
        superseded_at=None if superseded_at is None else driver_time(superseded_at),
        superseded_by=superseded_by,
        supersede_reason=supersede_reason,
        mentions=1 if mentions is None else int(mentions),
        last_mentioned_at=None if last_mentioned_at is None else driver_time(last_mentioned_at),
        sensitivity=sensitivity,
        detectors=tuple(detectors or ()),
        scope=scope,
        consolidated_into=consolidated_into,
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


def index_rows_sql(*, with_embeddings: bool, ids: int | None = None) -> str:
    """The read of a user's memories for the in-process indexes, oldest revision first.

    Every load of an index, whole or of the rows that changed, runs this statement: the
    memories it selects are the ones the indexes hold.

    Args:
        with_embeddings: Read the stored vectors too (exact search holds them).
        ids: Read only this many given ids (``?`` markers), or every memory when None.
    """
    names = (*INDEX_ROW_NAMES, "embedding") if with_embeddings else INDEX_ROW_NAMES
    sql = f"SELECT {', '.join(names)} FROM ms_memories WHERE user_id = ?"
    if ids is not None:
        sql += f" AND id IN ({', '.join('?' * ids)})"
    return sql + " ORDER BY revision, id"


def index_row_from_driver(row: Sequence[Any]) -> IndexRow:
    """An IndexRow from a row of :func:`index_rows_sql`, as the driver gives it."""
    return IndexRow(
        id=row[0],
        content=row[1],
        kind=row[2],
        conversation_id=row[3],
        created_at=driver_time(row[4]),
        revision=int(row[5]),
        terms=row[6],
        retired=row[7] is not None,
        slot_keys=row[8],
        embedding=_blob(row[len(INDEX_ROW_NAMES)]) if len(row) > len(INDEX_ROW_NAMES) else None,
    )


def index_columns_from_driver(rows: Sequence[Sequence[Any]], with_embeddings: bool) -> IndexColumns:
    """The rows of :func:`index_rows_sql` as columns, decoded in bulk."""
    if not rows:
        return IndexColumns([], [], [], [], [], [], [], [], [] if with_embeddings else None)
    columns = list(zip(*rows, strict=True))
    embeddings = None
    if with_embeddings:
        embeddings = [_blob(blob) for blob in columns[len(INDEX_ROW_NAMES)]]
    return IndexColumns(
        ids=list(columns[0]),
        contents=list(columns[1]),
        conversation_ids=list(columns[3]),
        created=driver_timestamps(columns[4]),
        revisions=[int(revision) for revision in columns[5]],
        terms=list(columns[6]),
        retired=[superseded is not None for superseded in columns[7]],
        slot_keys=list(columns[8]),
        embeddings=embeddings,
    )


def driver_timestamps(values: Sequence[datetime | str]) -> list[float]:
    """Times as the driver returns them, as POSIX timestamps (``datetime.timestamp()``).

    SQLite returns SQLAlchemy's naive UTC text (``2026-01-02 03:04:05.000006``), which
    numpy parses a thousand at a time in a tenth of what one ``fromisoformat`` each takes;
    the float of ``microseconds / 1e6`` is the one ``timestamp()`` gives.
    """
    if all(type(value) is str and len(value) == 26 and value[10] == " " for value in values):
        try:
            micros = np.array(values, dtype="datetime64[us]").astype(np.int64)
        except ValueError:
            pass
        else:
            return (micros / 1e6).tolist()  # type: ignore[no-any-return]
    return [driver_time(value).timestamp() for value in values]


def _blob(value: Any) -> bytes | None:
    # psycopg may return a memoryview for a bytea column; SQLite returns bytes.
    return value if value is None or type(value) is bytes else bytes(value)
