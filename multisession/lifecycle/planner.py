"""On every write: does a new memory replace, retract or repeat one the user has?

The planner runs between embedding the new memories and storing them, so what it
decides is written in the same SQL transaction as the memories themselves. For each new
memory it looks at a few existing ones only: the nearest by vector (or by keywords
without an embedder) and those filling the same personal slot (found by the slot keys
stored with every memory). Then:

- a repeat (the same words, or a near-identical vector with the same content words and
  numbers, of the same kind and with the same metadata: another source or key makes a
  record of its own) is
  stored as history of the memory it repeats, which is reinforced (``mentions``);
- a memory whose claim conflicts with an older one's by the rules of :mod:`.rules`
  supersedes it; if the older one is in fact newer (an import of old messages), the new
  memory is stored as already superseded;
- with an LLM configured, one call per write (a whole ``add_many`` batch at once)
  decides for the memories that have near neighbours, among add / update / supersede /
  ignore; a failed call or an unusable reply falls back to the rules.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ..retrieval.user_indexes import UserIndexes
from ..storage.sql_store import SQLStore
from ..storage.validity import Candidate, ValidityChange
from .rules import Claim, claims, conflict, content_words, normalise
from .slot_keys import stored_keys

__all__ = ["LifecycleConfig", "Planner"]

logger = logging.getLogger("multisession")


@dataclass(frozen=True)
class LifecycleConfig:
    """What happens to older memories when new ones are written.

    Attributes:
        supersede: Detect memories a new one replaces or retracts.
        deduplicate: Fold repeats into the memory they repeat.
        use_llm: With the engine's ``llm`` set, let it decide for memories with near
            neighbours (one call per write); otherwise the offline rules decide.
        duplicate_similarity: Cosine from which two memories of the same kind are
            repeats, if their content words also agree (``duplicate_overlap``).
        duplicate_overlap: Jaccard overlap of content words a repeat needs.
        neighbours: How many nearest memories each new one is compared with.
        llm_similarity: The cosine from which a neighbour is shown to the LLM.
    """

    supersede: bool = True
    deduplicate: bool = True
    use_llm: bool = True
    duplicate_similarity: float = 0.93
    duplicate_overlap: float = 0.75
    neighbours: int = 8
    llm_similarity: float = 0.5


@dataclass(eq=False)
class _Known:
    """A memory the planner compares with: stored already, or earlier in the batch."""

    id: str
    content: str
    kind: str
    created_at: datetime
    words: frozenset[str]
    norm: str
    claims: list[Claim]
    row: dict[str, Any] | None = None  # set for a memory of this batch
    vector: npt.NDArray[np.float32] | None = None
    metadata: Any = None


@dataclass
class _Plan:
    changes: dict[str, ValidityChange] = field(default_factory=dict)
    reinforced: Counter[str] = field(default_factory=Counter)


class _Pool:
    """What a new memory of a batch is compared with: the stored memories the planner
    fetched and the batch's earlier memories, found by slot and by vector rather than by
    scanning them all for each new memory (a batch of 500 would otherwise cost 250,000
    comparisons).

    The order of :meth:`claiming` is that of a scan (stored first, then the batch in
    order), and :meth:`possible_repeats` yields the batch's latest memories first, as
    the rules expect.
    """

    #: How many of the batch's latest memories a new one may repeat.
    REPEAT_WINDOW = 200

    def __init__(self, stored: Iterable[_Known], fresh: Sequence[_Known]) -> None:
        self._fresh = fresh
        self._order: dict[int, int] = {}
        self._by_key: dict[str, list[_Known]] = {}
        self._by_norm: dict[str, list[int]] = {}
        self._admitted = 0
        for other in stored:
            self._add(other)
        vectors = [known.vector for known in fresh if known.vector is not None]
        self._vectors = np.stack(vectors) if vectors and len(vectors) == len(fresh) else None

    def _add(self, other: _Known) -> None:
        self._order[id(other)] = len(self._order)
        for key in {claim.key for claim in other.claims}:
            self._by_key.setdefault(key, []).append(other)

    def admit(self, position: int) -> None:
        """The batch's memory at ``position`` is decided: later ones compare with it."""
        known = self._fresh[position]
        self._add(known)
        self._by_norm.setdefault(known.norm, []).append(position)
        self._admitted = position + 1

    def claiming(self, known: _Known) -> list[_Known]:
        """The memories with a claim on one of ``known``'s slots, in scan order."""
        found: dict[int, _Known] = {}
        for key in {claim.key for claim in known.claims}:
            for other in self._by_key.get(key, ()):
                found[id(other)] = other
        return sorted(found.values(), key=lambda other: self._order[id(other)])

    def possible_repeats(self, known: _Known, similarity: float) -> list[_Known]:
        """The batch's recent memories with the same words or a vector that close,
        latest first."""
        end = self._admitted
        start = max(0, end - self.REPEAT_WINDOW)
        if end == start:
            return []
        positions = {p for p in self._by_norm.get(known.norm, ()) if p >= start}
        if self._vectors is not None and known.vector is not None:
            cosines = self._vectors[start:end] @ known.vector
            # A hair below the threshold: the rules recheck each with the exact dot.
            positions.update((np.flatnonzero(cosines >= similarity - 1e-4) + start).tolist())
        return [self._fresh[p] for p in sorted(positions, reverse=True)]


