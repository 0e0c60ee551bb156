"""Where a search is ranked: fusion of the two candidate lists, then bounded multipliers.

Kept apart from the code that gathers candidates so that the whole ranking rule reads
in one place and can be checked on plain lists, without a store: the keyword and the
vector candidates are fused (:mod:`.fusion`, convex or reciprocal rank), each fused
score is multiplied by the memory's bounded recency (:mod:`.decay`), when the query
names a date by the date boost for memories dated inside it (:mod:`.dates`), and when
it asks about a personal slot by the slot boost for the memories filling it
(:mod:`.slots`). Ties go
to the newer memory, then to the smaller id, so that equal inputs always give the same
order.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from ..records import ScoreBreakdown
from .config import RetrievalConfig
from .decay import SECONDS_PER_DAY as _SECONDS_PER_DAY
from .fusion import convex_fusion, reciprocal_rank_fusion

__all__ = ["rank"]


def rank(
    keyword: Sequence[tuple[str, float]],
    semantic: Sequence[tuple[str, float]],
    created: Mapping[str, float],
    settings: RetrievalConfig,
    now: datetime,
    dated: Sequence[tuple[float, float]] = (),
    limit: int | None = None,
    slotted: Collection[str] = (),
    keyword_full: float = 0.0,
) -> list[tuple[str, ScoreBreakdown]]:
    """Every candidate of either list, best first, with why it ranks there.

    Example:
        >>> from datetime import datetime, timezone
        >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> keyword = [("a", 2.0), ("b", 1.5), ("c", 0.5)]
        >>> convex = RetrievalConfig(fusion="convex")
        >>> ranked = rank(keyword, [("b", 0.9), ("c", 0.2)], {}, convex, now)
        >>> [doc_id for doc_id, _ in ranked]
        ['b', 'a', 'c']

    Args:
        keyword: BM25 candidates as ``(id, score)``, best first.
        semantic: Vector candidates as ``(id, cosine similarity)``, best first.
        created: Each candidate's creation time as a POSIX timestamp; a candidate
            missing here counts as written at ``now``.
        settings: The fusion rule and weights, temporal weighting, date boost.
        now: The time ages are measured from.
        dated: The periods the query names, as ``[start, end)`` POSIX timestamps; a
            memory created inside one gets ``settings.date_boost``.
        limit: Return only the first ``limit`` (all when None); the others get no
            breakdown built.
        slotted: The memories filling the personal slot the query asks about (see
            :mod:`.slots`); each gets ``settings.slot_boost``.
        keyword_full: The query's full keyword match score (see
            :meth:`.bm25.BM25Index.full_match_score`); convex fusion scales the keyword
            list by at least ``settings.keyword_full_match`` times it. 0: by its best.

    Returns:
        ``(id, breakdown)`` for every id in either list (up to ``limit``), sorted by
        final score, then newer first, then by id.
    """
    weights = [settings.bm25_weight, settings.vector_weight]
    if settings.fusion == "convex":
        full = [keyword_full * settings.keyword_full_match, 0.0]
        fused = convex_fusion([keyword, semantic], weights, settings.normalisation, full)
    else:
        fused = reciprocal_rank_fusion(
            [[doc_id for doc_id, _ in keyword], [doc_id for doc_id, _ in semantic]],
            weights,
            settings.rrf_k,
        )
    keyword_rank = {doc_id: (place, score) for place, (doc_id, score) in enumerate(keyword, 1)}
    vector_rank = {doc_id: (place, sim) for place, (doc_id, sim) in enumerate(semantic, 1)}
    temporal = settings.temporal
    now_ts = now.timestamp()
    # decay.recency() and decay.temporal_multiplier(), inlined with the same operations
    # in the same order (so the same floats): this loop runs for every candidate. A
    # comparison stands for max() (the same result, without a call).
    exp, minus_ln2, half_life = math.exp, -math.log(2), temporal.half_life_days
    floor, weight, enabled = temporal.floor, temporal.weight, temporal.enabled
    date_boost, slot_boost = settings.date_boost, settings.slot_boost
    # Entries start with the negated sort keys (score, then time), so that a plain sort
    # puts the best score first, between equal scores the newer memory, then the id.
    scored: list[tuple[float, float, str, float, float, float, float, float]] = []
    for doc_id, fused_score in fused.items():
        created_ts = created.get(doc_id, now_ts)
        age = now_ts - created_ts
        age_days = (age if age > 0.0 else 0.0) / _SECONDS_PER_DAY
        curve = exp(minus_ln2 * age_days / half_life)
        if not curve > floor:
            curve = floor
        multiplier = 1.0 - weight + weight * curve if enabled else 1.0
        boost = 1.0
        if dated and any(start <= created_ts < end for start, end in dated):
            boost = date_boost
        slot = slot_boost if doc_id in slotted else 1.0
        final = fused_score * multiplier * boost * slot
        scored.append((-final, -created_ts, doc_id, fused_score, curve, multiplier, boost, slot))
    scored.sort()
    ranked: list[tuple[str, ScoreBreakdown]] = []
    for negated, _, doc_id, fused_score, curve, multiplier, boost, slot in scored[:limit]:
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
            final_score=-negated,
            date_boost=boost,
            slot_boost=slot,
        )
        ranked.append((doc_id, breakdown))
    return ranked
