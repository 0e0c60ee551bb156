"""How a write reaches every index a search reads: SQL first, then what derives from it.

A write of memories is committed in SQL before anything else sees it, because SQL is
the source of truth; each memory's BM25 terms are stored with it, so that loading the
user's keyword index later reads them instead of tokenizing again. Only then does the
write reach the derived indexes: this process's in-process index of the user (applied
at once, so the next search reads nothing more from SQL) and the vector index, through
the write-behind buffer. A failure after the commit never fails the write: the vector
side is counted, logged and repaired later, and other processes catch up through the
user's version in SQL.

This is the write side of :mod:`.hybrid`, and the one place that knows the order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Connection

from ..records import IndexRow, Memory, MemoryFilter
from ..storage.schema import from_bytes, to_bytes
from ..storage.sql_store import SQLStore
from ..storage.validity import ValidityChange
from ..storage.write_behind import WriteBehind
from .user_indexes import UserIndexes

#: The kind of the memories consolidation writes (see ``lifecycle.consolidation``), whose
#: metadata lists their ``sources``.
CONSOLIDATED_KIND = "summary"

__all__ = ["Indexer", "WritePlanner"]

#: Decides, before new rows are stored, what they supersede or repeat: it may mark a
#: row itself as superseded (a duplicate, an outdated import) and returns the changes
#: to existing memories, written in the same transaction (see multisession.lifecycle).
WritePlanner = Callable[
    [str, list[dict[str, Any]], "npt.NDArray[np.float32] | None", datetime],
    list[ValidityChange],
]

#: The validity columns of a new row, unless a planner set them.
_NEW_ROW_VALIDITY: dict[str, Any] = {
    "superseded_at": None,
    "superseded_by": None,
    "supersede_reason": None,
    "mentions": 1,
    "last_mentioned_at": None,
    "slot_keys": None,
}


class Indexer:
    """Writes memories to SQL, then to the user indexes and the vector index; thread-safe.

    Example:
        >>> from collections import Counter
        >>> from datetime import datetime, timezone
        >>> from multisession.retrieval.terms import Tokenizer
        >>> from multisession.storage.sql_store import SQLStore
        >>> store, now = SQLStore("sqlite://"), datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> indexes = UserIndexes(store, Tokenizer(), dimension=None, exact_limit=0)
        >>> writes = WriteBehind(store, None, None, lambda: now, 64, 1.0, Counter())
        >>> row = {"id": "0" * 32, "content": "I like tea", "kind": "fact",
        ...        "conversation_id": None, "metadata": {}, "created_at": now}
        >>> [memory.content for memory in Indexer(store, indexes, writes).add("alice", [row], now)]
        ['I like tea']
        >>> writes.close(); store.close()

    Args:
        store: The SQL store, written first.
        indexes: The in-process indexes, which get this process's writes directly.
        writes: The write-behind of the vector index; it also embeds new content.
    """

    def __init__(self, store: SQLStore, indexes: UserIndexes, writes: WriteBehind) -> None:
        self._store = store
        self._indexes = indexes
        self._writes = writes
        #: Supersession and duplicate detection on write; None stores rows as given.
        self.planner: WritePlanner | None = None
        #: Writes' counters (the engine's ``events``): supersessions once committed.
        self.events: Counter[str] = Counter()

    def add(
        self,
        user_id: str,
        rows: Sequence[Mapping[str, Any]],
        now: datetime,
        *,
        skip_existing: bool = False,
        also: Callable[[Connection], None] | None = None,
        changes: Sequence[ValidityChange] | None = None,
    ) -> list[Memory]:
        """Store checked memory rows (see ``_validation.memory_rows``); returns the new memories.

        With ``skip_existing``, rows whose id the user already has are left out, before
        anything is embedded; otherwise such an id rejects the write. ``also`` writes
        more in the same SQL transaction (see :meth:`SQLStore.insert`); it needs rows.
        ``changes``, when given, are the changes to stored memories written with the
        rows instead of the planner's (a consolidation's summary replacing an older one).
        """
        fresh = [dict(row) for row in rows]
        if fresh and skip_existing:
            # Before embedding: a re-run import must not pay for what it skips.
            known = self._store.taken_ids(user_id, [row["id"] for row in fresh])
            fresh = [row for row in fresh if row["id"] not in known]
        if not fresh:
            return []
        vectors = self._writes.embed([row["content"] for row in fresh])
        for position, row in enumerate(fresh):
            row["embedding"] = to_bytes(vectors[position]) if vectors is not None else None
            row["terms"] = self._indexes.stored_terms(row["content"])
            row["valid_from"] = row["created_at"]
            for column, value in _NEW_ROW_VALIDITY.items():
                row.setdefault(column, value)
        if changes is not None:
            changes = list(changes)
        else:
            changes = self.planner(user_id, fresh, vectors, now) if self.planner else []
        in_sql = vectors is not None and self._writes.searched_from_sql(user_id, len(fresh))
        if in_sql:
            for row in fresh:
                row["vector_indexed"] = True
        version, inserted = self._store.insert(
            user_id, fresh, now, skip_existing=skip_existing, also=also, changes=changes
        )
        if version is None:
            return []
        if changes:
            self.events["supersessions"] += sum(change.action == "supersede" for change in changes)
        if len(inserted) != len(fresh):
            # Another writer stored some of these ids between the check and the insert.
            inserted_ids = {row["id"] for row in inserted}
            keep = [i for i, row in enumerate(fresh) if row["id"] in inserted_ids]
            fresh = [fresh[i] for i in keep]
            vectors = vectors[keep] if vectors is not None else None
        index_rows = [
            IndexRow(
                id=row["id"],
                content=row["content"],
                kind=row["kind"],
                conversation_id=row["conversation_id"],
                created_at=row["created_at"],
                revision=version,
                embedding=row["embedding"],
                retired=row["superseded_at"] is not None,
                slot_keys=row["slot_keys"],
                terms=row["terms"],
            )
            for row in fresh
        ]
        retired = [change.memory_id for change in changes if change.action == "supersede"]
        # The vector index first: a write that takes the user past the exact-search
        # limit makes them a member of it, and the held index then lets go of vectors.
        if not in_sql:
            self._writes.write(user_id, index_rows, vectors)
        self._indexes.apply(user_id, version, upserted=index_rows, retired=retired)
        return [
            Memory(
                id=row["id"],
                user_id=user_id,
                content=row["content"],
                kind=row["kind"],
                created_at=row["created_at"],
                updated_at=now,
                conversation_id=row["conversation_id"],
                metadata=row["metadata"],
                valid_from=row["valid_from"],
                superseded_at=row["superseded_at"],
                superseded_by=row["superseded_by"],
                supersede_reason=row["supersede_reason"],
                mentions=row["mentions"],
                last_mentioned_at=row["last_mentioned_at"],
                sensitivity=row.get("sensitivity"),
                detectors=tuple(row.get("detectors") or ()),
                scope=row.get("scope"),
            )
            for row in fresh
        ]

    def change_validity(
        self, user_id: str, changes: Sequence[ValidityChange], now: datetime
    ) -> list[str] | None:
        """Supersede or restore existing memories (no new ones); the ids changed.

        None if the user has none of them.
        """
        result = self._store.change_validity(user_id, changes, now)
        if result is None:
            return None
        version, changed = result
        actions = {change.memory_id: change.action for change in changes}
        self._indexes.apply(
            user_id,
            version,
            retired=[i for i in changed if actions[i] == "supersede"],
            restored=[i for i in changed if actions[i] == "restore"],
        )
        return changed

    def update(
        self, user_id: str, memory_id: str, values: Mapping[str, Any], now: datetime
    ) -> Memory | None:
        """Change a memory (checked ``content``, ``kind``, ``metadata``); None if there is none.

        New content gets a new vector (and new terms; its slot keys, if the caller
        computed them, come in ``values``); without one (the embedder failed) the old vector
        is removed too, since it describes the old content. A new kind re-writes the
        vector index's entry, which filters on it.
        """
        values = dict(values)
        vectors = None
        if "content" in values:
            vectors = self._writes.embed([values["content"]])
            values["embedding"] = to_bytes(vectors[0]) if vectors is not None else None
            values["terms"] = self._indexes.stored_terms(values["content"])
        result = self._store.update(user_id, memory_id, values, now)
        if result is None:
            return None
        memory, version, embedding, slot_keys = result
        row = IndexRow(
            memory.id,
            memory.content,
            memory.kind,
            memory.conversation_id,
            memory.created_at,
            version,
            embedding,
            retired=memory.superseded_at is not None,
            slot_keys=slot_keys,
            terms=values.get("terms"),
        )
        self._indexes.apply(user_id, version, upserted=[row])
        if "content" in values or "kind" in values:
            dimension = self._writes.dimension
            if vectors is None and embedding is not None and dimension is not None:
                vectors = from_bytes(embedding, dimension)
                vectors = None if vectors is None else vectors.reshape(1, -1)
            self._writes.write(user_id, [row], vectors)
        return memory

    def delete(self, user_id: str, memory_id: str, now: datetime) -> bool:
        """Delete one memory everywhere; False if the user has no such memory.

        Consolidated summaries that quote it (current ones and the history of them) go
        too: a deleted memory must leave no readable trace, and a summary repeats its
        sources' sentences. Their other sources stay, and a later consolidation
        groups them again.
        """
        version = self._store.delete(user_id, memory_id, now)
        if version is None:
            return False
        self._indexes.apply(user_id, version, removed=[memory_id])
        self._writes.delete(user_id, memory_id)
        for summary_id in self._summaries_quoting(user_id, memory_id):
            self.delete(user_id, summary_id, now)
        return True

    def _summaries_quoting(self, user_id: str, memory_id: str) -> list[str]:
        """The ids of the user's consolidated summaries made from ``memory_id``."""
        summaries = self._store.list(
            user_id,
            MemoryFilter(kinds=(CONSOLIDATED_KIND,), include_superseded=True),
            limit=None,
            offset=0,
            newest_first=False,
        )
        return [
            summary.id
            for summary in summaries
            if "consolidation" in summary.metadata
            and memory_id in (summary.metadata.get("sources") or ())
        ]

    def store_missing_terms(self, batch_size: int = 2_000) -> int:
        """Store the terms of memories written before terms were stored; returns how many.

        Loads read those memories' terms instead of tokenizing them from then on.
        """
        stored = 0
        while True:
            rows = self._store.rows_without_terms(batch_size)
            done = self._store.store_terms(
                [
                    (owner, memory_id, revision, self._indexes.stored_terms(content))
                    for owner, memory_id, revision, content in rows
                ]
            )
            stored += done
            if len(rows) < batch_size or done == 0:
                return stored
