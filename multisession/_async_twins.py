"""The engine's async methods: each runs its sync twin in a worker thread.

The engine's work is blocking I/O (SQL, Chroma) and numpy, with no native async path;
one implementation, offloaded with :func:`multisession._threads.to_thread`, keeps the two
APIs from drifting apart. That helper also tells the worker which event loop awaits it,
so that an async ``llm`` the sync code calls is awaited on that loop (see
:mod:`multisession.extraction.models`). Each twin spells out its sync method's
parameters, so type checkers and editors see the real signature (a test compares them).
Iterables are turned into lists on the caller's side, so that a generator is never
consumed from another thread.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from ._threads import to_thread
from .context.builder import BuiltContext, ContextConfig
from .context.sessions import Resumption
from .lifecycle.consolidation import ConsolidationConfig, ConsolidationReport
from .lifecycle.retention import RetentionPolicy, RetentionReport
from .records import Memory, MemoryInput, Message, SearchHit
from .retrieval.config import RetrievalConfig

__all__ = ["AsyncTwins"]


class _SyncEngine(Protocol):
    """The sync methods the twins call (the engine's own)."""

    @property
    def add(self) -> Callable[..., Memory]: ...
    @property
    def add_many(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def search(self) -> Callable[..., builtins.list[SearchHit]]: ...
    @property
    def get(self) -> Callable[..., Memory]: ...
    @property
    def list(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def update(self) -> Callable[..., Memory]: ...
    @property
    def delete(self) -> Callable[..., None]: ...
    @property
    def delete_user(self) -> Callable[..., int]: ...
    @property
    def export_user(self) -> Callable[..., dict[str, Any]]: ...
    @property
    def add_messages(self) -> Callable[..., builtins.list[Message]]: ...
    @property
    def get_messages(self) -> Callable[..., builtins.list[Message]]: ...
    @property
    def clear_conversation(self) -> Callable[..., int]: ...
    @property
    def resume(self) -> Callable[..., Resumption]: ...
    @property
    def build_context(self) -> Callable[..., BuiltContext]: ...
    @property
    def record_exchange(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def history(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def supersede(self) -> Callable[..., Memory]: ...
    @property
    def consolidate(self) -> Callable[..., ConsolidationReport]: ...
    @property
    def sources(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def apply_retention(self) -> Callable[..., RetentionReport]: ...
    @property
    def restore(self) -> Callable[..., Memory]: ...


class AsyncTwins:
    """Async twins of the engine's methods (mixed into :class:`MemoryEngine`)."""

    async def aadd(
        self: _SyncEngine,
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
        """Async :meth:`add` (runs in a worker thread)."""
        return await to_thread(
            self.add,
            user_id,
            content,
            kind=kind,
            conversation_id=conversation_id,
            scope=scope,
            metadata=metadata,
            created_at=created_at,
            id=id,
            now=now,
        )

    async def aadd_many(
        self: _SyncEngine,
        user_id: str,
        items: Iterable[MemoryInput | str | Mapping[str, Any]],
        *,
        scope: str | None = None,
        now: datetime | None = None,
        skip_existing: bool = False,
    ) -> builtins.list[Memory]:
        """Async :meth:`add_many`."""
        return await to_thread(
            self.add_many, user_id, list(items), scope=scope, now=now, skip_existing=skip_existing
        )

    async def asearch(
        self: _SyncEngine,
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
        """Async :meth:`search`."""
        return await to_thread(
            self.search,
            user_id,
            query,
            k=k,
            kinds=kinds,
            conversation_id=conversation_id,
            scope=scope,
            since=since,
            until=until,
            now=now,
            config=config,
            query_vector=query_vector,
            filter=filter,
            sensitivity=sensitivity,
            include_superseded=include_superseded,
            as_of=as_of,
            min_relevance=min_relevance,
        )

    async def aget(self: _SyncEngine, user_id: str, memory_id: str) -> Memory:
        """Async :meth:`get`."""
        return await to_thread(self.get, user_id, memory_id)

    async def alist(
        self: _SyncEngine,
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
        """Async :meth:`list`."""
        return await to_thread(
            self.list,
            user_id,
            kinds=kinds,
            conversation_id=conversation_id,
            scope=scope,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
            newest_first=newest_first,
            filter=filter,
            order_by=order_by,
            sensitivity=sensitivity,
            include_superseded=include_superseded,
            as_of=as_of,
        )

    async def aupdate(
        self: _SyncEngine,
        user_id: str,
        memory_id: str,
        *,
        content: str | None = None,
        kind: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Memory:
        """Async :meth:`update`."""
        return await to_thread(
            self.update, user_id, memory_id, content=content, kind=kind, metadata=metadata, now=now
        )

    async def adelete(
        self: _SyncEngine,
        user_id: str,
        memory_id: str,
        *,
        scope: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Async :meth:`delete`."""
        await to_thread(self.delete, user_id, memory_id, scope=scope, now=now)

    async def adelete_user(
        self: _SyncEngine,
        user_id: str,
        *,
        now: datetime | None = None,
        keep_data_key: bool = False,
    ) -> int:
        """Async :meth:`delete_user`."""
        return await to_thread(self.delete_user, user_id, now=now, keep_data_key=keep_data_key)

    async def aexport_user(self: _SyncEngine, user_id: str) -> dict[str, Any]:
        """Async :meth:`export_user`."""
        return await to_thread(self.export_user, user_id)

    async def aadd_messages(
        self: _SyncEngine,
        user_id: str,
        conversation_id: str,
        messages: Iterable[tuple[str, str] | Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> builtins.list[Message]:
        """Async :meth:`add_messages`."""
        return await to_thread(self.add_messages, user_id, conversation_id, list(messages), now=now)

    async def aget_messages(
        self: _SyncEngine, user_id: str, conversation_id: str, *, last: int | None = None
    ) -> builtins.list[Message]:
        """Async :meth:`get_messages`."""
        return await to_thread(self.get_messages, user_id, conversation_id, last=last)

    async def aclear_conversation(self: _SyncEngine, user_id: str, conversation_id: str) -> int:
        """Async :meth:`clear_conversation`."""
        return await to_thread(self.clear_conversation, user_id, conversation_id)

    async def aresume(
        self: _SyncEngine,
        user_id: str,
        conversation_id: str | None = None,
        *,
        now: datetime | None = None,
    ) -> Resumption:
        """Async :meth:`resume`."""
        return await to_thread(self.resume, user_id, conversation_id, now=now)

    async def abuild_context(
        self: _SyncEngine,
        user_id: str,
        query: str,
        *,
        conversation_id: str | None = None,
        now: datetime | None = None,
        config: ContextConfig | None = None,
        resumption: Resumption | None = None,
        min_relevance: float | None = None,
    ) -> BuiltContext:
        """Async :meth:`build_context`."""
        return await to_thread(
            self.build_context,
            user_id,
            query,
            conversation_id=conversation_id,
            now=now,
            config=config,
            resumption=resumption,
            min_relevance=min_relevance,
        )

    async def arecord_exchange(
        self: _SyncEngine,
        user_id: str,
        conversation_id: str,
        user_message: str,
        assistant_message: str | None = None,
        *,
        now: datetime | None = None,
    ) -> builtins.list[Memory]:
        """Async :meth:`record_exchange` (an async ``llm`` is awaited on this loop)."""
        return await to_thread(
            self.record_exchange,
            user_id,
            conversation_id,
            user_message,
            assistant_message,
            now=now,
        )

    async def ahistory(self: _SyncEngine, user_id: str, memory_id: str) -> builtins.list[Memory]:
        """Async :meth:`history`."""
        return await to_thread(self.history, user_id, memory_id)

    async def asupersede(
        self: _SyncEngine,
        user_id: str,
        memory_id: str,
        *,
        by: str | None = None,
        reason: str = "manual",
        now: datetime | None = None,
    ) -> Memory:
        """Async :meth:`supersede`."""
        return await to_thread(self.supersede, user_id, memory_id, by=by, reason=reason, now=now)

    async def arestore(
        self: _SyncEngine, user_id: str, memory_id: str, *, now: datetime | None = None
    ) -> Memory:
        """Async :meth:`restore`."""
        return await to_thread(self.restore, user_id, memory_id, now=now)

    async def aconsolidate(
        self: _SyncEngine,
        user_id: str,
        *,
        config: ConsolidationConfig | None = None,
        min_group: int | None = None,
        llm: Callable[[str], str] | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> ConsolidationReport:
        """Async :meth:`consolidate`."""
        return await to_thread(
            self.consolidate,
            user_id,
            config=config,
            min_group=min_group,
            llm=llm,
            dry_run=dry_run,
            now=now,
        )

    async def asources(self: _SyncEngine, user_id: str, memory_id: str) -> list[Memory]:
        """Async :meth:`sources`."""
        return await to_thread(self.sources, user_id, memory_id)

    async def aapply_retention(
        self: _SyncEngine,
        user_id: str | None = None,
        policy: RetentionPolicy | None = None,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> RetentionReport:
        """Async :meth:`apply_retention`."""
        return await to_thread(self.apply_retention, user_id, policy, dry_run=dry_run, now=now)
