"""Users spread over several SQL stores (shards) by rendezvous hashing of the user id.

Every memory, message and conversation belongs to one user, and every query is scoped to
one: a user lives whole on one shard, and a request goes to that shard alone. The shard
is the one whose hash of ``(shard name, user id)`` is highest (rendezvous hashing): each
process computes it on its own, and adding a shard moves only the users whose highest
hash is now the new shard's, about ``1/n`` of them, and moves them only onto it.

:class:`ShardedMemory` opens one :class:`~multisession.engine.MemoryEngine` per shard and
forwards each call that names a user to that user's engine. When shards are added,
``python -m multisession.sharding move --shard NAME=URL ...`` (every shard, old and new)
copies each misplaced user's rows to their shard in one transaction and then deletes
them where they were; it can be run again after an interruption.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import hashlib
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .engine import MemoryEngine
from .errors import ConfigurationError
from .privacy.keys import KeyRing
from .storage.schema import conversations_table, memories_table, messages_table, users_table

__all__ = ["ShardedMemory", "main", "move_users", "shard_for"]

#: The tables that hold a user's data, parents first (each row has ``user_id``).
_USER_TABLES = (users_table, conversations_table, messages_table, memories_table)


def shard_for(user_id: str, shards: Sequence[str]) -> str:
    """The name of the shard ``user_id`` lives on: the highest hash of (shard, user).

    Example:
        >>> shard_for("alice", ["a", "b", "c"]) in {"a", "b", "c"}
        True

    Raises:
        ConfigurationError: No shards.
    """
    if not shards:
        raise ConfigurationError("give at least one shard")
    return max(
        shards,
        key=lambda name: hashlib.sha256(f"{name}\0{user_id}".encode()).digest(),
    )


def _names_user(method: Callable[..., Any]) -> bool:
    parameters = [name for name in inspect.signature(method).parameters if name != "self"]
    return bool(parameters) and parameters[0] == "user_id"


class ShardedMemory:
    """One engine per shard; every call about a user goes to that user's shard.

    Example:
        >>> memory = ShardedMemory({"a": "postgresql+psycopg://db-a/memory",
        ...                         "b": "postgresql+psycopg://db-b/memory"})  # doctest: +SKIP
        >>> memory.add("alice", "I live in Oslo")  # doctest: +SKIP

    Every :class:`~multisession.engine.MemoryEngine` method whose first argument is the
    user id (``add``, ``search``, ``build_context``, ``delete_user``, their async twins
    ...) is available here unchanged; ``users``, ``stats``, ``repair`` and ``close``
    cover every shard.

    Args:
        shards: Shard name -> SQL URL. The names decide where users live: keep them when
            a URL changes; adding one needs :func:`move_users`.
        **options: Keyword arguments for each shard's engine (``embedder``,
            ``cache_url``...).
    """

    def __init__(self, shards: Mapping[str, str], **options: Any) -> None:
        if not shards:
            raise ConfigurationError("give at least one shard: {name: sql_url}")
        self._names = sorted(shards)
        self.engines: dict[str, MemoryEngine] = {}
        try:
            for name in self._names:
                self.engines[name] = MemoryEngine(sql_url=shards[name], **options)
        except BaseException:
            self.close()
            raise

    def shard_of(self, user_id: str) -> str:
        """The name of the shard the user lives on."""
        return shard_for(user_id, self._names)

    def engine_for(self, user_id: str) -> MemoryEngine:
        """The engine of the user's shard."""
        return self.engines[self.shard_of(user_id)]

    def __getattr__(self, name: str) -> Any:
        method = getattr(MemoryEngine, name, None)
        if name.startswith("_") or not callable(method) or not _names_user(method):
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

        @functools.wraps(method)
        def routed(*args: Any, **kwargs: Any) -> Any:
            user_id = args[0] if args else kwargs.get("user_id")
            if not isinstance(user_id, str):
                raise ConfigurationError(f"{name}() needs the user id first")
            return getattr(self.engine_for(user_id), name)(*args, **kwargs)

        return routed

    def users(self) -> builtins.list[str]:
        """Every user of every shard, sorted."""
        return sorted(user for engine in self.engines.values() for user in engine.users())

    def stats(self) -> dict[str, Any]:
        """The shards' counts added up, and each shard's own."""
        per_shard = {name: engine.stats() for name, engine in self.engines.items()}
        total: dict[str, Any] = {}
        for stats in per_shard.values():
            for key, value in stats.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
        return {**total, "shards": per_shard}

    def repair(self) -> dict[str, Any]:
        """Each shard's :meth:`MemoryEngine.repair` report, by shard name."""
        return {name: engine.repair() for name, engine in self.engines.items()}

    def close(self) -> None:
        """Close every shard's engine."""
        for engine in self.engines.values():
            engine.close()

    def __enter__(self) -> ShardedMemory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def move_users(shards: Mapping[str, str], **options: Any) -> dict[str, int]:
    """Move every user that lives on the wrong shard to the right one.

    For each misplaced user: their rows are copied to their shard in one transaction
    (rows already there are kept), then deleted where they were through
    :meth:`MemoryEngine.delete_user` (vectors, indexes, the audit entry). Run it with
    writers for those users stopped, or at least after every process routes with the new
    shards; running it again finishes an interrupted move.

    Args:
        shards: Every shard, old and new: name -> SQL URL.
        **options: Keyword arguments for the engines (the store's ``embedder``).

    Returns:
        How many users moved to each shard.
    """
    moved: dict[str, int] = dict.fromkeys(shards, 0)
    with ShardedMemory(shards, **options) as memory:
        for name, engine in memory.engines.items():
            for user_id in engine.users():
                home = memory.shard_of(user_id)
                if home == name:
                    continue
                engine.flush_vectors()
                # Encrypted rows need their data key on the target before they leave.
                source, target = _key_ring(engine), _key_ring(memory.engines[home])
                shared = False
                if source is not None and target is not None:
                    source.copy_key(user_id, target)
                    shared = source.shares_table_with(target)
                _copy_user(engine, memory.engines[home], user_id)
                engine.delete_user(user_id, keep_data_key=shared)
                moved[home] += 1
    return moved


