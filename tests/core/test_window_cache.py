"""Session windows in the Redis cache: shared by processes, never stale, never sealed.

A real redis-server runs on loopback (``redis_url``); the second process is a real one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import redis
import sqlalchemy as sa

from multisession import MemoryEngine
from multisession.privacy.keys import MasterKey

KEY = MasterKey.from_bytes(bytes(range(32)))


def entries(url: str) -> dict[bytes, bytes]:
    """Every key in the Redis database and its value (a sorted set's members, joined)."""
    client = redis.Redis.from_url(url)
    found = {
        key: client.get(key) or b""
        if client.type(key) == b"string"
        else b" ".join(client.zrange(key, 0, -1))
        for key in client.keys("*")
    }
    client.close()
    return found


def everything_in(url: str) -> bytes:
    """Every key and value in the Redis database, joined."""
    return b" ".join(key + b" " + value for key, value in entries(url).items())


def texts(messages) -> list[str]:  # type: ignore[no-untyped-def]
    return [message.content for message in messages]


READER = textwrap.dedent(
    """
    import json, sys
    from multisession import MemoryEngine
    engine = MemoryEngine(sys.argv[1], embedder=None, cache_url=sys.argv[2])
    for line in sys.stdin:
        window = engine.get_messages("alice", line.strip(), last=10)
        print(json.dumps({
            "contents": [message.content for message in window],
            "hits": engine.events["window_hit"],
        }), flush=True)
    """
)


def test_a_window_is_served_from_redis_to_another_process_and_never_stale(
    store_dir, redis_url, tmp_path
):
    writer = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    writer.add_messages("alice", "trip", [("user", "I fly to Oslo"), ("assistant", "When?")])
    assert texts(writer.get_messages("alice", "trip", last=10)) == ["I fly to Oslo", "When?"]
    assert writer.events["window_miss"] == 1  # loaded from SQL and put in Redis
    script = tmp_path / "reader.py"
    script.write_text(READER)
    with subprocess.Popen(
        [sys.executable, str(script), str(store_dir), redis_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as reader:

        def ask(conversation: str) -> dict[str, object]:
            assert reader.stdin is not None and reader.stdout is not None
            reader.stdin.write(conversation + "\n")
            reader.stdin.flush()
            answer: dict[str, object] = json.loads(reader.stdout.readline())
            return answer

        # The other process's window, read from Redis.
        assert ask("trip") == {"contents": ["I fly to Oslo", "When?"], "hits": 1}
        writer.add_messages("alice", "trip", [("user", "On Friday")])
        assert ask("trip") == {"contents": ["I fly to Oslo", "When?", "On Friday"], "hits": 1}
        # The reader put that window in Redis: a third engine is served it.
        third = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
        assert texts(third.get_messages("alice", "trip", last=10))[-1] == "On Friday"
        assert third.events["window_hit"] == 1
        writer.clear_conversation("alice", "trip")
        assert ask("trip")["contents"] == []
        writer.add_messages("alice", "trip", [("user", "I fly to Bergen")])
        assert ask("trip")["contents"] == ["I fly to Bergen"]
        writer.delete_user("alice")
        assert ask("trip")["contents"] == []
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait(timeout=60)
    third.close()
    writer.close()


def test_a_window_holding_a_sealed_message_never_goes_to_redis(store_dir, redis_url):
    engine = MemoryEngine(store_dir, embedder=None, encryption_key=KEY, cache_url=redis_url)
    diagnosis = "I was diagnosed with epilepsy so I avoid strobe lights"
    engine.add_messages("alice", "health", [("user", diagnosis), ("assistant", "Noted.")])
    engine.add_messages("alice", "tea", [("user", "I like green tea"), ("assistant", "Nice.")])
    sql = sa.create_engine(f"sqlite:///{store_dir / 'memory.db'}")
    with sql.connect() as conn:
        sealed = conn.execute(
            sa.text("SELECT count(*) FROM ms_messages WHERE sealed IS NOT NULL")
        ).scalar_one()
    sql.dispose()
    assert sealed == 1  # the diagnosis is encrypted at rest
    assert texts(engine.get_messages("alice", "health", last=5))[0] == diagnosis
    assert texts(engine.get_messages("alice", "tea", last=5))[0] == "I like green tea"
    other = MemoryEngine(store_dir, embedder=None, encryption_key=KEY, cache_url=redis_url)
    assert texts(other.get_messages("alice", "health", last=5)) == [diagnosis, "Noted."]
    assert texts(other.get_messages("alice", "tea", last=5)) == ["I like green tea", "Nice."]
    cached = everything_in(redis_url)
    assert b"epilepsy" not in cached and b"strobe" not in cached and b"Noted." not in cached
    assert b"green tea" in cached  # a window of plain messages is cached as ever
    # The plain window came from Redis; the sealed one had to be loaded from SQL.
    assert other.events["window_hit"] == 1 and other.events["window_miss"] == 1
    other.close()
    engine.close()


def test_a_failing_redis_only_makes_windows_load_from_sql(store_dir):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = MemoryEngine(store_dir, embedder=None, cache_url=f"redis://127.0.0.1:{port}/0")
    engine.add_messages("alice", "trip", [("user", "I fly to Oslo"), ("assistant", "When?")])
    assert texts(engine.get_messages("alice", "trip", last=5)) == ["I fly to Oslo", "When?"]
    assert engine.events["cache_failed"] >= 1 and engine.events["window_hit"] == 0
    engine.clear_conversation("alice", "trip")  # deleting its entries fails too
    assert engine.get_messages("alice", "trip", last=5) == []
    engine.close()


def test_deleting_a_user_leaves_no_window_of_theirs_in_redis(store_dir, redis_url):
    engine = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    for user, city in (("alice", "Oslo"), ("bob", "Lisbon")):
        engine.add(user, f"I live in {city}")
        engine.add_messages(user, "trip", [("user", f"I fly home to {city}")])
        engine.get_messages(user, "trip", last=5)
        engine.add_messages(user, "trip", [("user", f"{city} in the rain")])
        engine.get_messages(user, "trip", last=5)  # a second window, at a newer stamp
        engine.search(user, city)
    before = everything_in(redis_url)
    assert before.count(b"fly home to Oslo") == 2 and b"I live in Oslo" in before
    # Keys are ms:<store>:<format>:<user>:...; alice's user part, from her entries.
    alice = {key.split(b":")[3] for key, value in entries(redis_url).items() if b"Oslo" in value}
    assert len(alice) == 1
    engine.delete_user("alice")
    after = everything_in(redis_url)
    assert b"Oslo" not in after  # neither windows nor search results
    assert not any(key.split(b":")[3] in alice for key in entries(redis_url))
    assert after.count(b"fly home to Lisbon") == 2 and b"I live in Lisbon" in after
    engine.close()


def test_erasing_a_class_of_messages_drops_the_windows_that_held_them(store_dir, redis_url):
    engine = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    card = "My card number is 4111 1111 1111 1111"
    engine.add_messages("alice", "shop", [("user", card), ("user", "Send it to Oslo")])
    assert texts(engine.get_messages("alice", "shop", last=5)) == [card, "Send it to Oslo"]
    assert b"4111" in everything_in(redis_url)
    engine.forget_class("alice", "sensitive")
    assert b"4111" not in everything_in(redis_url)
    # The newest message stayed: another process must not be served the old window.
    other = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    assert texts(other.get_messages("alice", "shop", last=5)) == ["Send it to Oslo"]
    other.close()
    engine.close()


def test_clearing_a_conversation_deletes_its_windows_only(store_dir, redis_url):
    engine = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    for conversation in ("trip", "work"):
        for _ in range(2):  # windows at two stamps
            engine.add_messages("alice", conversation, [("user", f"about {conversation}")])
            engine.get_messages("alice", conversation, last=5)
    assert everything_in(redis_url).count(b"about trip") == 3
    engine.clear_conversation("alice", "trip")
    after = everything_in(redis_url)
    assert b"about trip" not in after and after.count(b"about work") == 3
    engine.close()


def test_windows_of_conversations_with_the_same_stamp_never_mix(store_dir, redis_url, clock):
    # Same count in each; the ids differ, and so do the users' and conversations' keys.
    engine = MemoryEngine(store_dir, embedder=None, cache_url=redis_url, clock=clock)
    engine.add_messages("alice", "a", [("user", "alice in a")])
    engine.add_messages("alice", "b", [("user", "alice in b")])
    engine.add_messages("bob", "a", [("user", "bob in a")])
    for user, conversation in (("alice", "a"), ("alice", "b"), ("bob", "a")):
        engine.get_messages(user, conversation, last=5)
    other = MemoryEngine(store_dir, embedder=None, cache_url=redis_url, clock=clock)
    assert texts(other.get_messages("alice", "b", last=5)) == ["alice in b"]
    assert texts(other.get_messages("bob", "a", last=5)) == ["bob in a"]
    assert texts(other.get_messages("carol", "a", last=5)) == []
    assert other.events["window_hit"] == 2
    keys = list(entries(redis_url))  # three windows, and alice's and bob's indexes
    assert len(keys) == 5 and not any(b"alice" in key or b"bob" in key for key in keys)
    other.close()
    engine.close()


def test_a_window_from_redis_carries_every_field_of_its_messages(store_dir, redis_url):
    engine = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    engine.add_messages(
        "alice",
        "trip",
        [
            {"role": "user", "content": "Mail me at zed@example.org", "metadata": {"n": 1}},
            {"role": "assistant", "content": "Done.", "metadata": {"tags": ["a", "b"]}},
        ],
    )
    from_sql = engine.get_messages("alice", "trip", last=5)
    other = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    assert other.get_messages("alice", "trip", last=5) == from_sql
    assert other.events["window_hit"] == 1
    assert from_sql[0].detectors and from_sql[0].metadata == {"n": 1}
    other.close()
    engine.close()


def test_windows_on_postgresql_are_shared_and_never_stale(pgvector_url, redis_url):
    writer = MemoryEngine(None, sql_url=pgvector_url, embedder=None, cache_url=redis_url)
    reader = MemoryEngine(None, sql_url=pgvector_url, embedder=None, cache_url=redis_url)
    writer.add_messages("alice", "trip", [("user", "I fly to Oslo"), ("assistant", "When?")])
    from_sql = writer.get_messages("alice", "trip", last=10)
    assert reader.get_messages("alice", "trip", last=10) == from_sql
    assert reader.events["window_hit"] == 1
    writer.add_messages("alice", "trip", [("user", "On Friday")])
    assert texts(reader.get_messages("alice", "trip", last=10))[-1] == "On Friday"
    writer.delete_user("alice")
    assert reader.get_messages("alice", "trip", last=10) == []
    assert b"Oslo" not in everything_in(redis_url)
    reader.close()
    writer.close()
