"""Encryption at rest wired into the store: no plaintext on disk, search as before,
missing and wrong keys, rotation, and crypto-shredding that defeats an older copy."""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from multisession import MemoryEngine
from multisession.privacy.keys import KeyUnavailableError, MasterKey

KEY = MasterKey.from_bytes(bytes(range(32)))
NEW_KEY = MasterKey.from_bytes(bytes(range(100, 132)))
OTHER = MasterKey.from_bytes(bytes(range(1, 33)))

#: Memories with markers that must never reach a file in plaintext.
SECRETS = {
    "card": "My card number is 4111 1111 1111 1111 for the gym membership",
    "email": "Write to me at zelda.quartz@example.org about the gym",
    "health": "I was diagnosed with epilepsy so I avoid strobe lights",
    "accented": "Mi número de tarjeta es 5555 5555 5555 4444, a nombre de José Ñúñez",
}
MARKERS = [
    "4111 1111 1111 1111",
    "zelda.quartz@example.org",
    "epilepsy",
    "strobe",
    "5555 5555 5555 4444",
    "Ñúñez",
]


def occurrences(root: Path, markers: list[str]) -> dict[str, list[str]]:
    """Which files under ``root`` hold each marker, in UTF-8 or UTF-16 (LE or BE)."""
    found: dict[str, list[str]] = {}
    files = [path for path in root.rglob("*") if path.is_file()]
    assert files, f"no files under {root}"
    for path in files:
        data = path.read_bytes()
        for marker in markers:
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                if marker.encode(encoding) in data:
                    found.setdefault(marker, []).append(f"{path.name} ({encoding})")
    return found


def write_secrets(engine: MemoryEngine, user: str = "alice") -> dict[str, str]:
    """The secret memories, a public one, and a conversation; ids by name."""
    ids = {name: engine.add(user, text).id for name, text in SECRETS.items()}
    ids["public"] = engine.add(user, "I like green tea in the morning").id
    engine.add_messages(user, "c1", [("user", SECRETS["health"]), ("assistant", "Noted.")])
    # What a summary refresh and the decision tracker would store of it.
    engine.conversations.update_state(
        user, "c1", summary="Has epilepsy; avoids strobe lights", decisions=["No strobe lights"]
    )
    engine.flush_vectors()
    return ids


