"""The memory engine: the facade that checks every argument and wires the layers.

Searches go to :class:`~multisession.retrieval.hybrid.HybridSearch`, writes to
:class:`~multisession.retrieval.indexing.Indexer`, and what follows SQL behind to
:class:`~multisession.storage.write_behind.WriteBehind`; the chat-facing methods and
the async twins are mixed in from their own modules.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Connection

from . import _validation as check
from ._async_twins import AsyncTwins
from ._conversation_methods import ConversationMethods
from ._latency import SearchLatency
from ._lifecycle_methods import LifecycleMethods
from ._maintenance_methods import MaintenanceMethods
from ._privacy_methods import PrivacyMethods
from .context.builder import ContextConfig
from .embeddings.base import Embedder, as_embedder
from .embeddings.minilm import default_embedder
from .errors import (
    BackendUnavailableError,
    ConfigurationError,
    InvalidInputError,
    MemoryNotFoundError,
)
from .extraction.models import LLMInput, as_llm
from .lifecycle import LifecycleConfig, Planner
from .lifecycle.consolidation import ConsolidationConfig, prefer_summaries
from .lifecycle.relevance import DEFAULT_MIN_RELEVANCE, relevance
from .lifecycle.retention import RetentionPolicy
from .lifecycle.slot_keys import slot_keys
from .lifecycle.small_talk import is_follow_up, is_small_talk
from .privacy import PrivacyConfig, SensitivityClassifier
from .records import Memory, MemoryFilter, MemoryInput, SearchHit
from .retrieval.config import RetrievalConfig
from .retrieval.hybrid import HybridSearch
from .retrieval.indexing import Indexer
from .retrieval.terms import Tokenizer, TokenizerConfig
from .retrieval.user_indexes import UserIndexes
from .storage.conversations import ConversationStore
from .storage.encryption import KeySource, open_store_cipher, resolve_master_key, sealed_classes
from .storage.layout import open_stores
from .storage.result_cache import ResultCache
from .storage.write_behind import RepairReport, WriteBehind

__all__ = ["MemoryEngine", "RepairReport"]

Clock = Callable[[], datetime]


class _Default(enum.Enum):
    """Marker: resolve the offline default embedder (see :func:`default_embedder`)."""

    EMBEDDER = "default"

    def __repr__(self) -> str:
        return "DEFAULT_EMBEDDER"

    __str__ = __repr__


DEFAULT_EMBEDDER: Final = _Default.EMBEDDER


class MemoryEngine(
    ConversationMethods, LifecycleMethods, MaintenanceMethods, PrivacyMethods, AsyncTwins
):
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
        max_cached_users: How many users' in-process indexes stay in memory at most;
            None (the default) bounds them by ``max_cached_bytes`` alone.
        llm: Optional; the language model for rolling summaries, fact extraction and
            the lifecycle's decisions: a function ``prompt -> text`` (sync or
            ``async def``), a LangChain chat model or a LlamaIndex LLM. The async
            methods await a model's async form on the caller's event loop; a sync-only
            model runs in their worker thread. Without one, deterministic fallbacks do
            all three.
        context: How :meth:`build_context` fills the prompt; by default within 4096
            tokens, 512 of them kept for the reply (set ``ContextConfig(budget=
            ContextBudget(max_tokens=...))`` for your model). The built context says
            how much history was trimmed to fit (``trimmed_messages``,
            ``trimmed_tokens``).
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
            all cached users at most (4 bytes per dimension each); None (the default)
            bounds them by ``max_cached_bytes`` alone.
        max_cached_bytes: About how much memory the users' in-process indexes (keyword
            indexes and exact vectors) may take together, 1 GiB by default: a user
            of 1,000 memories takes about 3 MB with MiniLM vectors, so this holds
            the ~350 most recently searched such users. The least recently searched go first; a
            search of a user not held loads them from SQL (a few milliseconds per
            thousand memories). ``engine.indexes.cached_bytes()`` tells the estimate.
        vector_timeout: Seconds each call to a Chroma server may take. A server that
            does not answer (frozen, down) costs a call at most this long; then searches
            use keywords only and writes wait in SQL for the vector index, for a short
            cool-down before the server is tried again. The engine opens while the
            server is down.
        privacy: How each memory and message is classified by sensitivity when it is
            written (:class:`~multisession.privacy.PrivacyConfig`); the class and the
            detectors that fired are stored beside it and can be filtered on. True (the
            default) uses the built-in offline detectors and classes; False stores
            everything unclassified.
        cache_url: ``redis://host:port/db`` of a Redis server that caches search results
            and session windows for every process of the store (``pip install
            'multisession[redis]'``); None (the default) caches nothing. An entry belongs
            to the user's version (a window, to its conversation's message count and
            newest message), which every write changes in SQL, so no process is ever
            served one from before a write; a failing Redis only makes reads uncached.
        cache_ttl: Seconds a cached search result or window lives. Within it, the result's ages
            (temporal weighting) and access counts are those of when it was cached.
        lifecycle: What a write does to older memories: supersede the ones it replaces,
            fold repeats in (see :class:`~multisession.lifecycle.LifecycleConfig`).
        min_relevance: The evidence of relevance a hit needs, in ``[0, 1]`` (see
            :func:`~multisession.lifecycle.relevance.relevance`), for :meth:`search` and
            :meth:`build_context` unless they pass their own; 0 keeps every hit. Above
            0, small talk retrieves nothing (see :mod:`multisession.lifecycle.small_talk`).
        consolidation: How :meth:`consolidate` groups episodes and writes summaries
            (see :class:`~multisession.lifecycle.consolidation.ConsolidationConfig`).
        retention: The policy :meth:`apply_retention` applies when given none.
        encryption_key: The master key that turns on encryption at rest: a
            :class:`~multisession.privacy.keys.MasterKey`, its 32 bytes, its text (64
            hex digits or base64), or a callable returning one (e.g. from a KMS). None
            (the default) reads the environment variable ``MULTISESSION_MASTER_KEY`` if
            it is set, and otherwise encrypts nothing. With a key, the content and
            metadata of memories and messages of the ``encrypt`` class or above are
            stored encrypted with their user's own data key, which the master key wraps;
            search and every read see them as before. A store with encrypted memories
            opened without its key is read-only and leaves them out (a warning says how
            many); opened with another key it is refused, and nothing is changed.
        encrypt: Which memories and messages are encrypted: those of this privacy class
            and the more sensitive ones (``"sensitive"``, ``"personal"``; any class of
            ``privacy`` may be named), or ``"all"``. None (the default) is the most
            sensitive class, ``"sensitive"`` unless ``privacy`` names others.
        data_keys_url: SQLAlchemy URL of the database that keeps the users' wrapped data
            keys. By default ``<directory>/keys.db`` (the SQL store's own database when
            there is no directory). Deleting a user destroys their data key, so that
            copies of the store made earlier can no longer be read for that user, as
            long as the key table is not restored from such a copy: back it up apart.
        previous_encryption_keys: Earlier master keys, to open a store whose key
            rotation (:meth:`rotate_encryption_key`) was interrupted.
        seal_vectors: Encrypt the vectors of encrypted memories too, and keep them out
            of the vector index (Chroma): the exact search of users within
            ``exact_vector_limit`` decrypts them when it loads the user, and above it
            those memories are found by keyword only. Needs ``encryption_key``; not
            with pgvector, whose index is built from the vectors SQL holds in plaintext.

    Attributes:
        indexes: The users' in-process indexes: which users, how many vectors and
            about how many bytes are held.

    Raises:
        ConfigurationError: A setting is of the wrong type or out of range (all are
            checked before a store opens), or a store cannot be used with this embedder.
    """

    def __init__(
        self,
        directory: str | PathLike[str] | None = None,
        *,
        sql_url: str | None = None,
        vector_url: str | None = None,
        embedder: Embedder
        | Callable[[builtins.list[str]], Any]
        | Literal[_Default.EMBEDDER]
        | None = DEFAULT_EMBEDDER,
        config: RetrievalConfig | None = None,
        tokenizer: TokenizerConfig | None = None,
        clock: Clock | None = None,
        max_content_chars: int = 32_000,
        track_access: bool = True,
        repair_on_open: bool = True,
        max_cached_users: int | None = None,
        llm: LLMInput | None = None,
        context: ContextConfig | None = None,
        vector_flush_size: int = 64,
        vector_flush_seconds: float = 1.0,
        exact_vector_limit: int = 50_000,
        max_cached_vectors: int | None = None,
        max_cached_bytes: int = 1 << 30,
        vector_timeout: float = 5.0,
        privacy: PrivacyConfig | bool = True,
        cache_url: str | None = None,
        cache_ttl: float = 60.0,
        lifecycle: LifecycleConfig | None = None,
        min_relevance: float = DEFAULT_MIN_RELEVANCE,
        consolidation: ConsolidationConfig | None = None,
        retention: RetentionPolicy | None = None,
        encryption_key: KeySource | None = None,
        encrypt: str | None = None,
        data_keys_url: str | None = None,
        previous_encryption_keys: Sequence[KeySource] = (),
        seal_vectors: bool = False,
    ) -> None:
        # Every setting is checked before a store is opened: a bad one leaves nothing open.
        self.config = check.check_setting_type(config, RetrievalConfig, "config") or (
            RetrievalConfig()
        )
        tokenize = Tokenizer(
            check.check_setting_type(tokenizer, TokenizerConfig, "tokenizer") or TokenizerConfig()
        )
        self.context_config = check.check_setting_type(context, ContextConfig, "context") or (
            ContextConfig()
        )
        self.min_relevance = _check_floor(min_relevance)
        self.lifecycle_config = (
            check.check_setting_type(lifecycle, LifecycleConfig, "lifecycle") or LifecycleConfig()
        )
        self.consolidation = (
            check.check_setting_type(consolidation, ConsolidationConfig, "consolidation")
            or ConsolidationConfig()
        )
        self.retention = check.check_setting_type(retention, RetentionPolicy, "retention")
        self.max_content_chars = check.check_setting_int(
            max_content_chars, "max_content_chars", 1, 10_000_000
        )
        if max_cached_users is not None:
            check.check_setting_int(max_cached_users, "max_cached_users", 1, 10**6)
        exact_vector_limit = check.check_setting_int(
            exact_vector_limit, "exact_vector_limit", 0, 10**8
        )
        if max_cached_vectors is not None:
            check.check_setting_int(max_cached_vectors, "max_cached_vectors", 0, 10**9)
        max_cached_bytes = check.check_setting_int(max_cached_bytes, "max_cached_bytes", 0, 2**62)
        flush_size = check.check_setting_int(vector_flush_size, "vector_flush_size", 1, 100_000)
        flush_seconds = check.check_setting_seconds(vector_flush_seconds, "vector_flush_seconds")
        vector_timeout = check.check_setting_seconds(vector_timeout, "vector_timeout")
        cache_ttl = check.check_setting_seconds(cache_ttl, "cache_ttl")
        if cache_url is not None and not isinstance(cache_url, str):
            raise ConfigurationError("cache_url must be a Redis URL such as redis://host:6379/0")
        #: The ``llm`` as one ``prompt -> text`` call (awaited on async paths when it can be).
        self.llm: Callable[[str], str] | None = as_llm(llm)
        if not isinstance(privacy, (bool, PrivacyConfig)):
            raise ConfigurationError(
                "privacy must be True, False or a multisession.privacy.PrivacyConfig, "
                f"got {type(privacy).__name__}"
            )
        #: Classifies what is written; None when classification is turned off.
        self.privacy = (
            SensitivityClassifier(None if privacy is True else privacy)
            if privacy is not False
            else None
        )
        master_key = resolve_master_key(encryption_key)
        if not isinstance(seal_vectors, bool) or (seal_vectors and master_key is None):
            raise ConfigurationError(
                "seal_vectors=True encrypts the vectors of encrypted memories, and needs a "
                f"master key: pass encryption_key=... too (got seal_vectors={seal_vectors!r})"
            )
        classes = self.privacy.classes if self.privacy else None
        # A class given is checked also without a key (a misspelt one is caught before
        # it matters); by default the most sensitive class is encrypted.
        sealed = (
            sealed_classes(encrypt or (classes[-1] if classes else "sensitive"), classes)
            if master_key is not None or (encrypt is not None and classes is not None)
            else None
        )
        if data_keys_url is None and directory is not None:
            data_keys_url = f"sqlite:///{Path(directory).expanduser().resolve() / 'keys.db'}"
        self.track_access = track_access
        self._clock: Clock = clock or functools.partial(datetime.now, timezone.utc)
        self.events: Counter[str] = Counter()
        #: How long searches take (exported by :mod:`multisession.metrics`); a search
        #: slower than its ``slow_seconds`` is logged with the user hashed.
        self.search_latency = SearchLatency()

        self.embedder, self._store, self._vectors = open_stores(
            directory,
            sql_url,
            vector_url,
            functools.partial(_resolve, embedder),
            vector_timeout,
        )
        try:
            self._store.cipher = open_store_cipher(
                self._store,
                master_key,
                previous=previous_encryption_keys,
                classes=sealed,
                keys_url=data_keys_url,
                seal_vectors=seal_vectors,
            )
            if seal_vectors and self._vectors is not None and self._vectors.in_sql:
                if self._store.cipher is not None:
                    self._store.cipher.close()
                raise ConfigurationError(
                    "seal_vectors=True cannot keep vectors out of pgvector, whose index is "
                    "built from the vectors SQL holds: use a Chroma vector index "
                    "(vector_url) or leave seal_vectors off"
                )
        except BaseException:
            self._store.close()
            if self._vectors is not None:
                self._vectors.close()
            raise
        self._cache: ResultCache | None = None
        if cache_url is not None:
            try:
                self._cache = ResultCache(cache_url, self._store, ttl=cache_ttl, events=self.events)
            except BaseException:
                self._store.close()
                if self._vectors is not None:
                    self._vectors.close()
                raise
        self.conversations = ConversationStore(
            self._store.engine,
            classify=self._classify if self.privacy else None,
            cipher=self._store.cipher,
            window_cache=self._cache,
        )
        self.indexes = UserIndexes(
            self._store,
            tokenize,
            dimension=self.embedder.dimension if self.embedder is not None else None,
            exact_limit=exact_vector_limit,
            max_bytes=max_cached_bytes,
            max_users=max_cached_users,
            max_vectors=max_cached_vectors,
            in_vector_index=(
                None
                if self._vectors is None or self._vectors.in_sql
                else lambda user_id: self._writes.holds_user(user_id)
            ),
        )
        self._writes = WriteBehind(
            self._store,
            self._vectors,
            self.embedder,
            self._now,
            flush_size,
            flush_seconds,
            self.events,
            exact_limit=exact_vector_limit,
        )
        self._indexer = Indexer(self._store, self.indexes, self._writes)
        self._indexer.events = self.events
        self._indexer.planner = Planner(
            self._store, self.indexes, tokenize, self.lifecycle_config, self.llm, self.events
        )
        self._hybrid = HybridSearch(
            self._store,
            self.indexes,
            self._vectors,
            self._writes,
            self.embedder,
            tokenize,
            self.events,
        )
        if self._vectors is not None:
            try:
                self._writes.upgrade_layout()
                if repair_on_open:
                    self._writes.reindex_pending()
                    self._writes.check_index()
            except BackendUnavailableError:
                # The vector server is down: open for keyword search; repair() catches up.
                self.events["repair_on_open_failed"] += 1

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Flush buffered vectors and access counts, release connections and indexes."""
        self._writes.close()
        self.indexes.clear()
        self._store.close()
        if self._store.cipher is not None:
            self._store.cipher.close()
        if self._vectors is not None:
            self._vectors.close()
        if self._cache is not None:
            self._cache.close()

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
        scope: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
        id: str | None = None,
        now: datetime | None = None,
    ) -> Memory:
        """Remember one thing for a user; returns the stored memory.

        ``id`` sets the memory's id (32 lowercase hex characters) instead of a new one;
        an id the user already has is rejected. ``scope`` files it under an app, agent
        or run of the user (see :meth:`search`).
        """
        item = MemoryInput(content, kind, conversation_id, metadata, created_at, id, scope)
        return self.add_many(user_id, [item], now=now)[0]

    def add_many(
        self,
        user_id: str,
        items: Iterable[MemoryInput | str | Mapping[str, Any]],
        *,
        scope: str | None = None,
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

        ``scope`` is the scope of every item that names none of its own.
        """
        user_id = check.check_user_id(user_id)
        scope = check.check_scope(scope)
        now = self._now(now)
        rows = self._memory_rows(items, now)
        for row in rows:
            row["scope"] = row["scope"] or scope
        added = self._indexer.add(user_id, rows, now, skip_existing=skip_existing)
        self.events["memories_written"] += len(added)
        return added

    def _add_with(
        self,
        user_id: str,
        now: datetime,
        items: Iterable[MemoryInput],
        also: Callable[[Connection], None],
    ) -> builtins.list[Memory]:
        """Add memories of a checked user; ``also`` writes in the same SQL transaction."""
        rows = self._memory_rows(items, now)
        added = self._indexer.add(user_id, rows, now, also=also)
        self.events["memories_written"] += len(added)
        return added

    def _memory_rows(
        self, items: Iterable[MemoryInput | str | Mapping[str, Any]], now: datetime
    ) -> builtins.list[dict[str, Any]]:
        """The checked SQL rows of new memories, each with its privacy class."""
        rows = check.memory_rows(items, now, self.max_content_chars)
        if self.privacy is not None:
            for row in rows:
                row["sensitivity"], detectors = self._classify(row["content"])
                row["detectors"] = list(detectors)
        return rows

    def _classify(self, text: str) -> tuple[str, tuple[str, ...]]:
        """A text's privacy class and the detectors that fired (classification is on)."""
        assert self.privacy is not None
        found = self.privacy.classify(text)
        return found.sensitivity, tuple(found.detectors)

    def _sensitivity_filter(
        self, where: MemoryFilter, sensitivity: str | Sequence[str] | None
    ) -> MemoryFilter:
        """``where`` keeping only memories of these privacy classes (checked by name)."""
        if sensitivity is None:
            return where
        classes = self.privacy.classes if self.privacy is not None else PrivacyConfig().classes
        wanted = (
            (sensitivity,)
            if isinstance(sensitivity, str)
            else tuple(sensitivity)
            if isinstance(sensitivity, Sequence)
            else ()
        )
        unknown = [name for name in wanted if name not in classes]
        if not wanted or unknown:
            raise InvalidInputError(
                f"sensitivity must be one or more of the classes {classes}, got {sensitivity!r}"
            )
        return dataclasses.replace(where, sensitivity=wanted)

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

        New content is re-indexed for both keyword and vector search, and the personal
        slots it fills are read again.
        """
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        values = check.memory_changes(content, kind, metadata, self.max_content_chars)
        if "content" in values and self.privacy is not None:
            values["sensitivity"], detectors = self._classify(values["content"])
            values["detectors"] = list(detectors)
        if "content" in values and self.lifecycle_config.supersede:
            values["slot_keys"] = slot_keys(values["content"])
        now = self._now(now)
        self._writes.flush_access(user_id)
        memory = self._indexer.update(user_id, memory_id, values, now)
        if memory is None:
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        return memory

    def delete(
        self,
        user_id: str,
        memory_id: str,
        *,
        scope: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Forget one memory. Raises MemoryNotFoundError if the user has no such memory.

        With ``scope``, only a memory of that scope (or one nested in it) is forgotten:
        an app or agent cannot delete another's memory of the same user by its id.
        """
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        in_scope = MemoryFilter(scope=check.check_scope(scope))
        if scope is not None and not self._store.matching_ids(user_id, in_scope, [memory_id]):
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id} in {scope!r}")
        if not self._indexer.delete(user_id, memory_id, self._now(now)):
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        self.events["memories_deleted"] += 1
        self._store.erase_journal()

    def delete_user(
        self, user_id: str, *, now: datetime | None = None, keep_data_key: bool = False
    ) -> int:
        """Forget a user entirely: SQL rows, vectors, keyword index. Returns the count.

        The audit log records that it happened, with a hash of the user id, never content.
        With encryption at rest, the user's data key is destroyed too, after the rows
        (crypto-shredding: copies of the store made earlier cannot be read for the user),
        unless ``keep_data_key`` (a user moved to another store sharing the key table).
        """
        user_id = check.check_user_id(user_id)
        now = self._now(now)
        count = self._store.delete_user(user_id, now)
        destroyed = not keep_data_key and self._destroy_data_key(user_id, now)
        if destroyed and count is None:
            count = 0  # the rows went before, and a crash left the key behind
        if count is None:
            raise MemoryNotFoundError(f"unknown user {user_id!r}")
        self.indexes.forget(user_id)
        self.conversations.forget_user(user_id)
        self._writes.drop_user(user_id)
        self._store.erase_journal()
        self.events["memories_deleted"] += count
        self.events["users_deleted"] += 1
        return count

    # -- reads -------------------------------------------------------------------------

    def get(self, user_id: str, memory_id: str) -> Memory:
        """One memory of the user. Raises MemoryNotFoundError if there is none."""
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        self._writes.flush_access(user_id)
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
        scope: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = True,
        filter: Mapping[str, Any] | None = None,
        order_by: Literal["created_at", "updated_at"] = "created_at",
        sensitivity: str | Sequence[str] | None = None,
        include_superseded: bool = False,
        as_of: datetime | None = None,
    ) -> builtins.list[Memory]:
        """A page of the user's current memories, newest first by default.

        ``filter`` keeps memories whose metadata matches, tested inside the query:
        ``{"field": value}`` for equality, ``{"field": {"$gt": 3}}`` with ``$eq``,
        ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, and a dict without operators for
        the fields of a nested dict. ``order_by`` picks the time the page is sorted by.
        ``include_superseded`` adds the memories newer ones replaced (history);
        ``as_of`` lists what held at that time instead. ``sensitivity`` keeps memories
        of one privacy class (or of any of several). ``scope`` keeps the memories of
        that scope and of the scopes nested in it.
        """
        user_id = check.check_user_id(user_id)
        where = self._validity(
            check.memory_filter(kinds, conversation_id, since, until, filter, scope),
            include_superseded,
            as_of,
            sensitivity,
        )
        limit = check.check_positive_int(limit, "limit", 100_000)
        offset = check.check_non_negative_int(offset, "offset", 1_000_000_000)
        if order_by not in ("created_at", "updated_at"):
            raise InvalidInputError(
                f"order_by must be 'created_at' or 'updated_at', got {order_by!r}"
            )
        self._writes.flush_access(user_id)
        return self._store.list(
            user_id,
            where,
            limit=limit,
            offset=offset,
            newest_first=newest_first,
            order_by=order_by,
        )

    def count(
        self,
        user_id: str,
        *,
        kinds: Sequence[str] | None = None,
        conversation_id: str | None = None,
        scope: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        filter: Mapping[str, Any] | None = None,
        sensitivity: str | Sequence[str] | None = None,
    ) -> int:
        """How many memories the user has (matching the filters, as :meth:`list`'s)."""
        user_id = check.check_user_id(user_id)
        where = check.memory_filter(kinds, conversation_id, since, until, filter, scope)
        return self._store.count(user_id, self._sensitivity_filter(where, sensitivity))

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
        self._writes.flush_access(user_id)
        memories = self._store.list(
            user_id,
            MemoryFilter(include_superseded=True),
            limit=None,
            offset=0,
            newest_first=False,
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
        stats["buffered_vectors"] = self._writes.buffered_vectors
        stats["pending_accesses"] = self._writes.pending_accesses
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
        scope: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
        config: RetrievalConfig | None = None,
        query_vector: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
        filter: Mapping[str, Any] | None = None,
        sensitivity: str | Sequence[str] | None = None,
        include_superseded: bool = False,
        as_of: datetime | None = None,
        min_relevance: float | None = None,
    ) -> builtins.list[SearchHit]:
        """Hybrid search over one user's memories, best first.

        BM25 and vector search each give up to ``candidate_depth`` candidates (filters
        applied inside both), convex fusion of their normalised scores combines them (or
        reciprocal rank fusion with ``fusion="rrf"``), and temporal
        weighting reorders near-ties in favour of newer memories. Each hit carries its
        score breakdown.

        Args:
            user_id: Whose memories to search; no other user's are ever considered.
            query: What to look for.
            k: How many hits at most.
            kinds, conversation_id, since, until: Filters (``since`` inclusive,
                ``until`` exclusive, on ``created_at``).
            scope: Only memories of this scope (an app, agent or run of the user) and of
                the scopes nested in it: ``"bot"`` takes ``"bot"`` and ``"bot/run-7"``,
                not ``"bot-2"``. None searches all of the user's memories.
            now: The time ages are measured from (default: the engine's clock).
            config: Retrieval settings for this call (default: the engine's).
            query_vector: A precomputed query embedding, skipping the embedder.
            filter: Metadata conditions, as :meth:`list` takes them; applied inside
                both retrievers, like the other filters.
            sensitivity: Keep memories of this privacy class (or these classes),
                tested in SQL like ``filter``.
            include_superseded: Also memories newer ones replaced (by default only
                current ones are searched).
            as_of: Search what held at this time (superseded since, or not).
            min_relevance: Keep only hits with this much evidence of relevance (see
                :func:`~multisession.lifecycle.relevance.relevance`); default: the
                engine's ``min_relevance``. Above 0, small talk ("hi", "thanks!", see
                :mod:`~multisession.lifecycle.small_talk`) retrieves nothing, and a
                follow-up ("And for me?") keeps its hits; 0 turns both off.
        """
        started = time.perf_counter()
        user_id = check.check_user_id(user_id)
        query = check.check_query(query)
        k = check.check_positive_int(k, "k", 10_000)
        settings = check.check_setting_type(config, RetrievalConfig, "config") or self.config
        where = self._validity(
            check.memory_filter(kinds, conversation_id, since, until, filter, scope),
            include_superseded,
            as_of,
            sensitivity,
        )
        floor = self._relevance_floor(min_relevance)
        given_now, now = now, self._now(now)
        cache_key = cached = None
        if self._cache is not None:
            version = self._store.user_version(user_id)
            if version is None:
                return []  # nothing stored for this user
            vector = None if query_vector is None else np.asarray(query_vector, "<f4").tobytes()
            cache_key = self._cache.key(
                user_id, version, (query, k, where, settings, given_now, vector, floor)
            )
            cached = self._cache.get(cache_key)
        if cached is None:
            # Small talk ("hi", "thanks!") asks for no memory: with a floor, it gets none.
            hits = (
                []
                if floor > 0 and is_small_talk(query)
                else self._hybrid.search(
                    user_id,
                    query,
                    k=k,
                    where=where,
                    settings=settings,
                    now=now,
                    query_vector=query_vector,
                )
            )
            # A follow-up ("And for me?") takes its topic from the turn before: no floor.
            if floor > 0 and not is_follow_up(query):
                hits = [(doc_id, found) for doc_id, found in hits if relevance(found) >= floor]
            memories = self._store.get_many(user_id, [doc_id for doc_id, _ in hits])
            cached = [
                (memories[doc_id], breakdown) for doc_id, breakdown in hits if doc_id in memories
            ]
            cached = prefer_summaries(
                cached, self.consolidation.source_weight, self.consolidation.summary_first
            )
            if cache_key is not None and self._cache is not None and not self._sealed(cached):
                self._cache.put(cache_key, cached)
        memories = {memory.id: memory for memory, _ in cached}
        if self.track_access and memories:
            memories = self._writes.record_access(user_id, memories, now)
        found = [SearchHit(memories[memory.id], breakdown) for memory, breakdown in cached]
        self.search_latency.observe(user_id, time.perf_counter() - started)
        return found

    def _validity(
        self,
        where: MemoryFilter,
        include_superseded: object,
        as_of: datetime | None,
        sensitivity: str | Sequence[str] | None,
    ) -> MemoryFilter:
        """``where`` with which versions of facts a read sees, and of which privacy class."""
        if not isinstance(include_superseded, bool):
            raise InvalidInputError(
                f"include_superseded must be True or False, got {include_superseded!r}"
            )
        as_of = check.check_time(as_of, "as_of")
        if include_superseded or as_of is not None:
            where = dataclasses.replace(where, include_superseded=include_superseded, as_of=as_of)
        return self._sensitivity_filter(where, sensitivity)

    # -- maintenance -------------------------------------------------------------------

    def repair(self) -> RepairReport:
        """Bring the vector index in line with SQL.

        Indexes every memory SQL holds that the vector index lacks, and removes vectors
        of memories SQL recorded deleting. A vector whose memory SQL neither holds nor
        recorded deleting (SQL restored from a backup, or a damaged log lost it) is kept
        and counted in ``orphans_kept``. SQL marks the memories a killed writer or a
        vector store that was down left out; beyond those, each user's vector ids are
        compared with SQL's, which also rebuilds a vector index that was lost or
        replaced. Vectors come from SQL, where each memory keeps its own; only memories
        never embedded go to the embedder. Safe to run while other processes write.

        It also stores the keyword terms of memories written by a version that did not
        (``events["terms_stored"]`` counts them), so that loading their user's keyword
        index reads them instead of tokenizing them again, and the slot keys of memories
        written before slot keys were stored (``events["slot_keys_stored"]``), so that
        later writes can replace them and searches find them by the slot they fill.
        """
        self.events["terms_stored"] += self._indexer.store_missing_terms()
        self.events["slot_keys_stored"] += self._store_missing_slot_keys()
        return self._writes.repair()

    def flush_vectors(self) -> int:
        """Write buffered vectors to the vector index now; returns how many were written.

        If the vector index is unreachable they stay buffered (and marked in SQL as not
        yet indexed), and a later flush or :meth:`repair` writes them.
        """
        return self._writes.flush_vectors()


def _resolve(
    embedder: Embedder | Callable[[builtins.list[str]], Any] | _Default | None,
) -> Embedder | None:
    if embedder is DEFAULT_EMBEDDER:
        return default_embedder()
    if embedder is None:
        return None
    try:
        return as_embedder(embedder)
    except TypeError as error:
        raise ConfigurationError(f"embedder: {error}") from error


def _check_floor(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigurationError(f"min_relevance must be a number from 0 to 1, got {value!r}")
    return float(value)
