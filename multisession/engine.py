"""The memory engine: one facade over the SQL store, the keyword and the vector index."""

from __future__ import annotations

import asyncio
import builtins
import functools
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from os import PathLike, fspath
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _validation as check
from ._ids import new_id
from .context.builder import BuiltContext, ContextConfig, build_context, resumption_for
from .context.sessions import Resumption
from .embeddings.base import Embedder, as_embedder
from .embeddings.minilm import default_embedder
from .errors import ConfigurationError, InvalidInputError, MemoryNotFoundError
from .extraction.recording import record_exchange
from .records import (
    IndexRow,
    Memory,
    MemoryFilter,
    MemoryInput,
    Message,
    ScoreBreakdown,
    SearchHit,
)
from .retrieval.bm25 import BM25Index
from .retrieval.config import RetrievalConfig
from .retrieval.decay import recency, temporal_multiplier
from .retrieval.exact_vectors import ExactVectors
from .retrieval.fusion import reciprocal_rank_fusion
from .retrieval.terms import Tokenizer, TokenizerConfig
from .storage._access_log import AccessLog
from .storage._vector_buffer import VectorBuffer
from .storage.conversations import ConversationStore
from .storage.schema import from_bytes, to_bytes
from .storage.sql_store import SQLStore
from .storage.vectors import ChromaVectorIndex

__all__ = ["MemoryEngine", "RepairReport"]

logger = logging.getLogger("multisession")

Clock = Callable[[], datetime]


class _DefaultEmbedder:
    """Marker: resolve the offline default embedder (see :func:`default_embedder`)."""

    def __repr__(self) -> str:
        return "DEFAULT_EMBEDDER"


DEFAULT_EMBEDDER: Any = _DefaultEmbedder()

_VECTOR_BATCH = 512


@dataclass
class _KeywordIndex:
    """One user's in-process indexes and what they need to stay in step with SQL.

    ``vectors`` holds the user's vectors for exact search, or is None when the user is
    searched through the vector index (more memories than ``exact_vector_limit``, or
    keyword-only search).
    """

    bm25: BM25Index
    version: int | None = None
    revisions: dict[str, int] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)
    vectors: ExactVectors | None = None


