"""The engine's counters as metrics: a plain snapshot, or Prometheus text.

The engine counts what happens to it in ``engine.events`` (memories written and
deleted, degraded searches when vector search or the query embedding failed, failed
vector writes, ...), times every search in ``engine.search_latency`` and its
per-user indexes count how often a search found them current. :func:`snapshot` gives
all of it as a dict, without any dependency; :class:`EngineMetrics` is a Prometheus
collector over the same numbers (``pip install prometheus-client``), read at scrape
time, so nothing is counted twice and an engine used without a server has them too.

Example:
    >>> from prometheus_client import CollectorRegistry, generate_latest  # doctest: +SKIP
    >>> registry = CollectorRegistry()  # doctest: +SKIP
    >>> registry.register(EngineMetrics(engine))  # doctest: +SKIP
    >>> print(generate_latest(registry).decode())  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Protocol

from ._latency import SearchLatency
from .errors import ConfigurationError

__all__ = ["DEGRADED_SEARCH_EVENTS", "EngineMetrics", "prometheus_text", "snapshot"]

#: The events that mean a search answered with less than it should (keywords only).
DEGRADED_SEARCH_EVENTS = ("vector_search_failed", "query_embedding_failed")


class _IndexCounts(Protocol):
    hits: int
    loads: int
    catch_ups: int


class _Engine(Protocol):
    """What the metrics read of an engine."""

    events: Counter[str]
    search_latency: SearchLatency

    @property
    def indexes(self) -> _IndexCounts: ...

    def stats(self) -> dict[str, Any]: ...


def snapshot(engine: _Engine) -> dict[str, Any]:
    """Every counter and gauge of the engine, as plain numbers."""
    stats = engine.stats()
    latency = engine.search_latency
    users = int(stats["users"])
    memories = int(stats["memories"])
    events = dict(engine.events)
    return {
        "events": events,
        "memories_written": events.get("memories_written", 0),
        "degraded_searches": {name: events.get(name, 0) for name in DEGRADED_SEARCH_EVENTS},
        "supersessions": events.get("supersessions", 0),
        "searches": latency.count,
        "search_seconds_total": latency.total_seconds,
        "search_seconds_buckets": latency.buckets(),
        "index_cache": {
            "hits": engine.indexes.hits,
            "loads": engine.indexes.loads,
            "catch_ups": engine.indexes.catch_ups,
        },
        "users": users,
        "memories": memories,
        "memories_per_user": memories / users if users else 0.0,
        "pending_vectors": int(stats["pending_vectors"]),
        "buffered_vectors": int(stats["buffered_vectors"]),
    }


class EngineMetrics:
    """A Prometheus collector over an engine's counters, read at each scrape.

    Args:
        engine: The engine to report on.
    """

    def __init__(self, engine: _Engine) -> None:
        try:
            import prometheus_client  # noqa: F401
        except ModuleNotFoundError as missing:
            raise ConfigurationError(
                "Prometheus metrics need prometheus-client: pip install 'multisession[server]'"
            ) from missing
        self.engine = engine

    def describe(self) -> Iterator[Any]:
        """Nothing up front: the event names are known at scrape time only."""
        return iter(())

    def collect(self) -> Iterator[Any]:
        """The metric families, from the engine's numbers now."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        numbers = snapshot(self.engine)
        latency = HistogramMetricFamily(
            "multisession_search_seconds", "How long engine.search took, in seconds."
        )
        latency.add_metric(
            [],
            [(_bound(bound), count) for bound, count in numbers["search_seconds_buckets"].items()],
            numbers["search_seconds_total"],
        )
        yield latency
        written = CounterMetricFamily(
            "multisession_memories_written", "Memories stored (add, add_many, record_exchange)."
        )
        written.add_metric([], numbers["memories_written"])
        yield written
        degraded = CounterMetricFamily(
            "multisession_degraded_searches",
            "Searches answered by keywords only because a part failed.",
            labels=["reason"],
        )
        for reason, count in numbers["degraded_searches"].items():
            degraded.add_metric([reason], count)
        yield degraded
        supersessions = CounterMetricFamily(
            "multisession_supersessions", "Memories superseded by a newer one."
        )
        supersessions.add_metric([], numbers["supersessions"])
        yield supersessions
        cache = CounterMetricFamily(
            "multisession_index_cache",
            "Searches that found the user's in-process index current (hit), loaded it from "
            "SQL (load) or caught it up with newer writes (catch_up).",
            labels=["result"],
        )
        for result, key in (("hit", "hits"), ("load", "loads"), ("catch_up", "catch_ups")):
            cache.add_metric([result], numbers["index_cache"][key])
        yield cache
        events = CounterMetricFamily(
            "multisession_events", "Everything the engine counts, by event.", labels=["event"]
        )
        for event, count in sorted(numbers["events"].items()):
            events.add_metric([event], count)
        yield events
        for name, text in (
            ("users", "Users with stored memories or history."),
            ("memories", "Memories stored."),
            ("memories_per_user", "Memories per user, on average."),
            ("pending_vectors", "Memories waiting for the vector index."),
            ("buffered_vectors", "Vectors buffered in this process for the vector index."),
        ):
            gauge = GaugeMetricFamily(f"multisession_{name}", text)
            gauge.add_metric([], numbers[name])
            yield gauge


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def prometheus_text(engine: _Engine) -> str:
    """The engine's metrics in Prometheus' text format."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineMetrics(engine))
    return generate_latest(registry).decode("utf-8")