_LLM_PROMPT = """\
You keep a user's long-term memory consistent. For each NEW memory below, decide what \
to do given the EXISTING memories listed with it:
- "add": it is new information; keep everything.
- "supersede": it replaces existing memory N (the same fact changed, or it retracts it).
- "update": it is a newer, fuller version of existing memory N.
- "ignore": it says the same as existing memory N.
Reply with a JSON list, one object per NEW memory in order, e.g.
[{{"new": 1, "action": "supersede", "existing": 2}}, {{"new": 2, "action": "add"}}]

{items}
"""
_JSON_LIST = re.compile(r"\[.*\]", re.DOTALL)
_NUMBER = re.compile(r"\d+")
_ACTIONS = ("add", "update", "supersede", "ignore")


class Planner:
    """Decides what a write supersedes or repeats (see the module docstring).

    Args:
        store: The SQL store, for the slot lookups.
        indexes: The users' in-process indexes, for the nearest memories.
        tokenize: The keyword tokenizer, for neighbours without vectors.
        config: The lifecycle settings.
        llm: The engine's LLM, or None.
        events: Where decisions and LLM failures are counted.
    """

    def __init__(
        self,
        store: SQLStore,
        indexes: UserIndexes,
        tokenize: Callable[[str], list[str]],
        config: LifecycleConfig,
        llm: Callable[[str], str] | None,
        events: Counter[str],
    ) -> None:
        self._store = store
        self._indexes = indexes
        self._tokenize = tokenize
        self.config = config
        self._llm = llm if config.use_llm else None
        self.events = events

    def __call__(
        self,
        user_id: str,
        rows: list[dict[str, Any]],
        vectors: npt.NDArray[np.float32] | None,
        now: datetime,
    ) -> list[ValidityChange]:
        """Mark repeats and outdated rows in ``rows``; the changes to stored memories."""
        config = self.config
        if not (config.supersede or config.deduplicate) or not rows:
            return []
        fresh = [
            _Known(
                row["id"],
                row["content"],
                row["kind"],
                row["created_at"],
                content_words(row["content"]),
                normalise(row["content"]),
                claims(row["content"]) if config.supersede else [],
                row,
                None if vectors is None else vectors[position],
                dict(row.get("metadata") or {}),
            )
            for position, row in enumerate(rows)
        ]
        if config.supersede:
            for known in fresh:
                known.row["slot_keys"] = stored_keys(known.claims)  # type: ignore[index]
        neighbours, slotted = self._neighbours(user_id, fresh)
        stored = self._stored(user_id, fresh, neighbours, slotted)
        plan = _Plan()
        decided = self._ask_llm(fresh, neighbours, stored, plan)
        pool = _Pool(stored.values(), fresh)
        for position, known in enumerate(fresh):
            if position not in decided:
                near = [stored[i] for i, _ in neighbours[position] if i in stored]
                similar = {i: s for i, s in neighbours[position]}
                self._decide(known, near, similar, pool, plan)
            pool.admit(position)
        changes = list(plan.changes.values())
        for memory_id, count in plan.reinforced.items():
            changes.extend(
                ValidityChange(memory_id, "reinforce", at=_latest_mention(fresh, memory_id))
                for _ in range(count)
            )
        return changes

    # -- what to compare with ----------------------------------------------------------

    def _neighbours(
        self, user_id: str, fresh: list[_Known]
    ) -> tuple[list[list[tuple[str, float]]], set[str]]:
        """For each new memory, the nearest current stored ones: ``(id, cosine or 0)``;
        and the current stored memories filling the new memories' slots."""
        empty: list[list[tuple[str, float]]] = [[] for _ in fresh]
        version = self._store.user_version(user_id)
        if version is None:
            return empty, set()
        keys = {claim.key for known in fresh for claim in known.claims if claim.slot != "object"}
        depth = self.config.neighbours
        with self._indexes.lock_for(user_id):
            index = self._indexes.synced(user_id, version)
            skip = index.retired
            slotted = {
                doc_id for key in keys for doc_id in index.slots.get(key, ()) if doc_id not in skip
            }
            found = empty
            if index.vectors is not None and len(index.vectors) and fresh[0].vector is not None:
                found = [
                    [
                        hit
                        for hit in index.vectors.search(known.vector, depth + len(skip))
                        if hit[0] not in skip
                    ][:depth]
                    if known.vector is not None
                    else []
                    for known in fresh
                ]
            else:
                bm25 = index.bm25
                found = [
                    [
                        (doc_id, 0.0)
                        for doc_id, _ in bm25.top_n(
                            self._tokenize(known.content), depth + len(skip)
                        )
                        if doc_id not in skip
                    ][:depth]
                    for known in fresh
                ]
        return found, slotted

    def _stored(
        self,
        user_id: str,
        fresh: list[_Known],
        neighbours: list[list[tuple[str, float]]],
        slotted: set[str],
    ) -> dict[str, _Known]:
        """The stored memories to compare with: the neighbours and the same slots'."""
        ids = sorted({doc_id for hits in neighbours for doc_id, _ in hits} | slotted)
        if not ids:
            return {}
        found: list[Candidate] = self._store.candidates(user_id, ids)
        return {
            candidate.id: _Known(
                candidate.id,
                candidate.content,
                candidate.kind,
                candidate.created_at,
                content_words(candidate.content),
                normalise(candidate.content),
                claims(candidate.content) if self.config.supersede else [],
                metadata=candidate.metadata,
            )
            for candidate in found
        }

    # -- the offline rules ---------------------------------------------------------------

    def _decide(
        self,
        known: _Known,
        near: list[_Known],
        similarity: dict[str, float],
        pool: _Pool,
        plan: _Plan,
    ) -> None:
        config = self.config
        if config.deduplicate:
            original = self._original(known, near, similarity, pool)
            if original is not None:
                _mark(known, original, "duplicate", plan)
                return
        if not config.supersede or not known.claims:
            return
        keyed = {claim.key for claim in known.claims if claim.slot != "object"}
        near_ids = {other.id for other in near}
        # Only a memory with a claim on one of this memory's slots (same slot, same
        # subject) can conflict with it; the pool finds those without a scan.
        for other in pool.claiming(known):
            if (
                other.id == known.id
                or _retired(other, plan)
                or not (
                    any(claim.key in keyed for claim in other.claims)
                    or other.id in near_ids
                    or (other.row is not None and _close(known, other))
                )
            ):
                continue
            rule = _conflicting_rule(known, other)
            if rule is None:
                continue
            if other.created_at <= known.created_at:
                _supersede(other, known, rule, plan)
            else:
                _supersede(known, other, rule, plan)
                return

    def _original(
        self,
        known: _Known,
        near: list[_Known],
        similarity: dict[str, float],
        pool: _Pool,
    ) -> _Known | None:
        """The memory ``known`` repeats, if any: stored or earlier in the batch."""
        config = self.config
        for other in (*near, *pool.possible_repeats(known, config.duplicate_similarity)):
            if other.kind != known.kind or other.row is not None and other.row.get("superseded_at"):
                continue
            if (other.metadata or {}) != (known.metadata or {}):
                continue  # another source, key or namespace: a record of its own
            if other.norm == known.norm:
                return other
            # The cheap test first: most memories are nowhere near a repeat.
            cosine = similarity.get(other.id)
            if cosine is None and other.vector is not None and known.vector is not None:
                cosine = float(np.dot(other.vector, known.vector))
            if cosine is None or cosine < config.duplicate_similarity:
                continue
            if _NUMBER.findall(other.norm) != _NUMBER.findall(known.norm):
                continue  # "note 8" and "note 9", "2 kids" and "3 kids" differ
            union = known.words | other.words
            if union and len(known.words & other.words) / len(union) >= config.duplicate_overlap:
                return other
        return None

    # -- the LLM -------------------------------------------------------------------------

    def _ask_llm(
        self,
        fresh: list[_Known],
        neighbours: list[list[tuple[str, float]]],
        stored: dict[str, _Known],
        plan: _Plan,
    ) -> set[int]:
        """Let the LLM decide for the new memories with near neighbours; who it decided."""
        if self._llm is None:
            return set()
        shown: dict[int, list[_Known]] = {}
        for position, hits in enumerate(neighbours):
            near = [
                stored[doc_id]
                for doc_id, cosine in hits[:5]
                if doc_id in stored and cosine >= self.config.llm_similarity
            ]
            if near:
                shown[position] = near
        if not shown:
            return set()
        blocks = []
        for number, (position, near) in enumerate(shown.items(), start=1):
            existing = "\n".join(f"  {i}. {other.content}" for i, other in enumerate(near, 1))
            blocks.append(f"NEW {number}: {fresh[position].content}\nEXISTING:\n{existing}")
        try:
            reply = self._llm(_LLM_PROMPT.format(items="\n\n".join(blocks)))
            decisions = _parse_decisions(reply, len(shown))
        except Exception:
            logger.warning("the LLM's memory decision failed; using the rules", exc_info=True)
            decisions = None
        if decisions is None:
            self.events["lifecycle_llm_failed"] += 1
            return set()
        decided: set[int] = set()
        for (position, near), (action, target) in zip(shown.items(), decisions, strict=True):
            known = fresh[position]
            decided.add(position)
            if action == "add" or target is None or not 1 <= target <= len(near):
                continue
            other = near[target - 1]
            if action == "ignore":
                _mark(known, other, "llm:duplicate", plan)
            elif other.created_at <= known.created_at:
                _supersede(other, known, f"llm:{action}", plan)
            else:
                _supersede(known, other, f"llm:{action}", plan)
        self.events["lifecycle_llm_decisions"] += len(decided)
        return decided


