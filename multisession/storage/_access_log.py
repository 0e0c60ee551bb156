"""Retrievals counted in memory and written to SQL in batches.

A search that wrote ``last_accessed`` and ``access_count`` to SQL at once would pay a
write transaction on every query, about as much as the whole search costs otherwise.
The engine counts here instead and writes the counts in one statement at most a flush
interval later, before any read that returns them, and on close. Search results
already show the counts including their own retrieval.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime

Key = tuple[str, str]


class AccessLog:
    """Pending ``(count, latest time)`` per ``(user_id, memory_id)``; thread-safe."""

    def __init__(self) -> None:
        self._pending: dict[Key, tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def record(
        self, user_id: str, memory_ids: Iterable[str], now: datetime
    ) -> dict[str, tuple[int, datetime]]:
        """Count one retrieval of each memory; returns what is pending for each."""
        recorded: dict[str, tuple[int, datetime]] = {}
        with self._lock:
            for memory_id in memory_ids:
                count, latest = self._pending.get((user_id, memory_id), (0, now))
                entry = (count + 1, max(latest, now))
                self._pending[(user_id, memory_id)] = entry
                recorded[memory_id] = entry
        return recorded

    def has_user(self, user_id: str) -> bool:
        with self._lock:
            return any(key[0] == user_id for key in self._pending)

    def drop_user(self, user_id: str) -> None:
        with self._lock:
            for key in [key for key in self._pending if key[0] == user_id]:
                del self._pending[key]

    def take(self) -> dict[Key, tuple[int, datetime]]:
        with self._lock:
            taken, self._pending = self._pending, {}
        return taken

    def restore(self, taken: Mapping[Key, tuple[int, datetime]]) -> None:
        """Put back what a failed write took, merged with what came meanwhile."""
        with self._lock:
            for key, (count, latest) in taken.items():
                newer_count, newer_latest = self._pending.get(key, (0, latest))
                self._pending[key] = (count + newer_count, max(latest, newer_latest))
