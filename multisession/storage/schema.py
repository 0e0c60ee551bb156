"""The SQL schema every store shares: seven tables, portable types, and small helpers.

SQLite and PostgreSQL run the same schema. Memories keep their vector beside their
text (float32, little-endian) so every in-process index can be derived from SQL.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import ConfigurationError

__all__ = [
    "UTCDateTime",
    "audit_table",
    "conversations_table",
    "deletions_table",
    "ensure_user",
    "from_bytes",
    "memories_table",
    "messages_table",
    "metadata",
    "new_user",
    "settings_table",
    "to_bytes",
    "upsert",
    "user_hash",
    "users_table",
]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = sa.MetaData()

users_table = sa.Table(
    "ms_users",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

memories_table = sa.Table(
    "ms_memories",
    metadata,
    # The key leads with user_id: every lookup is scoped to one user, and the planner
    # then resolves "user_id = ? AND id IN (...)" by the key instead of scanning the
    # user's rows through another user_id index.
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("conversation_id", sa.String(255), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_accessed", UTCDateTime, nullable=True),
    sa.Column("access_count", sa.Integer, nullable=False, default=0),
    sa.Column("revision", sa.BigInteger, nullable=False),
    # False until the vector index holds the current content: repair() finds these.
    sa.Column("vector_indexed", sa.Boolean, nullable=False, default=False),
    # The content's vector (little-endian float32), or NULL until it is embedded. SQL
    # keeps it so that in-process exact search is derived from SQL like the BM25 index.
    sa.Column("embedding", sa.LargeBinary, nullable=True),
    # Validity (see multisession.lifecycle): from when the memory holds (NULL: since
    # created_at), when a newer memory replaced it, which one, and why (a rule's name,
    # "llm", "duplicate", "manual"). A superseded memory is kept as history.
    sa.Column("valid_from", UTCDateTime, nullable=True),
    sa.Column("superseded_at", UTCDateTime, nullable=True),
    sa.Column("superseded_by", sa.String(32), nullable=True),
    sa.Column("supersede_reason", sa.String(64), nullable=True),
    # How often the same thing was said again (duplicates reinforce, not repeat it).
    sa.Column("mentions", sa.Integer, nullable=False, server_default="1"),
    sa.Column("last_mentioned_at", UTCDateTime, nullable=True),
    # The personal slots the memory fills (";residence|self;"), to find what it replaces.
    sa.Column("slot_keys", sa.String(255), nullable=True),
    # The privacy class of the content and the detectors that fired (a JSON list of
    # names); NULL for memories stored before classification or with it turned off.
    sa.Column("sensitivity", sa.String(32), nullable=True),
    sa.Column("detectors", sa.JSON, nullable=True),
    # Where in the user's memory a memory belongs (an app, agent or run), or NULL.
    sa.Column("scope", sa.String(255), nullable=True),
    # The content's BM25 terms as the tokenizer stored them (see retrieval/terms.py), so
    # that loading a keyword index skips tokenizing; NULL in rows written before.
    sa.Column("terms", sa.Text, nullable=True),
    # The summary memory this one was consolidated into (see lifecycle/consolidation.py),
    # or NULL: the memory is kept, and search prefers the summary.
    sa.Column("consolidated_into", sa.String(32), nullable=True),
    # With encryption at rest: content, metadata and slot keys encrypted together (see
    # storage/encryption.py), the plaintext columns then empty; NULL for a plain row.
    sa.Column("sealed", sa.LargeBinary, nullable=True),
    sa.Index("ix_ms_memories_id", "id", unique=True),
    sa.Index("ix_ms_memories_user_created", "user_id", "created_at"),
    # The newest memories of a kind (the preferences every prompt shows).
    sa.Index("ix_ms_memories_user_kind_created", "user_id", "kind", "created_at"),
    sa.Index("ix_ms_memories_user_conversation", "user_id", "conversation_id"),
    sa.Index("ix_ms_memories_vector_indexed", "vector_indexed"),
    # A user's memories of one class: privacy reports and `forget --class`.
    sa.Index("ix_ms_memories_user_sensitivity", "user_id", "sensitivity"),
    sa.Index("ix_ms_memories_user_scope", "user_id", "scope"),
)

conversations_table = sa.Table(
    "ms_conversations",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("conversation_id", sa.String(255), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_interaction_at", UTCDateTime, nullable=False),
    sa.Column("message_count", sa.Integer, nullable=False),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("summarized_count", sa.Integer, nullable=False),
    sa.Column("decisions", sa.JSON, nullable=False),
    sa.Column("action_items", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    # With encryption at rest: the summary, decisions and action items encrypted
    # together (see storage/encryption.py), those columns then empty; NULL when plain.
    sa.Column("sealed", sa.LargeBinary, nullable=True),
    sa.Index("ix_ms_conversations_user_last", "user_id", "last_interaction_at"),
)

messages_table = sa.Table(
    "ms_messages",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("conversation_id", sa.String(255), primary_key=True),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    # As on ms_memories: the privacy class and the detectors that fired, or NULL.
    sa.Column("sensitivity", sa.String(32), nullable=True),
    sa.Column("detectors", sa.JSON, nullable=True),
    # As on ms_memories: content and metadata encrypted, or NULL for a plain row.
    sa.Column("sealed", sa.LargeBinary, nullable=True),
    sa.Index(
        "ix_ms_messages_user_conversation_created", "user_id", "conversation_id", "created_at"
    ),
)

audit_table = sa.Table(
    "ms_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("user_hash", sa.String(64), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

# Deletions the vector index has not caught up with yet: proof for repair() that a
# vector without a memory belongs to a deleted one (and not to a memory SQL lost, e.g.
# with a damaged log). ``key`` is the user's collection, keyed with the store's secret;
# ``memory_id`` is NULL when the whole user was deleted. Cleared once the vector index
# has removed what a row names.
deletions_table = sa.Table(
    "ms_pending_deletions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("memory_id", sa.String(32), nullable=True),
    sa.Index("ix_ms_pending_deletions_key", "key"),
)

# Facts about the whole store, e.g. which embedder made the vectors it holds.
settings_table = sa.Table(
    "ms_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def upsert(conn: Connection, table: sa.Table) -> Any:
    """The backend's INSERT that supports ON CONFLICT (SQLite and PostgreSQL both do)."""
    dialect = conn.dialect.name
    # Imported on use: loading SQLAlchemy's PostgreSQL dialect costs a SQLite store
    # (and every process's start) a tenth of a second.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise ConfigurationError(f"unsupported SQL backend {dialect!r}: use SQLite or PostgreSQL")


def new_user(user_id: str, now: datetime) -> dict[str, Any]:
    # A new (or re-created) user starts at a wall-clock number rather than 1, so a
    # version seen before a delete_user can never come round again for that user.
    return {
        "user_id": user_id,
        "version": time.time_ns() // 1000,
        "created_at": now,
        "updated_at": now,
    }


def ensure_user(conn: Connection, user_id: str, now: datetime) -> None:
    """Create the user's row if missing, without bumping its version."""
    conn.execute(
        upsert(conn, users_table)
        .values(**new_user(user_id, now))
        .on_conflict_do_nothing(index_elements=[users_table.c.user_id])
    )


def user_hash(user_id: str) -> str:
    """A stable, non-reversible name for a user (audit log, collection names)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


# The reads every search makes, run on the driver directly (SQLStore._direct).


def to_bytes(vector: npt.ArrayLike) -> bytes:
    """A vector as stored in SQL: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes, dimension: int) -> npt.NDArray[np.float32] | None:
    """The vector a SQL blob holds, or None if it is not of this dimension."""
    if len(blob) != 4 * dimension:
        return None
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