def _parse_decisions(reply: object, count: int) -> list[tuple[str, int | None]] | None:
    if not isinstance(reply, str):
        return None
    match = _JSON_LIST.search(reply)
    if match is None:
        return None
    try:
        items = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(items, list) or len(items) != count:
        return None
    decisions: list[tuple[str, int | None]] = []
    for item in items:
        if not isinstance(item, dict) or item.get("action") not in _ACTIONS:
            return None
        target = item.get("existing")
        decisions.append((item["action"], target if isinstance(target, int) else None))
    return decisions


def _conflicting_rule(new: _Known, old: _Known) -> str | None:
    """The rule by which ``new`` replaces ``old`` (or the reverse in time), if any."""
    first, second = (new, old) if old.created_at <= new.created_at else (old, new)
    for claim in first.claims:
        for earlier in second.claims:
            if conflict(claim, earlier):
                return claim.rule
    return None


def _close(known: _Known, other: _Known) -> bool:
    """Whether two memories of one batch share enough words to be compared by rules."""
    return len(known.words & other.words) >= 2


def _retired(known: _Known, plan: _Plan) -> bool:
    if known.row is not None:
        return known.row.get("superseded_at") is not None
    return known.id in plan.changes


def _supersede(old: _Known, new: _Known, reason: str, plan: _Plan) -> None:
    """Record that ``new`` replaces ``old`` from ``new``'s time on."""
    if old.row is not None:
        old.row.update(superseded_at=new.created_at, superseded_by=new.id, supersede_reason=reason)
    else:
        plan.changes[old.id] = ValidityChange(
            old.id, "supersede", at=new.created_at, by=new.id, reason=reason
        )


def _mark(repeat: _Known, original: _Known, reason: str, plan: _Plan) -> None:
    """Store ``repeat`` as history of ``original``, which is reinforced."""
    assert repeat.row is not None
    repeat.row.update(
        superseded_at=repeat.created_at, superseded_by=original.id, supersede_reason=reason
    )
    if original.row is not None:
        original.row["mentions"] = int(original.row.get("mentions") or 1) + 1
        original.row["last_mentioned_at"] = repeat.created_at
    else:
        plan.reinforced[original.id] += 1


def _latest_mention(fresh: Sequence[_Known], memory_id: str) -> datetime | None:
    times = [
        known.created_at
        for known in fresh
        if known.row is not None and known.row.get("superseded_by") == memory_id
    ]
    return max(times) if times else None
