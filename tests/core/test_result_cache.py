"""The Redis cache of search results: hits counted, never stale, never across users.

A real redis-server runs on loopback (``redis_url``).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest
import redis

from multisession import MemoryEngine
from multisession.errors import ConfigurationError


def contents(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.memory.content for hit in hits]


def test_a_repeated_search_is_served_from_the_cache(open_engine, redis_url):
    engine = open_engine(cache_url=redis_url)
    engine.add_many("alice", ["I live in Oslo", "My sister lives in Bergen", "I play chess"])
    first = engine.search("alice", "where do I live")
    assert engine.events["cache_hit"] == 0 and engine.events["cache_miss"] == 1
    again = engine.search("alice", "where do I live")
    assert engine.events["cache_hit"] == 1
    assert contents(again) == contents(first)
    assert [hit.breakdown for hit in again] == [hit.breakdown for hit in first]
    # Another query, other settings or another k: entries of their own.
    engine.search("alice", "where do I live", k=1)
    assert engine.events["cache_hit"] == 1
    keys = list(redis.Redis.from_url(redis_url).scan_iter(_type="string"))
    assert len(keys) == 2
    assert not any(b"alice" in key for key in keys)  # users are named by a keyed hash


def test_every_kind_of_write_makes_the_next_search_fresh(open_engine, redis_url):
    engine = open_engine(cache_url=redis_url)
    oslo = engine.add("alice", "I live in Oslo")
    assert contents(engine.search("alice", "Oslo Bergen")) == ["I live in Oslo"]
    # (Not "I moved to Bergen": that would supersede Oslo, a write of its own kind.)
    engine.add("alice", "I visited Bergen after Oslo last summer")
    assert len(engine.search("alice", "Oslo Bergen")) == 2
    engine.update("alice", oslo.id, content="I grew up in Tromso")
    after_update = contents(engine.search("alice", "Oslo Bergen"))
    assert after_update[0] == "I visited Bergen after Oslo last summer"
    assert "I live in Oslo" not in after_update
    engine.delete("alice", oslo.id)
    assert "I grew up in Tromso" not in contents(engine.search("alice", "Tromso Oslo Bergen"))
    engine.delete_user("alice")
    assert engine.search("alice", "Oslo Bergen") == []
    assert engine.events["cache_hit"] == 0  # every search came after a write


def test_a_cached_result_is_never_another_user_s(open_engine, redis_url):
    engine = open_engine(cache_url=redis_url)
    engine.add("alice", "My secret is the blue door")
    engine.add("bob", "My secret is the red door")
    assert contents(engine.search("alice", "secret door")) == ["My secret is the blue door"]
    assert contents(engine.search("bob", "secret door")) == ["My secret is the red door"]
    assert engine.search("carol", "secret door") == []


READER = textwrap.dedent(
    """
    import json, sys
    from multisession import MemoryEngine
    engine = MemoryEngine(sys.argv[1], embedder=None, cache_url=sys.argv[2])
    for line in sys.stdin:
        hits = engine.search("alice", line.strip())
        print(json.dumps({
            "contents": [hit.memory.content for hit in hits],
            "hits": engine.events["cache_hit"],
        }), flush=True)
    """
)


def test_no_process_sees_a_result_from_before_another_process_s_write(
    store_dir, redis_url, tmp_path
):
    import json

    writer = MemoryEngine(store_dir, embedder=None, cache_url=redis_url)
    writer.add("alice", "I live in Oslo")
    script = tmp_path / "reader.py"
    script.write_text(READER)
    with subprocess.Popen(
        [sys.executable, str(script), str(store_dir), redis_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as reader:
        assert reader.stdin is not None and reader.stdout is not None

        def ask(query: str) -> dict[str, object]:
            assert reader.stdin is not None and reader.stdout is not None
            reader.stdin.write(query + "\n")
            reader.stdin.flush()
            answer: dict[str, object] = json.loads(reader.stdout.readline())
            return answer

        assert ask("Oslo") == {"contents": ["I live in Oslo"], "hits": 0}
        assert ask("Oslo") == {"contents": ["I live in Oslo"], "hits": 1}
        # This process's own search, cached too: the other process's entry serves it.
        assert contents(writer.search("alice", "Oslo")) == ["I live in Oslo"]
        assert writer.events["cache_hit"] == 1
        memory = writer.add("alice", "Oslo is where my sister lives too")
        fresh = ask("Oslo")
        assert sorted(fresh["contents"]) == [  # type: ignore[call-overload]
            "I live in Oslo",
            "Oslo is where my sister lives too",
        ]
        writer.delete("alice", memory.id)
        assert ask("Oslo")["contents"] == ["I live in Oslo"]
        writer.delete_user("alice")
        assert ask("Oslo")["contents"] == []
        reader.stdin.close()
        reader.wait(timeout=60)
    writer.close()


def test_a_failing_redis_only_makes_searches_uncached(open_engine):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = open_engine(cache_url=f"redis://127.0.0.1:{port}/0")
    engine.add("alice", "I live in Oslo")
    assert contents(engine.search("alice", "Oslo")) == ["I live in Oslo"]
    assert engine.events["cache_failed"] >= 1 and engine.events["cache_hit"] == 0


def test_a_bad_cache_url_is_refused_and_the_store_is_left_as_it_was(open_engine, store_dir):
    open_engine().add("alice", "I live in Oslo")
    with pytest.raises(ConfigurationError, match="Redis URL"):
        open_engine(cache_url="http://127.0.0.1:6379")
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        open_engine(cache_url="redis://127.0.0.1:6379/0", cache_ttl=-1)
    assert contents(open_engine().search("alice", "Oslo")) == ["I live in Oslo"]


def test_a_cached_hit_carries_every_field_of_the_memory(open_engine, redis_url):
    engine = open_engine(cache_url=redis_url)
    engine.add("alice", "I live in Oslo")
    engine.add("alice", "I moved to Bergen")  # supersedes Oslo: validity fields are set
    # A privacy class and detector, and a scope.
    engine.add("alice", "My card is 4111 1111 1111 1111", scope="wallet")
    query = dict(user_id="alice", query="Oslo Bergen card", include_superseded=True)
    fresh = engine.search(**query)
    cached = engine.search(**query)
    assert engine.events["cache_hit"] == 1

    # Every field but the access count, which each search bumps.
    def stored(hits):  # type: ignore[no-untyped-def]
        return [dataclasses.replace(hit.memory, access_count=0) for hit in hits]

    assert stored(cached) == stored(fresh)
    assert any(hit.memory.superseded_by for hit in cached)
    assert any(hit.memory.sensitivity == "sensitive" for hit in cached)
    assert any(hit.memory.scope == "wallet" for hit in cached)