def _key_ring(engine: MemoryEngine) -> KeyRing | None:
    """The engine's key ring when it encrypts at rest."""
    cipher = engine._store.cipher
    return None if cipher is None else cipher.ring


def _copy_user(source: MemoryEngine, target: MemoryEngine, user_id: str) -> None:
    """Copy one user's rows from one store to another, in one target transaction."""
    source._writes.flush_access(user_id)
    with source._store.engine.connect() as reading, target._store.engine.begin() as writing:
        for table in _USER_TABLES:
            rows = [
                dict(row._mapping)
                for row in reading.execute(sa.select(table).where(table.c.user_id == user_id))
            ]
            if table is memories_table:
                # The target's own vector index has none of them yet (on pgvector the
                # trigger fills the column and sets this from the copied blob).
                for row in rows:
                    row["vector_indexed"] = False
            if table is users_table:
                # A version the target's processes have never seen for this user.
                for row in rows:
                    row["version"] = max(row["version"], _now_version())
            if rows:
                keys = [column.name for column in table.primary_key.columns]
                writing.execute(
                    _insert(writing, table).on_conflict_do_nothing(index_elements=keys), rows
                )


def _now_version() -> int:
    import time

    return time.time_ns() // 1000


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    from .storage.schema import upsert

    return upsert(conn, table)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m multisession.sharding move --shard NAME=URL ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m multisession.sharding",
        description="Move users to the shard rendezvous hashing gives them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    move = commands.add_parser("move", help="move misplaced users (give every shard)")
    move.add_argument(
        "--shard",
        action="append",
        required=True,
        metavar="NAME=URL",
        help="a shard's name and SQL URL; repeat for every shard, old and new",
    )
    move.add_argument(
        "--keyword-only",
        action="store_true",
        help="open the stores without the embedder (for stores made keyword-only)",
    )
    args = parser.parse_args(argv)
    shards: dict[str, str] = {}
    for given in args.shard:
        name, _, url = given.partition("=")
        if not name or not url:
            parser.error(f"--shard takes NAME=URL, got {given!r}")
        shards[name] = url
    options: dict[str, Any] = {"embedder": None} if args.keyword_only else {}
    moved = move_users(shards, **options)
    for name, count in moved.items():
        print(f"{name}: {count} users moved in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
