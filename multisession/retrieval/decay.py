"""Temporal weighting: how a memory's age enters its score.

The decay curve is ``recency(age) = max(floor, exp(-ln 2 * age / half_life))``: 1.0 for a
memory written now, 0.5 one half-life later, never below ``floor``.

Multiplying the fused score by that curve (``weight = 1``) buries relevant old memories,
because the evidence for a question is typically months old: on LoCoMo it takes Recall@5
from 53.9 to 29.3 (benchmarks/retrieval_quality.py, row "temporal weight 1"). So the
curve enters *bounded*:

    multiplier = 1 - weight + weight * recency

which lies in ``[1 - weight * (1 - floor), 1]``: ``[0.91, 1]`` at the defaults. With a
small ``weight`` the multiplier reorders near-ties, such as two memories about the same
thing where the newer one should win, and cannot bury a clearly relevant old memory.
On the default (convex) score scale, where each retriever's scores are shares of its
best candidate's, the two guarantees read:

- a memory whose fused score is more than ``1 / (1 - weight * (1 - floor))`` times
  another's (9.9 % above it at the defaults) stays above it, whatever their ages;
- of two memories whose fused scores differ by less than that, the newer can win: a
  memory 90 days older loses up to 8.75 %, one a half-life older 5 %.

The default ``weight = 0.1`` was chosen on LoCoMo with convex fusion: against temporal
weighting off it costs 0.7 points of Recall@5 and 0.6 of Recall@10 and gains 0.6 at
Recall@20, while 0.05 is too weak to let a contradicting newer preference win over an
older one whose cosine is 6 % higher (tests/core/test_engine.py). Under reciprocal rank
fusion neighbouring scores differ by under 2 % (1/61 against 1/62), so there the same
weight moves an old memory down a few places (benchmarks/README.md).
"""

from __future__ import annotations

import math

__all__ = ["recency", "temporal_multiplier"]

_SECONDS_PER_DAY = 86_400.0


def recency(age_seconds: float, half_life_days: float, floor: float) -> float:
    """The decay curve's value for a memory ``age_seconds`` old.

    A negative age (a memory dated after ``now``) counts as age 0.

    Example:
        >>> recency(30 * 86_400, half_life_days=30, floor=0.1)
        0.5
    """
    age_days = max(0.0, age_seconds) / _SECONDS_PER_DAY
    return max(floor, math.exp(-math.log(2) * age_days / half_life_days))


def temporal_multiplier(recency_value: float, weight: float) -> float:
    """What the fused score is multiplied by: ``1 - weight + weight * recency``.

    Example:
        >>> temporal_multiplier(1.0, weight=0.1)
        1.0
    """
    return 1.0 - weight + weight * recency_value
