"""Keys verified a moment ago: a request with a known-good key skips the SQL lookup.

Every request names its API key. Looking it up in the ``api_keys`` table is an SQL
read and, in an async server, a hop to a worker thread; on a search that is a large
part of what the service adds to the library's own time. So a key that was found
valid (known, secret matching, not revoked) is remembered for ``ttl`` seconds.

The bound this puts on revocation: ``multisession keys revoke`` writes to the store,
and a server that verified the key less than ``ttl`` seconds earlier may still accept
it until its entry expires; after that, the next request reads the table again and is
refused. A revocation made through the same :class:`~.keys.KeyStore` empties the cache
at once.

What the cache holds is the SHA-256 digest of the presented key (never the key or its
secret) and what the key may do. Only valid keys go in: an unknown, malformed or
revoked key is looked up in SQL every time, so no refusal is ever remembered and
nothing an unauthenticated caller sends can fill the cache.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from .._lru import LRUCache
from ..errors import ConfigurationError

__all__ = ["DEFAULT_TTL", "MAX_TTL", "KeyCache"]

#: Seconds a verified key is trusted without reading the table again.
DEFAULT_TTL = 1.0
#: The longest ``ttl`` allowed: a revoked key must stop working soon.
MAX_TTL = 60.0
_CAPACITY = 10_000


class _Revocable(Protocol):
    @property
    def revoked_at(self) -> datetime | None: ...


#: What the cache keeps for a key (the key store's :class:`~.keys.ApiKey`).
K = TypeVar("K", bound=_Revocable)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class KeyCache(Generic[K]):
    """Valid keys by the digest of the presented key, each trusted for ``ttl`` seconds.

    Example:
        >>> cache = KeyCache(ttl=0)
        >>> cache.get("ms_0123456789abcdef_secret") is None
        True

    Args:
        ttl: Seconds an entry is trusted; 0 turns the cache off (every request reads
            the table). At most :data:`MAX_TTL`.
        clock: Seconds, monotonic (tests pass a fake one).
        capacity: Entries kept at most (the least recently used go first).
    """

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        *,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = _CAPACITY,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 <= ttl <= MAX_TTL:
            raise ConfigurationError(
                f"the key cache's ttl must be 0 to {MAX_TTL:g} seconds (0 turns it off); "
                f"got {ttl!r}"
            )
        self.ttl = float(ttl)
        self._clock = clock
        self._entries: LRUCache[bytes, tuple[K, float]] = LRUCache(capacity)
        # How many times the cache was emptied: a read that began before a revocation
        # must not put back what the revocation removed.
        self.generation = 0
        self._lock = threading.Lock()

    def get(self, token: str) -> K | None:
        """The key ``token`` was verified as, if that was less than ``ttl`` seconds ago."""
        if self.ttl <= 0:
            return None
        digest = _digest(token)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        key, expires = entry
        if self._clock() >= expires:
            self._entries.discard(digest)
            return None
        return key

    def begin(self) -> tuple[int, float]:
        """Taken before reading a key from the table, and handed to :meth:`put`."""
        return self.generation, self._clock()

    def put(self, token: str, key: K, begun: tuple[int, float]) -> None:
        """Remember that ``token`` is ``key``, as read since :meth:`begin` gave ``begun``.

        The entry expires ``ttl`` seconds after the read began, so it never outlives a
        revocation by more than ``ttl``. A revoked key is never remembered, nor one
        read before the cache was last emptied (the read may predate a revocation).
        """
        generation, started = begun
        if self.ttl <= 0 or key.revoked_at is not None:
            return
        with self._lock:
            if generation == self.generation:
                self._entries.put(_digest(token), (key, started + self.ttl))

    def clear(self) -> None:
        """Forget every entry (a key was just revoked: revocations are rare)."""
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
