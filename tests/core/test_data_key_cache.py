"""A data key another process destroyed stops decrypting here, and is never written under.

Each process keeps the data keys it unwrapped, so that a search does not read the key
table for every hit. When another process deletes a user (destroying the key), the
first one must notice: a replica or an older copy of the store it serves must stop
yielding the user's memories, and its next write for the user must use a key that
exists. Two real processes share one key table here; nothing is faked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from multisession import MemoryEngine
from multisession.privacy.keys import (
    DEFAULT_KEY_RECHECK_SECONDS,
    KeyRing,
    KeyUnavailableError,
    MasterKey,
)

KEY = MasterKey.from_bytes(bytes(range(32)))
SECRET = "I was diagnosed with epilepsy last spring"

DELETE_USER = textwrap.dedent(
    """
    import sys
    from multisession import MemoryEngine
    from multisession.privacy.keys import MasterKey

    key = MasterKey.from_bytes(bytes(range(32)))
    with MemoryEngine(sys.argv[1], embedder=None, encryption_key=key,
                      data_keys_url=sys.argv[2]) as engine:
        print(engine.delete_user(sys.argv[3]), engine.has_data_key(sys.argv[3]), flush=True)
    """
)


def delete_in_another_process(store: Path, keys_url: str, user_id: str) -> str:
    """Delete a user with a process of its own; what it printed (count, key kept)."""
    done = subprocess.run(
        [sys.executable, "-c", DELETE_USER, str(store), keys_url, user_id],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def engine(store: Path, keys_url: str) -> MemoryEngine:
    return MemoryEngine(store, embedder=None, encryption_key=KEY, data_keys_url=keys_url)


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path, str]:
    """A store with a sealed memory of alice and of bob, a replica, and their key table."""
    (tmp_path / "keys").mkdir()
    keys_url = f"sqlite:///{tmp_path / 'keys' / 'keys.db'}"
    store = tmp_path / "store"
    with engine(store, keys_url) as live:
        for user in ("alice", "bob"):
            assert live.add(user, SECRET).sensitivity == "sensitive"
    replica = tmp_path / "replica"
    shutil.copytree(store, replica)  # a copy of the data, served by another process
    return store, replica, keys_url


def test_a_key_destroyed_by_another_process_stops_decrypting_here(stores):
    store, replica, keys_url = stores
    with engine(replica, keys_url) as reader:
        assert [hit.memory.content for hit in reader.search("alice", "epilepsy")] == [SECRET]

        assert delete_in_another_process(store, keys_url, "alice") == "1 False"
        # The key this process holds is trusted for a moment, then checked again.
        time.sleep(DEFAULT_KEY_RECHECK_SECONDS)

        assert reader.search("alice", "epilepsy") == []  # the index held, read again
        reader.indexes.forget("alice")
        assert reader.search("alice", "epilepsy") == []  # loaded from SQL
        assert [hit.memory.content for hit in reader.search("bob", "epilepsy")] == [SECRET]
        assert reader._store.cipher.skipped > 0  # type: ignore[union-attr]


def test_a_write_after_another_process_deleted_the_user_uses_a_key_that_exists(stores):
    store, _, keys_url = stores
    with engine(store, keys_url) as writer:
        assert writer.search("alice", "epilepsy")  # the key is now held here
        assert delete_in_another_process(store, keys_url, "alice") == "1 False"

        again = writer.add("alice", "I take lamotrigine twice a day")
        assert writer.has_data_key("alice")
    with engine(store, keys_url) as fresh:
        assert fresh.get("alice", again.id).content == "I take lamotrigine twice a day"
        assert fresh._store.cipher.skipped == 0  # type: ignore[union-attr]


def test_a_key_ring_that_rechecks_every_time_refuses_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    ring = KeyRing(sa.create_engine(url), KEY, recheck_after=0)
    blob = ring.encrypt("alice", SECRET)
    assert ring.decrypt("alice", blob) == SECRET.encode()
    other = KeyRing(sa.create_engine(url), KEY)  # another process's view of the table
    assert other.destroy("alice")
    with pytest.raises(KeyUnavailableError, match="no data key for user 'alice'"):
        ring.decrypt("alice", blob)


def test_a_rotation_elsewhere_keeps_the_held_key_working(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    ring = KeyRing(sa.create_engine(url), KEY, recheck_after=0)
    blob = ring.encrypt("alice", SECRET)
    new = MasterKey.from_bytes(bytes(range(100, 132)))
    rotated = KeyRing(sa.create_engine(url), new, previous=[KEY])
    assert rotated.rotate(new) == 1
    # Re-wrapped under a master key this ring lacks: said so, not taken as destroyed.
    with pytest.raises(KeyUnavailableError, match="wrapped by master key"):
        ring.decrypt("alice", blob)
    both = KeyRing(sa.create_engine(url), KEY, previous=[new], recheck_after=0)
    assert both.decrypt("alice", blob) == SECRET.encode()


def test_recheck_after_must_be_a_number_of_seconds(tmp_path):
    with pytest.raises(Exception, match="recheck_after"):
        KeyRing(sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}"), KEY, recheck_after=-1)
