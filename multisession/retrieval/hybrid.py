"""One user's hybrid search: keyword and vector candidates, gathered, then ranked.

This is the whole way from a query to ranked memory ids, so that it reads in one place:
the user's version from SQL (the only read when nothing changed), the ids a filter lets
through, BM25 candidates from the user's in-process index, vector candidates either
from the in-process exact vectors or from the vector index plus the vectors still
waiting to be written to it, the current memories filling the personal slot the query
asks about (:mod:`.slots`), and then :func:`~multisession.retrieval.ranking.rank`.
For score (convex) fusion each side also scores the other side's candidates, so that a
missing score is a true zero rather than an unknown: BM25 always, cosine when the
user's vectors are held in process.
SQL decides what exists: a candidate whose memory is gone is dropped before ranking.

A failing embedder or vector index never fails a search: it is counted in ``events``
and logged, and the search answers from keyword search alone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ..embeddings.base import Embedder
from ..errors import InvalidInputError, StoreDamagedError
from ..records import MemoryFilter, ScoreBreakdown
from ..storage.sql_store import SQLStore
from ..storage.vector_index import VectorIndex
from ..storage.write_behind import Pending, WriteBehind
from .bm25 import BM25Index
from .config import RetrievalConfig
from .dates import named_periods
from .exact_vectors import ExactVectors, row_dots
from .ranking import rank
from .slots import asked_slots
from .user_indexes import UserIndexes

__all__ = ["HybridSearch", "QueryVector"]

logger = logging.getLogger("multisession")

#: How much deeper than the candidate depth a filtered search first looks unfiltered.
_WIDENING = 4

#: A precomputed query embedding, as callers may pass one.
QueryVector = Sequence[float] | npt.NDArray[np.floating[Any]]


class HybridSearch:
    """Ranked memory ids for one user's query; thread-safe.

    Example:
        >>> from collections import Counter
        >>> from datetime import datetime, timezone
        >>> from multisession.records import MemoryFilter
        >>> from multisession.retrieval.terms import Tokenizer
        >>> from multisession.storage.sql_store import SQLStore
        >>> from multisession.storage.write_behind import WriteBehind
        >>> store, tokenize, events = SQLStore("sqlite://"), Tokenizer(), Counter()
        >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> indexes = UserIndexes(store, tokenize, dimension=None, exact_limit=0)
        >>> writes = WriteBehind(store, None, None, lambda: now, 64, 1.0, events)
        >>> search = HybridSearch(store, indexes, None, writes, None, tokenize, events)
        >>> search.search("alice", "peanuts", k=3, where=MemoryFilter(),
        ...               settings=RetrievalConfig(), now=now)
        []
        >>> writes.close(); store.close()

    Args:
        store: The SQL store (versions, filters).
        indexes: The per-user keyword indexes and exact vectors.
        vectors: The vector index for users searched approximately, or None.
        writes: Where vectors wait before the vector index has them.
        embedder: Embeds queries; None for keyword-only search.
        tokenize: Turns the query into BM25 terms, as the indexes do memories.
        events: Where failures are counted (the engine's ``events``).
    """

    def __init__(
        self,
        store: SQLStore,
        indexes: UserIndexes,
        vectors: VectorIndex | None,
        writes: WriteBehind,
        embedder: Embedder | None,
        tokenize: Callable[[str], list[str]],
        events: Counter[str],
    ) -> None:
        self._store = store
        self._indexes = indexes
        self._vectors = vectors
        self._writes = writes
        self._embedder = embedder
        self._tokenize = tokenize
        self.events = events

    def search(
        self,
        user_id: str,
        query: str,
        *,
        k: int,
        where: MemoryFilter,
        settings: RetrievalConfig,
        now: datetime,
        query_vector: QueryVector | None = None,
    ) -> list[tuple[str, ScoreBreakdown]]:
        """The user's ``k`` best memories for ``query``: ``(id, breakdown)``, best first.

        Args:
            user_id: Whose memories; no other user's are ever considered.
            query: What to look for (checked by the caller).
            k: How many at most.
            where: Filters, applied inside both retrievers.
            settings: Candidate depth, neighbour window, fusion, temporal weighting,
                date boost.
            now: The time ages are measured from.
            query_vector: A precomputed query embedding, skipping the embedder.

        Raises:
            InvalidInputError: ``query_vector`` is not of the embedder's dimension.
        """
        depth = max(settings.candidate_depth, k)
        vector = self._query_vector(query, query_vector, settings)
        version = self._store.user_version(user_id)
        if version is None:
            return []  # nothing stored for this user
        tokens = self._tokenize(query)
        dated = (
            [(start.timestamp(), end.timestamp()) for start, end in named_periods(query, now)]
            if settings.date_boost > 1
            else []
        )
        asked = asked_slots(query) if settings.slot_boost > 1 else frozenset()
        if where.is_empty:
            # Which memories are current the index knows: no SQL read needed.
            keyword, semantic, created, slotted, full = self._candidates(
                user_id,
                version,
                tokens,
                vector,
                depth,
                where,
                None,
                settings,
                current_only=not where.include_superseded,
                asked=asked,
            )
            return rank(keyword, semantic, created, settings, now, dated, k, slotted, full)
        # A filter that lets most memories through: take unfiltered candidates and keep
        # those SQL says match. The first matches of a ranking are the filtered
        # ranking's first; enough of them give the filtered answer exactly, without
        # reading every matching id. First at the search's own depth (a filter that
        # lets all through then costs one small SQL read), then a few times deeper if
        # enough matched for that to be likely to suffice. Too few: filter inside both
        # retrievers.
        # Unfiltered means every version a filter may keep: with history asked for
        # (as_of, include_superseded), superseded memories are candidates too.
        unfiltered = MemoryFilter(
            include_superseded=where.include_superseded or where.as_of is not None
        )
        width = depth
        while True:
            keyword, semantic, created, slotted, full = self._candidates(
                user_id, version, tokens, vector, width, unfiltered, None, settings, asked=asked
            )
            ids = {doc_id for doc_id, _ in (*keyword, *semantic)}
            matching = self._store.matching_ids(user_id, where, ids)
            kept_keyword = [hit for hit in keyword if hit[0] in matching][:depth]
            kept_semantic = [hit for hit in semantic if hit[0] in matching][:depth]
            if (len(kept_keyword) == depth or len(keyword) < width) and (
                len(kept_semantic) == depth or len(semantic) < width
            ):
                return rank(
                    kept_keyword, kept_semantic, created, settings, now, dated, k, slotted, full
                )
            if width > depth or len(matching) * _WIDENING < len(ids):
                break
            width = depth * _WIDENING
        allowed = self._store.filtered_ids(user_id, where)
        keyword, semantic, created, slotted, full = self._candidates(
            user_id, version, tokens, vector, depth, where, allowed, settings, asked=asked
        )
        return rank(keyword, semantic, created, settings, now, dated, k, slotted, full)

    def _candidates(
        self,
        user_id: str,
        version: int,
        tokens: list[str],
        vector: npt.NDArray[np.float32] | None,
        depth: int,
        where: MemoryFilter,
        allowed: set[str] | None,
        settings: RetrievalConfig,
        *,
        current_only: bool = False,
        asked: frozenset[str] = frozenset(),
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]], dict[str, float], set[str], float]:
        """Keyword and vector candidates (``allowed`` ids only, if given), their times,
        the current memories filling the ``asked`` slots, which join the candidates, and
        the query's full keyword match score (0 when score fusion does not use it).

        ``current_only`` leaves out the memories the index knows are superseded: a few
        are skipped by looking that much deeper, many by naming the allowed ids.
        """
        semantic: list[tuple[str, float]] = []
        lock = self._indexes.lock_for(user_id)
        complete = settings.fusion == "convex"
        skip: set[str] = set()
        with lock:
            index = self._indexes.synced(user_id, version)
            if current_only and index.retired:
                if allowed is None and len(index.retired) > _WIDENING * depth:
                    allowed = set(index.created) - index.retired
                else:
                    skip = set(index.retired)
            more = depth + len(skip)
            bm25 = index.keywords.index(settings.neighbour_window)
            use_keywords = settings.bm25_weight > 0 and bool(tokens)
            # Each side's scores are computed once and read twice (candidates, then the
            # other side's candidates), inside this one hold of the lock.
            scored = bm25.score(tokens) if use_keywords else None
            keyword = (
                [] if scored is None else bm25.top_n(tokens, more, allowed=allowed, scored=scored)
            )
            full = (
                bm25.full_match_score(tokens)
                if keyword and complete and settings.keyword_full_match > 0
                else 0.0
            )
            keyword = _without(keyword, skip, depth)
            exact = index.vectors
            if vector is not None and exact is not None:
                similarities = exact.similarities(vector)
                semantic = exact.search(vector, more, allowed, similarities=similarities)
                semantic = _without(semantic, skip, depth)
                if complete and keyword and semantic:
                    # Score fusion compares scores, so each side scores every candidate
                    # of the other too (an id the keywords miss truly scores 0 there).
                    union = {*dict(keyword), *dict(semantic)}
                    keyword = bm25.top_n(tokens, len(union), allowed=union, scored=scored)
                    semantic = exact.search(vector, len(union), union, similarities=similarities)
        if vector is not None and exact is None and self._vectors is not None:
            try:
                semantic = self._vectors.query(user_id, vector, more, where)
                if allowed is not None:
                    # The vector index holds no metadata, scope, validity nor privacy
                    # class: SQL's matches decide.
                    semantic = [hit for hit in semantic if hit[0] in allowed]
                semantic = _without(semantic, skip, depth)
            except StoreDamagedError:
                raise  # names the damaged file and the fix: not an outage to ride out
            except Exception:
                self.events["vector_search_failed"] += 1
                logger.warning(
                    "vector search failed; answering from keyword search alone", exc_info=True
                )
            buffered = _without(
                _nearest(self._writes.pending(user_id, allowed), vector, more), skip, depth
            )
            if buffered:
                # A buffered vector is the newest one of its memory.
                merged = dict(semantic)
                merged.update(buffered)
                semantic = sorted(merged.items(), key=lambda item: -item[1])[:depth]
        with lock:
            if complete and keyword and semantic and exact is None:
                # The vector index cannot score chosen ids; the keyword side still can.
                union = {doc_id for doc_id, _ in (*keyword, *semantic)}
                keyword = bm25.top_n(tokens, len(union), allowed=union)
            slotted = {doc_id for key in asked for doc_id in index.slots.get(key, ())}
            slotted -= index.retired
            if allowed is not None:
                slotted &= allowed
            found = {*dict(keyword), *dict(semantic)}
            if slotted - found:
                keyword, semantic = _with_slotted(
                    keyword, semantic, slotted - found, bm25, tokens, exact, vector
                )
                found = {*dict(keyword), *dict(semantic)}
            # Each candidate's time, read in one pass of calls rather than a loop.
            known = list(found & index.created.keys())
            created = dict(zip(known, map(index.created.__getitem__, known), strict=True))
        if len(created) < len(found):
            # A vector whose memory was deleted (by another process, or before a failed
            # vector delete) is skipped: SQL decides what exists.
            keyword = [(doc_id, score) for doc_id, score in keyword if doc_id in created]
            semantic = [(doc_id, sim) for doc_id, sim in semantic if doc_id in created]
        return keyword, semantic, created, slotted, full

    def _query_vector(
        self, query: str, given: QueryVector | None, settings: RetrievalConfig
    ) -> npt.NDArray[np.float32] | None:
        """The query's unit vector, or None when the search runs on keywords alone."""
        if settings.vector_weight <= 0 or self._embedder is None:
            return None
        if given is not None:
            vector = np.asarray(given, dtype=np.float32).reshape(-1)
            if vector.shape[0] != self._embedder.dimension or not np.all(np.isfinite(vector)):
                raise InvalidInputError(
                    f"query_vector must hold {self._embedder.dimension} finite numbers "
                    f"(the embedder's dimension), got shape {vector.shape}"
                )
            norm = float(np.linalg.norm(vector))
            return vector / norm if norm > 0 else vector
        try:
            return np.asarray(self._embedder.embed([query])[0], dtype=np.float32)
        except Exception:
            self.events["query_embedding_failed"] += 1
            logger.warning(
                "embedding the query failed; answering from keyword search alone", exc_info=True
            )
            return None


def _with_slotted(
    keyword: list[tuple[str, float]],
    semantic: list[tuple[str, float]],
    missing: set[str],
    bm25: BM25Index,
    tokens: list[str],
    exact: ExactVectors | None,
    vector: npt.NDArray[np.float32] | None,
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Both candidate lists with the ``missing`` slot memories scored into them."""
    if tokens:
        keyword = sorted(
            [*keyword, *bm25.top_n(tokens, len(missing), allowed=missing)],
            key=lambda hit: -hit[1],
        )
    if vector is not None and exact is not None:
        semantic = sorted(
            [*semantic, *exact.search(vector, len(missing), missing)], key=lambda hit: -hit[1]
        )
    return keyword, semantic


def _without(hits: list[tuple[str, float]], skip: set[str], n: int) -> list[tuple[str, float]]:
    """The first ``n`` hits whose id is not in ``skip``."""
    if skip:
        hits = [hit for hit in hits if hit[0] not in skip]
    return hits[:n]


def _nearest(
    entries: list[Pending], vector: npt.NDArray[np.float32], n: int
) -> list[tuple[str, float]]:
    """The pending vectors nearest to ``vector``: ``(id, cosine)``, best first."""
    if not entries:
        return []
    similarities = row_dots(np.stack([entry.vector for entry in entries]), vector)
    order = np.argsort(-similarities, kind="stable")[:n]
    return [(entries[i].row.id, float(similarities[i])) for i in order]
