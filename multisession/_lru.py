"""A bounded, thread-safe map that forgets what was used least recently.

Two stores keep per-user objects in process and must not grow with the number of users:
the conversation store keeps each conversation's recent messages, the Chroma index keeps
collection handles. Both read, add, and drop single entries when the data behind them
changes, from several threads; :func:`functools.lru_cache` cannot drop one entry, so both
use this instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRUCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """At most ``capacity`` entries; adding one more drops the least recently used.

    Example:
        >>> cache: LRUCache[str, int] = LRUCache(2)
        >>> cache.put("a", 1); cache.put("b", 2)
        >>> cache.get("a")
        1
        >>> cache.put("c", 3)  # "b" is now the least recently used
        >>> cache.get("b") is None
        True

    Args:
        capacity: How many entries are kept; 0 keeps none.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """Return the value of ``key`` and mark it used, or ``None`` when it is not kept."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key`` as the most recently used entry."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget ``key`` if it is kept."""
        with self._lock:
            self._entries.pop(key, None)

    def discard_where(self, condition: Callable[[K], bool]) -> None:
        """Forget every key for which ``condition`` is true."""
        with self._lock:
            for key in [key for key in self._entries if condition(key)]:
                del self._entries[key]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
