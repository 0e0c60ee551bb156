"""A repeated search served by the Redis cache against the same search uncached.

One store of ``--size`` memories for one user (precomputed vectors), opened three times
in one process: without a cache, and twice with ``cache_url`` on a Redis server started
on loopback. The first cached engine runs each query once (filling the cache); then the
engines take turns query by query: the uncached one searches, the first cached one
repeats its own searches (served from its in-process copy of the entries), the second
reads each entry once from Redis, as another process would. Also on
PostgreSQL + pgvector with ``--postgres`` (where an uncached search costs more round
trips).

Usage::

    .venv/bin/python benchmarks/cache_speed.py
    .venv/bin/python benchmarks/cache_speed.py --size 10000 --queries 300 --postgres
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

try:  # imported as benchmarks.cache_speed
    from ._scale import (
        Corpus,
        TableEmbedder,
        create_database,
        percentile,
        pgvector_server,
        redis_server,
    )
except ImportError:  # run as a script
    from _scale import (  # type: ignore[no-redef]
        Corpus,
        TableEmbedder,
        create_database,
        percentile,
        pgvector_server,
        redis_server,
    )

USER = "bench-user"


def _compare(label: str, options: dict[str, Any], cache_url: str, args: argparse.Namespace) -> None:
    from multisession import MemoryEngine

    corpus = Corpus(args.size, args.seed)
    embedder = TableEmbedder(corpus.texts, corpus.vectors)
    plain = MemoryEngine(embedder=embedder, **options)
    for start in range(0, args.size, 500):
        plain.add_many(USER, corpus.texts[start : start + 500])
    plain.flush_vectors()
    cached = MemoryEngine(embedder=embedder, cache_url=cache_url, **options)
    queries = corpus.queries(args.queries)
    texts = [" ".join(corpus.texts[i * 7 % args.size].split()[2:5]) for i in range(args.queries)]
    for text, query in zip(texts, queries, strict=True):  # warm both; fill the cache
        plain.search(USER, text, query_vector=query)
        cached.search(USER, text, query_vector=query)
    # Another process's engine: its first read of each entry comes from Redis.
    remote = MemoryEngine(embedder=embedder, cache_url=cache_url, **options)
    remote.search(USER, "warm up", query_vector=queries[0])
    times: dict[str, list[float]] = {"uncached": [], "cached": [], "redis": []}
    for text, query in zip(texts, queries, strict=True):
        for name, engine in (("uncached", plain), ("cached", cached), ("redis", remote)):
            started = time.perf_counter()
            engine.search(USER, text, query_vector=query)
            times[name].append(time.perf_counter() - started)
    uncached = percentile(times["uncached"], 50)
    hit, from_redis = percentile(times["cached"], 50), percentile(times["redis"], 50)
    print(
        f"  {label:<22} uncached p50 {uncached:6.2f} ms | cached, repeated in the process "
        f"{hit:5.2f} ms ({uncached / hit:4.1f}x) | first read from Redis {from_redis:5.2f} ms "
        f"({uncached / from_redis:4.1f}x) | hits {cached.events['cache_hit']}"
        f"+{remote.events['cache_hit']}"
    )
    for engine in (plain, cached, remote):
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    print(f"search at {args.size} memories, {args.queries} queries repeated, in turns:")
    with redis_server() as cache_url, tempfile.TemporaryDirectory() as scratch:
        _compare("embedded (SQLite)", {"directory": Path(scratch) / "store"}, cache_url, args)
        if args.postgres:
            with pgvector_server() as server:
                url = create_database(server, "bench")
                _compare("PostgreSQL + pgvector", {"sql_url": url}, cache_url, args)


if __name__ == "__main__":
    main()
