"""PostgreSQL + pgvector against the embedded default, in one run, on precomputed vectors.

Measured:

* building one user's store of ``--size`` memories (``add_many`` in batches of 500);
* search p50/p95 on that user, the engines taking turns query by query so they see the
  same load: the embedded default (SQLite, exact search in process), PostgreSQL +
  pgvector with the default ``exact_vector_limit`` (the vectors come from SQL, the
  search runs in process), and PostgreSQL + pgvector through its HNSW index
  (``exact_vector_limit=0``, as for users above the limit), with the index's recall@10
  against exact search on the vector side alone;
* one ``add`` p50 on each backend;
* throughput of ``--processes`` processes x ``--threads`` threads on one PostgreSQL:
  searches only, and a mix of one add per nine searches (each thread adds for its own
  user), for ``--seconds`` each.

Usage::

    .venv/bin/python benchmarks/pgvector_speed.py                 # 10k memories
    .venv/bin/python benchmarks/pgvector_speed.py --size 2000 --seconds 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

try:  # imported as benchmarks.pgvector_speed
    from ._scale import Corpus, TableEmbedder, create_database, percentile, pgvector_server
except ImportError:  # run as a script
    from _scale import (  # type: ignore[no-redef]
        Corpus,
        TableEmbedder,
        create_database,
        percentile,
        pgvector_server,
    )

USER = "bench-user"
BATCH = 500


def _build(engine: Any, corpus: Corpus, size: int) -> float:
    started = time.perf_counter()
    for start in range(0, size, BATCH):
        engine.add_many(USER, corpus.texts[start : min(start + BATCH, size)])
    engine.flush_vectors()
    return time.perf_counter() - started


def _query_text(corpus: Corpus, rng: np.random.Generator) -> str:
    words = corpus.texts[int(rng.integers(0, len(corpus.texts)))].split()[2:5]
    return " ".join(words)


def _worker(
    url: str, size: int, seed: int, threads: int, seconds: float, mix: bool, index: bool, out: Any
) -> None:
    from multisession import MemoryEngine

    corpus = Corpus(size, seed)
    embedder = TableEmbedder(corpus.texts, corpus.vectors)
    options: dict[str, Any] = {"exact_vector_limit": 0} if index else {}
    engine = MemoryEngine(sql_url=url, embedder=embedder, **options)
    queries = corpus.queries(256)
    engine.search(USER, "warm up", query_vector=queries[0])
    counts = [0] * threads
    adds = [0] * threads
    stop = time.monotonic() + seconds

    def run(number: int) -> None:
        rng = np.random.default_rng(number)
        own = f"writer-{multiprocessing.current_process().pid}-{number}"
        done = 0
        while time.monotonic() < stop:
            if mix and done % 10 == 9:
                engine.add(own, f"thread note {done} " + _query_text(corpus, rng))
                adds[number] += 1
            else:
                query = queries[int(rng.integers(0, len(queries)))]
                engine.search(USER, _query_text(corpus, rng), k=10, query_vector=query)
                counts[number] += 1
            done += 1

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    engine.close()
    out.put((sum(counts), sum(adds)))


def _throughput(args: argparse.Namespace, url: str, mix: bool, index: bool) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(url, args.size, args.seed, args.threads, args.seconds, mix, index, out),
        )
        for _ in range(args.processes)
    ]
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    searches = sum(r[0] for r in results) / args.seconds
    adds = sum(r[1] for r in results) / args.seconds
    return searches, adds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from multisession import MemoryEngine, RetrievalConfig

    corpus = Corpus(args.size, args.seed)
    embedder = TableEmbedder(corpus.texts, corpus.vectors)
    rng = np.random.default_rng(args.seed + 1)
    with tempfile.TemporaryDirectory() as scratch, pgvector_server() as server:
        url = create_database(server, "bench")
        embedded = MemoryEngine(Path(scratch) / "store", embedder=embedder)
        pg_default = MemoryEngine(sql_url=url, embedder=embedder)
        print(f"build {args.size} memories (one user):")
        print(f"  embedded (SQLite + Chroma)  {_build(embedded, corpus, args.size):7.1f} s")
        print(f"  PostgreSQL + pgvector       {_build(pg_default, corpus, args.size):7.1f} s")
        with pg_default._store.engine.connect() as conn:  # as autovacuum would, later
            conn.exec_driver_sql("ANALYZE ms_memories")
            conn.commit()
        pg_index = MemoryEngine(sql_url=url, embedder=embedder, exact_vector_limit=0)
        engines = {
            "embedded default (exact)": embedded,
            "pgvector, exact in process": pg_default,
            "pgvector, HNSW index": pg_index,
        }
        queries = corpus.queries(args.queries)
        texts = [_query_text(corpus, rng) for _ in queries]
        for engine in engines.values():  # warm: indexes loaded, connections open
            engine.search(USER, texts[0], query_vector=queries[0])
        times: dict[str, list[float]] = {name: [] for name in engines}
        for text, query in zip(texts, queries, strict=True):
            for name, engine in engines.items():
                started = time.perf_counter()
                engine.search(USER, text, k=10, query_vector=query)
                times[name].append(time.perf_counter() - started)
        base = percentile(times["embedded default (exact)"], 50)
        print(f"\nsearch at {args.size} memories, {args.queries} queries, in turns:")
        print(f"  {'engine':<28} {'p50 ms':>8} {'p95 ms':>8} {'p50 / embedded':>15}")
        for name, samples in times.items():
            p50 = percentile(samples, 50)
            print(f"  {name:<28} {p50:8.2f} {percentile(samples, 95):8.2f} {p50 / base:14.2f}x")

        semantic = RetrievalConfig(bm25_weight=0)
        overlap = []
        for query in queries[:50]:
            exact = {
                h.memory.id
                for h in pg_default.search(USER, "x", config=semantic, query_vector=query)
            }
            found = {
                h.memory.id for h in pg_index.search(USER, "x", config=semantic, query_vector=query)
            }
            overlap.append(len(exact & found) / max(1, len(exact)))
        print(f"  HNSW recall@10 against exact (vector side): {np.mean(overlap):.3f}")

        adds: dict[str, list[float]] = {"embedded": [], "pgvector": []}
        for number in range(100):
            for name, engine in (("embedded", embedded), ("pgvector", pg_default)):
                started = time.perf_counter()
                engine.add("adder", f"added note {number} " + texts[number % len(texts)])
                adds[name].append(time.perf_counter() - started)
        print("\none add (one memory, precomputed vector), 100 each in turns:")
        for name, samples in adds.items():
            print(f"  {name:<12} p50 {percentile(samples, 50):7.2f} ms")
        for engine in engines.values():
            engine.close()

        print(
            f"\nthroughput on one PostgreSQL, {args.processes} processes x {args.threads} "
            f"threads, {args.seconds:.0f} s each:"
        )
        for index in (False, True):
            mode = "HNSW index" if index else "exact in process"
            searches, _ = _throughput(args, url, mix=False, index=index)
            print(f"  {mode:<17} searches only      {searches:8.0f} searches/s")
            searches, added = _throughput(args, url, mix=True, index=index)
            print(
                f"  {mode:<17} 1 add per 9 searches {searches:6.0f} searches/s + {added:.0f} adds/s"
            )


if __name__ == "__main__":
    main()
