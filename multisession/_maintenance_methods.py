"""The engine's upkeep: consolidating episodes into summaries, and retention.

Both are meant to run on a schedule the host application owns (a cron job, a worker
queue), never on the write path: :meth:`~MaintenanceMethods.consolidate` per user,
:meth:`~MaintenanceMethods.apply_retention` per user or for the whole store. What they
decide lives in :mod:`multisession.lifecycle.consolidation` and
:mod:`multisession.lifecycle.retention`; these methods write through the engine's
indexer, so a summary is indexed like any memory and a retention delete is the very
delete :meth:`MemoryEngine.delete` makes.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import _validation as check
from .embeddings.base import Embedder
from .errors import InvalidInputError, MemoryNotFoundError
from .lifecycle.consolidation import (
    REASON,
    SUMMARY_KIND,
    ConsolidationConfig,
    ConsolidationGroup,
    ConsolidationReport,
    Episode,
    extractive_summary,
    llm_summary,
    load_episodes,
    plan_groups,
)
from .lifecycle.retention import RetentionPolicy, RetentionReport, find_expired
from .records import Memory, MemoryInput
from .retrieval.indexing import Indexer
from .storage.schema import memories_table
from .storage.sql_store import SQLStore
from .storage.validity import ValidityChange
from .storage.write_behind import WriteBehind

__all__ = ["MaintenanceMethods"]


class _Engine(Protocol):
    """What the methods use of the engine."""

    llm: Callable[[str], str] | None
    embedder: Embedder | None
    events: Counter[str]
    consolidation: ConsolidationConfig
    retention: RetentionPolicy | None

    def _now(self, now: datetime | None = None) -> datetime: ...
    @property
    def _store(self) -> SQLStore: ...
    @property
    def _indexer(self) -> Indexer: ...
    @property
    def _writes(self) -> WriteBehind: ...
    def _memory_rows(
        self, items: Iterable[MemoryInput | str | Mapping[str, Any]], now: datetime
    ) -> builtins.list[dict[str, Any]]: ...


class MaintenanceMethods:
    """Consolidation and retention (mixed into the engine)."""

    #: The engine's consolidation settings (see ``MemoryEngine(consolidation=...)``).
    consolidation: ConsolidationConfig = ConsolidationConfig()
    #: The engine's retention policy, or None (see ``MemoryEngine(retention=...)``).
    retention: RetentionPolicy | None = None

    def consolidate(
        self: _Engine,
        user_id: str,
        *,
        config: ConsolidationConfig | None = None,
        min_group: int | None = None,
        llm: Callable[[str], str] | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> ConsolidationReport:
        """Summarise groups of a user's related episodes; the originals are kept.

        Memories of the episodic kinds (``config.kinds``, ``"episode"`` by default) that
        share a topic and lie close in time form a group; each group of at least
        ``min_group`` gets one memory of kind ``"summary"`` whose metadata lists its
        sources (``"sources"``), and each source is marked with it
        (``Memory.consolidated_into``). Search ranks a source a little below its summary
        and still finds it. Run it again and nothing new is written; a memory that
        joins a group later replaces the group's summary with a fuller one (the old
        one is superseded, reason ``"consolidation"``, and kept in its history).

        Example::

            # nightly, from the application's scheduler
            for user in engine.users():
                engine.consolidate(user)

        Args:
            user_id: Whose memories.
            config: Grouping and summary settings (default: the engine's).
            min_group: Overrides ``config.min_group``.
            llm: Writes abstractive summaries, one call per group (default: the
                engine's ``llm``; without one, or with ``config.use_llm`` off, the
                summaries are extractive). A failed call or an unusable reply falls
                back to the extractive summary.
            dry_run: Find the groups and their (extractive) summaries, write nothing
                and call no LLM.
            now: When it runs (default: the engine's clock).

        Raises:
            MemoryNotFoundError: The store holds nothing of this user.
        """
        user_id = check.check_user_id(user_id)
        settings = check.check_setting_type(config, ConsolidationConfig, "config") or (
            self.consolidation
        )
        if min_group is not None:
            check.check_positive_int(min_group, "min_group", 10_000)
            try:
                settings = dataclasses.replace(settings, min_group=min_group)
            except ValueError as error:
                raise InvalidInputError(str(error)) from None
        if llm is not None and not callable(llm):
            raise InvalidInputError("llm must be a callable prompt -> text")
        if not isinstance(dry_run, bool):
            raise InvalidInputError(f"dry_run must be True or False, got {dry_run!r}")
        now = self._now(now)
        if self._store.user_version(user_id) is None:
            raise MemoryNotFoundError(f"unknown user {user_id!r}")
        model = (llm or self.llm) if settings.use_llm and not dry_run else None
        dimension = self.embedder.dimension if self.embedder is not None else None
        with self._store.engine.connect() as conn:
            episodes, summaries = load_episodes(conn, user_id, settings, dimension)
        events = self.events

        def summarise(members: Sequence[Episode]) -> tuple[str, str]:
            if model is not None:
                text = llm_summary(members, settings, model, events)
                if text is not None:
                    return text, "llm"
            return extractive_summary(members, settings), "extractive"

        planned = plan_groups(episodes, summaries, settings, summarise)
        groups: list[ConsolidationGroup] = []
        for group in planned:
            sources = group.sources
            conversations = {source.conversation_id for source in sources}
            conversation_id = conversations.pop() if len(conversations) == 1 else None
            summary_id = None
            if not dry_run:
                summary_id = _write_summary(
                    self, user_id, group.content, group.method, sources, group.replaces, now
                )
            groups.append(
                ConsolidationGroup(
                    source_ids=tuple(source.id for source in sources),
                    content=group.content,
                    method=group.method,
                    replaces=tuple(group.replaces),
                    summary_id=summary_id,
                    scope=sources[0].scope,
                    conversation_id=conversation_id,
                    start=sources[0].at,
                    end=sources[-1].at,
                )
            )
        report = ConsolidationReport(user_id, dry_run, len(episodes), groups)
        if report.written:
            self.events["summaries_written"] += report.written
            self._store.audit(
                "consolidate",
                user_id,
                {
                    "summaries": report.written,
                    "sources": sum(len(group.source_ids) for group in groups),
                    "replaced": sum(len(group.replaces) for group in groups),
                },
                now,
            )
        return report

    def sources(self: _Engine, user_id: str, memory_id: str) -> builtins.list[Memory]:
        """The memories a summary was consolidated from, oldest first ([] for others).

        Sources deleted since (by retention, or :meth:`delete`) are not returned.

        Raises:
            MemoryNotFoundError: The user has no such memory.
        """
        user_id = check.check_user_id(user_id)
        memory_id = check.check_memory_id(memory_id)
        self._writes.flush_access(user_id)
        summary = self._store.get_many(user_id, [memory_id]).get(memory_id)
        if summary is None:
            raise MemoryNotFoundError(f"user {user_id!r} has no memory {memory_id}")
        ids = summary.metadata.get("sources") if summary.kind == SUMMARY_KIND else None
        if not isinstance(ids, list):
            return []
        found = self._store.get_many(user_id, [str(i) for i in ids])
        return sorted(found.values(), key=lambda memory: (memory.created_at, memory.id))

    def apply_retention(
        self: _Engine,
        user_id: str | None = None,
        policy: RetentionPolicy | None = None,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> RetentionReport:
        """Delete what a retention policy selects, of one user or of every user.

        Each memory goes as :meth:`delete` removes one: its SQL row (overwritten on
        disk), its vector, its place in the in-process indexes, and the cached search
        results that held it; each user's deletions are written to the audit log with
        their counts by kind and rule. Preferences and facts are deleted only where the
        policy names their kind.

        Example::

            policy = RetentionPolicy(ttl_days={"episode": 90}, unused_days=30)
            engine.apply_retention(None, policy, dry_run=True).items  # what would go

        Args:
            user_id: Whose memories; None for every user's.
            policy: What to delete (default: the engine's ``retention``).
            dry_run: Select and report, delete nothing.
            now: Ages are measured from this time (default: the engine's clock).

        Raises:
            InvalidInputError: No policy given and the engine has none.
            MemoryNotFoundError: ``user_id`` names a user the store does not hold.
        """
        if user_id is not None:
            user_id = check.check_user_id(user_id)
        policy = check.check_setting_type(policy, RetentionPolicy, "policy") or self.retention
        if policy is None:
            raise InvalidInputError(
                "no retention policy: pass one, e.g. RetentionPolicy(ttl_days={'episode': 90}), "
                "or open the engine with retention=..."
            )
        if not isinstance(dry_run, bool):
            raise InvalidInputError(f"dry_run must be True or False, got {dry_run!r}")
        now = self._now(now)
        if user_id is not None and self._store.user_version(user_id) is None:
            raise MemoryNotFoundError(f"unknown user {user_id!r}")
        # Retrievals still buffered count as accesses: flush them before judging use.
        self._writes.flush_access(user_id)
        with self._store.engine.connect() as conn:
            items = list(find_expired(conn, user_id, policy, now))
        if dry_run or not items:
            return RetentionReport(dry_run=dry_run, items=items)
        deleted = 0
        per_user: dict[str, Counter[tuple[str, str]]] = {}
        for item in items:
            if self._indexer.delete(item.user_id, item.memory_id, now):
                deleted += 1
                per_user.setdefault(item.user_id, Counter())[(item.kind, item.reason)] += 1
        for owner, counts in per_user.items():
            by_kind: Counter[str] = Counter()
            by_reason: Counter[str] = Counter()
            for (kind, reason), count in counts.items():
                by_kind[kind] += count
                by_reason[reason] += count
            self._store.audit(
                "retention",
                owner,
                {
                    "memories": sum(counts.values()),
                    "by_kind": dict(by_kind),
                    "by_reason": dict(by_reason),
                    "policy": policy.to_dict(),
                },
                now,
            )
        self._store.erase_journal()
        self.events["memories_deleted"] += deleted
        self.events["retention_deleted"] += deleted
        return RetentionReport(dry_run=False, items=items, deleted=deleted)


def _write_summary(
    engine: _Engine,
    user_id: str,
    content: str,
    method: str,
    sources: Sequence[Episode],
    replaces: Sequence[str],
    now: datetime,
) -> str:
    """Store one summary and mark its sources, in one SQL transaction; its id."""
    conversations = {source.conversation_id for source in sources}
    item = MemoryInput(
        content,
        kind=SUMMARY_KIND,
        conversation_id=conversations.pop() if len(conversations) == 1 else None,
        metadata={
            "sources": [source.id for source in sources],
            "consolidation": method,
            "period": [sources[0].at.isoformat(), sources[-1].at.isoformat()],
        },
        created_at=sources[-1].at,
        scope=sources[0].scope,
    )
    (row,) = engine._memory_rows([item], now)
    summary_id = str(row["id"])
    source_ids = [source.id for source in sources]

    def mark_sources(conn: Connection) -> None:
        columns = memories_table.c
        conn.execute(
            sa.update(memories_table)
            .where(columns.user_id == user_id, columns.id.in_(source_ids))
            .values(consolidated_into=summary_id)
        )

    changes = [
        ValidityChange(old, "supersede", at=now, by=summary_id, reason=REASON) for old in replaces
    ]
    engine._indexer.add(user_id, [row], now, also=mark_sources, changes=changes)
    return summary_id
