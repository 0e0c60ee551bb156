"""The engine's async methods: each runs its sync twin in a worker thread.

The engine's work is blocking I/O (SQL, Chroma) and numpy, with no native async path;
one implementation, offloaded with :func:`asyncio.to_thread`, keeps the two APIs from
drifting apart. Iterables are turned into lists on the caller's side, so that a
generator is never consumed from another thread.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from .context.builder import BuiltContext
from .context.sessions import Resumption
from .lifecycle.consolidation import ConsolidationReport
from .lifecycle.retention import RetentionReport
from .records import Memory, MemoryInput, Message, SearchHit

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

    async def aadd(self: _SyncEngine, user_id: str, content: str, **kwargs: Any) -> Memory:
        """Async :meth:`add` (runs in a worker thread)."""
        return await asyncio.to_thread(self.add, user_id, content, **kwargs)

    async def aadd_many(
        self: _SyncEngine,
        user_id: str,
        items: Iterable[MemoryInput | str | Mapping[str, Any]],
        **kwargs: Any,
    ) -> list[Memory]:
        """Async :meth:`add_many`."""
        return await asyncio.to_thread(self.add_many, user_id, list(items), **kwargs)

    async def asearch(
        self: _SyncEngine, user_id: str, query: str, **kwargs: Any
    ) -> list[SearchHit]:
        """Async :meth:`search`."""
        return await asyncio.to_thread(self.search, user_id, query, **kwargs)

    async def aget(self: _SyncEngine, user_id: str, memory_id: str) -> Memory:
        """Async :meth:`get`."""
        return await asyncio.to_thread(self.get, user_id, memory_id)

    async def alist(self: _SyncEngine, user_id: str, **kwargs: Any) -> list[Memory]:
        """Async :meth:`list`."""
        return await asyncio.to_thread(self.list, user_id, **kwargs)

    async def aupdate(self: _SyncEngine, user_id: str, memory_id: str, **kwargs: Any) -> Memory:
        """Async :meth:`update`."""
        return await asyncio.to_thread(self.update, user_id, memory_id, **kwargs)

    async def adelete(self: _SyncEngine, user_id: str, memory_id: str, **kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, user_id, memory_id, **kwargs)

    async def adelete_user(self: _SyncEngine, user_id: str, **kwargs: Any) -> int:
        """Async :meth:`delete_user`."""
        return await asyncio.to_thread(self.delete_user, user_id, **kwargs)

    async def aexport_user(self: _SyncEngine, user_id: str) -> dict[str, Any]:
        """Async :meth:`export_user`."""
        return await asyncio.to_thread(self.export_user, user_id)

    async def aadd_messages(
        self: _SyncEngine,
        user_id: str,
        conversation_id: str,
        messages: Iterable[Any],
        **kwargs: Any,
    ) -> list[Message]:
        """Async :meth:`add_messages`."""
        return await asyncio.to_thread(
            self.add_messages, user_id, conversation_id, list(messages), **kwargs
        )

    async def aget_messages(
        self: _SyncEngine, user_id: str, conversation_id: str, **kwargs: Any
    ) -> list[Message]:
        """Async :meth:`get_messages`."""
        return await asyncio.to_thread(self.get_messages, user_id, conversation_id, **kwargs)

    async def aclear_conversation(self: _SyncEngine, user_id: str, conversation_id: str) -> int:
        """Async :meth:`clear_conversation`."""
        return await asyncio.to_thread(self.clear_conversation, user_id, conversation_id)

    async def aresume(
        self: _SyncEngine, user_id: str, conversation_id: str | None = None, **kwargs: Any
    ) -> Resumption:
        """Async :meth:`resume`."""
        return await asyncio.to_thread(self.resume, user_id, conversation_id, **kwargs)

    async def abuild_context(
        self: _SyncEngine, user_id: str, query: str, **kwargs: Any
    ) -> BuiltContext:
        """Async :meth:`build_context`."""
        return await asyncio.to_thread(self.build_context, user_id, query, **kwargs)

    async def arecord_exchange(
        self: _SyncEngine,
        user_id: str,
        conversation_id: str,
        user_message: str,
        *args: Any,
        **kwargs: Any,
    ) -> list[Memory]:
        """Async :meth:`record_exchange`."""
        return await asyncio.to_thread(
            self.record_exchange, user_id, conversation_id, user_message, *args, **kwargs
        )

    async def ahistory(self: _SyncEngine, user_id: str, memory_id: str) -> list[Memory]:
        """Async :meth:`history`."""
        return await asyncio.to_thread(self.history, user_id, memory_id)

    async def asupersede(self: _SyncEngine, user_id: str, memory_id: str, **kwargs: Any) -> Memory:
        """Async :meth:`supersede`."""
        return await asyncio.to_thread(self.supersede, user_id, memory_id, **kwargs)

    async def arestore(self: _SyncEngine, user_id: str, memory_id: str, **kwargs: Any) -> Memory:
        """Async :meth:`restore`."""
        return await asyncio.to_thread(self.restore, user_id, memory_id, **kwargs)

    async def aconsolidate(self: _SyncEngine, user_id: str, **kwargs: Any) -> ConsolidationReport:
        """Async :meth:`consolidate`."""
        return await asyncio.to_thread(self.consolidate, user_id, **kwargs)

    async def asources(self: _SyncEngine, user_id: str, memory_id: str) -> list[Memory]:
        """Async :meth:`sources`."""
        return await asyncio.to_thread(self.sources, user_id, memory_id)

    async def aapply_retention(self: _SyncEngine, *args: Any, **kwargs: Any) -> RetentionReport:
        """Async :meth:`apply_retention`."""
        return await asyncio.to_thread(self.apply_retention, *args, **kwargs)