@dataclass(frozen=True)
class RepairReport:
    """What :meth:`MemoryEngine.repair` did."""

    reindexed: int
    orphans_removed: int


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class MemoryEngine:
    """Long-term memory for many users: store, search, list, update, delete, export.

    Example:
        >>> from multisession import MemoryEngine
        >>> with MemoryEngine("./memory-store") as engine:  # doctest: +SKIP
        ...     engine.add("alice", "I am allergic to peanuts", kind="fact")
        ...     hits = engine.search("alice", "what foods should I avoid?", k=3)
        ...     print(hits[0].memory.content, hits[0].breakdown.final_score)

    Storage: a directory holds SQLite (``memory.db``) and embedded Chroma (``chroma/``);
    ``sql_url`` (``postgresql+psycopg://...``) and ``vector_url`` (``http://host:port``
    of a Chroma server) replace either. SQL is the source of truth: a write is committed
    there first, and anything the vector index misses is re-indexed on open or by
    :meth:`repair`. The BM25 index is derived in process and catches up with writes made
    by other processes through a per-user version counter.

    Args:
        directory: Where the embedded stores live (created if missing).
        sql_url: SQLAlchemy URL of the SQL store; default ``sqlite:///<directory>/memory.db``.
        vector_url: Chroma location: a directory or ``http://host:port``; default
            ``<directory>/chroma``.
        embedder: An :class:`~multisession.embeddings.base.Embedder` or a callable
            ``builtins.list[str] -> vectors``; by default the offline all-MiniLM-L6-v2. ``None``
            runs keyword-only (BM25) search.
        config: Default retrieval settings; each search may pass its own.
        tokenizer: How text is split into BM25 terms.
        clock: Returns the current time (timezone-aware); tests pass a fake one.
        max_content_chars: Longest memory accepted.
        track_access: Whether search updates ``last_accessed`` and ``access_count``.
            Hits show the new values at once; SQL gets them in one batched write
            within ``vector_flush_seconds``, before any read that returns memories
            (get, list, export), and on close.
        repair_on_open: Re-index memories missing from the vector index when opening.
        max_cached_users: How many users' keyword indexes stay in memory.
        llm: Optional; a callable ``prompt -> text`` used for rolling summaries and
            fact extraction. Without one, deterministic fallbacks do both.
        context: How :meth:`build_context` fills the prompt.
        vector_flush_size: Writes of fewer memories than this buffer their vectors and
            flush them to the vector index in one batch once this many are pending
            (an embedded Chroma upsert costs about the same for 1 vector as for 100).
            Buffered vectors are searched exactly meanwhile; 1 disables buffering.
        vector_flush_seconds: Flush buffered vectors at the latest this long after the
            first was buffered, and on :meth:`close`.
        exact_vector_limit: Users with up to this many memories are searched exactly,
            in process, from vectors SQL keeps next to each memory (at 10k memories a
            fraction of a millisecond); larger ones through the vector index's
            approximate search. 0 always uses the vector index.
        max_cached_vectors: How many vectors the in-process exact search may hold over
            all cached users (4 bytes per dimension each: 200k MiniLM vectors ≈ 300 MB);
            the least recently searched users are let go first.
    """

    def __init__(
        self,
        directory: str | PathLike[str] | None = None,
        *,
        sql_url: str | None = None,
        vector_url: str | None = None,
        embedder: Embedder | Callable[[builtins.list[str]], Any] | None = DEFAULT_EMBEDDER,
        config: RetrievalConfig | None = None,
        tokenizer: TokenizerConfig | None = None,
        clock: Clock | None = None,
        max_content_chars: int = 32_000,
        track_access: bool = True,
        repair_on_open: bool = True,
        max_cached_users: int = 64,
        llm: Callable[[str], str] | None = None,
        context: ContextConfig | None = None,
        vector_flush_size: int = 64,
        vector_flush_seconds: float = 1.0,
        exact_vector_limit: int = 50_000,
        max_cached_vectors: int = 200_000,
    ) -> None:
        if config is not None and not isinstance(config, RetrievalConfig):
            raise ConfigurationError(
                f"config must be a RetrievalConfig, got {type(config).__name__}"
            )
        if tokenizer is not None and not isinstance(tokenizer, TokenizerConfig):
            raise ConfigurationError(
                f"tokenizer must be a TokenizerConfig, got {type(tokenizer).__name__}"
            )
        self.config = config or RetrievalConfig()
        self.max_content_chars = check.check_positive_int(
            max_content_chars, "max_content_chars", 10_000_000
        )
        self.track_access = track_access
        self._max_cached_users = check.check_positive_int(
            max_cached_users, "max_cached_users", 1_000_000
        )
        self._exact_limit = check.check_non_negative_int(
            exact_vector_limit, "exact_vector_limit", 100_000_000
        )
        self._max_cached_vectors = check.check_non_negative_int(
            max_cached_vectors, "max_cached_vectors", 1_000_000_000
        )
        self._clock: Clock = clock or _utc_now
        self._tokenize = Tokenizer(tokenizer or TokenizerConfig())
        self.events: Counter[str] = Counter()

        base = Path(fspath(directory)) if directory is not None else None
        if sql_url is None:
            if base is None:
                raise ConfigurationError(
                    "give a directory for the embedded stores, or sql_url (and vector_url)"
                )
            base.mkdir(parents=True, exist_ok=True)
            sql_url = f"sqlite:///{base / 'memory.db'}"

        if embedder is DEFAULT_EMBEDDER:
            self.embedder: Embedder | None = default_embedder()
        elif embedder is None:
            self.embedder = None
        else:
            self.embedder = as_embedder(embedder)

        self._vectors: ChromaVectorIndex | None = None
        if self.embedder is not None:
            if vector_url is None:
                if base is None:
                    raise ConfigurationError(
                        "vector search needs vector_url (a Chroma server http://host:port "
                        "or a directory), or a directory for the embedded stores; or pass "
                        "embedder=None for keyword-only search"
                    )
                base.mkdir(parents=True, exist_ok=True)
                vector_url = str(base / "chroma")
            self._vectors = ChromaVectorIndex.open(
                vector_url, embedder_name=self.embedder.name, dimension=self.embedder.dimension
            )

        self._store = SQLStore(sql_url)
        if self.embedder is not None:
            try:
                self._store.check_embedder(self.embedder.name, self.embedder.dimension)
            except ConfigurationError:
                self._store.close()
                if self._vectors is not None:
                    self._vectors.close()
                raise
        self.conversations = ConversationStore(self._store.engine)
        if llm is not None and not callable(llm):
            raise ConfigurationError(
                "llm must be a callable prompt -> text; wrap a framework model with the "
                "adapters of langchain_multisession or llamaindex_multisession"
            )
        self.llm = llm
        if context is not None and not isinstance(context, ContextConfig):
            raise ConfigurationError(
                f"context must be a ContextConfig, got {type(context).__name__}"
            )
        self.context_config = context or ContextConfig()
        self._lock = threading.RLock()
        self._indexes: OrderedDict[str, _KeywordIndex] = OrderedDict()
        self._flush_size = check.check_positive_int(vector_flush_size, "vector_flush_size", 100_000)
        if not vector_flush_seconds > 0:
            raise ConfigurationError(
                f"vector_flush_seconds must be > 0, got {vector_flush_seconds!r}"
            )
        self._flush_seconds = float(vector_flush_seconds)
        self._buffer = VectorBuffer()
        self._vector_writes = threading.RLock()
        self._access = AccessLog()
        self._flush_timer: threading.Timer | None = None
        if repair_on_open and self._vectors is not None:
            self._reindex_pending()

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Flush buffered vectors and access counts, release connections and indexes."""
        timer, self._flush_timer = self._flush_timer, None
        if timer is not None:
            timer.cancel()
        self.flush_vectors()
        self._flush_access()
        with self._lock:
            self._indexes.clear()
        self._store.close()
        if self._vectors is not None:
            self._vectors.close()

    def __enter__(self) -> MemoryEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _now(self, now: datetime | None = None) -> datetime:
        value = check.check_time(now, "now") or self._clock()
        if value.tzinfo is None:
            raise ConfigurationError("the engine's clock must return timezone-aware datetimes")
        return value.astimezone(timezone.utc)

    # -- writes ------------------------------------------------------------------------

    def add(
        self,
        user_id: str,
        content: str,
        *,
        kind: str = "fact",
        conversation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
        id: str | None = None,
        now: datetime | None = None,
    ) -> Memory:
        """Remember one thing for a user; returns the stored memory.

        ``id`` sets the memory's id (32 lowercase hex characters) instead of a new one;
        an id the user already has is rejected.
        """
        item = MemoryInput(content, kind, conversation_id, metadata, created_at, id)
        return self.add_many(user_id, [item], now=now)[0]

    def add_many(
        self,
        user_id: str,
        items: Iterable[MemoryInput | str | Mapping[str, Any]],
        *,
        now: datetime | None = None,
        skip_existing: bool = False,
    ) -> builtins.list[Memory]:
        """Remember many things at once: one embedding batch, one SQL transaction.

        Every item is checked before anything is written; one bad item rejects the batch
        and stores nothing. Items are :class:`MemoryInput`, plain strings (facts) or dicts
        with MemoryInput's fields.

        Items may carry their own ``id``. An id the user already has rejects the batch,
        unless ``skip_existing`` is true: then that item is left out (the stored memory
        is kept as it is) and only the new ones are returned. That makes re-running an
        import with ids derived from its source safe.
        """
        user_id = check.check_user_id(user_id)
        now = self._now(now)
        rows = [self._row(self._coerce(item, position), now) for position, item in enumerate(items)]
        if not rows:
            return []
        seen: set[str] = set()
        for position, row in enumerate(rows):
            if row["id"] in seen:
                raise InvalidInputError(f"item {position}: id {row['id']} is given twice")
            seen.add(row["id"])
        if skip_existing:
            # Before embedding: a re-run import must not pay for what it skips.
            known = self._store.taken_ids(user_id, builtins.list(seen))
            rows = [row for row in rows if row["id"] not in known]
            if not rows:
                return []
        vectors = self._embed_for_write([row["content"] for row in rows])
        for position, row in enumerate(rows):
            row["embedding"] = to_bytes(vectors[position]) if vectors is not None else None
        version, inserted = self._store.insert(user_id, rows, now, skip_existing=skip_existing)
        if version is None:
            return []
        if len(inserted) != len(rows):
            # Another writer stored some of these ids between the check and the insert.
            inserted_ids = {row["id"] for row in inserted}
            keep = [i for i, row in enumerate(rows) if row["id"] in inserted_ids]
            rows = [rows[i] for i in keep]
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
            )
            for row in rows
        ]
        self._apply_to_keyword_index(user_id, version, upserted=index_rows)
        self._write_vectors(user_id, index_rows, vectors)
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
            )
            for row in rows
        ]

    def update(
        self,
        user_id: str,
        memory_id: str,
        *,
        content: str | None = None,
        kind: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Memory:
        """Change a memory's content, kind or metadata (metadata is replaced whole).

        New content is re-indexed for both keyword and vector search.
        """
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        values: dict[str, Any] = {}
        if content is not None:
            values["content"] = check.check_content(content, self.max_content_chars)
        if kind is not None:
            values["kind"] = check.check_kind(kind)
        if metadata is not None:
            values["metadata"] = check.check_metadata(metadata)
        if not values:
            raise InvalidInputError("update needs content, kind or metadata")
        now = self._now(now)
        self._flush_access(user_id)
        vectors = None
        if "content" in values:
            vectors = self._embed_for_write([values["content"]])
            # Without a new vector the old one must go: it describes the old content.
            values["embedding"] = to_bytes(vectors[0]) if vectors is not None else None
        result = self._store.update(user_id, memory_id, values, now)
        if result is None:
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        memory, version, embedding = result
        row = IndexRow(
            memory.id,
            memory.content,
            memory.kind,
            memory.conversation_id,
            memory.created_at,
            version,
            embedding,
        )
        self._apply_to_keyword_index(user_id, version, upserted=[row])
        if "content" in values or "kind" in values:
            if vectors is None and embedding is not None and self.embedder is not None:
                vectors = from_bytes(embedding, self.embedder.dimension)
                vectors = None if vectors is None else vectors.reshape(1, -1)
            self._write_vectors(user_id, [row], vectors)
        return memory

    def delete(self, user_id: str, memory_id: str, *, now: datetime | None = None) -> None:
        """Forget one memory. Raises MemoryNotFoundError if the user has no such memory."""
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        version = self._store.delete(user_id, memory_id, self._now(now))
        if version is None:
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        self._apply_to_keyword_index(user_id, version, removed=[memory_id])
        with self._vector_writes:  # not while a flush may still write it
            self._buffer.discard(user_id, [memory_id])
            self._delete_vector(user_id, memory_id)

    def _delete_vector(self, user_id: str, memory_id: str) -> None:
        if self._vectors is not None:
            try:
                self._vectors.delete(user_id, [memory_id])
            except Exception:
                self.events["vector_delete_failed"] += 1
                logger.warning(
                    "memory %s was deleted, but its vector could not be removed now; "
                    "repair() removes it (it is never returned meanwhile)",
                    memory_id,
                    exc_info=True,
                )

    def delete_user(self, user_id: str, *, now: datetime | None = None) -> int:
        """Forget a user entirely: SQL rows, vectors, keyword index. Returns the count.

        The audit log records that it happened, with a hash of the user id, never content.
        """
        user_id = check.check_user_id(user_id)
        count = self._store.delete_user(user_id, self._now(now))
        if count is None:
            raise MemoryNotFoundError(f"unknown user {user_id!r}")
        with self._lock:
            self._indexes.pop(user_id, None)
        self.conversations.forget_user(user_id)
        self._access.drop_user(user_id)
        with self._vector_writes:  # not while a flush may still write theirs
            self._buffer.drop_user(user_id)
            self._drop_vectors(user_id)
        return count

    def _drop_vectors(self, user_id: str) -> None:
        if self._vectors is not None:
            try:
                self._vectors.drop_user(user_id)
            except Exception:
                self.events["vector_delete_failed"] += 1
                logger.warning(
                    "the user was deleted, but their vectors could not be removed now; "
                    "repair() removes them (they are never returned meanwhile)",
                    exc_info=True,
                )

    # -- reads -------------------------------------------------------------------------

    def get(self, user_id: str, memory_id: str) -> Memory:
        """One memory of the user. Raises MemoryNotFoundError if there is none."""
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        self._flush_access(user_id)
        found = self._store.get_many(user_id, [memory_id]).get(memory_id)
        if found is None:
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        return found

    def list(
        self,
        user_id: str,
        *,
        kinds: Sequence[str] | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = True,
    ) -> builtins.list[Memory]:
        """A page of the user's memories, newest first by default."""
        user_id = check.check_user_id(user_id)
        where = self._filter(kinds, conversation_id, since, until)
        limit = check.check_positive_int(limit, "limit", 100_000)
        offset = check.check_non_negative_int(offset, "offset", 1_000_000_000)
        self._flush_access(user_id)
        return self._store.list(
            user_id, where, limit=limit, offset=offset, newest_first=newest_first
        )

    def count(
        self,
        user_id: str,
        *,
        kinds: Sequence[str] | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many memories the user has (matching the filters)."""
        user_id = check.check_user_id(user_id)
        return self._store.count(user_id, self._filter(kinds, conversation_id, since, until))

    def latest_texts(self, user_id: str, kind: str, limit: int) -> builtins.list[str]:
        """The contents of the user's newest memories of one kind (``limit`` of them).

        What prompts show, e.g. the current preferences: a light read that, unlike
        :meth:`list`, leaves pending access counts for their batched write.
        """
        user_id = check.check_user_id(user_id)
        kind = check.check_kind(kind)
        if check.check_non_negative_int(limit, "limit", 100_000) == 0:
            return []
        return [
            memory.content
            for memory in self._store.list(
                user_id, MemoryFilter(kinds=(kind,)), limit=limit, offset=0, newest_first=True
            )
        ]

    def has_user(self, user_id: str) -> bool:
        """Whether the store holds anything of this user (memories or conversations)."""
        return self._store.user_version(check.check_user_id(user_id)) is not None

    def users(self) -> builtins.list[str]:
        """Every user with stored memories or history."""
        return self._store.user_ids()

    def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything stored about a user, JSON-ready."""
        user_id = check.check_user_id(user_id)
        if self._store.user_version(user_id) is None:
            raise MemoryNotFoundError(f"unknown user {user_id!r}")
        self._flush_access(user_id)
        memories = self._store.list(
            user_id, MemoryFilter(), limit=None, offset=0, newest_first=False
        )
        conversations = [
            {
                **conversation.to_dict(),
                "messages": [
                    message.to_dict()
                    for message in self.conversations.messages(
                        user_id, conversation.conversation_id
                    )
                ],
            }
            for conversation in self.conversations.list(user_id)
        ]
        return {
            "user_id": user_id,
            "exported_at": self._now().isoformat(),
            "memories": [memory.to_dict() for memory in memories],
            "conversations": conversations,
        }

    def stats(self) -> dict[str, Any]:
        """Counts of users, memories and memories waiting for the vector index."""
        stats: dict[str, Any] = dict(self._store.stats())
        stats["embedder"] = self.embedder.name if self.embedder is not None else None
        # What made the stored vectors, also when this engine runs keyword-only.
        stats["store_embedder"] = self._store.recorded_embedder()
        stats["buffered_vectors"] = len(self._buffer)
        stats["pending_accesses"] = len(self._access)
        stats["events"] = dict(self.events)
        return stats

    def search(
        self,
        user_id: str,
        query: str,
        *,
        k: int = 10,
        kinds: Sequence[str] | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
        config: RetrievalConfig | None = None,
        query_vector: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
    ) -> builtins.list[SearchHit]:
        """Hybrid search over one user's memories, best first.

        BM25 and vector search each give up to ``candidate_depth`` candidates (filters
        applied inside both), weighted reciprocal rank fusion combines them, and temporal
        weighting reorders near-ties in favour of newer memories. Each hit carries its
        score breakdown.

        Args:
            user_id: Whose memories to search; no other user's are ever considered.
            query: What to look for.
            k: How many hits at most.
            kinds, conversation_id, since, until: Filters (``since`` inclusive,
                ``until`` exclusive, on ``created_at``).
            now: The time ages are measured from (default: the engine's clock).
            config: Retrieval settings for this call (default: the engine's).
            query_vector: A precomputed query embedding, skipping the embedder.
        """
        user_id = check.check_user_id(user_id)
        query = check.check_query(query)
        k = check.check_positive_int(k, "k", 10_000)
        if config is not None and not isinstance(config, RetrievalConfig):
            raise ConfigurationError(
                f"config must be a RetrievalConfig, got {type(config).__name__}"
            )
        settings = config or self.config
        where = self._filter(kinds, conversation_id, since, until)
        now = self._now(now)
        depth = max(settings.candidate_depth, k)
        vector = self._query_vector(query, query_vector, settings)

        version = self._store.user_version(user_id)
        if version is None:
            return []  # nothing stored for this user
        allowed = None if where.is_empty else self._store.filtered_ids(user_id, where)
        tokens = self._tokenize(query)
        semantic: builtins.list[tuple[str, float]] = []
        with self._lock:
            index = self._synced_index(user_id, version)
            keyword = (
                index.bm25.top_n(tokens, depth, allowed=allowed)
                if settings.bm25_weight > 0 and tokens
                else []
            )
            exact = index.vectors
            if vector is not None and exact is not None:
                semantic = exact.search(vector, depth, allowed)
        if vector is not None and exact is None and self._vectors is not None:
            try:
                semantic = self._vectors.query(user_id, vector, depth, where)
            except Exception:
                self.events["vector_search_failed"] += 1
                logger.warning(
                    "vector search failed; answering from keyword search alone", exc_info=True
                )
            buffered = self._buffer.search(user_id, vector, depth, allowed)
            if buffered:
                # A buffered vector is the newest one of its memory.
                merged = dict(semantic)
                merged.update(buffered)
                semantic = sorted(merged.items(), key=lambda item: -item[1])[:depth]
        with self._lock:
            created = {
                doc_id: index.created[doc_id]
                for doc_id, _ in (*keyword, *semantic)
                if doc_id in index.created
            }
        # A vector whose memory was deleted (by another process, or before a failed
        # vector delete) is skipped: SQL decides what exists.
        keyword = [(doc_id, score) for doc_id, score in keyword if doc_id in created]
        semantic = [(doc_id, sim) for doc_id, sim in semantic if doc_id in created]
        hits = self._rank(keyword, semantic, created, settings, now)[:k]
        ids = [doc_id for doc_id, _ in hits]
        memories = self._store.get_many(user_id, ids)
        if self.track_access and memories:
            for doc_id, (count, latest) in self._access.record(user_id, memories, now).items():
                stored = memories[doc_id]
                memories[doc_id] = replace(
                    stored,
                    access_count=stored.access_count + count,
                    last_accessed=max(latest, stored.last_accessed or latest),
                )
            self._schedule_flush()
        return [
            SearchHit(memories[doc_id], breakdown)
            for doc_id, breakdown in hits
            if doc_id in memories
        ]

    def _query_vector(
        self,
        query: str,
        query_vector: Sequence[float] | npt.NDArray[np.floating[Any]] | None,
        settings: RetrievalConfig,
    ) -> npt.NDArray[np.float32] | None:
        if settings.vector_weight <= 0 or self.embedder is None:
            return None
        if query_vector is not None:
            vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
            if vector.shape[0] != self.embedder.dimension or not np.all(np.isfinite(vector)):
                raise InvalidInputError(
                    f"query_vector must hold {self.embedder.dimension} finite numbers "
                    f"(the embedder's dimension), got shape {vector.shape}"
                )
            norm = float(np.linalg.norm(vector))
            return vector / norm if norm > 0 else vector
        try:
            return np.asarray(self.embedder.embed([query])[0], dtype=np.float32)
        except Exception:
            self.events["query_embedding_failed"] += 1
            logger.warning(
                "embedding the query failed; answering from keyword search alone", exc_info=True
            )
            return None

    @staticmethod
    def _rank(
        keyword: builtins.list[tuple[str, float]],
        semantic: builtins.list[tuple[str, float]],
        created: Mapping[str, float],
        settings: RetrievalConfig,
        now: datetime,
    ) -> builtins.list[tuple[str, ScoreBreakdown]]:
        fused = reciprocal_rank_fusion(
            [[doc_id for doc_id, _ in keyword], [doc_id for doc_id, _ in semantic]],
            [settings.bm25_weight, settings.vector_weight],
            settings.rrf_k,
        )
        keyword_rank = {doc_id: (rank, score) for rank, (doc_id, score) in enumerate(keyword, 1)}
        vector_rank = {doc_id: (rank, sim) for rank, (doc_id, sim) in enumerate(semantic, 1)}
        temporal = settings.temporal
        now_ts = now.timestamp()
        ranked: builtins.list[tuple[float, float, str, ScoreBreakdown]] = []
        for doc_id, fused_score in fused.items():
            created_ts = created.get(doc_id, now_ts)
            curve = recency(now_ts - created_ts, temporal.half_life_days, temporal.floor)
            multiplier = temporal_multiplier(curve, temporal.weight) if temporal.enabled else 1.0
            bm25 = keyword_rank.get(doc_id)
            dense = vector_rank.get(doc_id)
            breakdown = ScoreBreakdown(
                bm25_rank=bm25[0] if bm25 else None,
                bm25_score=bm25[1] if bm25 else None,
                vector_rank=dense[0] if dense else None,
                vector_similarity=dense[1] if dense else None,
                fused_score=fused_score,
                recency=curve,
                temporal_multiplier=multiplier,
                final_score=fused_score * multiplier,
            )
            ranked.append((breakdown.final_score, created_ts, doc_id, breakdown))
        # Best score first; between equal scores the newer memory, then the id.
        ranked.sort(key=lambda entry: (-entry[0], -entry[1], entry[2]))
        return [(doc_id, breakdown) for _, _, doc_id, breakdown in ranked]

    # -- conversations, resumption and context -----------------------------------------

    def add_messages(
        self,
        user_id: str,
        conversation_id: str,
        messages: Iterable[tuple[str, str] | Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> builtins.list[Message]:
        """Append chat messages (``(role, content)`` or dicts with role/content/metadata)."""
        user_id = check.check_user_id(user_id)
        conversation_id = _require_conversation(conversation_id)
        rows: builtins.list[tuple[str, str, Mapping[str, Any] | None]] = []
        for position, message in enumerate(messages):
            if isinstance(message, Mapping):
                rows.append((message.get("role"), message.get("content"), message.get("metadata")))  # type: ignore[arg-type]
            elif isinstance(message, tuple) and len(message) == 2:
                rows.append((message[0], message[1], None))
            else:
                raise InvalidInputError(
                    f"message {position}: expected (role, content) or a dict, "
                    f"got {type(message).__name__}"
                )
        return self.conversations.add_messages(user_id, conversation_id, rows, self._now(now))

    def get_messages(
        self, user_id: str, conversation_id: str, *, last: int | None = None
    ) -> builtins.list[Message]:
        """A conversation's messages in order; ``last`` keeps the latest ones."""
        user_id = check.check_user_id(user_id)
        conversation_id = _require_conversation(conversation_id)
        if last is not None:
            last = check.check_positive_int(last, "last", 1_000_000)
        return self.conversations.messages(user_id, conversation_id, last=last)

    def clear_conversation(self, user_id: str, conversation_id: str) -> int:
        """Delete a conversation's messages and summary (not the user's memories)."""
        user_id = check.check_user_id(user_id)
        return self.conversations.clear(user_id, _require_conversation(conversation_id))

    def preferences(self, user_id: str, *, limit: int = 50) -> builtins.list[Memory]:
        """The user's preferences, newest first."""
        return self.list(user_id, kinds=["preference"], limit=limit)

    def set_preference(self, user_id: str, content: str, **kwargs: Any) -> Memory:
        """Remember a preference (a memory of kind ``preference``)."""
        return self.add(user_id, content, kind="preference", **kwargs)

    def resume(
        self,
        user_id: str,
        conversation_id: str | None = None,
        *,
        now: datetime | None = None,
    ) -> Resumption:
        """The resumption context: mode by the gap since the last interaction."""
        user_id = check.check_user_id(user_id)
        config = self.context_config.resume
        return resumption_for(
            self.conversations,
            user_id,
            check.check_conversation_id(conversation_id),
            now=self._now(now),
            config=config,
            preferences=self.latest_texts(user_id, "preference", config.max_preferences),
        )

    def build_context(
        self,
        user_id: str,
        query: str,
        *,
        conversation_id: str | None = None,
        now: datetime | None = None,
        config: ContextConfig | None = None,
        resumption: Resumption | None = None,
    ) -> BuiltContext:
        """The budgeted prompt for the user's next message.

        Call it before recording the message, or pass the ``resumption`` taken with
        :meth:`resume` when the session started.
        """
        user_id = check.check_user_id(user_id)
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        config = config or self.context_config
        now = self._now(now)
        built = build_context(
            query,
            search=functools.partial(self._search_for_context, user_id, now=now),
            conversations=self.conversations,
            user_id=user_id,
            conversation_id=check.check_conversation_id(conversation_id),
            preferences=self.latest_texts(user_id, "preference", config.resume.max_preferences),
            now=now,
            config=config,
            resumption=resumption,
        )
        if built.warnings:
            self.events["context_retrieval_failed"] += 1
        return built

    def _search_for_context(
        self, user_id: str, query: str, k: int, *, now: datetime
    ) -> builtins.list[SearchHit]:
        return self.search(user_id, query, k=k, now=now)

    def record_exchange(
        self,
        user_id: str,
        conversation_id: str,
        user_message: str,
        assistant_message: str | None = None,
        *,
        now: datetime | None = None,
    ) -> builtins.list[Memory]:
        """Store a turn and the memories worth keeping from it; returns those memories."""
        user_id = check.check_user_id(user_id)
        now = self._now(now)
        return record_exchange(
            self.conversations,
            functools.partial(self.add_many, user_id, now=now),
            user_id,
            _require_conversation(conversation_id),
            user_message,
            assistant_message,
            now=now,
            llm=self.llm,
            max_chars=self.max_content_chars,
            summary_every=self.context_config.summary_every,
        )

    # -- maintenance -------------------------------------------------------------------

    def repair(self) -> RepairReport:
        """Bring the vector index in line with SQL.

        Indexes every memory SQL holds that the vector index lacks, and removes vectors
        whose memory no longer exists. SQL marks the memories a killed writer or a
        vector store that was down left out; beyond those, each user's vector ids are
        compared with SQL's, which also rebuilds a vector index that was lost or
        replaced. Vectors come from SQL, where each memory keeps its own; only memories
        never embedded go to the embedder. Safe to run while other processes write.
        """
        reindexed = self._reindex_pending()
        self.flush_vectors()
        reindexed += self._restore_missing_vectors()
        orphans = 0
        if self._vectors is not None:
            orphans = self._vectors.remove_orphans(self._store.existing_ids)
        return RepairReport(reindexed=reindexed, orphans_removed=orphans)

    def _restore_missing_vectors(self) -> int:
        """Index what SQL holds and the vector index lacks, though SQL thinks it is there."""
        if self._vectors is None or self.embedder is None:
            return 0
        count = 0
        for user_id in self._store.user_ids():
            _, revisions = self._store.revisions(user_id)
            if not revisions:
                continue
            missing = sorted(set(revisions) - self._vectors.ids(user_id))
            for start in range(0, len(missing), _VECTOR_BATCH):
                rows = self._store.index_rows(
                    user_id, missing[start : start + _VECTOR_BATCH], with_embeddings=True
                )
                count += self._index_vectors_of(user_id, rows)
        if count:
            logger.info("restored %d vectors the vector index had lost", count)
        return count

    def _reindex_pending(self) -> int:
        if self._vectors is None or self.embedder is None:
            return 0
        count = 0
        for user_id, rows in self._store.pending_vectors(_VECTOR_BATCH):
            count += self._index_vectors_of(user_id, rows)
        if count:
            logger.info("re-indexed %d memories missing from the vector index", count)
        return count

    def _index_vectors_of(self, user_id: str, rows: Sequence[IndexRow]) -> int:
        """Write these memories to the vector index: vectors from SQL, else embedded."""
        assert self.embedder is not None
        dimension = self.embedder.dimension
        vectors = np.zeros((len(rows), dimension), dtype=np.float32)
        missing = []
        for position, row in enumerate(rows):
            stored = None if row.embedding is None else from_bytes(row.embedding, dimension)
            if stored is None:
                missing.append(position)
            else:
                vectors[position] = stored
        if missing:
            vectors[missing] = self.embedder.embed([rows[i].content for i in missing])
            # SQL keeps the new vectors too, under new revisions, so that every
            # process's exact search loads them.
            revised = self._store.store_embeddings(
                user_id,
                {rows[i].id: (rows[i].revision, to_bytes(vectors[i])) for i in missing},
                self._now(),
            )
            rows = [
                replace(row, revision=revised[row.id]) if row.id in revised else row for row in rows
            ]
        self._upsert_vectors(user_id, rows, vectors)
        return len(rows)

    # -- internals ---------------------------------------------------------------------

    def _filter(
        self,
        kinds: Sequence[str] | None,
        conversation_id: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> MemoryFilter:
        if isinstance(kinds, str):
            raise InvalidInputError("kinds must be a list of kinds, e.g. ['fact'], not a string")
        return MemoryFilter(
            kinds=tuple(check.check_kind(kind) for kind in kinds) if kinds is not None else None,
            conversation_id=check.check_conversation_id(conversation_id),
            since=check.check_time(since, "since"),
            until=check.check_time(until, "until"),
        )

    def _coerce(self, item: MemoryInput | str | Mapping[str, Any], position: int) -> MemoryInput:
        if isinstance(item, MemoryInput):
            return item
        if isinstance(item, str):
            return MemoryInput(item)
        if isinstance(item, Mapping):
            try:
                return MemoryInput(**item)
            except TypeError as error:
                raise InvalidInputError(f"item {position}: {error}") from error
        raise InvalidInputError(
            f"item {position}: expected MemoryInput, str or dict, got {type(item).__name__}"
        )

    def _row(self, item: MemoryInput, now: datetime) -> dict[str, Any]:
        created_at = check.check_time(item.created_at, "created_at") or now
        return {
            "id": new_id() if item.id is None else check.check_memory_id(item.id),
            "content": check.check_content(item.content, self.max_content_chars),
            "kind": check.check_kind(item.kind),
            "conversation_id": check.check_conversation_id(item.conversation_id),
            "metadata": check.check_metadata(item.metadata),
            "created_at": created_at.astimezone(timezone.utc),
        }

    def _embed_for_write(self, texts: builtins.list[str]) -> npt.NDArray[np.float32] | None:
        """Vectors for new content, or None (the rows then wait for repair())."""
        if self.embedder is None:
            return None
        try:
            return self.embedder.embed(texts)
        except Exception:
            self.events["embedding_failed"] += 1
            logger.warning(
                "embedding failed; the memories are stored and searchable by keyword, "
                "and repair() adds their vectors later",
                exc_info=True,
            )
            return None

    def _write_vectors(
        self,
        user_id: str,
        rows: Sequence[IndexRow],
        vectors: npt.NDArray[np.float32] | None,
    ) -> None:
        """Index new vectors: small writes go to the buffer, large ones straight in."""
        if self._vectors is None or vectors is None or not rows:
            return
        if len(rows) < self._flush_size:
            self._buffer.add(user_id, builtins.list(rows), vectors)
            if len(self._buffer) >= self._flush_size or self._buffer.age() >= self._flush_seconds:
                self.flush_vectors()
            else:
                self._schedule_flush()
            return
        try:
            with self._vector_writes:
                self._upsert_vectors(user_id, rows, vectors)
        except Exception:
            self.events["vector_write_failed"] += 1
            logger.warning(
                "the vector index could not be written; the memories are stored and "
                "searchable by keyword, and repair() indexes them later",
                exc_info=True,
            )

    def _upsert_vectors(
        self, user_id: str, rows: Sequence[IndexRow], vectors: npt.NDArray[np.float32]
    ) -> None:
        assert self._vectors is not None
        for start in range(0, len(rows), _VECTOR_BATCH):
            chunk = rows[start : start + _VECTOR_BATCH]
            self._vectors.upsert(
                user_id,
                [row.id for row in chunk],
                vectors[start : start + _VECTOR_BATCH],
                [_vector_metadata(row) for row in chunk],
            )
            self._store.mark_vector_indexed(user_id, {row.id: row.revision for row in chunk})

    def flush_vectors(self) -> int:
        """Write buffered vectors to the vector index now; returns how many were written.

        If the vector index is unreachable they stay buffered (and marked in SQL as not
        yet indexed), and a later flush or :meth:`repair` writes them.
        """
        written = 0
        # One flush at a time (the timer's and a writer's): an older vector of a memory
        # must never reach the index after a newer one.
        with self._vector_writes:
            taken = self._buffer.take()
            for user_id, entries in taken.items():
                try:
                    self._upsert_vectors(
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
        self._flush_access()

    def _flush_access(self, user_id: str | None = None) -> None:
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

    def _apply_to_keyword_index(
        self,
        user_id: str,
        version: int,
        *,
        upserted: Sequence[IndexRow] = (),
        removed: Sequence[str] = (),
    ) -> None:
        """Apply this process's own write to a loaded index, without a reload."""
        with self._lock:
            index = self._indexes.get(user_id)
            if index is None:
                return  # loaded from SQL on first search
            self._index_rows(index, upserted)
            for doc_id in removed:
                index.bm25.remove(doc_id)
                index.revisions.pop(doc_id, None)
                index.created.pop(doc_id, None)
                if index.vectors is not None:
                    index.vectors.remove(doc_id)
            # Contiguous versions mean no other process wrote in between; otherwise the
            # next search compares revisions with SQL and catches up.
            if index.version is not None and version == index.version + 1:
                index.version = version

    def _index_rows(self, index: _KeywordIndex, rows: Sequence[IndexRow]) -> None:
        index.bm25.add_many((row.id, self._tokenize(row.content)) for row in rows)
        for row in rows:
            index.revisions[row.id] = row.revision
            index.created[row.id] = row.created_at.timestamp()
        if index.vectors is not None:
            self._index_vectors(index.vectors, rows)
            if len(index.vectors) > self._exact_limit:
                index.vectors = None  # grown out of exact search: the vector index serves it

    def _index_vectors(self, vectors: ExactVectors, rows: Iterable[IndexRow]) -> None:
        for row in rows:
            vector = None if row.embedding is None else from_bytes(row.embedding, vectors.dimension)
            if vector is None:
                vectors.remove(row.id)  # not embedded yet: repair() brings it
            else:
                vectors.upsert(row.id, vector)

    def _synced_index(self, user_id: str, version: int) -> _KeywordIndex:
        """The user's in-process indexes, caught up with every write in SQL.

        ``version`` is the user's version, read before the call. Holds the lock.
        """
        index = self._indexes.get(user_id)
        if index is not None and index.version == version:
            self._indexes.move_to_end(user_id)
            return index
        if index is None:
            # Rows read after the version: a write in between is loaded now and
            # applied again at the next search, which sees a newer version.
            exact = self._exact_search_fits(self._store.count(user_id))
            index = _KeywordIndex(BM25Index())
            if exact and self.embedder is not None:
                index.vectors = ExactVectors(self.embedder.dimension)
            self._index_rows(index, self._store.index_rows(user_id, with_embeddings=exact))
        else:
            current, revisions = self._store.revisions(user_id)
            version = current if current is not None else version  # None: deleted meanwhile
            for doc_id in set(index.revisions) - set(revisions):
                index.bm25.remove(doc_id)
                index.revisions.pop(doc_id)
                index.created.pop(doc_id, None)
                if index.vectors is not None:
                    index.vectors.remove(doc_id)
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
        self._evict_indexes()
        return index

    def _exact_search_fits(self, memories: int) -> bool:
        return (
            self.embedder is not None
            and memories <= self._exact_limit
            and memories <= self._max_cached_vectors
            and self._exact_limit > 0
        )

    def _evict_indexes(self) -> None:
        """Let go of the least recently searched users beyond the memory bounds."""
        while len(self._indexes) > self._max_cached_users:
            self._indexes.popitem(last=False)
        held = sum(len(i.vectors) for i in self._indexes.values() if i.vectors is not None)
        while held > self._max_cached_vectors and len(self._indexes) > 1:
            _, evicted = self._indexes.popitem(last=False)
            if evicted.vectors is not None:
                held -= len(evicted.vectors)

    # -- async twins ---------------------------------------------------------------------

    async def aadd(self, user_id: str, content: str, **kwargs: Any) -> Memory:
        """Async :meth:`add` (runs in a worker thread)."""
        return await asyncio.to_thread(self.add, user_id, content, **kwargs)

    async def aadd_many(
        self, user_id: str, items: Iterable[MemoryInput | str | Mapping[str, Any]], **kwargs: Any
    ) -> builtins.list[Memory]:
        """Async :meth:`add_many`."""
        return await asyncio.to_thread(self.add_many, user_id, list(items), **kwargs)

    async def asearch(self, user_id: str, query: str, **kwargs: Any) -> builtins.list[SearchHit]:
        """Async :meth:`search`."""
        return await asyncio.to_thread(self.search, user_id, query, **kwargs)

    async def aget(self, user_id: str, memory_id: str) -> Memory:
        """Async :meth:`get`."""
        return await asyncio.to_thread(self.get, user_id, memory_id)

    async def alist(self, user_id: str, **kwargs: Any) -> builtins.list[Memory]:
        """Async :meth:`list`."""
        return await asyncio.to_thread(self.list, user_id, **kwargs)

    async def aupdate(self, user_id: str, memory_id: str, **kwargs: Any) -> Memory:
        """Async :meth:`update`."""
        return await asyncio.to_thread(self.update, user_id, memory_id, **kwargs)

    async def adelete(self, user_id: str, memory_id: str, **kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, user_id, memory_id, **kwargs)

    async def adelete_user(self, user_id: str, **kwargs: Any) -> int:
        """Async :meth:`delete_user`."""
        return await asyncio.to_thread(self.delete_user, user_id, **kwargs)

    async def aexport_user(self, user_id: str) -> dict[str, Any]:
        """Async :meth:`export_user`."""
        return await asyncio.to_thread(self.export_user, user_id)

    async def aadd_messages(
        self, user_id: str, conversation_id: str, messages: Iterable[Any], **kwargs: Any
    ) -> builtins.list[Message]:
        """Async :meth:`add_messages`."""
        return await asyncio.to_thread(
            self.add_messages, user_id, conversation_id, list(messages), **kwargs
        )

    async def aget_messages(
        self, user_id: str, conversation_id: str, **kwargs: Any
    ) -> builtins.list[Message]:
        """Async :meth:`get_messages`."""
        return await asyncio.to_thread(self.get_messages, user_id, conversation_id, **kwargs)

    async def aclear_conversation(self, user_id: str, conversation_id: str) -> int:
        """Async :meth:`clear_conversation`."""
        return await asyncio.to_thread(self.clear_conversation, user_id, conversation_id)

    async def aresume(
        self, user_id: str, conversation_id: str | None = None, **kwargs: Any
    ) -> Resumption:
        """Async :meth:`resume`."""
        return await asyncio.to_thread(self.resume, user_id, conversation_id, **kwargs)

    async def abuild_context(self, user_id: str, query: str, **kwargs: Any) -> BuiltContext:
        """Async :meth:`build_context`."""
        return await asyncio.to_thread(self.build_context, user_id, query, **kwargs)

    async def arecord_exchange(
        self, user_id: str, conversation_id: str, user_message: str, *args: Any, **kwargs: Any
    ) -> builtins.list[Memory]:
        """Async :meth:`record_exchange`."""
        return await asyncio.to_thread(
            self.record_exchange, user_id, conversation_id, user_message, *args, **kwargs
        )


def _require_conversation(conversation_id: object) -> str:
    checked = check.check_conversation_id(conversation_id)
    if checked is None:
        raise InvalidInputError("conversation_id is required here")
    return checked


def _vector_metadata(row: IndexRow) -> dict[str, str | float]:
    metadata: dict[str, str | float] = {"kind": row.kind, "created_ts": row.created_at.timestamp()}
    if row.conversation_id is not None:
        metadata["conversation_id"] = row.conversation_id
    return metadata
