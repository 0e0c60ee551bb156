"""Per-user data keys wrapped by a master key: round trips, wrong and missing keys,
rotation (also killed half-way), and crypto-shredding that defeats an old copy."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from multisession.errors import ConfigurationError
from multisession.privacy.keys import (
    DecryptionError,
    KeyRing,
    KeyUnavailableError,
    MasterKey,
    data_keys_table,
)

OLD = MasterKey.from_bytes(bytes(range(32)))
NEW = MasterKey.from_bytes(bytes(range(100, 132)))


@pytest.fixture(params=["sqlite", "postgresql"])
def key_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The key table's database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def stored_keys(engine: sa.Engine) -> dict[str, tuple[bytes, str]]:
    with engine.connect() as conn:
        return {
            row.user_id: (bytes(row.wrapped_key), row.master_key_id)
            for row in conn.execute(sa.select(data_keys_table))
        }


def test_each_user_s_content_round_trips_under_their_own_key(key_engine):
    ring = KeyRing(key_engine, OLD)
    alice = ring.encrypt("alice", "I have asthma", aad=b"memories:1")
    bob = ring.encrypt("bob", b"I have asthma", aad=b"memories:1")
    assert ring.decrypt("alice", alice, aad=b"memories:1") == b"I have asthma"
    assert ring.decrypt("bob", bob, aad=b"memories:1") == b"I have asthma"
    assert b"asthma" not in alice and alice != bob
    assert ring.users() == ["alice", "bob"]
    assert ring._data_key("alice", create=False) != ring._data_key("bob", create=False)
    # Bound to the user and to the associated data: moved elsewhere, it does not decrypt.
    with pytest.raises(DecryptionError, match="does not decrypt"):
        ring.decrypt("bob", alice, aad=b"memories:1")
    with pytest.raises(DecryptionError, match="does not decrypt"):
        ring.decrypt("alice", alice, aad=b"memories:2")
    tampered = alice[:-1] + bytes([alice[-1] ^ 1])
    with pytest.raises(DecryptionError):
        ring.decrypt("alice", tampered, aad=b"memories:1")
    with pytest.raises(DecryptionError, match="unknown format or truncated"):
        ring.decrypt("alice", b"plain text", aad=b"memories:1")


def test_the_key_table_holds_only_wrapped_keys(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    ring = KeyRing(engine, OLD)
    ring.encrypt("alice", b"x")
    data_key = ring._data_key("alice", create=False)
    engine.dispose()
    wrapped, master_id = stored_keys(sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}"))["alice"]
    assert master_id == OLD.key_id and len(wrapped) == 12 + 32 + 16
    on_disk = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert data_key not in on_disk and OLD.material not in on_disk


def test_a_wrong_master_key_is_refused_and_nothing_changes(key_engine):
    blob = KeyRing(key_engine, OLD).encrypt("alice", b"secret")
    before = stored_keys(key_engine)
    wrong = KeyRing(key_engine, NEW)
    with pytest.raises(KeyUnavailableError, match="wrong master key") as refused:
        wrong.decrypt("alice", blob)
    assert OLD.material.hex() not in str(refused.value)
    assert stored_keys(key_engine) == before
    assert KeyRing(key_engine, OLD).decrypt("alice", blob) == b"secret"


def test_master_keys_come_from_the_environment_a_file_or_a_callable(tmp_path, monkeypatch):
    monkeypatch.setenv("MS_TEST_KEY", OLD.material.hex())
    assert MasterKey.from_env("MS_TEST_KEY").key_id == OLD.key_id
    monkeypatch.setenv("MS_TEST_KEY", base64.b64encode(OLD.material).decode())
    assert MasterKey.from_env("MS_TEST_KEY").key_id == OLD.key_id
    monkeypatch.delenv("MS_TEST_KEY")
    with pytest.raises(KeyUnavailableError, match="MS_TEST_KEY is not set"):
        MasterKey.from_env("MS_TEST_KEY")
    monkeypatch.setenv("MS_TEST_KEY", "too-short")
    with pytest.raises(ConfigurationError, match="256-bit key"):
        MasterKey.from_env("MS_TEST_KEY")

    raw = tmp_path / "master.key"
    raw.write_bytes(OLD.material)
    assert MasterKey.from_file(raw).key_id == OLD.key_id
    text = tmp_path / "master.txt"
    text.write_text(OLD.material.hex() + "\n")
    assert MasterKey.from_file(text).key_id == OLD.key_id
    with pytest.raises(KeyUnavailableError, match="cannot read the key file"):
        MasterKey.from_file(tmp_path / "missing.key")

    assert MasterKey.from_callable(lambda: OLD.material).key_id == OLD.key_id

    def kms_down() -> bytes:
        raise TimeoutError("kms")

    with pytest.raises(KeyUnavailableError, match="the key callable failed"):
        MasterKey.from_callable(kms_down)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        MasterKey.from_bytes(b"short")
    assert OLD.material.hex() not in repr(OLD)


def test_rotation_rewraps_the_data_keys_and_never_the_content(key_engine):
    ring = KeyRing(key_engine, OLD)
    blobs = {user: ring.encrypt(user, f"note of {user}") for user in ("ann", "ben", "cy")}
    keys_before = {user: ring._data_key(user, create=False) for user in blobs}
    seen: list[int] = []
    assert ring.rotate(NEW, batch_size=2, progress=seen.append) == 3
    assert seen == [2, 3]
    assert {master for _, master in stored_keys(key_engine).values()} == {NEW.key_id}
    rotated = KeyRing(key_engine, NEW)
    assert rotated.pending_rotation() == 0
    for user, blob in blobs.items():  # the same ciphertexts, the same data keys
        assert rotated.decrypt(user, blob) == f"note of {user}".encode()
        assert rotated._data_key(user, create=False) == keys_before[user]
    with pytest.raises(KeyUnavailableError, match="wrong master key"):
        KeyRing(key_engine, OLD).decrypt("ann", blobs["ann"])
    assert rotated.rotate(NEW) == 0  # nothing left to do


def test_rotation_without_the_old_key_says_what_is_missing(key_engine):
    KeyRing(key_engine, OLD).encrypt("ann", b"x")
    ring = KeyRing(key_engine, NEW)
    other = MasterKey.from_bytes(bytes(range(200, 232)))
    with pytest.raises(KeyUnavailableError, match="rotate again with them in previous="):
        ring.rotate(other)
    assert stored_keys(key_engine)["ann"][1] == OLD.key_id


def test_destroying_a_user_s_key_defeats_an_older_copy_of_their_data(tmp_path):
    keys = sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    ring = KeyRing(keys, OLD)
    data = sa.create_engine(f"sqlite:///{tmp_path / 'data.db'}")
    rows = sa.Table(
        "rows",
        sa.MetaData(),
        sa.Column("user_id", sa.String),
        sa.Column("blob", sa.LargeBinary),
    )
    rows.create(data)
    with data.begin() as conn:
        for user in ("alice", "bob"):
            conn.execute(rows.insert().values(user_id=user, blob=ring.encrypt(user, f"{user} 1")))
    data.dispose()
    shutil.copy(tmp_path / "data.db", tmp_path / "backup.db")  # last week's backup
    wrapped = stored_keys(keys)["alice"][0]

    assert ring.destroy("alice") is True
    assert ring.destroy("alice") is False
    assert not ring.has_key("alice")
    keys.dispose()
    key_files = b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))
    assert wrapped not in key_files  # overwritten on disk, not only unlinked

    backup = sa.create_engine(f"sqlite:///{tmp_path / 'backup.db'}")
    current = KeyRing(sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}"), OLD)
    with backup.connect() as conn:
        found = {row.user_id: row.blob for row in conn.execute(sa.select(rows))}
    with pytest.raises(KeyUnavailableError, match="destroyed"):
        current.decrypt("alice", found["alice"])
    assert current.decrypt("bob", found["bob"]) == b"bob 1"
    backup.dispose()


ROTATE_SLOWLY = textwrap.dedent(
    """
    import sys, time
    import sqlalchemy as sa
    from multisession.privacy.keys import KeyRing, MasterKey

    old = MasterKey.from_bytes(bytes(range(32)))
    new = MasterKey.from_bytes(bytes(range(100, 132)))
    ring = KeyRing(sa.create_engine(sys.argv[1]), new, previous=[old])
    ring.master = old  # as before the rotation started

    def pause(done):
        print(done, flush=True)
        time.sleep(0.2)  # long enough for the parent to kill it between batches

    ring.rotate(new, batch_size=1, progress=pause)
    """
)


def test_a_kill_during_rotation_loses_no_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    ring = KeyRing(sa.create_engine(url), OLD)
    users = [f"user{n:02d}" for n in range(20)]
    blobs = {user: ring.encrypt(user, user) for user in users}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    with subprocess.Popen(
        [sys.executable, "-c", ROTATE_SLOWLY, url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        assert child.stdout is not None
        progress = [child.stdout.readline() for _ in range(3)]  # three batches committed
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert progress == ["1\n", "2\n", "3\n"]

    masters = [master for _, master in stored_keys(sa.create_engine(url)).values()]
    assert 3 <= masters.count(NEW.key_id) < len(users)  # killed half-way
    midway = KeyRing(sa.create_engine(url), NEW, previous=[OLD])
    assert all(midway.decrypt(user, blob) == user.encode() for user, blob in blobs.items())
    assert midway.rotate(NEW) == masters.count(OLD.key_id)  # finishing the rotation
    after = KeyRing(sa.create_engine(url), NEW)
    assert all(after.decrypt(user, blob) == user.encode() for user, blob in blobs.items())
