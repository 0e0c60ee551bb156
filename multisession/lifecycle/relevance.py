"""How much evidence a hit carries that it is about the query, on a scale queries share.

Fused scores cannot be thresholded: reciprocal rank fusion gives the best hit of any
query about the same score (~0.016 at ``rrf_k`` 60), relevant or not, and convex fusion
normalises each query's scores to its own best. The two retrievers' raw evidence does
mean the same across queries: the cosine of the query's and the memory's embeddings, and
the BM25 score (matched rare terms). A hit's relevance is the larger of the two, BM25
mapped into ``[0, 1)`` by ``score / (score + BM25_HALF)`` so that a score of
``BM25_HALF`` counts like a cosine of 0.5; a memory holding a query term counts at
least like a cosine of 0.1 (``MATCH_EVIDENCE``), since BM25 scores a term every
memory of a small store holds at 0. A memory filling the personal slot the query
asks about (its ``slot_boost`` is above 1) counts at least like a cosine of 0.5.
"""

from __future__ import annotations

from ..records import ScoreBreakdown

__all__ = ["BM25_HALF", "DEFAULT_MIN_RELEVANCE", "MATCH_EVIDENCE", "SLOT_EVIDENCE", "relevance"]

#: The engine's default floor, chosen on LoCoMo dev and a labelled small-talk set
#: (benchmarks/lifecycle_locomo.py). Above 0 it also turns on the small-talk rule (see
#: .small_talk), which does what no floor does alone: greetings, thanks and
#: acknowledgements retrieve nothing (132 of 133) while LoCoMo recall does not move
#: (floors of 0.1 to 0.25 cost nothing at k=10, 0.3 costs 0.2 point). A follow-up ("And
#: for me?", "What about him?") is neither small talk nor held to the floor: its topic
#: is in the turn before. The floor itself is kept low: it drops hits with no query term
#: and a cosine under 0.1.
DEFAULT_MIN_RELEVANCE = 0.1

#: The BM25 score that counts as much as a cosine of 0.5.
BM25_HALF = 12.0

#: The evidence a memory holding a query term has at least, whatever BM25 scores it.
MATCH_EVIDENCE = 0.1

#: The evidence a memory filling the slot the query asks about has at least (see
#: multisession.retrieval.slots): as much as a cosine of 0.5.
SLOT_EVIDENCE = 0.5


def relevance(breakdown: ScoreBreakdown) -> float:
    """The hit's evidence of relevance in ``[0, 1]``: cosine, or BM25 mapped alike.

    Example:
        >>> from multisession.records import ScoreBreakdown
        >>> hit = ScoreBreakdown(1, 12.0, 3, 0.31, 0.03, 1.0, 1.0, 0.03)
        >>> relevance(hit)
        0.5
    """
    cosine = max(breakdown.vector_similarity or 0.0, 0.0)
    score = breakdown.bm25_score or 0.0
    keyword = score / (score + BM25_HALF) if score > 0 else 0.0
    if breakdown.bm25_rank is not None:
        # The memory holds a query term: in a store of a few memories every term is
        # common and BM25 scores it 0, yet it is a match.
        keyword = max(keyword, MATCH_EVIDENCE)
    # The memory filling the personal slot the query asks about answers it, whatever
    # its words ("We just moved to Leeds" for "which city is home these days?").
    slot = SLOT_EVIDENCE if breakdown.slot_boost > 1 else 0.0
    return min(max(cosine, keyword, slot), 1.0)
