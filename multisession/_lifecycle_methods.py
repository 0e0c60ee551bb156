"""The engine's lifecycle methods: a fact's history, and superseding or restoring by hand.

Supersession itself happens on every write (see :mod:`multisession.lifecycle`); these
methods read the chain of versions a fact went through and let an application correct
what the rules or the LLM decided. They live apart from the memory methods of
:class:`~multisession.engine.MemoryEngine` so that each file reads in one sitting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from . import _validation as check
from .errors import InvalidInputError, MemoryNotFoundError
from .lifecycle import LifecycleConfig
from .lifecycle.slot_keys import slot_keys
from .records import Memory
from .retrieval.indexing import Indexer
from .storage.sql_store import SQLStore
from .storage.validity import ValidityChange, chain_ids, recent_predecessors

__all__ = ["LifecycleMethods"]


class _Engine(Protocol):
    """What the methods use of the engine."""

    min_relevance: float
    lifecycle_config: LifecycleConfig

    def _now(self, now: datetime | None = None) -> datetime: ...
    @property
    def _store(self) -> SQLStore: ...
    @property
    def _indexer(self) -> Indexer: ...
    @property
    def get(self) -> Callable[..., Memory]: ...


class LifecycleMethods:
    """History, manual supersession and restore (mixed into the engine)."""

    #: The default ``min_relevance`` of search and context (see ``relevance``).
    min_relevance: float = 0.0

    def history(self: _Engine, user_id: str, memory_id: str) -> list[Memory]:
        """Every version of the fact a memory belongs to, oldest first.

        Each superseded version says when (``superseded_at``), by which memory
        (``superseded_by``) and why (``supersede_reason``: a rule's name, ``"llm:..."``,
        ``"duplicate"``, ``"manual"``); repeats folded into a memory appear as versions
        of it with reason ``"duplicate"``.

        Raises:
            MemoryNotFoundError: The user has no such memory.
        """
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        with self._store.engine.connect() as conn:
            ids = chain_ids(conn, user_id, memory_id)
        found = self._store.get_many(user_id, ids)
        if memory_id not in found:
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        return sorted(found.values(), key=lambda memory: (memory.created_at, memory.id))

    def supersede(
        self: _Engine,
        user_id: str,
        memory_id: str,
        *,
        by: str | None = None,
        reason: str = "manual",
        now: datetime | None = None,
    ) -> Memory:
        """Mark a memory as no longer holding, replaced by memory ``by`` (or by nothing).

        It is kept as history and left out of default searches, lists and prompts.
        """
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        if by is not None:
            by = check.check_memory_id(by)
            if by == memory_id:
                raise InvalidInputError("a memory cannot supersede itself: pass another id as by")
            self.get(user_id, by)  # raises for an unknown replacement
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 64:
            raise InvalidInputError("reason must be a non-empty string of at most 64 characters")
        now = self._now(now)
        change = ValidityChange(memory_id, "supersede", at=now, by=by, reason=reason)
        if not self._indexer.change_validity(user_id, [change], now):
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        return self.get(user_id, memory_id)

    def restore(
        self: _Engine, user_id: str, memory_id: str, *, now: datetime | None = None
    ) -> Memory:
        """Make a superseded memory current again (undo a supersession)."""
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        now = self._now(now)
        if not self._indexer.change_validity(user_id, [ValidityChange(memory_id, "restore")], now):
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        return self.get(user_id, memory_id)

    def _recent_changes(
        self: _Engine, user_id: str, memory_ids: list[str], since: datetime
    ) -> dict[str, tuple[str, datetime]]:
        """What each of these memories replaced since ``since`` (the prompt's note)."""
        with self._store.engine.connect() as conn:
            return recent_predecessors(conn, user_id, memory_ids, since)

    def _store_missing_slot_keys(self: _Engine, batch_size: int = 2_000) -> int:
        """Compute the slot keys of memories written before they were stored; how many.

        Run by ``repair()``; with supersession off, slot keys are neither written nor
        read, and nothing is done.
        """
        if not self.lifecycle_config.supersede:
            return 0
        stored = 0
        now = self._now()
        while True:
            rows = self._store.rows_without_slot_keys(batch_size)
            done = self._store.store_slot_keys(
                [(owner, memory, seen, slot_keys(text)) for owner, memory, seen, text in rows],
                now,
            )
            stored += done
            if len(rows) < batch_size or done == 0:
                return stored

    def _relevance_floor(self: _Engine, min_relevance: float | None) -> float:
        if min_relevance is None:
            return self.min_relevance
        if (
            isinstance(min_relevance, bool)
            or not isinstance(min_relevance, (int, float))
            or not 0.0 <= min_relevance <= 1.0
        ):
            raise InvalidInputError(
                f"min_relevance must be a number from 0 to 1, got {min_relevance!r}"
            )
        return float(min_relevance)
