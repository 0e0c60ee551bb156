"""A repeated search, and a session window, served by the Redis cache against uncached.

One store of ``--size`` memories for one user (precomputed vectors), opened three times
in one process: without a cache, and twice with ``cache_url`` on a Redis server started
on loopback. The first cached engine runs each query once (filling the cache); then the
engines take turns query by query: the uncached one searches, the first cached one
repeats its own searches (served from its in-process copy of the entries), the second
reads each entry once from Redis, as another process would. Also on
PostgreSQL + pgvector with ``--postgres`` (where an uncached search costs more round
trips).

Session windows: ``--conversations`` conversations of ``--messages`` messages each; one
engine reads every window once (loading it from SQL, putting it in Redis), then, in
turns conversation by conversation, an engine without the cache loads the window from
SQL and a fresh engine with it (another process, its own cache empty) reads it from
Redis. Both read the conversation's stamp from SQL first, as every window read does.

Usage::

    .venv/bin/python benchmarks/cache_speed.py
    .venv/bin/python benchmarks/cache_speed.py --size 10000 --queries 300 --postgres
    .venv/bin/python benchmarks/cache_speed.py --windows-only --postgres
"""

from __future__ import annotations

import argparse
import random
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


def _message(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(8, 40)))


def _windows(label: str, options: dict[str, Any], cache_url: str, args: argparse.Namespace) -> None:
    from multisession import MemoryEngine

    rng = random.Random(args.seed)
    words = Corpus(200, args.seed).texts[0].split() + [f"w{i}" for i in range(300)]
    filler = MemoryEngine(embedder=None, cache_url=cache_url, **options)
    conversations = [f"conversation-{i}" for i in range(args.conversations)]
    for conversation in conversations:
        filler.add_messages(
            USER,
            conversation,
            [
                ("user" if i % 2 == 0 else "assistant", _message(rng, words))
                for i in range(args.messages)
            ],
        )
        filler.get_messages(USER, conversation, last=50)
    plain = MemoryEngine(embedder=None, **options)
    remote = MemoryEngine(embedder=None, cache_url=cache_url, **options)
    plain.get_messages(USER, "warm up", last=50)
    remote.get_messages(USER, "warm up", last=50)
    times: dict[str, list[float]] = {"sql": [], "redis": []}
    for conversation in conversations:
        for name, engine in (("sql", plain), ("redis", remote)):
            started = time.perf_counter()
            window = engine.get_messages(USER, conversation, last=50)
            times[name].append(time.perf_counter() - started)
            assert len(window) == min(50, args.messages)
    sql, redis = percentile(times["sql"], 50), percentile(times["redis"], 50)
    print(
        f"  {label:<22} window of {min(50, args.messages)} loaded from SQL p50 {sql:5.2f} ms"
        f" | read from Redis {redis:5.2f} ms ({sql / redis:4.1f}x) | window hits"
        f" {remote.events['window_hit']}, failures {remote.events['cache_failed']}"
    )
    for engine in (filler, plain, remote):
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--windows-only", action="store_true", help="skip the search case")
    args = parser.parse_args()
    with redis_server() as cache_url, tempfile.TemporaryDirectory() as scratch:
        embedded = {"directory": Path(scratch) / "store"}
        if not args.windows_only:
            print(f"search at {args.size} memories, {args.queries} queries repeated, in turns:")
            _compare("embedded (SQLite)", embedded, cache_url, args)
        print(f"session windows, {args.conversations} conversations read once each, in turns:")
        _windows("embedded (SQLite)", embedded, cache_url, args)
        if args.postgres:
            with pgvector_server() as server:
                url = create_database(server, "bench")
                if not args.windows_only:
                    _compare("PostgreSQL + pgvector", {"sql_url": url}, cache_url, args)
                _windows("PostgreSQL + pgvector", {"sql_url": url}, cache_url, args)


if __name__ == "__main__":
    main()
