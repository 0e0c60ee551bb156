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
win, and cannot bury a clearly relevant old memory: a memory whose fused score is more
than ``1 / (1 - weight * (1 - floor))`` times another's stays above it, whatever their
ages; of two memories closer than that, the newer can win.

Under reciprocal rank fusion (the default) neighbouring ranks are always near-ties (1/61
against 1/62), so the default ``weight = 0.05`` (at most a 4.5 % penalty) lets the newer
of two adjacent memories win, and an old memory can move down a few places; against
temporal weighting off it changes Recall@10 on LoCoMo by +0.4 points and Recall@5 by
-1.3. Under convex fusion (the ``recall`` preset) fused scores keep their margins, so
"near-equal" means scores within that ratio; the preset uses ``weight = 0.1`` (at most
9 %), which costs 0.2-1.1 points of recall on LoCoMo against weighting off
(benchmarks/README.md).
"""

from __future__ import annotations

import math

__all__ = ["recency", "temporal_multiplier"]

SECONDS_PER_DAY = 86_400.0


def recency(age_seconds: float, half_life_days: float, floor: float) -> float:
    """The decay curve's value for a memory ``age_seconds`` old.

    A negative age (a memory dated after ``now``) counts as age 0.

    Example:
        >>> recency(30 * 86_400, half_life_days=30, floor=0.1)
        0.5
    """
    age_days = max(0.0, age_seconds) / SECONDS_PER_DAY
    return max(floor, math.exp(-math.log(2) * age_days / half_life_days))


def temporal_multiplier(recency_value: float, weight: float) -> float:
    """What the fused score is multiplied by: ``1 - weight + weight * recency``.

    Example:
        >>> temporal_multiplier(1.0, weight=0.1)
        1.0
    """
    return 1.0 - weight + weight * recency_value
