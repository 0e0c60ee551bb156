"""Search latency: a histogram the engine fills, and a warning for a slow search.

The buckets are Prometheus-style cumulative upper bounds, so :mod:`multisession.metrics`
exports them as a histogram as they are. A search slower than ``slow_seconds`` is
logged as a warning naming the user only by a keyed hash: the key is made per process,
so the log never holds a user id, nor a hash that could be checked against a list of
known ids, yet one process's warnings about the same user can be told apart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading

__all__ = ["BUCKETS", "SearchLatency"]

logger = logging.getLogger("multisession.search")

#: Upper bounds of the buckets, in seconds.
BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class SearchLatency:
    """How long searches took, bucketed; thread-safe.

    Example:
        >>> latency = SearchLatency(slow_seconds=1.0)
        >>> latency.observe("alice", 0.004)
        >>> latency.count, latency.buckets()[0.005]
        (1, 1)

    Args:
        slow_seconds: Searches slower than this are logged as a warning; None never.
    """

    def __init__(self, slow_seconds: float | None = 1.0) -> None:
        self.slow_seconds = slow_seconds
        self._counts = [0] * (len(BUCKETS) + 1)
        self.count = 0
        self.total_seconds = 0.0
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(16)

    def observe(self, user_id: str, seconds: float) -> None:
        """Count one search of ``user_id`` that took ``seconds``."""
        position = next(
            (index for index, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS)
        )
        with self._lock:
            self._counts[position] += 1
            self.count += 1
            self.total_seconds += seconds
        if self.slow_seconds is not None and seconds > self.slow_seconds:
            logger.warning(
                "slow search: %.0f ms for user %s (over %.0f ms)",
                seconds * 1000,
                self.user_hash(user_id),
                self.slow_seconds * 1000,
            )

    def user_hash(self, user_id: str) -> str:
        """The user as the log names it: a keyed hash, 16 hex characters."""
        return hmac.new(self._key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def buckets(self) -> dict[float, int]:
        """Cumulative counts by upper bound (``float('inf')`` for all)."""
        with self._lock:
            counts = list(self._counts)
        cumulative: dict[float, int] = {}
        running = 0
        for bound, number in zip((*BUCKETS, float("inf")), counts, strict=True):
            running += number
            cumulative[bound] = running
        return cumulative
