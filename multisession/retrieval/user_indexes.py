"""Each user's keyword index and exact vectors, held in process and kept in step with SQL.

SQL is the source of truth, and other processes write to it too. Rebuilding a user's
BM25 index and vector matrix for every search would cost more than the search, so they
are built once from SQL and then kept in step by two counters SQL keeps: a version per
user, bumped by every write, and a revision per memory. A search reads the version
first; if it is the one the cached index was built at, nothing else is read. Otherwise
only the memories whose revision changed are read again. This process's own writes are
applied directly, so its next search needs no reload either.

With many active users most searches find their user's index not held, so a load is on
the path of a search, and built in bulk: one read on the driver, the terms SQL stores
with each memory (tokenized only for rows written before terms were stored), one decode
of all vectors, each conversation sorted once, the BM25 index built in one pass.

What is held is bounded by an estimate of its bytes (and optionally by a number of
users and of vectors); the least recently searched users go first.

Each user has a lock of their own: searches of different users run side by side, and a
write waits only for its own user. The shared order of the cache has a short lock that
is never held while loading or searching.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from ..records import IndexColumns, IndexRow
from ..storage.schema import from_bytes
from ..storage.sql_store import SQLStore
from .bm25 import BM25Index
from .exact_vectors import ExactVectors
from .neighbours import NeighbourIndexes, Passage
from .terms import Tokenizer

__all__ = ["UserIndex", "UserIndexes"]

# What a held index costs besides its vectors' matrix, per memory and per term of a
# keyword document (measured with tracemalloc on chat-like memories of ~10 terms, and
# rounded up): the id, the passage, its entries in the revision, time and slot maps;
# each term's string, its list entry and its forward-index and posting entries.
_BYTES_PER_MEMORY = 700
_BYTES_PER_TERM = 90
_BYTES_PER_INDEXED_TERM = 32


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

    def estimated_bytes(self) -> int:
        """About how much memory these indexes hold (the cache's bound counts this)."""
        terms = self.keywords.term_count()
        indexed = sum(terms * (2 * window + 1) for window in self.keywords.windows())
        held = (
            len(self.revisions) * _BYTES_PER_MEMORY
            + terms * _BYTES_PER_TERM
            + indexed * _BYTES_PER_INDEXED_TERM
        )
        if self.vectors is not None:
            held += self.vectors.nbytes
        return held


class UserIndexes:
    """The cached :class:`UserIndex` of recently searched users; thread-safe.

    Example:
        >>> from multisession.retrieval.terms import Tokenizer
        >>> from multisession.storage.sql_store import SQLStore
        >>> store = SQLStore("sqlite://")
        >>> indexes = UserIndexes(store, Tokenizer(), dimension=None, exact_limit=0)
        >>> indexes.cached_users()
        []
        >>> store.close()

    A search holds :meth:`lock_for` its user while it calls :meth:`synced` and reads
    the index it returns; writes go through :meth:`apply`, which takes the same lock.
    Each user's lock is their own, so other users' searches and writes go on meanwhile.

    Args:
        store: The SQL store the indexes are derived from.
        tokenize: Turns a memory's text into BM25 terms; terms SQL stores with a
            memory are used instead when this tokenizer made them.
        dimension: The embedder's dimension, or None for keyword-only search.
        exact_limit: Users with up to this many memories get their vectors held for
            exact search; 0 never holds vectors.
        max_bytes: About how many bytes the held indexes may take over all users
            (see :meth:`UserIndex.estimated_bytes`); None for no such bound.
        max_users: How many users' indexes are held at most; None for no such bound.
        max_vectors: How many vectors are held at most over all users; None for no
            such bound.
        in_vector_index: Whether the vector index holds a user's vectors; a user it
            does not hold is searched exactly whatever their size (nothing else could
            serve them). None: it holds every user's.
    """

    def __init__(
        self,
        store: SQLStore,
        tokenize: Tokenizer,
        *,
        dimension: int | None,
        exact_limit: int,
        max_bytes: int | None = None,
        max_users: int | None = None,
        max_vectors: int | None = None,
        in_vector_index: Callable[[str], bool] | None = None,
    ) -> None:
        self._store = store
        self._in_vector_index = in_vector_index
        self._tokenize = tokenize
        self._dimension = dimension
        self._exact_limit = exact_limit
        self._max_bytes = max_bytes
        self._max_users = max_users
        self._max_vectors = max_vectors
        # Guards the fields below; held only for dictionary work, never for SQL or search.
        self._lock = threading.Lock()
        self._indexes: OrderedDict[str, UserIndex] = OrderedDict()
        #: Searches that found the user's index current, loaded it, or caught it up.
        self.hits = self.loads = self.catch_ups = 0
        self._bytes: dict[str, int] = {}
        self._held_bytes = 0
        self._held_vectors = 0
        self._vector_counts: dict[str, int] = {}
        # A user's lock lives while anyone holds it or waits for it (see lock_for).
        self._user_locks: weakref.WeakValueDictionary[str, _UserLock] = (
            weakref.WeakValueDictionary()
        )

    def lock_for(self, user_id: str) -> AbstractContextManager[bool]:
        """The lock to hold while syncing or reading this user's index.

        One per user: whoever holds it, or waits for it, keeps it alive, so every
        thread working on the user gets the same lock; once nobody does, nothing of
        the user is being read or written, and the next caller gets a new one.
        """
        with self._lock:
            lock = self._user_locks.get(user_id)
            if lock is None:
                lock = self._user_locks[user_id] = _UserLock()
            return lock

    def stored_terms(self, text: str) -> str:
        """The terms of a memory's text as SQL stores them (see ``Tokenizer.stored``)."""
        return self._tokenize.stored(text)

    def synced(self, user_id: str, version: int) -> UserIndex:
        """The user's indexes, caught up with every write in SQL.

        ``version`` is the user's version, read before the call. Call with
        :meth:`lock_for` the user held, and read the result under it too.
        """
        with self._lock:
            index = self._indexes.get(user_id)
            if index is not None and index.version == version:
                self.hits += 1
                self._indexes.move_to_end(user_id)
                return index
        if index is None:
            self.loads += 1
            # Rows read after the version: a write in between is loaded now and
            # applied again at the next search, which sees a newer version.
            index = self._load(user_id)
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
                self._index_rows(index, rows, user_id)
        index.version = version
        self._hold(user_id, index)
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
            with self._lock:
                index = self._indexes.get(user_id)
            if index is None:
                return
            self._index_rows(index, upserted, user_id)
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
            with self._lock:
                if self._indexes.get(user_id) is index:
                    self._account(user_id, index)

    def forget(self, user_id: str) -> None:
        """Let go of a user's indexes (the user was deleted)."""
        with self.lock_for(user_id), self._lock:
            self._drop(user_id)

    def clear(self) -> None:
        """Let go of every user's indexes."""
        with self._lock:
            self._indexes.clear()
            self._bytes.clear()
            self._vector_counts.clear()
            self._held_bytes = self._held_vectors = 0

    def cached_users(self) -> list[str]:
        """The users whose indexes are held, least recently searched first."""
        with self._lock:
            return list(self._indexes)

    def cached_bytes(self) -> int:
        """About how many bytes the held indexes take (what ``max_bytes`` bounds)."""
        with self._lock:
            return self._held_bytes

    def cached_vectors(self, user_id: str) -> int | None:
        """How many vectors are held for the user's exact search.

        None when the user's index is not held, or when the user is searched through
        the vector index instead.
        """
        with self.lock_for(user_id):
            with self._lock:
                index = self._indexes.get(user_id)
            if index is None or index.vectors is None:
                return None
            return len(index.vectors)

    # -- loading and applying (under the user's lock) --------------------------------

    def _load(self, user_id: str) -> UserIndex:
        """The user's indexes built from SQL in bulk."""
        exact = self._exact_search_fits(self._store.count(user_id), user_id)
        columns = self._store.index_columns(user_id, with_embeddings=exact)
        index = UserIndex()
        index.keywords.load(
            columns.ids, self._terms(columns), columns.conversation_ids, columns.created
        )
        index.revisions = dict(zip(columns.ids, columns.revisions, strict=True))
        index.created = dict(zip(columns.ids, columns.created, strict=True))
        index.retired = {
            doc_id for doc_id, retired in zip(columns.ids, columns.retired, strict=True) if retired
        }
        for doc_id, slot_keys in zip(columns.ids, columns.slot_keys, strict=True):
            keys = tuple(key for key in (slot_keys or "").split(";") if key)
            if keys:
                index.slots_of[doc_id] = keys
                for key in keys:
                    index.slots.setdefault(key, set()).add(doc_id)
        if exact and self._dimension is not None and columns.embeddings is not None:
            index.vectors = ExactVectors.from_blobs(
                self._dimension, columns.ids, columns.embeddings
            )
        return index

    def _terms(self, columns: IndexColumns) -> list[tuple[str, ...]]:
        """Each memory's terms: as stored when this tokenizer made them, else tokenized.

        Tuples, not lists: a tuple of strings is left out of the garbage collector's
        passes, which otherwise walk every held memory's terms again and again.
        """
        key = self._tokenize.key
        terms: list[tuple[str, ...]] = []
        for content, stored in zip(columns.contents, columns.terms, strict=True):
            if stored is not None:
                parts = tuple(stored.split(" "))
                if parts[0] == key:
                    terms.append(parts[1:])
                    continue
            terms.append(tuple(self._tokenize(content)))
        return terms

    def _index_rows(self, index: UserIndex, rows: Sequence[IndexRow], user_id: str) -> None:
        index.keywords.upsert(
            Passage(
                row.id,
                self._row_terms(row),
                row.conversation_id,
                row.created_at.timestamp(),
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
            if len(index.vectors) > self._exact_limit and self._indexed(user_id):
                index.vectors = None  # grown out of exact search: the vector index serves it

    def _row_terms(self, row: IndexRow) -> tuple[str, ...]:
        terms = self._tokenize.from_stored(row.terms)
        return tuple(terms if terms is not None else self._tokenize(row.content))

    def _exact_search_fits(self, memories: int, user_id: str) -> bool:
        if self._dimension is None:
            return False
        fits = (
            memories <= self._exact_limit
            and (self._max_vectors is None or memories <= self._max_vectors)
            and self._exact_limit > 0
        )
        return fits or not self._indexed(user_id)

    def _indexed(self, user_id: str) -> bool:
        """Whether the vector index holds the user's vectors."""
        return self._in_vector_index is None or self._in_vector_index(user_id)

    # -- the cache's order and bounds (under self._lock) -----------------------------

    def _hold(self, user_id: str, index: UserIndex) -> None:
        with self._lock:
            self._indexes[user_id] = index
            self._indexes.move_to_end(user_id)
            self._account(user_id, index)
            self._evict()

    def _account(self, user_id: str, index: UserIndex) -> None:
        """Record what the user's held index takes now."""
        size = index.estimated_bytes()
        vectors = len(index.vectors) if index.vectors is not None else 0
        self._held_bytes += size - self._bytes.get(user_id, 0)
        self._held_vectors += vectors - self._vector_counts.get(user_id, 0)
        self._bytes[user_id] = size
        self._vector_counts[user_id] = vectors

    def _drop(self, user_id: str) -> None:
        self._indexes.pop(user_id, None)
        self._held_bytes -= self._bytes.pop(user_id, 0)
        self._held_vectors -= self._vector_counts.pop(user_id, 0)

    def _evict(self) -> None:
        """Let go of the least recently searched users beyond the bounds (never the last)."""
        while len(self._indexes) > 1 and (
            (self._max_users is not None and len(self._indexes) > self._max_users)
            or (self._max_bytes is not None and self._held_bytes > self._max_bytes)
            or (self._max_vectors is not None and self._held_vectors > self._max_vectors)
        ):
            self._drop(next(iter(self._indexes)))


class _UserLock:
    """A re-entrant lock that a weak reference can point to (see ``lock_for``)."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


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
