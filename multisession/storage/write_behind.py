"""What is written after SQL commits: vectors and access counts, in batches, and repair.

SQL is the source of truth and commits first; the vector index and the access counts
follow behind it, batched, because writing them one at a time would cost more than the
work that causes them:

* Embedded Chroma spends about the same time on an upsert of one vector as of a hundred
  (~13 ms on 2 cores), so the vectors of small writes wait in a buffer and are flushed
  together. Until then a search finds them there, exactly, so a process always finds
  what it just wrote. SQL marks buffered memories as not yet vector-indexed: if the
  process dies, reopening the store re-indexes them.
* A search that wrote ``last_accessed`` and ``access_count`` to SQL at once would pay a
  write transaction on every query, about as much as the whole search costs otherwise.
  Retrievals are counted in memory instead and written in one statement at most a flush
  interval later, before any read that returns them, and on close. Search results
  already show the counts including their own retrieval.

One timer flushes both. Repair belongs here too: it writes what a failed or killed
write left out of the vector index, from the vectors SQL keeps next to each memory.

A Chroma index holds only the users above the exact-search limit (see
:mod:`.indexed_users`), each in a collection of their own: a smaller user's write is
marked indexed in SQL and goes no further, since their searches read the vectors from
SQL. The write that takes a user past the limit copies all of that user's vectors from
SQL into their new collection.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt

from ..embeddings.base import Embedder
from ..records import IndexRow, Memory
from .indexed_users import MEMBER_LAYOUT, SHARED_LAYOUT, IndexedUsers
from .schema import from_bytes, to_bytes
from .sql_store import SQLStore
from .vector_index import VectorIndex
from .vectors import ChromaVectorIndex, collection_name

__all__ = ["AccessLog", "Pending", "RepairReport", "VectorBuffer", "WriteBehind"]

logger = logging.getLogger("multisession")

#: Most vectors sent to the vector index, or read from SQL, in one call.
VECTOR_BATCH = 512

AccessKey = tuple[str, str]


@dataclass(frozen=True)
class RepairReport:
    """What :meth:`MemoryEngine.repair` did."""

    reindexed: int
    orphans_removed: int
    #: Vectors without a memory in SQL and without a recorded deletion: kept, since
    #: SQL may have lost their memory (a damaged file) rather than deleted it.
    orphans_kept: int = 0


@dataclass(frozen=True)
class Pending:
    """A vector written to SQL and waiting for the vector index."""

    row: IndexRow
    vector: npt.NDArray[np.float32]


class VectorBuffer:
    """Pending vectors per user; thread-safe."""

    def __init__(self) -> None:
        self._pending: dict[str, dict[str, Pending]] = {}
        self._oldest: float | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._pending.values())

    def age(self) -> float:
        """Seconds since the oldest pending vector was added (0 when empty)."""
        with self._lock:
            return 0.0 if self._oldest is None else time.monotonic() - self._oldest

    def add(self, user_id: str, rows: list[IndexRow], vectors: npt.NDArray[np.float32]) -> None:
        with self._lock:
            entries = self._pending.setdefault(user_id, {})
            for row, vector in zip(rows, vectors, strict=True):
                entries[row.id] = Pending(row, np.asarray(vector, dtype=np.float32))
            if self._oldest is None:
                self._oldest = time.monotonic()

    def discard(self, user_id: str, memory_ids: list[str]) -> None:
        with self._lock:
            entries = self._pending.get(user_id, {})
            for memory_id in memory_ids:
                entries.pop(memory_id, None)

    def drop_user(self, user_id: str) -> None:
        with self._lock:
            self._pending.pop(user_id, None)

    def take(self) -> dict[str, list[Pending]]:
        """Remove and return everything pending, per user."""
        with self._lock:
            taken = {user: list(entries.values()) for user, entries in self._pending.items()}
            self._pending = {}
            self._oldest = None
        return {user: entries for user, entries in taken.items() if entries}

    def restore(self, taken: dict[str, list[Pending]]) -> None:
        """Put back what a failed flush took, unless newer writes replaced it."""
        with self._lock:
            for user_id, entries in taken.items():
                current = self._pending.setdefault(user_id, {})
                for entry in entries:
                    current.setdefault(entry.row.id, entry)
            if self._oldest is None and any(self._pending.values()):
                self._oldest = time.monotonic()

    def pending(self, user_id: str, allowed: Collection[str] | None = None) -> list[Pending]:
        """The user's pending vectors; ``allowed`` keeps only those ids (a filter's result)."""
        with self._lock:
            return [
                entry
                for entry in self._pending.get(user_id, {}).values()
                if allowed is None or entry.row.id in allowed
            ]


class AccessLog:
    """Pending ``(count, latest time)`` per ``(user_id, memory_id)``; thread-safe."""

    def __init__(self) -> None:
        self._pending: dict[AccessKey, tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def record(
        self, user_id: str, memory_ids: Iterable[str], now: datetime
    ) -> dict[str, tuple[int, datetime]]:
        """Count one retrieval of each memory; returns what is pending for each."""
        recorded: dict[str, tuple[int, datetime]] = {}
        with self._lock:
            for memory_id in memory_ids:
                count, latest = self._pending.get((user_id, memory_id), (0, now))
                entry = (count + 1, max(latest, now))
                self._pending[(user_id, memory_id)] = entry
                recorded[memory_id] = entry
        return recorded

    def has_user(self, user_id: str) -> bool:
        with self._lock:
            return any(key[0] == user_id for key in self._pending)

    def drop_user(self, user_id: str) -> None:
        with self._lock:
            for key in [key for key in self._pending if key[0] == user_id]:
                del self._pending[key]

    def take(self) -> dict[AccessKey, tuple[int, datetime]]:
        with self._lock:
            taken, self._pending = self._pending, {}
        return taken

    def restore(self, taken: Mapping[AccessKey, tuple[int, datetime]]) -> None:
        """Put back what a failed write took, merged with what came meanwhile."""
        with self._lock:
            for key, (count, latest) in taken.items():
                newer_count, newer_latest = self._pending.get(key, (0, latest))
                self._pending[key] = (count + newer_count, max(latest, newer_latest))


class WriteBehind:
    """The vector index and the access counts, kept behind SQL; thread-safe.

    Example:
        >>> from collections import Counter
        >>> from datetime import datetime, timezone
        >>> from multisession.storage.sql_store import SQLStore
        >>> store = SQLStore("sqlite://")
        >>> clock = lambda: datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> writes = WriteBehind(store, None, None, clock, 64, 1.0, Counter())
        >>> writes.buffered_vectors, writes.pending_accesses
        (0, 0)
        >>> writes.close(); store.close()

    A failure of the vector index or of the embedder never fails the write that SQL
    acknowledged: it is counted in ``events``, logged, and left for a later flush or
    :meth:`repair`.

    Args:
        store: The SQL store, which marks what the vector index holds.
        vectors: The vector index, or None for keyword-only search (then only access
            counts are written behind).
        embedder: Embeds what SQL holds no vector for yet; None for keyword-only.
        clock: Returns the current time (timezone-aware UTC).
        flush_size: Writes of fewer memories than this buffer their vectors, flushed
            once this many are pending; larger writes go straight to the index.
        flush_seconds: Flush at the latest this long after the first buffered write
            or counted retrieval.
        events: Where failures are counted (the engine's ``events``).
        exact_limit: Users with more memories than this join a Chroma index; the others'
            vectors stay in SQL alone. 0 sends every user's vectors there. An index in
            SQL (pgvector) holds every user's anyway.
    """

    def __init__(
        self,
        store: SQLStore,
        vectors: VectorIndex | None,
        embedder: Embedder | None,
        clock: Callable[[], datetime],
        flush_size: int,
        flush_seconds: float,
        events: Counter[str],
        exact_limit: int = 0,
    ) -> None:
        self._store = store
        self._vectors = vectors
        self._exact_limit = exact_limit
        #: Who the vector index holds, when it holds only some users (Chroma).
        self.members: IndexedUsers | None = None
        if vectors is not None and not vectors.in_sql:
            self.members = IndexedUsers(store)
            if isinstance(vectors, ChromaVectorIndex):
                vectors.key_owners_with(self.members.owner)
        self._embedder = embedder
        self._clock = clock
        self._flush_size = flush_size
        self._flush_seconds = flush_seconds
        self.events = events
        self._buffer = VectorBuffer()
        self._access = AccessLog()
        # One vector write at a time (the timer's flush and a writer's): an older
        # vector of a memory must never reach the index after a newer one.
        self._vector_writes = threading.RLock()
        self._flush_timer: threading.Timer | None = None

    @property
    def dimension(self) -> int | None:
        """The embedder's dimension, or None for keyword-only search."""
        return self._embedder.dimension if self._embedder is not None else None

    @property
    def buffered_vectors(self) -> int:
        """How many vectors wait for the next flush."""
        return len(self._buffer)

    @property
    def pending_accesses(self) -> int:
        """How many memories have retrievals counted but not yet written to SQL."""
        return len(self._access)

    def close(self) -> None:
        """Stop the timer and write everything pending."""
        timer, self._flush_timer = self._flush_timer, None
        if timer is not None:
            timer.cancel()
        self.flush_vectors()
        self.flush_access()

    # -- vectors -----------------------------------------------------------------------

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32] | None:
        """Vectors for new content, or None (the rows then wait for repair())."""
        if self._embedder is None:
            return None
        try:
            return self._embedder.embed(texts)
        except Exception:
            self.events["embedding_failed"] += 1
            logger.warning(
                "embedding failed; the memories are stored and searchable by keyword, "
                "and repair() adds their vectors later",
                exc_info=True,
            )
            return None

    def write(
        self,
        user_id: str,
        rows: Sequence[IndexRow],
        vectors: npt.NDArray[np.float32] | None,
    ) -> None:
        """Index new vectors: small writes go to the buffer, large ones straight in."""
        if self._vectors is None or self._vectors.in_sql or vectors is None or not rows:
            return  # none, or written with the rows
        rows, kept = self._leave_sealed(user_id, rows)
        if kept:
            vectors = vectors[kept]
        if not rows:
            return
        try:
            if not self._route(user_id, rows):
                return
        except Exception:
            self.events["vector_write_failed"] += 1
            logger.warning(
                "the vector index could not be written; the memories are stored and "
                "searchable by keyword, and repair() indexes them later",
                exc_info=True,
            )
            return
        if len(rows) < self._flush_size:
            self._buffer.add(user_id, list(rows), vectors)
            if len(self._buffer) >= self._flush_size or self._buffer.age() >= self._flush_seconds:
                self.flush_vectors()
            else:
                # The timer's thread must not be the one to import and open embedded
                # Chroma: two threads importing large packages at once (chromadb there,
                # an HTTP client here) can leave a shared module half-initialised.
                self._vectors.open_here()
                self._schedule_flush()
            return
        try:
            with self._vector_writes:
                self._upsert(user_id, rows, vectors)
        except Exception:
            self.events["vector_write_failed"] += 1
            logger.warning(
                "the vector index could not be written; the memories are stored and "
                "searchable by keyword, and repair() indexes them later",
                exc_info=True,
            )

    def _leave_sealed(
        self, user_id: str, rows: Sequence[IndexRow]
    ) -> tuple[list[IndexRow], list[int]]:
        """The rows whose vectors may go to the vector index, and their positions.

        With ``seal_vectors``, a sealed memory's vector stays sealed in SQL: its row is
        marked indexed (nothing is left to do for it) and left out. The positions are
        empty when every row may go.
        """
        sealed = self._store.vectors_kept_sealed(user_id, [row.id for row in rows])
        if not sealed:
            return list(rows), []
        self._store.mark_vector_indexed(
            user_id, {row.id: row.revision for row in rows if row.id in sealed}
        )
        kept = [position for position, row in enumerate(rows) if row.id not in sealed]
        return [rows[position] for position in kept], kept

    def searched_from_sql(self, user_id: str, new: int) -> bool:
        """Whether ``new`` more memories of the user stay out of the vector index: the
        user is not in it and stays within the exact-search limit. Such rows are written
        already marked indexed (their vectors are in SQL, where their searches read
        them), which spares each write a second SQL transaction to mark them."""
        if self._vectors is None or self._vectors.in_sql or self.members is None:
            return False
        if self.members.holds(user_id):
            return False
        return self._store.count(user_id) + new <= self._exact_limit

    def holds_user(self, user_id: str) -> bool:
        """Whether the vector index holds the user's vectors (else only SQL does)."""
        if self._vectors is None:
            return False
        return self.members is None or self.members.holds(user_id)

    def _route(self, user_id: str, rows: Sequence[IndexRow]) -> bool:
        """Whether these new rows still have to be written to the vector index.

        A user the index holds: yes. A user this write took past the exact-search
        limit joins it now (their earlier memories copied from SQL), and these rows
        follow as any member's do. Anyone else: the rows are marked indexed in SQL,
        which is where their searches read vectors from.
        """
        if self.members is None or self.members.holds(user_id):
            return True
        if self._store.count(user_id) > self._exact_limit:
            self._join(user_id, leave={row.id for row in rows})
            return True
        self._store.mark_vector_indexed(
            user_id, {row.id: row.revision for row in rows if row.embedding is not None}
        )
        return False

    def _join(self, user_id: str, leave: Collection[str] = ()) -> int:
        """Bring a user into the vector index: every vector of theirs, from SQL.

        Crash-safe in this order: the user's memories are first marked as not indexed,
        then the user is recorded as a member, then the vectors are written and marked.
        A process killed anywhere in between leaves what the next open re-indexes.
        ``leave`` names memories the caller writes itself. Returns how many memories
        were indexed.
        """
        assert self.members is not None
        with self._vector_writes:
            self.members.unmark(user_id)
            self.members.add(user_id)
            _, revisions = self._store.revisions(user_id)
            ids = sorted(set(revisions) - set(leave))
            count = 0
            for start in range(0, len(ids), VECTOR_BATCH):
                rows = self._store.index_rows(
                    user_id, ids[start : start + VECTOR_BATCH], with_embeddings=True
                )
                count += self._index_vectors_of(user_id, rows)
        logger.info("a user passed the exact-search limit: %d vectors indexed", count)
        return count

    def upgrade_layout(self) -> int:
        """Move a store's vectors from an earlier layout to a collection per member.

        Stores written before kept one Chroma collection per user, or one collection
        shared by every user above the exact-search limit. Every vector is in SQL as
        well, so the old collections are dropped (and their bytes removed) and the
        users above the limit are indexed again from SQL (by :meth:`reindex_pending`,
        which the engine runs on open, or :meth:`repair`). Crash-safe: the memories
        are marked as not indexed before any collection is dropped, and the new layout
        is recorded last, so an interrupted upgrade runs again on the next open.
        Returns how many collections were dropped.
        """
        if self.members is None or not isinstance(self._vectors, ChromaVectorIndex):
            return 0
        layout = self.members.layout()
        if layout == MEMBER_LAYOUT:
            return 0
        legacy = self._vectors.legacy_collections()
        if legacy:
            if layout == SHARED_LAYOUT:
                # Only members had vectors in the shared collection.
                for user_id in self.members.users():
                    self.members.unmark(user_id)
            else:
                self.members.unmark(None)
            for name in legacy:
                self._vectors.drop_legacy(name)
            logger.info(
                "moved the vector index to a collection per user above the exact-search "
                "limit (%d earlier collections dropped; vectors are indexed again from SQL)",
                len(legacy),
            )
        # Also after an upgrade killed between dropping and compacting.
        self._vectors.compact()
        self.members.set_layout()
        return len(legacy)

    def pending(self, user_id: str, allowed: Collection[str] | None = None) -> list[Pending]:
        """The user's buffered vectors, which a search must see until they are flushed.

        ``allowed`` keeps only those ids (the result of a search's filters).
        """
        return self._buffer.pending(user_id, allowed)

    def flush_vectors(self) -> int:
        """Write buffered vectors to the vector index now; returns how many were written.

        If the vector index is unreachable they stay buffered (and marked in SQL as not
        yet indexed), and a later flush or :meth:`repair` writes them.
        """
        written = 0
        with self._vector_writes:
            taken = self._buffer.take()
            for user_id, entries in taken.items():
                try:
                    self._upsert(
                        user_id,
                        [entry.row for entry in entries],
                        np.stack([entry.vector for entry in entries]),
                    )
                    written += len(entries)
                except Exception:
                    self.events["vector_write_failed"] += 1
                    self._buffer.restore({user_id: entries})
                    logger.warning(
                        "the vector index could not be written; %d memories stay buffered "
                        "and searchable, and are written by a later flush or repair()",
                        len(entries),
                        exc_info=True,
                    )
        return written

    def delete(self, user_id: str, memory_id: str) -> None:
        """Remove a deleted memory's vector, buffered or indexed."""
        with self._vector_writes:  # not while a flush may still write it
            self._buffer.discard(user_id, [memory_id])
            if self._vectors is not None:
                try:
                    if self.holds_user(user_id):
                        self._vectors.delete(user_id, [memory_id])
                    self._store.forget_deletions(collection_name(user_id), [memory_id])
                except Exception:
                    self.events["vector_delete_failed"] += 1
                    logger.warning(
                        "memory %s was deleted, but its vector could not be removed now; "
                        "repair() removes it (it is never returned meanwhile)",
                        memory_id,
                        exc_info=True,
                    )

    def drop_user(self, user_id: str) -> None:
        """Forget a deleted user's pending counts and vectors, buffered or indexed."""
        self._access.drop_user(user_id)
        with self._vector_writes:  # not while a flush may still write theirs
            self._buffer.drop_user(user_id)
            if self._vectors is not None:
                try:
                    held = self.holds_user(user_id)
                    if held:
                        self._vectors.drop_user(user_id)
                    self._store.forget_deletions(collection_name(user_id), None)
                    if self.members is not None:
                        self.members.remove(user_id)
                    if held:
                        # Chroma keeps a deleted collection's bytes in its files.
                        self._vectors.compact()
                except Exception:
                    self.events["vector_delete_failed"] += 1
                    logger.warning(
                        "the user was deleted, but their vectors could not be removed now; "
                        "repair() removes them (they are never returned meanwhile)",
                        exc_info=True,
                    )

    def _upsert(
        self, user_id: str, rows: Sequence[IndexRow], vectors: npt.NDArray[np.float32]
    ) -> None:
        assert self._vectors is not None
        for start in range(0, len(rows), VECTOR_BATCH):
            chunk = rows[start : start + VECTOR_BATCH]
            self._vectors.upsert(
                user_id,
                [row.id for row in chunk],
                vectors[start : start + VECTOR_BATCH],
                [_vector_metadata(row) for row in chunk],
            )
            self._store.mark_vector_indexed(user_id, {row.id: row.revision for row in chunk})

    # -- access counts -----------------------------------------------------------------

    def record_access(
        self, user_id: str, memories: dict[str, Memory], now: datetime
    ) -> dict[str, Memory]:
        """Count one retrieval of each memory; returns them with the counts applied.

        The counts reach SQL within ``flush_seconds``, before any read that returns
        memories of the user (see :meth:`flush_access`), and on close.
        """
        for doc_id, (count, latest) in self._access.record(user_id, memories, now).items():
            stored = memories[doc_id]
            memories[doc_id] = replace(
                stored,
                access_count=stored.access_count + count,
                last_accessed=max(latest, stored.last_accessed or latest),
            )
        self._schedule_flush()
        return memories

    def flush_access(self, user_id: str | None = None) -> None:
        """Write counted retrievals to SQL (all, or only if ``user_id`` has some)."""
        if user_id is not None and not self._access.has_user(user_id):
            return
        taken = self._access.take()
        try:
            self._store.record_access(taken)
        except Exception:
            self._access.restore(taken)
            self.events["access_write_failed"] += 1
            logger.warning("access counts could not be written; retrying later", exc_info=True)

    # -- the timer ---------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        timer = self._flush_timer
        if timer is not None and timer.is_alive():
            return
        timer = threading.Timer(self._flush_seconds, self._timed_flush)
        timer.daemon = True
        self._flush_timer = timer
        timer.start()

    def _timed_flush(self) -> None:
        try:
            self.flush_vectors()
        except Exception:
            logger.warning("flushing buffered vectors failed", exc_info=True)
        self.flush_access()

    # -- repair ------------------------------------------------------------------------

    def repair(self) -> RepairReport:
        """Bring the vector index in line with SQL (see :meth:`MemoryEngine.repair`)."""
        reindexed = self.reindex_pending()
        self.flush_vectors()
        reindexed += self._restore_missing()
        orphans = kept = 0
        if self._vectors is not None and self.members is not None:
            horizon = self.members.proof_horizon()
            orphans, kept = self._vectors.remove_orphans(
                self._store.existing_ids, self.members.proven_deleted, self.members.forget_deletions
            )
            self.members.forget_proofs_up_to(horizon)
        elif self._vectors is not None:
            orphans, kept = self._vectors.remove_orphans(
                self._store.existing_ids, self._store.proven_deleted, self._store.forget_deletions
            )
            if kept:
                logger.warning(
                    "repair kept %d vectors whose memories SQL neither holds nor recorded as "
                    "deleted: if the SQL store was restored or damaged, they may be all that "
                    "is left of those memories",
                    kept,
                )
        return RepairReport(reindexed=reindexed, orphans_removed=orphans, orphans_kept=kept)

    def reindex_pending(self) -> int:
        """Index what SQL marks as missing from the vector index; returns how many."""
        if self._vectors is None or self._embedder is None:
            return 0
        count = 0
        joined: set[str] = set()
        for user_id, rows in self._store.pending_vectors(VECTOR_BATCH):
            if user_id in joined:
                continue  # joining indexed all of the user's memories
            if self.members is None or self.members.holds(user_id):
                count += self._index_vectors_of(user_id, rows)
            elif self._store.count(user_id) > self._exact_limit:
                joined.add(user_id)
                count += self._join(user_id)
            else:
                count += self._index_vectors_of(user_id, rows, in_sql_only=True)
        if count:
            logger.info("re-indexed %d memories missing from the vector index", count)
        return count

    def check_index(self) -> int:
        """Rebuild a vector index that was lost or replaced; returns the vectors restored.

        Cheap when all is well: one read of the index's marker, compared with the one
        SQL keeps. A missing or different marker (a deleted directory, a new Chroma
        database, another store's index) makes every user's vectors be compared with SQL
        and the missing ones written, as :meth:`repair` does.
        """
        if self._vectors is None or self._embedder is None:
            return 0
        expected = self._store.setting("vector_index")
        if expected is not None and self._vectors.marker() == expected:
            return 0
        restored = self._restore_missing()
        self._vectors.set_marker(
            expected or self._store.setting_once("vector_index", uuid.uuid4().hex)
        )
        return restored

    def _restore_missing(self) -> int:
        """Index what SQL holds and the vector index lacks, though SQL thinks it is there."""
        if self._vectors is None or self._embedder is None:
            return 0
        count = 0
        users = self._store.user_ids() if self.members is None else self.members.users()
        for user_id in users:
            _, revisions = self._store.revisions(user_id)
            if not revisions:
                continue
            missing = sorted(set(revisions) - self._vectors.ids(user_id))
            for start in range(0, len(missing), VECTOR_BATCH):
                rows = self._store.index_rows(
                    user_id, missing[start : start + VECTOR_BATCH], with_embeddings=True
                )
                count += self._index_vectors_of(user_id, rows)
        if count:
            logger.info("restored %d vectors the vector index had lost", count)
        return count

    def _index_vectors_of(
        self, user_id: str, rows: Sequence[IndexRow], *, in_sql_only: bool = False
    ) -> int:
        """Write these memories to the vector index: vectors from SQL, else embedded.

        ``in_sql_only``: the user is searched exactly from SQL, so the vectors are only
        stored there (those missing) and the memories marked indexed.
        """
        assert self._embedder is not None
        rows, _ = self._leave_sealed(user_id, rows)
        if not rows:
            return 0
        dimension = self._embedder.dimension
        vectors = np.zeros((len(rows), dimension), dtype=np.float32)
        missing = []
        for position, row in enumerate(rows):
            stored = None if row.embedding is None else from_bytes(row.embedding, dimension)
            if stored is None:
                missing.append(position)
            else:
                vectors[position] = stored
        if missing:
            vectors[missing] = self._embedder.embed([rows[i].content for i in missing])
            # SQL keeps the new vectors too, under new revisions, so that every
            # process's exact search loads them.
            revised = self._store.store_embeddings(
                user_id,
                {rows[i].id: (rows[i].revision, to_bytes(vectors[i])) for i in missing},
                self._clock(),
            )
            rows = [
                replace(row, revision=revised[row.id]) if row.id in revised else row for row in rows
            ]
        if in_sql_only:
            self._store.mark_vector_indexed(user_id, {row.id: row.revision for row in rows})
        else:
            self._upsert(user_id, rows, vectors)
        return len(rows)


def _vector_metadata(row: IndexRow) -> dict[str, str | float]:
    metadata: dict[str, str | float] = {"kind": row.kind, "created_ts": row.created_at.timestamp()}
    if row.conversation_id is not None:
        metadata["conversation_id"] = row.conversation_id
    return metadata
