"""Vectors written but not yet flushed to the vector index.

Embedded Chroma spends about the same time on an upsert of one vector as of a hundred
(~13 ms on 2 cores), so the engine buffers the vectors of small writes and flushes them
in batches. Until then they are searched here, exactly, so a process always finds what
it just wrote. SQL marks buffered memories as not yet vector-indexed: if the process
dies, reopening the store re-indexes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..records import IndexRow
from ..retrieval.exact_vectors import row_dots


@dataclass(frozen=True)
class Pending:
    row: IndexRow
    vector: npt.NDArray[np.float32]


class VectorBuffer:
    """Pending vectors per user; thread-safe."""

    def __init__(self) -> None:
        self._pending: dict[str, dict[str, Pending]] = {}
        self._oldest: float | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._pending.values())

    def age(self) -> float:
        """Seconds since the oldest pending vector was added (0 when empty)."""
        with self._lock:
            return 0.0 if self._oldest is None else time.monotonic() - self._oldest

    def add(self, user_id: str, rows: list[IndexRow], vectors: npt.NDArray[np.float32]) -> None:
        with self._lock:
            entries = self._pending.setdefault(user_id, {})
            for row, vector in zip(rows, vectors, strict=True):
                entries[row.id] = Pending(row, np.asarray(vector, dtype=np.float32))
            if self._oldest is None:
                self._oldest = time.monotonic()

    def discard(self, user_id: str, memory_ids: list[str]) -> None:
        with self._lock:
            entries = self._pending.get(user_id, {})
            for memory_id in memory_ids:
                entries.pop(memory_id, None)

    def drop_user(self, user_id: str) -> None:
        with self._lock:
            self._pending.pop(user_id, None)

    def take(self) -> dict[str, list[Pending]]:
        """Remove and return everything pending, per user."""
        with self._lock:
            taken = {user: list(entries.values()) for user, entries in self._pending.items()}
            self._pending = {}
            self._oldest = None
        return {user: entries for user, entries in taken.items() if entries}

    def restore(self, taken: dict[str, list[Pending]]) -> None:
        """Put back what a failed flush took, unless newer writes replaced it."""
        with self._lock:
            for user_id, entries in taken.items():
                current = self._pending.setdefault(user_id, {})
                for entry in entries:
                    current.setdefault(entry.row.id, entry)
            if self._oldest is None and any(self._pending.values()):
                self._oldest = time.monotonic()

    def search(
        self,
        user_id: str,
        vector: npt.NDArray[np.float32],
        n: int,
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """The user's pending vectors nearest to ``vector``: ``(id, cosine)``, best first.

        ``allowed`` restricts them to the ids a search's filters let through.
        """
        with self._lock:
            entries = [
                entry
                for entry in self._pending.get(user_id, {}).values()
                if allowed is None or entry.row.id in allowed
            ]
        if not entries:
            return []
        similarities = row_dots(np.stack([entry.vector for entry in entries]), vector)
        order = np.argsort(-similarities, kind="stable")[:n]
        return [(entries[i].row.id, float(similarities[i])) for i in order]
