"""Temporal weighting: how a memory's age enters its score.

The decay curve is ``recency(age) = max(floor, exp(-ln 2 * age / half_life))``: 1.0 for a
memory written now, 0.5 one half-life later, never below ``floor``.

Multiplying the fused score by that curve (``weight = 1``) buries relevant old memories,
because the evidence for a question is typically months old: on LoCoMo it takes Recall@5
from 53.9 to 29.3 (benchmarks/retrieval_quality.py, row "temporal weight 1"). So the
curve enters *bounded*:

    multiplier = 1 - weight + weight * recency

which lies in ``[1 - weight * (1 - floor), 1]``. With a small ``weight`` the multiplier
reorders near-ties, such as two memories about the same thing where the newer one should
win. It does not make scores of different sizes trade places: at the default settings
a memory both retrievers return stays above one only a single retriever returns. Within
one retriever's ranking neighbouring fused scores differ by less than the penalty
(1/61 against 1/62), so there an old memory can move down a few places.

The default ``weight = 0.05`` (at most a 4.5 % penalty) was chosen on LoCoMo: against
temporal weighting off it changes Recall@10 by +0.4 points and Recall@5 by -1.3, while
0.1 costs 3.4 points of Recall@5 and 0.2 costs 6 (benchmarks/README.md).
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
