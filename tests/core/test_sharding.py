"""Users sharded over two PostgreSQL servers (with pgvector) by rendezvous hashing.

Both servers run on loopback (``pgvector_url``, ``second_pgvector_url``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
import sqlalchemy as sa

from multisession.errors import ConfigurationError
from multisession.sharding import ShardedMemory, shard_for

USERS = [f"user-{number}" for number in range(40)]


def rows_by_user(url: str) -> Counter[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            users = conn.exec_driver_sql("SELECT user_id FROM ms_memories").scalars().all()
    finally:
        engine.dispose()
    return Counter(users)


def test_adding_a_shard_moves_users_only_onto_it() -> None:
    before = {user: shard_for(user, ["a", "b"]) for user in map(str, range(2000))}
    after = {user: shard_for(user, ["a", "b", "c"]) for user in before}
    moved = [user for user in before if before[user] != after[user]]
    assert all(after[user] == "c" for user in moved)  # nowhere but onto the new shard
    assert 0.25 < len(moved) / len(before) < 0.42  # about a third
    assert set(before.values()) == {"a", "b"}
    with pytest.raises(ConfigurationError):
        shard_for("alice", [])


def test_each_user_lives_whole_on_their_shard(pgvector_url, second_pgvector_url, minilm):
    shards = {"a": pgvector_url, "b": second_pgvector_url}
    with ShardedMemory(shards, embedder=minilm) as memory:
        for user in USERS:
            memory.add(user, f"{user} lives in Oslo")
            memory.add_messages(user, "c1", [("user", f"hello from {user}")])
        assert memory.users() == sorted(USERS)
        assert memory.stats()["memories"] == len(USERS)
        for user in ("user-3", "user-17"):
            hits = memory.search(user, "where does this user live")
            assert [hit.memory.content for hit in hits] == [f"{user} lives in Oslo"]
            assert [m.content for m in memory.get_messages(user, "c1")] == [f"hello from {user}"]
    for name, url in shards.items():
        stored = rows_by_user(url)
        assert set(stored) == {user for user in USERS if shard_for(user, ["a", "b"]) == name}
    assert all(rows_by_user(url) for url in shards.values())  # both shards are used


def test_the_move_command_puts_users_on_a_new_shard(pgvector_url, second_pgvector_url, minilm):
    with ShardedMemory({"a": pgvector_url}, embedder=minilm) as memory:
        for user in USERS:
            memory.add_many(user, [f"{user} plays chess", f"{user} has a cat"])
            memory.add_messages(user, "c1", [("user", "hi"), ("assistant", "hello")])
    homes = {user: shard_for(user, ["a", "b"]) for user in USERS}
    leaving = {user for user, home in homes.items() if home == "b"}
    assert leaving and len(leaving) < len(USERS)

    command = [
        sys.executable,
        "-m",
        "multisession.sharding",
        "move",
        "--shard",
        f"a={pgvector_url}",
        "--shard",
        f"b={second_pgvector_url}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert f"b: {len(leaving)} users moved in" in result.stdout
    assert set(rows_by_user(second_pgvector_url)) == leaving
    assert set(rows_by_user(pgvector_url)) == set(USERS) - leaving
    assert all(count == 2 for count in rows_by_user(second_pgvector_url).values())

    # Run again: nothing left to move.
    again = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert "b: 0 users moved in" in again.stdout

    with ShardedMemory({"a": pgvector_url, "b": second_pgvector_url}, embedder=minilm) as memory:
        moved = sorted(leaving)[0]
        hits = memory.search(moved, "which board game", k=1)
        assert [hit.memory.content for hit in hits] == [f"{moved} plays chess"]
        assert [m.content for m in memory.get_messages(moved, "c1")] == ["hi", "hello"]
        assert memory.engines["a"].count(moved) == 0
        assert memory.stats()["memories"] == 2 * len(USERS)
