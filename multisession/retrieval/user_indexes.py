"""Each user's keyword index and exact vectors, held in process and kept in step with SQL.

SQL is the source of truth, and other processes write to it too. Rebuilding a user's
BM25 index and vector matrix for every search would cost more than the search, so they
are built once from SQL and then kept in step by two counters SQL keeps: a version per
user, bumped by every write, and a revision per memory. A search reads the version
first; if it is the one the cached index was built at, nothing else is read. Otherwise
only the memories whose revision changed are read again. This process's own writes are
applied directly, so its next search needs no reload either.

What is held is bounded twice: by the number of users and by the number of vectors over
all users (4 bytes per dimension each); the least recently searched users go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from ..records import IndexRow
from ..storage.schema import from_bytes
from ..storage.sql_store import SQLStore
from .bm25 import BM25Index
from .exact_vectors import ExactVectors
from .neighbours import NeighbourIndexes, Passage

__all__ = ["UserIndex", "UserIndexes"]


@dataclass
class UserIndex:
    """One user's in-process indexes and what they need to stay in step with SQL.

    Attributes:
        keywords: The keyword indexes over the user's memories, one per neighbour
            window in use (see :mod:`.neighbours`).
        version: The user's SQL version these indexes reflect (None before the
            first load).
        revisions: Each memory's revision as indexed.
        created: Each memory's ``created_at`` as a POSIX timestamp (for ranking).
        vectors: The user's vectors for exact search, or None when the user is
            searched through the vector index (more memories than the exact-search
            limit, or keyword-only search).
        retired: The memories no longer current (superseded, or folded into another
            memory): indexed for history searches, left out of default ones.
        slots: The memories filling each personal slot (see multisession.lifecycle),
            by slot key: what a new memory may replace, found without a SQL scan.
    """

    keywords: NeighbourIndexes = field(default_factory=NeighbourIndexes)
    version: int | None = None
    revisions: dict[str, int] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)
    vectors: ExactVectors | None = None
    retired: set[str] = field(default_factory=set)
    slots: dict[str, set[str]] = field(default_factory=dict)
    slots_of: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def bm25(self) -> BM25Index:
        """The keyword index over the memories alone (neighbour window 0)."""
        return self.keywords.index(0)


class UserIndexes:
    """The cached :class:`UserIndex` of recently searched users; thread-safe.

    Example:
        >>> from multisession.retrieval.terms import Tokenizer
        >>> from multisession.storage.sql_store import SQLStore
        >>> store = SQLStore("sqlite://")
        >>> indexes = UserIndexes(
        ...     store, Tokenizer(), dimension=None, exact_limit=0, max_users=8, max_vectors=0
        ... )
        >>> indexes.cached_users()
        []
        >>> store.close()

    A search holds :meth:`lock_for` its user while it calls :meth:`synced` and reads
    the index it returns; writes go through :meth:`apply`, which takes the same lock.
    One lock serves every user today; callers name the user so that a lock per user
    can take its place without changing them (the shared LRU order would then need only
    a short lock of its own around :meth:`synced`'s bookkeeping and eviction).

    Args:
        store: The SQL store the indexes are derived from.
        tokenize: Turns a memory's text into BM25 terms.
        dimension: The embedder's dimension, or None for keyword-only search.
        exact_limit: Users with up to this many memories get their vectors held for
            exact search; 0 never holds vectors.
        max_users: How many users' indexes are held at most.
        max_vectors: How many vectors are held at most over all users.
    """

    def __init__(
        self,
        store: SQLStore,
        tokenize: Callable[[str], list[str]],
        *,
        dimension: int | None,
        exact_limit: int,
        max_users: int,
        max_vectors: int,
    ) -> None:
        self._store = store
        self._tokenize = tokenize
        self._dimension = dimension
        self._exact_limit = exact_limit
        self._max_users = max_users
        self._max_vectors = max_vectors
        self._lock = threading.RLock()
        self._indexes: OrderedDict[str, UserIndex] = OrderedDict()
        #: Searches that found the user's index current, loaded it, or caught it up.
        self.hits = self.loads = self.catch_ups = 0

    def lock_for(self, user_id: str) -> AbstractContextManager[bool]:
        """The lock to hold while syncing or reading this user's index."""
        return self._lock

    def synced(self, user_id: str, version: int) -> UserIndex:
        """The user's indexes, caught up with every write in SQL.

        ``version`` is the user's version, read before the call. Call with
        :meth:`lock_for` the user held, and read the result under it too.
        """
        index = self._indexes.get(user_id)
        if index is not None and index.version == version:
            self.hits += 1
            self._indexes.move_to_end(user_id)
            return index
        if index is None:
            self.loads += 1
            # Rows read after the version: a write in between is loaded now and
            # applied again at the next search, which sees a newer version.
            exact = self._exact_search_fits(self._store.count(user_id))
            index = UserIndex()
            if exact and self._dimension is not None:
                index.vectors = ExactVectors(self._dimension)
            self._index_rows(index, self._store.index_rows(user_id, with_embeddings=exact))
        else:
            self.catch_ups += 1
            current, revisions = self._store.revisions(user_id)
            version = current if current is not None else version  # None: deleted meanwhile
            for doc_id in set(index.revisions) - set(revisions):
                _remove(index, doc_id)
            changed = [
                doc_id for doc_id, rev in revisions.items() if index.revisions.get(doc_id) != rev
            ]
            if changed:
                rows = self._store.index_rows(
                    user_id, changed, with_embeddings=index.vectors is not None
                )
                self._index_rows(index, rows)
        index.version = version
        self._indexes[user_id] = index
        self._indexes.move_to_end(user_id)
        self._evict()
        return index

    def apply(
        self,
        user_id: str,
        version: int,
        *,
        upserted: Sequence[IndexRow] = (),
        removed: Sequence[str] = (),
        retired: Sequence[str] = (),
        restored: Sequence[str] = (),
    ) -> None:
        """Apply this process's own write to a held index, without a reload.

        ``version`` is the user's version after the write. A user whose index is not
        held is left alone: it is loaded from SQL on their next search. ``retired`` and
        ``restored`` name memories the write superseded or made current again.
        """
        with self.lock_for(user_id):
            index = self._indexes.get(user_id)
            if index is None:
                return
            self._index_rows(index, upserted)
            for doc_id in removed:
                _remove(index, doc_id)
            for doc_id in retired:
                if doc_id in index.revisions:
                    index.retired.add(doc_id)
                    index.revisions[doc_id] = version
            for doc_id in restored:
                if doc_id in index.revisions:
                    index.retired.discard(doc_id)
                    index.revisions[doc_id] = version
            # Contiguous versions mean no other process wrote in between; otherwise the
            # next search compares revisions with SQL and catches up.
            if index.version is not None and version == index.version + 1:
                index.version = version

    def forget(self, user_id: str) -> None:
        """Let go of a user's indexes (the user was deleted)."""
        with self.lock_for(user_id):
            self._indexes.pop(user_id, None)

    def clear(self) -> None:
        """Let go of every user's indexes."""
        with self._lock:
            self._indexes.clear()

    def cached_users(self) -> list[str]:
        """The users whose indexes are held, least recently searched first."""
        with self._lock:
            return list(self._indexes)

    def cached_vectors(self, user_id: str) -> int | None:
        """How many vectors are held for the user's exact search.

        None when the user's index is not held, or when the user is searched through
        the vector index instead.
        """
        with self.lock_for(user_id):
            index = self._indexes.get(user_id)
            if index is None or index.vectors is None:
                return None
            return len(index.vectors)

    def _index_rows(self, index: UserIndex, rows: Sequence[IndexRow]) -> None:
        index.keywords.upsert(
            Passage(
                row.id, self._tokenize(row.content), row.conversation_id, row.created_at.timestamp()
            )
            for row in rows
        )
        for row in rows:
            index.revisions[row.id] = row.revision
            index.created[row.id] = row.created_at.timestamp()
            if row.retired:
                index.retired.add(row.id)
            else:
                index.retired.discard(row.id)
            _unslot(index, row.id)
            keys = tuple(key for key in (row.slot_keys or "").split(";") if key)
            if keys:
                index.slots_of[row.id] = keys
                for key in keys:
                    index.slots.setdefault(key, set()).add(row.id)
        if index.vectors is not None:
            _index_vectors(index.vectors, rows)
            if len(index.vectors) > self._exact_limit:
                index.vectors = None  # grown out of exact search: the vector index serves it

    def _exact_search_fits(self, memories: int) -> bool:
        return (
            self._dimension is not None
            and memories <= self._exact_limit
            and memories <= self._max_vectors
            and self._exact_limit > 0
        )

    def _evict(self) -> None:
        """Let go of the least recently searched users beyond the memory bounds."""
        while len(self._indexes) > self._max_users:
            self._indexes.popitem(last=False)
        held = sum(len(i.vectors) for i in self._indexes.values() if i.vectors is not None)
        while held > self._max_vectors and len(self._indexes) > 1:
            _, evicted = self._indexes.popitem(last=False)
            if evicted.vectors is not None:
                held -= len(evicted.vectors)


def _remove(index: UserIndex, doc_id: str) -> None:
    index.keywords.remove([doc_id])
    index.revisions.pop(doc_id, None)
    index.created.pop(doc_id, None)
    index.retired.discard(doc_id)
    _unslot(index, doc_id)
    if index.vectors is not None:
        index.vectors.remove(doc_id)


def _unslot(index: UserIndex, doc_id: str) -> None:
    for key in index.slots_of.pop(doc_id, ()):
        holders = index.slots.get(key)
        if holders is not None:
            holders.discard(doc_id)
            if not holders:
                del index.slots[key]


def _index_vectors(vectors: ExactVectors, rows: Iterable[IndexRow]) -> None:
    for row in rows:
        vector = None if row.embedding is None else from_bytes(row.embedding, vectors.dimension)
        if vector is None:
            vectors.remove(row.id)  # not embedded yet: repair() brings it
        else:
            vectors.upsert(row.id, vector)
