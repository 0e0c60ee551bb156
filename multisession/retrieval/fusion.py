"""Weighted reciprocal rank fusion over ranked id lists.

``fused(d) = sum_i w_i / (k + rank_i(d))`` with ranks counted from 1; a list in which
``d`` does not appear contributes nothing. With every weight 1 this is the RRF of
Cormack et al. (2009); LangChain's ``EnsembleRetriever`` and LlamaIndex's
``reciprocal_rerank`` compute the same sum.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["reciprocal_rank_fusion"]


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
