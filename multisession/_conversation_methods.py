"""The engine's chat-facing methods: conversations, preferences, resumption, context.

They check their arguments and hand the work to :mod:`multisession.context` and
:mod:`multisession.extraction`, which take narrow arguments (a conversation store, a
search function, an ``add`` function) rather than the engine. They live apart from the
memory methods of :class:`~multisession.engine.MemoryEngine` so that each file reads in
one sitting; the engine class is the only one that mixes them in.
"""

from __future__ import annotations

import builtins
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from . import _validation as check
from .context.builder import BuiltContext, ContextConfig, build_context, resumption_for
from .context.sessions import Resumption
from .errors import InvalidInputError
from .extraction.recording import record_exchange
from .records import Memory, MemoryFilter, Message, SearchHit
from .storage.conversations import ConversationStore
from .storage.sql_store import SQLStore

__all__ = ["ConversationMethods"]


class _Engine(Protocol):
    """What the methods use of the engine."""

    conversations: ConversationStore
    context_config: ContextConfig
    llm: Callable[[str], str] | None
    max_content_chars: int
    events: Counter[str]

    def _now(self, now: datetime | None = None) -> datetime: ...
    @property
    def _store(self) -> SQLStore: ...
    def latest_texts(self, user_id: str, kind: str, limit: int) -> builtins.list[str]: ...
    @property
    def add(self) -> Callable[..., Memory]: ...
    @property
    def add_many(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def _add_with(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def list(self) -> Callable[..., builtins.list[Memory]]: ...
    @property
    def search(self) -> Callable[..., builtins.list[SearchHit]]: ...
    @property
    def _recent_changes(self) -> Callable[..., dict[str, tuple[str, datetime]]]: ...


class ConversationMethods:
    """Conversations, preferences, resumption and context (mixed into the engine)."""

    def add_messages(
        self: _Engine,
        user_id: str,
        conversation_id: str,
        messages: Iterable[tuple[str, str] | Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> list[Message]:
        """Append chat messages (``(role, content)`` or dicts with role/content/metadata)."""
        user_id = check.check_user_id(user_id)
        conversation_id = check.check_conversation_required(conversation_id)
        rows = check.message_rows(messages)
        return self.conversations.add_messages(user_id, conversation_id, rows, self._now(now))

    def get_messages(
        self: _Engine, user_id: str, conversation_id: str, *, last: int | None = None
    ) -> list[Message]:
        """A conversation's messages in order; ``last`` keeps the latest ones."""
        user_id = check.check_user_id(user_id)
        conversation_id = check.check_conversation_required(conversation_id)
        if last is not None:
            last = check.check_positive_int(last, "last", 1_000_000)
        return self.conversations.messages(user_id, conversation_id, last=last)

    def clear_conversation(self: _Engine, user_id: str, conversation_id: str) -> int:
        """Delete a conversation's messages and summary (not the user's memories)."""
        user_id = check.check_user_id(user_id)
        return self.conversations.clear(user_id, check.check_conversation_required(conversation_id))

    def preferences(self: _Engine, user_id: str, *, limit: int = 50) -> list[Memory]:
        """The user's preferences, newest first."""
        return self.list(user_id, kinds=["preference"], limit=limit)

    def set_preference(self: _Engine, user_id: str, content: str, **kwargs: Any) -> Memory:
        """Remember a preference (a memory of kind ``preference``)."""
        return self.add(user_id, content, kind="preference", **kwargs)

    def latest_texts(self: _Engine, user_id: str, kind: str, limit: int) -> list[str]:
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

    def resume(
        self: _Engine,
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
        self: _Engine,
        user_id: str,
        query: str,
        *,
        conversation_id: str | None = None,
        now: datetime | None = None,
        config: ContextConfig | None = None,
        resumption: Resumption | None = None,
        min_relevance: float | None = None,
    ) -> BuiltContext:
        """The budgeted prompt for the user's next message.

        Call it before recording the message, or pass the ``resumption`` taken with
        :meth:`resume` when the session started. Memories below ``min_relevance``
        (default: the engine's) stay out, so small talk brings none.
        """
        user_id = check.check_user_id(user_id)
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        config = config or self.context_config
        now = self._now(now)
        built = build_context(
            query,
            search=functools.partial(
                _search_for_context, self.search, user_id, now=now, min_relevance=min_relevance
            ),
            conversations=self.conversations,
            user_id=user_id,
            conversation_id=check.check_conversation_id(conversation_id),
            preferences=self.latest_texts(user_id, "preference", config.resume.max_preferences),
            now=now,
            config=config,
            resumption=resumption,
            changes=functools.partial(self._recent_changes, user_id),
        )
        if built.warnings:
            self.events["context_retrieval_failed"] += 1
        return built

    def record_exchange(
        self: _Engine,
        user_id: str,
        conversation_id: str,
        user_message: str,
        assistant_message: str | None = None,
        *,
        now: datetime | None = None,
    ) -> list[Memory]:
        """Store a turn and the memories worth keeping from it; returns those memories."""
        user_id = check.check_user_id(user_id)
        now = self._now(now)
        return record_exchange(
            self.conversations,
            functools.partial(self._add_with, user_id, now),
            user_id,
            check.check_conversation_required(conversation_id),
            user_message,
            assistant_message,
            now=now,
            llm=self.llm,
            max_chars=self.max_content_chars,
            summary_every=self.context_config.summary_every,
        )


def _search_for_context(
    search: Callable[..., list[SearchHit]],
    user_id: str,
    query: str,
    k: int,
    *,
    now: datetime,
    min_relevance: float | None = None,
) -> list[SearchHit]:
    return search(user_id, query, k=k, now=now, min_relevance=min_relevance)