@pytest.fixture
def secret_store(tmp_path: Path, minilm, clock) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A store in ``tmp_path/store`` holding SECRETS under KEY, closed."""
    store = tmp_path / "store"
    with MemoryEngine(
        store, embedder=minilm, clock=clock, encryption_key=KEY, encrypt="personal"
    ) as engine:
        write_secrets(engine)
        # Exercise every write path before the scan: update, search, export.
        memory_id = engine.search("alice", "epilepsy", k=1)[0].memory.id
        engine.update("alice", memory_id, metadata={"note": "strobe warning"})
        engine.export_user("alice")
    yield store


def test_no_file_of_the_store_holds_a_marker_and_search_still_finds_them(
    secret_store, minilm, clock
):
    assert occurrences(secret_store, MARKERS) == {}
    with MemoryEngine(secret_store, embedder=minilm, clock=clock, encryption_key=KEY) as engine:
        # Keyword search: the BM25 index is built from the decrypted text.
        keyword = engine.search("alice", "epilepsy strobe", k=1)
        assert keyword[0].memory.content == SECRETS["health"]
        assert keyword[0].memory.metadata == {"note": "strobe warning"}
        # Vector search: a query that shares no word with the memory.
        hits = engine.search("alice", "which payment method for sports club", k=2)
        assert SECRETS["card"] in [hit.memory.content for hit in hits]
        listed = {memory.content for memory in engine.list("alice", limit=100)}
        assert set(SECRETS.values()) <= listed
        exported = engine.export_user("alice")
        assert {m["content"] for m in exported["memories"]} >= set(SECRETS.values())
        conversation = exported["conversations"][0]
        assert conversation["messages"][0]["content"] == SECRETS["health"]
        assert conversation["summary"] == "Has epilepsy; avoids strobe lights"
        assert conversation["decisions"] == ["No strobe lights"]
        report = engine.privacy_report("alice")
        assert report["memories"]["by_class"]["sensitive"] >= 2
        assert "epilepsy" not in repr(report)


def test_the_plain_control_store_does_hold_the_markers(tmp_path, minilm, clock):
    # The scan finds what is there: without a key the same writes leave the markers.
    store = tmp_path / "plain"
    with MemoryEngine(store, embedder=minilm, clock=clock) as engine:
        write_secrets(engine)
    found = occurrences(store, MARKERS)
    assert set(found) == set(MARKERS)
    # UTF-16 is found too when it is there.
    (store / "utf16.bin").write_bytes("epilepsy".encode("utf-16-le"))
    assert "utf16.bin (utf-16-le)" in occurrences(store, ["epilepsy"])["epilepsy"]


def test_only_the_configured_classes_are_encrypted(tmp_path, clock):
    store = tmp_path / "store"
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        ids = write_secrets(engine)
    engine_ = sa.create_engine(f"sqlite:///{store / 'memory.db'}")
    with engine_.connect() as conn:
        rows = {
            row.id: row
            for row in conn.execute(sa.text("SELECT id, content, sealed, terms FROM ms_memories"))
        }
        messages = conn.execute(sa.text("SELECT content, sealed FROM ms_messages")).all()
    engine_.dispose()
    # Default: "sensitive" (the cards, health); the email is only "personal".
    for name in ("card", "health", "accented"):
        assert rows[ids[name]].sealed is not None
        assert rows[ids[name]].content == "" and rows[ids[name]].terms is None
    for name in ("email", "public"):
        assert rows[ids[name]].sealed is None and rows[ids[name]].content
    assert sorted(bool(row.sealed) for row in messages) == [False, True]


def test_a_sealed_value_moved_to_another_row_does_not_open(tmp_path, clock):
    store = tmp_path / "store"
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        ids = write_secrets(engine)
    sql = sa.create_engine(f"sqlite:///{store / 'memory.db'}")
    with sql.begin() as conn:
        blob = conn.execute(
            sa.text("SELECT sealed FROM ms_memories WHERE id = :id"), {"id": ids["card"]}
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE ms_memories SET sealed = :blob WHERE id = :id"),
            {"blob": blob, "id": ids["health"]},
        )
    sql.dispose()
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        with pytest.raises(Exception, match="does not decrypt"):
            engine.get("alice", ids["health"])
        assert engine.get("alice", ids["card"]).content == SECRETS["card"]


def test_without_the_key_the_store_is_read_only_and_leaves_encrypted_memories_out(
    tmp_path, clock, caplog
):
    store = tmp_path / "store"
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        ids = write_secrets(engine)
    before = (store / "memory.db").read_bytes()
    with caplog.at_level(logging.WARNING, logger="multisession"):
        engine = MemoryEngine(store, embedder=None, clock=clock)
    try:
        assert any("MULTISESSION_MASTER_KEY" in record.message for record in caplog.records)
        assert any("4 encrypted" in record.message for record in caplog.records)
        listed = {memory.id for memory in engine.list("alice", limit=100)}
        assert listed == {ids["email"], ids["public"]}
        hits = engine.search("alice", "epilepsy strobe tea", k=10)
        assert [hit.memory.id for hit in hits] == [ids["public"]]
        assert engine.conversations.messages("alice", "c1")[0].content == "Noted."
        assert engine.conversations.get("alice", "c1").summary is None  # type: ignore[union-attr]
        for write in (
            lambda: engine.add("alice", "I like coffee"),
            lambda: engine.update("alice", ids["public"], content="I like coffee"),
            lambda: engine.delete("alice", ids["public"]),
            lambda: engine.add_messages("alice", "c1", [("user", "hello")]),
            lambda: engine.delete_user("alice"),
        ):
            with pytest.raises(KeyUnavailableError, match="read-only.*MULTISESSION_MASTER_KEY"):
                write()
    finally:
        engine.close()
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        assert len(engine.list("alice", limit=100)) == len(SECRETS) + 1
    assert before  # the store was readable throughout


def test_a_wrong_key_is_refused_at_open_and_nothing_changes(tmp_path, clock):
    store = tmp_path / "store"
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        write_secrets(engine)
    files = {path.name: path.read_bytes() for path in store.iterdir() if path.is_file()}
    with pytest.raises(KeyUnavailableError, match="wrong master key.*nothing was changed"):
        MemoryEngine(store, embedder=None, clock=clock, encryption_key=OTHER)
    assert {path.name: path.read_bytes() for path in store.iterdir() if path.is_file()} == files


def test_the_key_comes_from_the_environment_too(tmp_path, clock, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("MULTISESSION_MASTER_KEY", KEY.material.hex())
    with MemoryEngine(store, embedder=None, clock=clock) as engine:
        ids = write_secrets(engine)
        assert engine.has_data_key("alice")
    monkeypatch.delenv("MULTISESSION_MASTER_KEY")
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY.material) as engine:
        assert engine.get("alice", ids["card"]).content == SECRETS["card"]


def test_rotation_re_wraps_and_the_old_key_is_then_refused(tmp_path, clock):
    store = tmp_path / "store"
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        ids = write_secrets(engine)
        write_secrets(engine, "bob")
        sealed_before = _sealed_values(store)
        assert engine.rotate_encryption_key(NEW_KEY) == 2
    assert _sealed_values(store) == sealed_before  # content was not re-encrypted
    with pytest.raises(KeyUnavailableError, match="wrong master key"):
        MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY)
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=NEW_KEY) as engine:
        assert engine.get("alice", ids["health"]).content == SECRETS["health"]


def test_an_interrupted_rotation_finishes_with_both_keys(tmp_path, clock):
    store = tmp_path / "store"
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=KEY) as engine:
        ids = write_secrets(engine)
        write_secrets(engine, "bob")
        # Half a rotation: one data key re-wrapped, the store still names the old key.
        ring = engine._store.cipher.ring  # type: ignore[union-attr]
        with pytest.raises(_Stop):
            ring.rotate(NEW_KEY, batch_size=1, progress=_stop_after_one)
    with MemoryEngine(
        store,
        embedder=None,
        clock=clock,
        encryption_key=NEW_KEY,
        previous_encryption_keys=[KEY],
    ) as engine:
        assert engine.get("alice", ids["card"]).content == SECRETS["card"]
        assert engine.rotate_encryption_key(NEW_KEY) == 1
    with MemoryEngine(store, embedder=None, clock=clock, encryption_key=NEW_KEY) as engine:
        assert len(engine.list("bob", limit=100)) == len(SECRETS) + 1


class _Stop(Exception):
    pass


def _stop_after_one(done: int) -> None:
    raise _Stop  # the process "dies" after the first committed batch


def _sealed_values(store: Path) -> set[bytes]:
    sql = sa.create_engine(f"sqlite:///{store / 'memory.db'}")
    with sql.connect() as conn:
        found = {
            bytes(blob)
            for (blob,) in conn.execute(
                sa.text("SELECT sealed FROM ms_memories WHERE sealed IS NOT NULL")
            )
        }
    sql.dispose()
    return found


def test_deleting_a_user_shreds_their_data_key_for_older_copies(tmp_path, minilm, clock):
    store = tmp_path / "store"
    keys_url = f"sqlite:///{tmp_path / 'keys' / 'keys.db'}"
    (tmp_path / "keys").mkdir()
    options = {"embedder": minilm, "clock": clock, "encryption_key": KEY}
    with MemoryEngine(store, data_keys_url=keys_url, **options) as engine:
        alice = write_secrets(engine, "alice")
        bob = write_secrets(engine, "bob")
    backup = tmp_path / "backup"
    shutil.copytree(store, backup)  # last week's backup of the data (not of the keys)
    with MemoryEngine(store, data_keys_url=keys_url, **options) as engine:
        assert engine.has_data_key("alice")
        assert engine.delete_user("alice") == len(SECRETS) + 1
        assert not engine.has_data_key("alice") and engine.has_data_key("bob")
        assert [entry["action"] for entry in engine._store.audit_log()][-2:] == [
            "delete_user",
            "destroy_data_key",
        ]
    with MemoryEngine(backup, data_keys_url=keys_url, **options) as engine:
        # Bob reads as before; of alice only what was never encrypted is left.
        assert engine.get("bob", bob["card"]).content == SECRETS["card"]
        with pytest.raises(KeyUnavailableError, match="no data key for user 'alice'"):
            engine._store.cipher.open(  # type: ignore[union-attr]
                "alice", "ms_memories", alice["card"], _sealed_of(backup, alice["card"])
            )
        readable = {memory.content for memory in engine.list("alice", limit=100)}
        assert readable == {SECRETS["email"], "I like green tea in the morning"}
        hits = engine.search("alice", "epilepsy card tarjeta Ñúñez", k=10)
        assert {hit.memory.content for hit in hits} <= readable
        assert engine._store.cipher.skipped > 0  # type: ignore[union-attr]


def _sealed_of(store: Path, memory_id: str) -> bytes:
    sql = sa.create_engine(f"sqlite:///{store / 'memory.db'}")
    with sql.connect() as conn:
        blob = conn.execute(
            sa.text("SELECT sealed FROM ms_memories WHERE id = :id"), {"id": memory_id}
        ).scalar_one()
    sql.dispose()
    return bytes(blob)


def test_results_holding_encrypted_memories_are_not_cached_in_redis(open_engine, redis_url):
    import redis

    engine = open_engine(encryption_key=KEY, cache_url=redis_url)
    write_secrets(engine)
    engine.search("alice", "epilepsy strobe lights", k=1, min_relevance=0)
    engine.search("alice", "epilepsy strobe lights", k=1, min_relevance=0)
    assert engine.events["cache_hit"] == 0
    client = redis.Redis.from_url(redis_url)
    values = b"".join(client.get(key) or b"" for key in client.scan_iter(_type="string"))
    assert b"epilepsy" not in values
    # A result of plain memories only is cached as before.
    engine.search("alice", "green tea", k=1, min_relevance=0)
    engine.search("alice", "green tea", k=1, min_relevance=0)
    assert engine.events["cache_hit"] == 1
    assert b"green tea" in b"".join(
        client.get(key) or b"" for key in client.scan_iter(_type="string")
    )


def test_forget_class_erases_encrypted_messages_and_keeps_the_rest_readable(tmp_path, clock):
    with MemoryEngine(tmp_path / "store", embedder=None, clock=clock, encryption_key=KEY) as engine:
        write_secrets(engine)
        engine.conversations.update_state(
            "alice", "c1", decisions=["I take my epilepsy medication at night", "Buy tea"]
        )
        engine.forget_class("alice", "sensitive")
        conversation = engine.conversations.get("alice", "c1")
        assert conversation is not None and conversation.summary is None
        assert conversation.decisions == ["Buy tea"]
        assert [m.content for m in engine.conversations.messages("alice", "c1")] == ["Noted."]
        remaining = {memory.content for memory in engine.list("alice", limit=100)}
        assert remaining == {SECRETS["email"], "I like green tea in the morning"}


def luhn_card(prefix: str) -> str:
    """A 16-digit card number with a valid check digit, grouped by four."""
    digits = prefix + "".join(secrets.choice("0123456789") for _ in range(15 - len(prefix)))
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    number = digits + str((10 - total % 10) % 10)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def postgres_data_directory(sql_url: str) -> Path:
    """The data directory of the server, after a checkpoint wrote every page out."""
    sql = sa.create_engine(sql_url)
    with sql.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")
        conn.exec_driver_sql("SELECT pg_switch_wal()")
        where = Path(conn.exec_driver_sql("SHOW data_directory").scalar_one())
    sql.dispose()
    return where


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain-control"])
def test_no_file_of_postgresql_holds_a_marker(encrypted, tmp_path, postgres_url, minilm, clock):  # type: ignore[no-untyped-def]
    # The server is shared with other tests: markers of this run only.
    nonce = secrets.token_hex(6)
    card, email = luhn_card("4"), f"ines.{nonce}@example.org"
    texts = [
        f"My card is {card}, keep it for the Kafka{nonce} bookshop",
        f"Write to me at {email}",
        f"I was diagnosed with epilepsy, says doctor Quill{nonce}",
    ]
    markers = [card, email, f"Kafka{nonce}", f"Quill{nonce}"]
    key = {"encryption_key": KEY, "encrypt": "personal"} if encrypted else {}
    with MemoryEngine(
        tmp_path / "store", sql_url=postgres_url, embedder=minilm, clock=clock, **key
    ) as engine:
        ids = [engine.add("alice", text).id for text in texts]
        engine.add_messages("alice", "c1", [("user", texts[2])])
        engine.flush_vectors()
        hits = engine.search("alice", "which doctor treats my seizures", k=1)
        assert hits[0].memory.id == ids[2] and hits[0].memory.content == texts[2]
        assert engine.search("alice", f"Kafka{nonce}", k=1)[0].memory.content == texts[0]
    in_postgres = occurrences(postgres_data_directory(postgres_url), markers)
    if encrypted:
        assert in_postgres == {}
        assert occurrences(tmp_path / "store", markers) == {}  # Chroma and the key table
    else:
        assert set(in_postgres) == set(markers)  # the scan sees what is there


@pytest.mark.parametrize("key_tables", ["own", "shared"])
def test_moving_users_between_shards_keeps_their_encrypted_memories_readable(
    key_tables, tmp_path, clock
):  # type: ignore[no-untyped-def]
    from multisession.sharding import ShardedMemory, move_users, shard_for

    shards = {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("a", "b")}
    options: dict[str, object] = {"embedder": None, "clock": clock, "encryption_key": KEY}
    if key_tables == "shared":
        options["data_keys_url"] = f"sqlite:///{tmp_path / 'keys.db'}"
    users = [f"user-{number}" for number in range(12)]
    with ShardedMemory({"a": shards["a"]}, **options) as memory:
        for user in users:
            memory.add(user, f"I was diagnosed with asthma, says {user}")
    leaving = {user for user in users if shard_for(user, ["a", "b"]) == "b"}
    assert leaving
    move_users(shards, **options)
    with ShardedMemory(shards, **options) as memory:
        for user in users:
            assert [m.content for m in memory.list(user)] == [
                f"I was diagnosed with asthma, says {user}"
            ]
        assert all(memory.engines["b"].has_data_key(user) for user in leaving)


def test_the_encryption_settings_are_checked_before_the_store_opens(tmp_path, clock):
    from multisession.errors import ConfigurationError

    store = tmp_path / "store"
    with pytest.raises(ConfigurationError, match="encrypt must be 'all' or one of"):
        MemoryEngine(store, embedder=None, encryption_key=KEY, encrypt="secret")
    with pytest.raises(ConfigurationError, match="privacy=False"):
        MemoryEngine(store, embedder=None, encryption_key=KEY, privacy=False)
    with pytest.raises(ConfigurationError, match="256-bit key"):
        MemoryEngine(store, embedder=None, encryption_key="not a key")
    assert not store.exists()
    # Classification off, everything encrypted.
    with MemoryEngine(
        store, embedder=None, clock=clock, encryption_key=KEY, privacy=False, encrypt="all"
    ) as engine:
        memory = engine.add("alice", "I like green tea")
        assert engine.search("alice", "green tea", k=1)[0].memory.id == memory.id
    assert b"green tea" not in (store / "memory.db").read_bytes()
