"""The engine's own counters, without a server: snapshot and Prometheus text."""

from __future__ import annotations

import logging

import pytest

from multisession import MemoryEngine
from multisession._latency import BUCKETS, SearchLatency
from multisession.metrics import prometheus_text, snapshot


def test_snapshot_counts_writes_deletes_and_searches(engine: MemoryEngine) -> None:
    first = engine.add("alice", "I like green tea")
    engine.add_many("alice", ["I live in Porto", "I play the cello"])
    engine.add("bob", "I like jazz")
    engine.search("alice", "tea")
    engine.search("alice", "music")
    engine.delete("alice", first.id)
    engine.delete_user("bob")
    numbers = snapshot(engine)
    assert numbers["memories_written"] == 4
    assert numbers["events"]["memories_deleted"] == 2
    assert numbers["events"]["users_deleted"] == 1
    assert numbers["searches"] == 2
    assert numbers["search_seconds_buckets"][float("inf")] == 2
    assert numbers["users"] == 1 and numbers["memories"] == 2
    assert numbers["memories_per_user"] == 2.0
    assert numbers["degraded_searches"] == {"vector_search_failed": 0, "query_embedding_failed": 0}
    assert numbers["index_cache"]["loads"] == 1
    assert numbers["index_cache"]["hits"] + numbers["index_cache"]["catch_ups"] >= 1


def test_a_failed_query_embedding_is_a_degraded_search(open_engine, unreachable_embedder) -> None:  # type: ignore[no-untyped-def]
    open_engine().add("alice", "I like green tea")
    degraded = open_engine(embedder=unreachable_embedder)
    assert degraded.search("alice", "tea")  # keywords still answer
    text = prometheus_text(degraded)
    assert 'multisession_degraded_searches_total{reason="query_embedding_failed"} 1.0' in text
    assert "multisession_search_seconds_count 1.0" in text
    assert 'multisession_events_total{event="query_embedding_failed"} 1.0' in text


def test_latency_buckets_are_cumulative_and_slow_searches_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    latency = SearchLatency(slow_seconds=0.5)
    with caplog.at_level(logging.WARNING, logger="multisession.search"):
        latency.observe("acme:alice", 0.003)
        latency.observe("acme:alice", 0.7)
        latency.observe("acme:alice", 60.0)
    buckets = latency.buckets()
    assert list(buckets) == [*BUCKETS, float("inf")]
    assert (buckets[0.0025], buckets[0.005], buckets[1.0], buckets[float("inf")]) == (0, 1, 2, 3)
    assert latency.count == 3 and latency.total_seconds == pytest.approx(60.703)
    messages = [record.getMessage() for record in caplog.records]
    hashed = latency.user_hash("acme:alice")
    assert messages == [
        f"slow search: 700 ms for user {hashed} (over 500 ms)",
        f"slow search: 60000 ms for user {hashed} (over 500 ms)",
    ]
    assert "alice" not in " ".join(messages)
    assert SearchLatency().user_hash("acme:alice") != hashed  # keyed per process
