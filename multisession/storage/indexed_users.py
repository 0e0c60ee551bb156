"""Which users the vector index holds, recorded in SQL beside their memories.

Most users are searched exactly from the vectors SQL keeps, and their writes cost SQL
alone. A user whose memories outgrow the exact-search limit joins the vector index (a
collection of their own): from then on their vectors are written there too, and their
searches are answered there. Who has joined is recorded in SQL (a setting per user,
named by the keyed hash that tags their vectors, so no user id is written twice), so
every process routes the user's writes and searches alike, and a process killed while a
user joins leaves their memories marked as not yet vector-indexed: the next open indexes
them.

The keyed hash is the one SQL already files a user's pending deletions under, and names
the user's collection; the repair sweep of the index reads each orphan vector's tag and
asks SQL for a recorded deletion under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from .._lru import LRUCache
from .schema import deletions_table, memories_table, settings_table
from .sql_store import SQLStore
from .vectors import collection_name

__all__ = ["MEMBER_LAYOUT", "SHARED_LAYOUT", "IndexedUsers"]

#: The setting that says how the vector index is laid out (none: a collection per user).
LAYOUT_KEY = "vector_layout"
#: The previous layout: one collection shared by every member, filtered by owner.
SHARED_LAYOUT = "shared"
#: A collection per member, named by their keyed hash.
MEMBER_LAYOUT = "members"
# A member's setting: the prefix and the start of their keyed hash (keys hold 64 chars).
_MEMBER = "ann:"


class IndexedUsers:
    """The users the vector index holds; what SQL records for that index.

    Example:
        >>> store = SQLStore("sqlite://")
        >>> members = IndexedUsers(store)
        >>> members.holds("alice")
        False
        >>> members.add("alice")
        >>> members.holds("alice")
        True
        >>> store.close()

    Args:
        store: The SQL store the vector index follows.
    """

    def __init__(self, store: SQLStore) -> None:
        self._store = store
        self._owners: LRUCache[str, str] = LRUCache(4096)

    def owner(self, user_id: str) -> str:
        """The keyed hash that tags the user's vectors and files their deletions."""
        owner = self._owners.get(user_id)
        if owner is None:
            owner = self._store.collection_key(collection_name(user_id))
            self._owners.put(user_id, owner)
        return owner

    def _key(self, user_id: str) -> str:
        return _MEMBER + self.owner(user_id)[:60]

    def holds(self, user_id: str) -> bool:
        """Whether the user has joined the vector index."""
        return self._store.setting(self._key(user_id)) is not None

    def add(self, user_id: str) -> None:
        """Record that the user joined the vector index."""
        self._store.setting_once(self._key(user_id), "1")

    def remove(self, user_id: str) -> None:
        """Record that the user left it (they were deleted)."""
        with self._store.engine.begin() as conn:
            conn.execute(settings_table.delete().where(settings_table.c.key == self._key(user_id)))

    def users(self) -> list[str]:
        """Every stored user who has joined the vector index."""
        with self._store.engine.connect() as conn:
            keys = set(
                conn.execute(
                    sa.select(settings_table.c.key).where(settings_table.c.key.like(f"{_MEMBER}%"))
                ).scalars()
            )
        if not keys:
            return []
        return [user_id for user_id in self._store.user_ids() if self._key(user_id) in keys]

    def unmark(self, user_id: str | None) -> None:
        """Mark every memory of the user (None: of every user) as not vector-indexed."""
        statement = memories_table.update().values(vector_indexed=False)
        if user_id is not None:
            statement = statement.where(memories_table.c.user_id == user_id)
        with self._store.engine.begin() as conn:
            conn.execute(statement)

    def layout(self) -> str | None:
        """How the store's vector index is laid out; None for stores made before."""
        return self._store.setting(LAYOUT_KEY)

    def set_layout(self) -> None:
        """Record that the vector index is laid out as a collection per member."""
        self._store.replace_setting(LAYOUT_KEY, MEMBER_LAYOUT)

    def proven_deleted(self, owner: str, memory_ids: Iterable[str]) -> set[str]:
        """Which of these ids, tagged ``owner``, SQL recorded as deleted."""
        ids = set(memory_ids)
        with self._store.engine.connect() as conn:
            named = set(
                conn.execute(
                    sa.select(deletions_table.c.memory_id).where(deletions_table.c.key == owner)
                ).scalars()
            )
        if None in named:
            return ids
        return ids & {memory_id for memory_id in named if memory_id is not None}

    def forget_deletions(self, owner: str, memory_ids: Sequence[str] | None) -> None:
        """The index removed these (None: all of the owner's): drop their proof."""
        statement = deletions_table.delete().where(deletions_table.c.key == owner)
        if memory_ids is not None:
            statement = statement.where(deletions_table.c.memory_id.in_(list(memory_ids)))
        with self._store.engine.begin() as conn:
            conn.execute(statement)

    def proof_horizon(self) -> int:
        """The newest recorded deletion (0: none): a sweep covers those up to it."""
        with self._store.engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(deletions_table.c.id))).scalar_one()
        return int(newest or 0)

    def forget_proofs_up_to(self, horizon: int) -> None:
        """A sweep of the whole index removed what these deletions name: drop them.

        Deletions of users the index never held are among them: their proof has
        nothing left to prove.
        """
        with self._store.engine.begin() as conn:
            conn.execute(deletions_table.delete().where(deletions_table.c.id <= horizon))
