"""Search results cached in Redis, shared by every process of a store, never stale.

An entry's key holds the user's version, which SQL bumps inside every transaction that
changes the user's memories (any process's add, update, delete, delete_user). A search
reads that version first, as every search does, and looks for an entry made at that
version: after a write commits, no process can find an entry made before it, without
any message between processes and without a crash window between SQL's commit and a
cache invalidation. Old entries simply expire (``ttl``).

Each process also keeps the entries it read or wrote last in memory, under the same
keys (so just as fresh): a search repeated in one process costs the version read and a
dictionary lookup, not a round trip to Redis, which on a busy machine costs about as
much as an in-process search.

Keys name users by a keyed hash (the store's own secret, kept in SQL), so the cache
never shows user ids; the whole key also holds the query, filters, settings and ``k``.
Values are JSON, never pickles: a cache that anyone else can write to cannot make a
process run code. A Redis that fails or times out never fails a search: it is
counted in ``events`` (``cache_failed``) and the search runs uncached.

Session windows (a conversation's latest messages) are cached the same way, for
:class:`~.conversations.ConversationStore`: the key holds the conversation's stamp (its
message count and newest message id, read from SQL on every window read), so a message
written by any process makes every older entry unreachable. A conversation is named by
a keyed hash too. Windows holding a sealed (encrypted at rest) message never come here.
Deleting a user, or erasing a class of their messages, deletes every entry of theirs
(results and windows) from Redis, so none stays readable until it expires; clearing a
conversation deletes its windows. Each user has an index of their keys in Redis for
that, so nothing scans the whole of Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from .._lru import LRUCache
from ..errors import ConfigurationError
from ..records import Memory, Message, ScoreBreakdown
from .sql_store import SQLStore

__all__ = ["ResultCache"]

logger = logging.getLogger("multisession")

#: The format of cached values; a new one never reads entries of an older one.
_FORMAT = "1"

#: Seconds by which the clocks of the machines sharing a Redis may disagree.
_CLOCK_MARGIN = 300


class ResultCache:
    """Search results by (user, version, query) in Redis; thread-safe.

    Example:
        >>> cache = ResultCache("redis://127.0.0.1:6379/0", store, ttl=60)  # doctest: +SKIP

    Args:
        url: ``redis://host:port/db`` (or ``rediss://``, ``unix://``).
        store: The SQL store whose secret keys the user names.
        ttl: Seconds an entry lives.
        events: Where hits, misses and failures are counted.
        timeout: Seconds each Redis call may take.
        local_entries: How many entries the process keeps in memory too.

    Raises:
        ConfigurationError: The ``redis`` package is missing, or the URL is not a
            Redis URL.
    """

    def __init__(
        self,
        url: str,
        store: SQLStore,
        *,
        ttl: float,
        events: Counter[str],
        timeout: float = 0.5,
        local_entries: int = 1024,
    ) -> None:
        try:
            import redis
        except ModuleNotFoundError as error:
            raise ConfigurationError(
                "cache_url needs the redis client: pip install 'multisession[redis]'"
            ) from error
        try:
            self._client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        except ValueError as error:
            raise ConfigurationError(
                f"not a Redis URL: {url!r} (expected e.g. redis://127.0.0.1:6379/0): {error}"
            ) from error
        self._ttl = max(1, round(ttl))
        self._local: LRUCache[str, tuple[float, bytes | str]] = LRUCache(local_entries)
        self.events = events
        secret = store.setting_once("result_cache", uuid.uuid4().hex)
        self._secret = secret.encode()
        self._prefix = f"ms:{secret[:12]}:{_FORMAT}:"

    def _hash(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def key(self, user_id: str, version: int, parts: Sequence[Any]) -> str:
        """The entry's key for one search of a user at one version."""
        search = hashlib.sha256(repr(tuple(parts)).encode()).hexdigest()[:32]
        return f"{self._prefix}{self._hash(user_id)}:{version}:{search}"

    def _window_key(self, user_id: str, conversation_id: str, stamp: tuple[int, str | None]) -> str:
        # ":w:" cannot be a version (an integer): windows and results never share a key.
        conversation = self._hash(conversation_id)
        version = self._hash(repr(stamp))
        return f"{self._prefix}{self._hash(user_id)}:w:{conversation}:{version}"

    def get_window(
        self, user_id: str, conversation_id: str, stamp: tuple[int, str | None]
    ) -> list[Message] | None:
        """A conversation's cached window at this stamp, or None (not cached, or failed).

        Counted as ``window_hit`` or ``window_miss`` in ``events``.
        """
        try:
            raw = self._client.get(self._window_key(user_id, conversation_id, stamp))
        except Exception:
            self._failed("reading a window from")
            return None
        if raw is not None:
            try:
                window = [_message(item) for item in json.loads(raw)]
            except (ValueError, KeyError, TypeError):
                window = None  # not ours, or damaged: loaded again and overwritten
            if window is not None:
                self.events["window_hit"] += 1
                return window
        self.events["window_miss"] += 1
        return None

    def put_window(
        self,
        user_id: str,
        conversation_id: str,
        stamp: tuple[int, str | None],
        window: Sequence[Message],
    ) -> None:
        """Cache a conversation's window at this stamp for ``ttl`` seconds.

        The caller never passes a window holding a sealed message.
        """
        value = json.dumps([message.to_dict() for message in window])
        key = self._window_key(user_id, conversation_id, stamp)
        self._write(key, value, "writing a window to")

    def _write(self, key: str, value: str, doing: str) -> None:
        """Set an entry and list it in its user's index, in one round trip.

        The index (a sorted set by the time each entry was put) is what deleting a
        user's or a conversation's entries reads, instead of scanning all of Redis.
        Members put more than twice the TTL ago (plus a margin for the clocks of other
        machines) are trimmed as entries are put, so it holds a few TTLs' worth of keys.
        """
        user = key[len(self._prefix) : len(self._prefix) + 32]
        index, now = self._index_key(user), time.time()
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.set(key, value, ex=self._ttl)
            pipe.zadd(index, {key: now})
            pipe.zremrangebyscore(index, "-inf", now - 2 * self._ttl - _CLOCK_MARGIN)
            pipe.expire(index, 2 * self._ttl + _CLOCK_MARGIN)
            pipe.execute()
        except Exception:
            self._failed(doing)

    def _index_key(self, user: str) -> str:
        return f"{self._prefix}{user}:keys"

    def forget_conversation(self, user_id: str, conversation_id: str) -> None:
        """Delete a conversation's cached windows, at every stamp, from Redis."""
        user, conversation = self._hash(user_id), self._hash(conversation_id)
        marker = f":w:{conversation}:".encode()
        self._delete(user, lambda key: marker in key, whole_index=False)

    def forget_user(self, user_id: str) -> None:
        """Delete every entry of a user (results and windows) from Redis and memory."""
        user = self._hash(user_id)
        prefix = f"{self._prefix}{user}:"
        self._local.discard_where(lambda key: key.startswith(prefix))
        self._delete(user, lambda key: True, whole_index=True)

    def _delete(self, user: str, chosen: Callable[[bytes], bool], *, whole_index: bool) -> None:
        index = self._index_key(user)
        try:
            listed = cast(list[bytes], self._client.zrange(index, 0, -1))
            keys = [key for key in listed if chosen(key)]
            pipe = self._client.pipeline(transaction=False)
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                pipe.delete(*batch)
                if not whole_index:
                    pipe.zrem(index, *batch)
            if whole_index:
                pipe.delete(index)
            pipe.execute()
        except Exception:
            self._failed("deleting entries from")

    def get(self, key: str) -> list[tuple[Memory, ScoreBreakdown]] | None:
        """The cached hits, or None (not cached, or Redis failed)."""
        local = self._local.get(key)
        raw: bytes | str | None = None
        if local is not None and local[0] > time.monotonic():
            raw = local[1]
        else:
            try:
                raw = self._client.get(key)
            except Exception:
                self._failed("reading")
                return None
            if raw is not None:
                self._remember(key, raw)
        if raw is None:
            self.events["cache_miss"] += 1
            return None
        try:
            # Decoded on every hit: callers get objects of their own to change.
            hits = [
                (_memory(item["memory"]), ScoreBreakdown(**item["score"]))
                for item in json.loads(raw)
            ]
        except (ValueError, KeyError, TypeError):
            self.events["cache_miss"] += 1
            self._local.discard(key)
            return None  # not ours, or damaged: searched again and overwritten
        self.events["cache_hit"] += 1
        return hits

    def put(self, key: str, hits: Sequence[tuple[Memory, ScoreBreakdown]]) -> None:
        """Cache a search's hits for ``ttl`` seconds."""
        value = json.dumps(
            [{"memory": memory.to_dict(), "score": score.to_dict()} for memory, score in hits]
        )
        self._remember(key, value)
        self._write(key, value, "writing")

    def _remember(self, key: str, raw: bytes | str) -> None:
        self._local.put(key, (time.monotonic() + self._ttl, raw))

    def close(self) -> None:
        """Release the connections."""
        self._client.close()

    def _failed(self, doing: str) -> None:
        self.events["cache_failed"] += 1
        logger.warning("%s the Redis cache failed; going on without it", doing, exc_info=True)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _message(item: dict[str, Any]) -> Message:
    """A message back from :meth:`Message.to_dict` (every field it writes)."""
    return Message(
        role=item["role"],
        content=item["content"],
        created_at=datetime.fromisoformat(item["created_at"]),
        id=item["id"],
        conversation_id=item["conversation_id"],
        metadata=item["metadata"],
        sensitivity=item["sensitivity"],
        detectors=tuple(item["detectors"]),
    )


def _memory(item: dict[str, Any]) -> Memory:
    """A memory back from :meth:`Memory.to_dict` (every field it writes)."""
    return Memory(
        id=item["id"],
        user_id=item["user_id"],
        content=item["content"],
        kind=item["kind"],
        conversation_id=item["conversation_id"],
        metadata=item["metadata"],
        created_at=datetime.fromisoformat(item["created_at"]),
        updated_at=datetime.fromisoformat(item["updated_at"]),
        last_accessed=_time(item["last_accessed"]),
        access_count=item["access_count"],
        valid_from=_time(item["valid_from"]),
        superseded_at=_time(item["superseded_at"]),
        superseded_by=item["superseded_by"],
        supersede_reason=item["supersede_reason"],
        mentions=item["mentions"],
        last_mentioned_at=_time(item["last_mentioned_at"]),
        sensitivity=item["sensitivity"],
        detectors=tuple(item["detectors"]),
        scope=item["scope"],
        consolidated_into=item.get("consolidated_into"),
    )
