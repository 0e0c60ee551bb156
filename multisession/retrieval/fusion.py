"""How the keyword and the vector candidates become one score: two pure rules.

Reciprocal rank fusion (``fusion="rrf"``, the ``rrf`` preset):
``fused(d) = sum_i w_i / (k + rank_i(d))`` with ranks counted from 1; a list in which
``d`` does not appear contributes nothing. With every weight 1 this is the RRF of
Cormack et al. (2009); LangChain's ``EnsembleRetriever`` and LlamaIndex's
``reciprocal_rerank`` compute the same sum. It needs no score scale, but throws away
margins: a keyword hit far ahead of the rest counts like a marginal one.

Convex fusion (``fusion="convex"``, the default): each list's scores are
normalised to ``[0, 1]`` (by the list's best score, or min-max) and combined as a
weighted mean, so margins count. On LoCoMo it measures best (benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["NORMALISATIONS", "Normalisation", "convex_fusion", "reciprocal_rank_fusion"]

#: How convex fusion puts each list's scores on ``[0, 1]`` (see :func:`convex_fusion`).
Normalisation = Literal["max", "min-max"]
NORMALISATIONS: tuple[Normalisation, ...] = ("max", "min-max")


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]],
    weights: Sequence[float] | None = None,
    k: float = 60.0,
) -> dict[str, float]:
    """Fuse ranked lists of ids into one score per id.

    Args:
        rankings: Lists of ids, best first. An id repeated within one list counts at its
            first (best) position only.
        weights: One non-negative weight per list; all 1.0 when omitted.
        k: The RRF constant; larger values flatten the difference between ranks.

    Returns:
        A dict id -> fused score, in order of first appearance (not sorted).

    Example:
        >>> scores = reciprocal_rank_fusion([["a", "b"], ["b", "c"]])
        >>> max(scores, key=scores.__getitem__)
        'b'
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(rankings)} rankings but {len(weights)} weights")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if weight < 0:
            raise ValueError(f"weights must be >= 0, got {weight}")
        seen: set[str] = set()
        for rank, doc_id in enumerate(ranking, start=1):
            if doc_id in seen:
                continue
            seen.add(doc_id)
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (k + rank)
    return fused


def convex_fusion(
    scored: Sequence[Sequence[tuple[str, float]]],
    weights: Sequence[float] | None = None,
    normalisation: Normalisation = "max",
    full_scores: Sequence[float] | None = None,
) -> dict[str, float]:
    """Fuse scored lists by a convex combination of their normalised scores.

    ``fused(d) = sum_i w_i * norm_i(d) / sum_i w_i`` over the non-empty lists, where
    ``norm_i(d)`` puts list ``i``'s scores on ``[0, 1]`` (0 for an id the list lacks):

    - ``"max"``: ``max(s, 0) / max_i``, the score as a share of the list's best. Both
      BM25 and cosine have a natural zero (no match, no similarity), so near-equal raw
      scores stay near-equal, which the temporal weighting relies on.
    - ``"min-max"``: ``(s - min_i) / (max_i - min_i)``, which stretches every list to
      the full range: the list's worst candidate gets 0, however close to the best.

    ``full_scores`` gives each list a score that counts as a full match whatever its
    best: the list is normalised by ``max(best, full)`` instead of its best, so a list
    whose best candidate is a weak match (a keyword list that matched one common word
    of a long query) gives a vote in proportion, not a full one. 0 leaves the best as
    the scale, and so does a best not above 0.

    A list whose best score is its only value (all equal, or not above 0 under
    ``"max"``) gives the candidates holding it 1. An empty list (say, the vector search
    failed) takes no share, so the scale stays ``[0, 1]``. Unlike reciprocal ranks this
    keeps the margins: a keyword hit far ahead of the rest counts for more than a
    marginal one.

    Args:
        scored: Lists of ``(id, score)``, any order; higher is better. An id repeated
            within one list counts at its first position only.
        weights: One non-negative weight per list, not all zero; all 1.0 when omitted.
        normalisation: ``"max"`` or ``"min-max"``, as above.
        full_scores: One score per list that counts as a full match (0: none); all 0
            when omitted.

    Returns:
        A dict id -> fused score in ``[0, 1]``, every id of every list included, in order
        of first appearance (not sorted).

    Example:
        >>> scores = convex_fusion([[("a", 9.0), ("b", 3.0)], [("b", 0.8), ("c", 0.4)]])
        >>> {doc_id: round(score, 3) for doc_id, score in scores.items()}
        {'a': 0.5, 'b': 0.667, 'c': 0.25}
    """
    if weights is None:
        weights = [1.0] * len(scored)
    if len(weights) != len(scored):
        raise ValueError(f"got {len(scored)} score lists but {len(weights)} weights")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"weights must be >= 0, got {list(weights)}")
    if scored and not any(weights):
        raise ValueError("at least one weight must be > 0")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    if full_scores is None:
        full_scores = [0.0] * len(scored)
    if len(full_scores) != len(scored):
        raise ValueError(f"got {len(scored)} score lists but {len(full_scores)} full scores")
    total = float(
        sum(weight for candidates, weight in zip(scored, weights, strict=True) if candidates)
    )
    fused: dict[str, float] = {}
    for candidates, weight, full in zip(scored, weights, full_scores, strict=True):
        first: dict[str, float] = {}
        for doc_id, score in candidates:
            first.setdefault(doc_id, score)
        if not first:
            continue
        high = max(first.values())
        if high > 0:
            # A best not above 0 (a term every memory of a tiny store holds) keeps the
            # rule above: a match BM25 cannot weigh counts in full.
            high = max(high, full)
        low = min(first.values()) if normalisation == "min-max" else 0.0
        span = high - low
        share = weight / total if total > 0 else 0.0
        for doc_id, score in first.items():
            norm = max(0.0, score - low) / span if span > 0 else float(score == high)
            fused[doc_id] = fused.get(doc_id, 0.0) + share * norm
    return fused
