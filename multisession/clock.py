"""A clock you move by hand, for tests, benchmarks and scripted demos.

The engine reads the time from its ``clock`` (any callable returning a timezone-aware
datetime), so that ages, recency and resumption modes can be tried without waiting.

Example:
    >>> from datetime import datetime, timezone
    >>> clock = ManualClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> clock.advance(days=3).isoformat()
    '2026-03-04T00:00:00+00:00'
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .errors import ConfigurationError

__all__ = ["ManualClock"]


class ManualClock:
    """Returns ``now`` until moved with :meth:`advance` or by setting ``now``."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ConfigurationError(
                "ManualClock needs a timezone-aware start, e.g. datetime(..., tzinfo=timezone.utc)"
            )
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        self.now += timedelta(**delta)
        return self.now
