"""The SQL source of truth: memories, per-user versions and the audit log.

SQLAlchemy Core with portable types, so the same code runs on SQLite (the default,
one file, WAL) and PostgreSQL (``postgresql+psycopg://...``). Every statement that
touches memories carries ``WHERE user_id = :user_id``: isolation between users is a
property of each query, never a filter applied to results afterwards.

Every write bumps the user's ``version`` in the same transaction and stamps the rows it
wrote with it (``revision``), so an in-process index can tell cheaply whether another
process wrote since it last looked, and which rows changed.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import (
    BackendUnavailableError,
    ConfigurationError,
    InvalidInputError,
)
from ..records import IndexColumns, IndexRow, Memory, MemoryFilter
from ._connections import damage_error, lost_creation_race, make_engine, unreachable
from ._rows import (
    COUNT_SQL,
    GET_MANY_SQL,
    INDEX_COLUMNS,
    MEMORY_COLUMNS,
    VERSION_SQL,
    index_columns_from_driver,
    index_row_from_driver,
    index_row_from_row,
    index_rows_sql,
    memory_from_row,
)
from .encryption import (
    StoreCipher,
    open_index_rows,
    open_memory_rows,
    seal_memory_rows,
    sealed_vector,
)
from .json_filter import metadata_clause
from .migrations import add_missing_columns
from .schema import (
    UTCDateTime,
    audit_table,
    conversations_table,
    deletions_table,
    memories_table,
    messages_table,
    metadata,
    new_user,
    settings_table,
    upsert,
    users_table,
)
from .validity import Candidate, ValidityChange, apply_changes, candidates, validity_clauses
from .vectors import collection_name

__all__ = ["SQLStore"]


class SQLStore:
    """Memories in SQL. Thread-safe: each call uses its own pooled connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = make_engine(url)
        paramstyle = self._engine.dialect.paramstyle
        if paramstyle not in ("qmark", "format", "pyformat"):
            raise ConfigurationError(
                f"unsupported database driver {self._engine.dialect.driver!r} "
                f"(parameter style {paramstyle}): use SQLite or PostgreSQL with psycopg"
            )
        self._marker = "?" if paramstyle == "qmark" else "%s"
        self._create_schema()
        self._audit_salt: str | None = None
        #: Seals and opens rows (encryption at rest); None when the store has no key
        #: and holds nothing sealed.
        self.cipher: StoreCipher | None = None

    def _create_schema(self) -> None:
        """Create what is missing of the schema; safe while other processes do the same.

        Each step checks first and then creates, so two processes opening a new store at
        once may both try to create a table: the loser's statement fails (SQLite: "already
        exists"; PostgreSQL: a unique violation in its catalogue), and it simply checks
        again, finding the table made. Only an error that persists is reported.
        """
        attempts = 8
        for attempt in range(attempts):
            try:
                metadata.create_all(self._engine)
                self._add_embedding_column()
                add_missing_columns(self._engine)
                # create_all makes the indexes of new tables only: a store made by an
                # earlier version gains the ones added since.
                for index in memories_table.indexes:
                    index.create(self._engine, checkfirst=True)
                return
            except sa.exc.DBAPIError as error:
                if attempt + 1 < attempts and lost_creation_race(error):
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise BackendUnavailableError(
                    f"cannot open the SQL store at {self._engine.url!r}: {error.orig}"
                ) from error

    def recorded_embedder(self) -> str | None:
        """The embedder the store's vectors come from, as recorded on first use."""
        with self._engine.connect() as conn:
            return conn.execute(
                sa.select(settings_table.c.value).where(settings_table.c.key == "embedder")
            ).scalar_one_or_none()

    def check_embedder(self, name: str, dimension: int) -> None:
        """Record the store's embedder on first use; refuse another one later.

        SQL keeps each memory's vector, and exact search compares them with the query's:
        vectors of two models must never meet.
        """
        wanted = f"{name} (dimension {dimension})"
        with self._engine.begin() as conn:
            conn.execute(
                upsert(conn, settings_table)
                .values(key="embedder", value=wanted)
                .on_conflict_do_nothing(index_elements=["key"])
            )
        stored = self.recorded_embedder()
        if stored != wanted:
            raise ConfigurationError(
                f"this store's vectors were made by embedder {stored}, not {wanted}: open "
                "it with the same embedder, or with embedder=None for keyword-only search, "
                "or use a new store and re-import"
            )

    def _add_embedding_column(self) -> None:
        """Bring a store made before vectors were kept in SQL up to date.

        Its memories are marked as not vector-indexed, so that opening the engine (or
        repair()) embeds them again and fills the new column.
        """
        columns = {column["name"] for column in sa.inspect(self._engine).get_columns("ms_memories")}
        if "embedding" in columns:
            return
        blob = "BYTEA" if self._engine.dialect.name == "postgresql" else "BLOB"
        with self._engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE ms_memories ADD COLUMN embedding {blob}")
            conn.execute(memories_table.update().values(vector_indexed=False))

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, shared with the conversation store."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    # -- versions -----------------------------------------------------------------

    def _bump_version(self, conn: Connection, user_id: str, now: datetime) -> int:
        statement = (
            upsert(conn, users_table)
            .values(**new_user(user_id, now))
            .on_conflict_do_update(
                index_elements=[users_table.c.user_id],
                set_={"version": users_table.c.version + 1, "updated_at": now},
            )
            .returning(users_table.c.version)
        )
        return int(conn.execute(statement).scalar_one())

    def user_version(self, user_id: str) -> int | None:
        """The user's write counter, or None for a user that never wrote.

        Every search asks, so this runs on the driver's connection directly: SQLAlchemy's
        statement handling costs several times the query itself.
        """
        rows = self._direct(VERSION_SQL, (user_id,))
        return None if not rows else int(rows[0][0])

    def _direct(self, sql: str, parameters: Sequence[Any]) -> builtins.list[Any]:
        """Run one read on a pooled DBAPI connection; ``?`` marks parameters."""
        if self._marker != "?":
            sql = sql.replace("?", self._marker)
        # On a server, one read in autocommit is one round trip (no BEGIN, no ROLLBACK).
        server = self._engine.dialect.name == "postgresql"
        try:
            connection = self._engine.raw_connection()
        except self._engine.dialect.loaded_dbapi.OperationalError as error:
            # The pool's own connect is not wrapped by SQLAlchemy's error events.
            raise unreachable(self._engine, error) from error
        driver = connection.driver_connection if server else None
        lost = False
        try:
            if driver is not None:
                driver.autocommit = True
            cursor = connection.cursor()
            try:
                cursor.execute(sql, tuple(parameters))
                return builtins.list(cursor.fetchall())
            except Exception as error:
                damaged = damage_error(error, self._engine.url.database or "")
                if damaged is not None and self._engine.dialect.name == "sqlite":
                    raise damaged from error
                if server and isinstance(error, self._engine.dialect.loaded_dbapi.OperationalError):
                    lost = True
                    raise unreachable(self._engine, error) from error
                raise
            finally:
                cursor.close()
        finally:
            try:
                if lost:
                    raise ConnectionError("the server went away")
                if driver is not None:
                    driver.autocommit = False
            except Exception:
                connection.invalidate()  # broken: the pool makes a new one
            connection.close()

    def user_ids(self) -> builtins.list[str]:
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(users_table.c.user_id).order_by(users_table.c.user_id)
                ).scalars()
            )

    # -- writes -------------------------------------------------------------------

    def taken_ids(
        self, user_id: str, memory_ids: Sequence[str], conn: Connection | None = None
    ) -> set[str]:
        """Which of these ids the user already has.

        Raises InvalidInputError if another user has one: ids are unique across users,
        and the message never says whose.
        """
        taken: set[str] = set()
        elsewhere = False
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self._engine.connect())
            for start in range(0, len(memory_ids), 500):
                for owner, memory_id in conn.execute(
                    sa.select(memories_table.c.user_id, memories_table.c.id).where(
                        memories_table.c.id.in_(memory_ids[start : start + 500])
                    )
                ):
                    taken.add(memory_id)
                    elsewhere = elsewhere or owner != user_id
        if elsewhere:
            raise InvalidInputError(
                "some of the given memory ids are already in use: derive ids from "
                "the user id too, or let the engine make them"
            )
        return taken

    def insert(
        self,
        user_id: str,
        rows: Sequence[Mapping[str, Any]],
        now: datetime,
        *,
        skip_existing: bool = False,
        also: Callable[[Connection], None] | None = None,
        changes: Sequence[ValidityChange] = (),
    ) -> tuple[int | None, builtins.list[Mapping[str, Any]]]:
        """Insert memories for one user in one transaction.

        Returns the new version (None when nothing was written) and the rows inserted.
        An id the user already has raises InvalidInputError, or with ``skip_existing``
        leaves that row out. ``also`` writes more in the same transaction (the messages
        the memories come from): both commit, or neither. ``changes`` (what the new
        memories supersede or reinforce) are applied in the same transaction.
        """
        self._check_writable()
        if self.cipher is not None and (
            also is not None or any(self.cipher.seals(row.get("sensitivity")) for row in rows)
        ):
            self.cipher.prepare(user_id)  # ``also`` may seal messages
        try:
            with self._engine.begin() as conn:
                taken = self.taken_ids(user_id, [row["id"] for row in rows], conn)
                if taken and not skip_existing:
                    raise InvalidInputError(
                        f"user {user_id!r} already has memories with ids {sorted(taken)[:3]}: "
                        "give new ids, or pass skip_existing=True to leave those as they are"
                    )
                if also is not None:
                    also(conn)
                fresh = [row for row in rows if row["id"] not in taken]
                if not fresh:
                    return None, []
                version = self._bump_version(conn, user_id, now)
                conn.execute(
                    memories_table.insert(),
                    [
                        {
                            **row,
                            "user_id": user_id,
                            "revision": version,
                            "updated_at": now,
                            "access_count": 0,
                            # True only for rows whose vectors are searched from SQL.
                            "vector_indexed": bool(row.get("vector_indexed", False)),
                        }
                        for row in seal_memory_rows(self.cipher, user_id, fresh)
                    ],
                )
                if changes:
                    apply_changes(conn, user_id, version, changes)
        except sa.exc.IntegrityError as error:
            raise InvalidInputError(
                f"a memory id given for user {user_id!r} was stored meanwhile by another "
                "writer; retry with skip_existing=True"
            ) from error
        return version, fresh

    def update(
        self, user_id: str, memory_id: str, values: Mapping[str, Any], now: datetime
    ) -> tuple[Memory, int, bytes | None, str | None] | None:
        """Change one memory: the memory, the new version, its stored vector and slot keys.

        None if the user has no such memory.
        """
        self._check_writable()
        if self.cipher is not None and self.cipher.seals(values.get("sensitivity")):
            self.cipher.prepare(user_id)
        with self._engine.begin() as conn:
            exists = conn.execute(
                sa.select(
                    memories_table.c.id,
                    memories_table.c.content,
                    memories_table.c.metadata,
                    memories_table.c.slot_keys,
                    memories_table.c.sensitivity,
                    memories_table.c.terms,
                    memories_table.c.sealed,
                    memories_table.c.embedding,
                ).where(memories_table.c.user_id == user_id, memories_table.c.id == memory_id)
            ).first()
            if exists is None:
                return None
            version = self._bump_version(conn, user_id, now)
            changes = dict(values, revision=version, updated_at=now)
            if "content" in values or "kind" in values:
                changes["vector_indexed"] = False
            if self.cipher is not None:
                changes = self._sealed_changes(user_id, exists, changes)
            conn.execute(
                memories_table.update()
                .where(memories_table.c.user_id == user_id, memories_table.c.id == memory_id)
                .values(**changes)
            )
            row = conn.execute(
                sa.select(
                    *MEMORY_COLUMNS, memories_table.c.embedding, memories_table.c.slot_keys
                ).where(memories_table.c.id == memory_id)
            ).one()
        opened = open_memory_rows(self.cipher, [row])
        if not opened:  # its user's data key was destroyed meanwhile
            return None
        slot_keys, embedding = row.slot_keys, row.embedding
        if self.cipher is not None and row.sealed is not None:
            sealed = self.cipher.open(user_id, "ms_memories", row.id, row.sealed)
            slot_keys = sealed.get("slot_keys")
            if "embedding" in sealed:
                embedding = sealed_vector(sealed)
        return memory_from_row(opened[0]), version, embedding, slot_keys

    def _sealed_changes(self, user_id: str, stored: Any, changes: dict[str, Any]) -> dict[str, Any]:
        """An update's column values with the memory's words sealed, or unsealed, anew.

        The class after the update decides (a new content may have another one); what
        the update leaves alone of a sealed memory is opened first and sealed again.
        """
        assert self.cipher is not None
        if stored.sealed is not None:
            current = self.cipher.open(user_id, "ms_memories", stored.id, stored.sealed)
        else:
            current = {
                "content": stored.content,
                "metadata": stored.metadata,
                "slot_keys": stored.slot_keys,
                "terms": stored.terms,
            }
        row = {
            "id": stored.id,
            "content": changes.get("content", current.get("content", "")),
            "metadata": changes.get("metadata", current.get("metadata") or {}),
            "slot_keys": current.get("slot_keys"),
            "sensitivity": changes.get("sensitivity", stored.sensitivity),
            "terms": changes.get("terms", current.get("terms")),
        }
        if "embedding" in current or self.cipher.seal_vectors:
            # The vector moves with the words: into the sealed value, or out of it.
            row["embedding"] = changes.get(
                "embedding",
                sealed_vector(current) if "embedding" in current else stored.embedding,
            )
        if stored.sealed is None and not self.cipher.seals(row["sensitivity"]):
            return changes
        written = seal_memory_rows(self.cipher, user_id, [row])[0]
        return {
            **changes,
            **{name: written[name] for name in ("content", "metadata", "slot_keys", "sealed")},
            "terms": written["terms"],
            **({"embedding": written["embedding"]} if "embedding" in row else {}),
        }

    def _check_writable(self) -> None:
        if self.cipher is not None:
            self.cipher.check_writable()

    def candidates(self, user_id: str, memory_ids: Sequence[str]) -> builtins.list[Candidate]:
        """The user's current memories with these ids, opened (the write planner's read)."""
        with self._engine.connect() as conn:
            found = candidates(conn, user_id, memory_ids, ())
        if self.cipher is None or all(candidate.sealed is None for candidate in found):
            return found
        opened: builtins.list[Candidate] = []
        for candidate in found:
            if candidate.sealed is None:
                opened.append(candidate)
                continue
            fields = self.cipher.try_open(user_id, "ms_memories", candidate.id, candidate.sealed)
            if fields is not None:
                opened.append(
                    dataclasses.replace(
                        candidate,
                        content=fields.get("content", ""),
                        metadata=fields.get("metadata") or {},
                        sealed=None,
                    )
                )
        return opened

    def delete(self, user_id: str, memory_id: str, now: datetime) -> int | None:
        """Delete one memory; returns the new version, or None if there was none."""
        self._check_writable()
        with self._engine.begin() as conn:
            result = conn.execute(
                memories_table.delete().where(
                    memories_table.c.user_id == user_id, memories_table.c.id == memory_id
                )
            )
            if result.rowcount == 0:
                return None
            version = self._bump_version(conn, user_id, now)
            self._audit(conn, "delete_memory", user_id, {"memory_id": memory_id}, now)
            if self._has_vectors(conn):
                conn.execute(
                    deletions_table.insert().values(
                        key=self._deletion_key(conn, user_id), memory_id=memory_id
                    )
                )
        return version

    def delete_user(self, user_id: str, now: datetime) -> int | None:
        """Delete every memory and the version row; None if the user is unknown."""
        self._check_writable()
        with self._engine.begin() as conn:
            known = conn.execute(
                sa.select(users_table.c.user_id).where(users_table.c.user_id == user_id)
            ).first()
            count = conn.execute(
                memories_table.delete().where(memories_table.c.user_id == user_id)
            ).rowcount
            if known is None and count == 0:
                return None
            for table in (messages_table, conversations_table, users_table):
                conn.execute(table.delete().where(table.c.user_id == user_id))
            self._audit(conn, "delete_user", user_id, {"memories": count}, now)
            if self._has_vectors(conn):
                conn.execute(
                    deletions_table.insert().values(
                        key=self._deletion_key(conn, user_id), memory_id=None
                    )
                )
        return int(count)

    @staticmethod
    def _has_vectors(conn: Connection) -> bool:
        """Whether any vector index may hold this store's memories.

        Stores opened with an embedder record it first (check_embedder); a store that
        never was has no vector index to catch up, so its deletions need no proof kept.
        """
        return (
            conn.execute(
                sa.select(settings_table.c.key).where(settings_table.c.key == "embedder")
            ).first()
            is not None
        )

    def _deletion_key(self, conn: Connection, user_id: str) -> str:
        return self.collection_key(collection_name(user_id), conn)

    def collection_key(self, collection: str, conn: Connection | None = None) -> str:
        """How pending deletions name a user's vector collection (keyed, not reversible)."""
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self._engine.begin())
            salt = self._salt(conn)
        return hmac.new(salt.encode(), collection.encode(), hashlib.sha256).hexdigest()

    def proven_deleted(self, collection: str, memory_ids: Iterable[str]) -> set[str]:
        """Which of these ids of a user's collection SQL recorded as deleted."""
        ids = set(memory_ids)
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(deletions_table.c.memory_id).where(
                    deletions_table.c.key == self.collection_key(collection)
                )
            ).scalars()
            named = set(rows)
        if None in named:
            return ids
        return ids & {memory_id for memory_id in named if memory_id is not None}

    def forget_deletions(self, collection: str, memory_ids: Sequence[str] | None) -> None:
        """The vector index removed these (None: the whole collection): drop their proof."""
        key = self.collection_key(collection)
        statement = deletions_table.delete().where(deletions_table.c.key == key)
        if memory_ids is not None:
            statement = statement.where(deletions_table.c.memory_id.in_(list(memory_ids)))
        with self._engine.begin() as conn:
            conn.execute(statement)

    def erase_journal(self) -> bool:
        """Empty SQLite's write-ahead log, which still holds deleted rows; True if it did.

        Deleted rows are overwritten in the database file (``secure_delete``), but the
        log keeps the pages as they were until a checkpoint copies them back and it is
        truncated. Other processes may hold the store open; the log can only be emptied
        while none of them is in the middle of a read, so this waits for that briefly
        (the busy timeout). PostgreSQL manages its own files: nothing to do.
        """
        if self._engine.dialect.name != "sqlite":
            return True
        with self._engine.connect() as conn:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        return not busy

    def store_embeddings(
        self, user_id: str, embeddings: Mapping[str, tuple[int, bytes]], now: datetime
    ) -> dict[str, int]:
        """Save vectors computed after the write (repair); returns the new revisions.

        ``embeddings`` maps a memory id to the revision its vector was computed for and
        the vector. A memory changed since then is left alone: its newer write brings
        its own vector. The new revisions tell other processes to load the vectors.
        """
        if not embeddings:
            return {}
        stored: dict[str, int] = {}
        with self._engine.begin() as conn:
            version = self._bump_version(conn, user_id, now)
            for memory_id, (revision, blob) in embeddings.items():
                result = conn.execute(
                    memories_table.update()
                    .where(
                        memories_table.c.user_id == user_id,
                        memories_table.c.id == memory_id,
                        memories_table.c.revision == revision,
                    )
                    .values(embedding=blob, revision=version)
                )
                if result.rowcount:
                    stored[memory_id] = version
        return stored

    def change_validity(
        self, user_id: str, changes: Sequence[ValidityChange], now: datetime
    ) -> tuple[int, builtins.list[str]] | None:
        """Supersede, restore or reinforce existing memories in one transaction.

        Returns the new version and the ids changed; None if none of them exists.
        """
        self._check_writable()
        with self._engine.begin() as conn:
            ids = [change.memory_id for change in changes]
            found = conn.execute(
                sa.select(memories_table.c.id).where(
                    memories_table.c.user_id == user_id, memories_table.c.id.in_(ids)
                )
            ).first()
            if found is None:
                return None
            version = self._bump_version(conn, user_id, now)
            return version, apply_changes(conn, user_id, version, changes)

    def mark_vector_indexed(self, user_id: str, revisions: Mapping[str, int]) -> None:
        """Record that the vector index holds these memories at these revisions."""
        if not revisions:
            return
        with self._engine.begin() as conn:
            for revision in set(revisions.values()):
                ids = [memory_id for memory_id, rev in revisions.items() if rev == revision]
                conn.execute(
                    memories_table.update()
                    .where(
                        memories_table.c.user_id == user_id,
                        memories_table.c.id.in_(ids),
                        # A newer write since then must be indexed again.
                        memories_table.c.revision == revision,
                    )
                    .values(vector_indexed=True)
                )

    def vectors_kept_sealed(self, user_id: str, memory_ids: Sequence[str]) -> set[str]:
        """Which of these memories keep their vector sealed, out of every vector index.

        Empty unless the store seals vectors (``seal_vectors``): then the memories stored
        sealed, whose vector only the exact search reads, decrypted.
        """
        if self.cipher is None or not self.cipher.seal_vectors or not memory_ids:
            return set()
        found: set[str] = set()
        with self._engine.connect() as conn:
            for start in range(0, len(memory_ids), 500):
                found.update(
                    conn.execute(
                        sa.select(memories_table.c.id).where(
                            memories_table.c.user_id == user_id,
                            memories_table.c.id.in_(memory_ids[start : start + 500]),
                            memories_table.c.sealed.isnot(None),
                        )
                    ).scalars()
                )
        return found

    def record_access(self, accesses: Mapping[tuple[str, str], tuple[int, datetime]]) -> None:
        """Add retrieval counts and move ``last_accessed`` forward, in one transaction.

        ``accesses`` maps ``(user_id, memory_id)`` to how many retrievals and the latest.
        """
        if not accesses:
            return
        latest = sa.bindparam("latest", type_=UTCDateTime)
        statement = (
            memories_table.update()
            .where(
                memories_table.c.user_id == sa.bindparam("owner"),
                memories_table.c.id == sa.bindparam("memory"),
            )
            .values(
                access_count=memories_table.c.access_count + sa.bindparam("count"),
                last_accessed=sa.case(
                    (
                        sa.or_(
                            memories_table.c.last_accessed.is_(None),
                            memories_table.c.last_accessed < latest,
                        ),
                        latest,
                    ),
                    else_=memories_table.c.last_accessed,
                ),
            )
        )
        with self._engine.begin() as conn:
            conn.execute(
                statement,
                [
                    {"owner": owner, "memory": memory, "count": count, "latest": when}
                    # In key order: processes flushing at once lock rows in the same
                    # order, so they wait for each other instead of deadlocking.
                    for (owner, memory), (count, when) in sorted(accesses.items())
                ],
            )

    def audit(self, action: str, user_id: str, detail: Mapping[str, Any], now: datetime) -> None:
        """Record an action on a user in the audit log (a keyed hash, never the id)."""
        with self._engine.begin() as conn:
            self._audit(conn, action, user_id, detail, now)

    def _audit(
        self,
        conn: Connection,
        action: str,
        user_id: str,
        detail: Mapping[str, Any],
        now: datetime,
    ) -> None:
        # Keyed with the store's secret: an unsalted hash would let anyone holding the
        # log confirm a guessed user id, e.g. an email address, of a deleted user.
        keyed = hmac.new(self._salt(conn).encode(), user_id.encode("utf-8"), hashlib.sha256)
        conn.execute(
            audit_table.insert().values(
                at=now, action=action, user_hash=keyed.hexdigest(), detail=dict(detail)
            )
        )

    def setting(self, key: str) -> str | None:
        """A store-wide setting (see ``settings_table``), or None if never set."""
        with self._engine.connect() as conn:
            return conn.execute(
                sa.select(settings_table.c.value).where(settings_table.c.key == key)
            ).scalar_one_or_none()

    def replace_setting(self, key: str, value: str) -> None:
        """Set a store-wide setting, replacing what it held (e.g. after a key rotation)."""
        with self._engine.begin() as conn:
            conn.execute(
                upsert(conn, settings_table)
                .values(key=key, value=value)
                .on_conflict_do_update(index_elements=["key"], set_={"value": value})
            )

    def setting_once(self, key: str, value: str) -> str:
        """Set a store-wide setting unless another process did first; returns the one kept."""
        with self._engine.begin() as conn:
            conn.execute(
                upsert(conn, settings_table)
                .values(key=key, value=value)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            return str(
                conn.execute(
                    sa.select(settings_table.c.value).where(settings_table.c.key == key)
                ).scalar_one()
            )

    def _salt(self, conn: Connection) -> str:
        """The store's secret for audit hashes, made by the first process that needs it."""
        if self._audit_salt is None:
            conn.execute(
                upsert(conn, settings_table)
                .values(key="audit_salt", value=secrets.token_hex(32))
                .on_conflict_do_nothing(index_elements=["key"])
            )
            self._audit_salt = str(
                conn.execute(
                    sa.select(settings_table.c.value).where(settings_table.c.key == "audit_salt")
                ).scalar_one()
            )
        return self._audit_salt

    # -- reads --------------------------------------------------------------------

    def filter_clauses(
        self, user_id: str, where: MemoryFilter
    ) -> builtins.list[sa.ColumnElement[bool]]:
        """The WHERE clauses on ``ms_memories`` for one user's memories matching ``where``."""
        return self._filtered(user_id, where)

    def _filtered(self, user_id: str, where: MemoryFilter) -> builtins.list[sa.ColumnElement[bool]]:
        clauses: builtins.list[sa.ColumnElement[bool]] = [memories_table.c.user_id == user_id]
        if where.kinds is not None:
            clauses.append(memories_table.c.kind.in_(list(where.kinds)))
        if where.conversation_id is not None:
            clauses.append(memories_table.c.conversation_id == where.conversation_id)
        if where.scope is not None:
            # The scope itself or one nested in it; substr, unlike LIKE, is
            # case-sensitive and has no wildcards on every backend.
            nested = where.scope + "/"
            clauses.append(
                sa.or_(
                    memories_table.c.scope == where.scope,
                    sa.func.substr(memories_table.c.scope, 1, len(nested)) == nested,
                )
            )
        if where.since is not None:
            clauses.append(memories_table.c.created_at >= where.since)
        if where.until is not None:
            clauses.append(memories_table.c.created_at < where.until)
        clauses.extend(validity_clauses(where))
        if self.cipher is not None and self.cipher.locked:
            clauses.append(memories_table.c.sealed.is_(None))  # unreadable without the key
        if where.sensitivity is not None:
            clauses.append(memories_table.c.sensitivity.in_(list(where.sensitivity)))
        dialect = self._engine.dialect.name
        clauses.extend(
            metadata_clause(dialect, memories_table.c.metadata, condition)
            for condition in where.metadata
        )
        return clauses

    def get_many(self, user_id: str, memory_ids: Iterable[str]) -> dict[str, Memory]:
        """The user's memories with these ids (a search's hits: a direct read)."""
        ids = list(memory_ids)
        if not ids:
            return {}
        found: dict[str, Memory] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = GET_MANY_SQL.format(markers=", ".join("?" * len(chunk)))
            for row in open_memory_rows(self.cipher, self._direct(sql, (user_id, *chunk))):
                memory = memory_from_row(row)
                found[memory.id] = memory
        return found

    def list(
        self,
        user_id: str,
        where: MemoryFilter,
        *,
        limit: int | None,
        offset: int,
        newest_first: bool,
        order_by: str = "created_at",
    ) -> builtins.list[Memory]:
        column = memories_table.c[order_by]
        order = column.desc() if newest_first else column
        statement = (
            sa.select(*MEMORY_COLUMNS)
            .where(*self._filtered(user_id, where))
            .order_by(order, memories_table.c.id)
            .offset(offset)
        )
        if limit is not None:
            statement = statement.limit(limit)
        with self._engine.connect() as conn:
            rows = open_memory_rows(self.cipher, conn.execute(statement).all())
        return [memory_from_row(row) for row in rows]

    def count(self, user_id: str, where: MemoryFilter | None = None) -> int:
        if where is None:  # the indexes' question before a load: a direct read
            return int(self._direct(COUNT_SQL, (user_id,))[0][0])
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(memories_table)
                    .where(*self._filtered(user_id, where or MemoryFilter()))
                ).scalar_one()
            )

    def matching_ids(
        self, user_id: str, where: MemoryFilter, memory_ids: Iterable[str]
    ) -> set[str]:
        """Which of the user's memories with these ids the filter lets through."""
        ids = builtins.list(memory_ids)
        if (
            not where.metadata
            and where.since is None
            and where.until is None
            and where.as_of is None
            and where.sensitivity is None
        ):
            return self._matching_ids_direct(user_id, where, ids)
        clauses = self._filtered(user_id, dataclasses.replace(where, kinds=None))
        if where.kinds is not None:
            # `kind || ''` keeps SQLite from reading the kind index for all the user's
            # memories of the kind: the few ids are found by the key, then tested.
            clauses.append(memories_table.c.kind.concat("").in_(builtins.list(where.kinds)))
        found: set[str] = set()
        with self._engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                statement = sa.select(memories_table.c.id).where(
                    *clauses, memories_table.c.id.in_(chunk)
                )
                found.update(conn.execute(statement).scalars())
        return found

    def _matching_ids_direct(
        self, user_id: str, where: MemoryFilter, ids: builtins.list[str]
    ) -> set[str]:
        """:meth:`matching_ids` for column conditions only, on the driver directly.

        Every filtered search makes this read; building it through SQLAlchemy cost
        several times the query (as for ``get_many``).
        """
        conditions = ""
        parameters: builtins.list[Any] = []
        if where.kinds is not None:
            # `kind || ''`: the few ids are found by the key, then tested (see above).
            conditions += f" AND kind || '' IN ({', '.join('?' * len(where.kinds))})"
            parameters.extend(where.kinds)
        if where.conversation_id is not None:
            conditions += " AND conversation_id = ?"
            parameters.append(where.conversation_id)
        if where.scope is not None:
            nested = where.scope + "/"
            conditions += " AND (scope = ? OR substr(scope, 1, ?) = ?)"
            parameters.extend([where.scope, len(nested), nested])
        if not where.include_superseded:
            conditions += " AND superseded_at IS NULL"  # as validity_clauses() says
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = (
                "SELECT id FROM ms_memories WHERE user_id = ? "
                f"AND id IN ({', '.join('?' * len(chunk))}){conditions}"
            )
            found.update(row[0] for row in self._direct(sql, (user_id, *chunk, *parameters)))
        return found

    def filtered_ids(self, user_id: str, where: MemoryFilter) -> set[str]:
        with self._engine.connect() as conn:
            return set(
                conn.execute(
                    sa.select(memories_table.c.id).where(*self._filtered(user_id, where))
                ).scalars()
            )

    def index_rows(
        self,
        user_id: str,
        memory_ids: Iterable[str] | None = None,
        *,
        with_embeddings: bool = False,
    ) -> builtins.list[IndexRow]:
        """All of a user's memories (or the given ones) as the indexes need them."""
        rows = self._index_read(user_id, memory_ids, with_embeddings)
        return [index_row_from_driver(row) for row in rows]

    def index_columns(self, user_id: str, *, with_embeddings: bool) -> IndexColumns:
        """All of a user's memories as loading the indexes needs them, column by column.

        A search of a user whose indexes are not held waits for this read, so it runs
        on the driver directly and decodes in bulk.
        """
        rows = self._index_read(user_id, None, with_embeddings)
        return index_columns_from_driver(rows, with_embeddings)

    def _index_read(
        self, user_id: str, memory_ids: Iterable[str] | None, with_embeddings: bool
    ) -> builtins.list[Any]:
        if memory_ids is None:
            every = self._direct(index_rows_sql(with_embeddings=with_embeddings), (user_id,))
            return open_index_rows(self.cipher, user_id, every)
        ids = builtins.list(memory_ids)
        rows: builtins.list[Any] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = index_rows_sql(with_embeddings=with_embeddings, ids=len(chunk))
            rows.extend(self._direct(sql, (user_id, *chunk)))
        if len(ids) > 500:
            rows.sort(key=lambda row: (row[5], row[0]))  # (revision, id) over the chunks
        return open_index_rows(self.cipher, user_id, rows)

    def rows_without_terms(self, limit: int) -> builtins.list[tuple[str, str, int, str]]:
        """Up to ``limit`` memories stored before terms were: (user, id, revision, content)."""
        return self._plain_rows_without(memories_table.c.terms, limit)

    def _plain_rows_without(
        self, column: sa.Column[Any], limit: int
    ) -> builtins.list[tuple[str, str, int, str]]:
        """Up to ``limit`` unsealed memories where ``column`` is NULL: (user, id, revision,
        content). A sealed memory is left out: what derives from its words would be them
        in plaintext, and its sealed value holds its own."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    memories_table.c.user_id,
                    memories_table.c.id,
                    memories_table.c.revision,
                    memories_table.c.content,
                )
                .where(column.is_(None), memories_table.c.sealed.is_(None))
                .limit(limit)
            )
            return [(row[0], row[1], int(row[2]), row[3]) for row in rows]

    def store_terms(self, rows: Sequence[tuple[str, str, int, str]]) -> int:
        """Save terms computed after the write: (user, id, revision, terms); returns how many.

        A memory changed since its revision was read is left alone (its write stored its
        own terms). Terms derive from the content, so neither the memory's revision nor
        the user's version changes: no index has anything to catch up with.
        """
        if not rows:
            return 0
        statement = (
            memories_table.update()
            .where(
                memories_table.c.user_id == sa.bindparam("owner"),
                memories_table.c.id == sa.bindparam("memory"),
                memories_table.c.revision == sa.bindparam("seen"),
                memories_table.c.terms.is_(None),
            )
            .values(terms=sa.bindparam("new_terms"))
        )
        stored = 0
        with self._engine.begin() as conn:
            for owner, memory, revision, terms in rows:  # one by one: rowcount is exact
                parameters = {"owner": owner, "memory": memory, "seen": revision}
                stored += conn.execute(statement, {**parameters, "new_terms": terms}).rowcount
        return stored

    def rows_without_slot_keys(self, limit: int) -> builtins.list[tuple[str, str, int, str]]:
        """Up to ``limit`` memories whose slot keys were never computed (NULL):
        (user, id, revision, content)."""
        return self._plain_rows_without(memories_table.c.slot_keys, limit)

    def store_slot_keys(self, rows: Sequence[tuple[str, str, int, str]], now: datetime) -> int:
        """Save slot keys computed after the write: (user, id, revision, keys); how many.

        A memory changed since its revision was read is left alone. A memory given keys
        other than ``";"`` (it fills a slot) gets a new revision and its user a new
        version, so that every process's index of the user learns its slots.
        """
        if not rows:
            return 0
        columns = memories_table.c
        statement = (
            memories_table.update()
            .where(
                columns.user_id == sa.bindparam("owner"),
                columns.id == sa.bindparam("memory"),
                columns.revision == sa.bindparam("seen"),
                columns.slot_keys.is_(None),
            )
            .values(slot_keys=sa.bindparam("keys"))
        )
        stored = 0
        with self._engine.begin() as conn:
            versions: dict[str, int] = {}
            for owner, memory, revision, keys in rows:  # one by one: rowcount is exact
                parameters = {"owner": owner, "memory": memory, "seen": revision, "keys": keys}
                done = conn.execute(statement, parameters).rowcount
                stored += done
                if done and keys != ";":
                    if owner not in versions:
                        versions[owner] = self._bump_version(conn, owner, now)
                    conn.execute(
                        memories_table.update()
                        .where(columns.user_id == owner, columns.id == memory)
                        .values(revision=versions[owner])
                    )
        return stored

    def revisions(self, user_id: str) -> tuple[int | None, dict[str, int]]:
        """The user's version and every memory's revision, read consistently."""
        with self._engine.begin() as conn:
            version = conn.execute(
                sa.select(users_table.c.version).where(users_table.c.user_id == user_id)
            ).scalar_one_or_none()
            rows = conn.execute(
                sa.select(memories_table.c.id, memories_table.c.revision).where(
                    memories_table.c.user_id == user_id
                )
            )
            return (None if version is None else int(version)), {
                row.id: int(row.revision) for row in rows
            }

    def pending_vectors(self, batch_size: int) -> Iterator[tuple[str, builtins.list[IndexRow]]]:
        """Memories not (or no longer) in the vector index, grouped by user, in batches."""
        with self._engine.connect() as conn:
            pending_users = list(
                conn.execute(
                    sa.select(memories_table.c.user_id)
                    .where(memories_table.c.vector_indexed.is_(False))
                    .distinct()
                ).scalars()
            )
        for user_id in pending_users:
            with self._engine.connect() as conn:
                rows = [
                    row
                    for row in (
                        self._opened_index_row(user_id, found)
                        for found in conn.execute(
                            sa.select(
                                *INDEX_COLUMNS, memories_table.c.sealed, memories_table.c.embedding
                            ).where(
                                memories_table.c.user_id == user_id,
                                memories_table.c.vector_indexed.is_(False),
                            )
                        )
                    )
                    if row is not None
                ]
            for start in range(0, len(rows), batch_size):
                yield user_id, rows[start : start + batch_size]

    def _opened_index_row(self, user_id: str, row: Any) -> IndexRow | None:
        """An IndexRow of a memory to index; None for a sealed one without key or vector."""
        found = index_row_from_row(row)
        if row.sealed is None:
            return found
        fields = (
            None
            if self.cipher is None
            else self.cipher.try_open(user_id, "ms_memories", row.id, row.sealed)
        )
        if fields is None:
            # Without the key, a stored vector can still be indexed; content cannot be
            # embedded. It waits for an engine opened with the key.
            return None if found.embedding is None else dataclasses.replace(found, content="")
        if "embedding" in fields:
            found = dataclasses.replace(found, embedding=sealed_vector(fields))
        return dataclasses.replace(
            found, content=fields.get("content", ""), slot_keys=fields.get("slot_keys")
        )

    def existing_ids(self, memory_ids: Iterable[str]) -> set[str]:
        """Which of these ids are stored, for any user (repair's orphan sweep)."""
        ids = list(memory_ids)
        found: set[str] = set()
        with self._engine.connect() as conn:
            for start in range(0, len(ids), 500):
                found.update(
                    conn.execute(
                        sa.select(memories_table.c.id).where(
                            memories_table.c.id.in_(ids[start : start + 500])
                        )
                    ).scalars()
                )
        return found

    def audit_log(self) -> builtins.list[dict[str, Any]]:
        with self._engine.connect() as conn:
            return [
                {
                    "at": row.at,
                    "action": row.action,
                    "user_hash": row.user_hash,
                    "detail": row.detail,
                }
                for row in conn.execute(sa.select(audit_table).order_by(audit_table.c.id))
            ]

    def stats(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            users = conn.execute(sa.select(sa.func.count()).select_from(users_table)).scalar_one()
            memories = conn.execute(
                sa.select(sa.func.count()).select_from(memories_table)
            ).scalar_one()
            pending = conn.execute(
                sa.select(sa.func.count())
                .select_from(memories_table)
                .where(memories_table.c.vector_indexed.is_(False))
            ).scalar_one()
        return {"users": int(users), "memories": int(memories), "pending_vectors": int(pending)}
