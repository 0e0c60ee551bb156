"""Serving many active users: cold users, warm users, and threads, checkouts side by side.

A server answering many users searches most of them cold: their in-process indexes are
not held, so the search first loads them from SQL. This script builds one store of
``--users`` users with ``--memories`` memories each (default 1,000 x 1,000) and times,
in one process per checkout and round (checkouts take turns, so a change of the
machine's load hits each of them):

- **cold**: the first search of a user whose index is not held (load from SQL included);
- **warm**: a search of a user whose index is held;
- **random user**: searches of random users with the engine's default cache, its hit
  rate, what the cache says it holds and the process's resident memory after;
- **threads**: 8 threads each searching its own (warm) user against one thread doing
  the same searches in turn: throughput ratio, p95 latency, and the process's CPU time
  per search (on a machine loaded by other processes, 8 threads get a larger share of
  the cores than 1, which flatters the wall-clock ratio; CPU per search does not move
  with that, and grows with contention inside the process).

The store is built fast, without an embedder run: texts are LoCoMo dialogue sentences
(names swapped, as in ``search_speed.py``), vectors are random unit vectors, written
through the SQL store directly. Queries are LoCoMo questions; the benchmark's embedder
gives each text a fixed random unit vector (no model runs). Searches run with
``track_access=False``, so that they measure the indexes, not the access-count writes.

Usage (from the repository root; ``--code`` repeated compares checkouts, ratios to the
first; the store is built once and kept with ``--store PATH`` for later runs)::

    .venv/bin/python benchmarks/many_users.py --code /tmp/base --code .
    .venv/bin/python benchmarks/many_users.py --users 200 --rounds 1   # quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

DIMENSION = 384
EMBEDDER_NAME = "benchmark-hash (dimension 384)"
CONVERSATION_LENGTH = 20
THREADS = 8


class HashEmbedder:
    """A fixed random unit vector per text: an embedder that costs nothing."""

    name = "benchmark-hash"
    dimension = DIMENSION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            vector = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows) if rows else np.zeros((0, DIMENSION), dtype=np.float32)


# --------------------------------------------------------------------------- building


def build(path: Path, users: int, memories: int, data: str | None) -> list[str]:
    """Fill a SQLite store at ``path`` through this checkout's SQL store; returns queries."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import locomo
    from search_speed import chat_corpus, query_pool

    from multisession.retrieval.terms import Tokenizer
    from multisession.storage.schema import to_bytes
    from multisession.storage.sql_store import SQLStore

    conversations = locomo.load(data)
    corpus = chat_corpus(conversations, 50_000)
    queries = query_pool(conversations, 2_000)
    # Terms stored at write time, as the engine's writes store them (where it does).
    stored_terms: Callable[[str], str | None] = getattr(Tokenizer(), "stored", lambda text: None)
    store = SQLStore(f"sqlite:///{path}")
    store.check_embedder(HashEmbedder.name, DIMENSION)
    rng = np.random.default_rng(7)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    started = time.perf_counter()
    for user in range(users):
        offset = (user * 7919) % (len(corpus) - memories)
        vectors = rng.standard_normal((memories, DIMENSION)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        rows = []
        for position in range(memories):
            text = corpus[offset + position]
            row = {
                "id": f"{user:08x}{position:024x}",
                "content": text,
                "kind": "fact",
                "conversation_id": f"c{position // CONVERSATION_LENGTH}",
                "metadata": {},
                "created_at": start + timedelta(minutes=position),
                "embedding": to_bytes(vectors[position]),
            }
            terms = stored_terms(text)
            if terms is not None:
                row["terms"] = terms
            rows.append(row)
        store.insert(f"user-{user:04d}", rows, start + timedelta(days=1))
        if user % 100 == 99:
            print(f"  built {user + 1} users in {time.perf_counter() - started:.0f} s", flush=True)
    # The vectors are in SQL only (the workers search them exactly and open the engine
    # with repair_on_open=False, which would otherwise send them all to the vector index).
    store.close()
    return queries


# --------------------------------------------------------------------------- measuring


def _rss_mib() -> float:
    """The process's own resident memory (``RssAnon``): the file pages SQLite maps
    for reading are the operating system's file cache, shared, and not counted."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(store: Path, users: int, queries: list[str], counts: dict[str, int]) -> dict[str, Any]:
    """Run in a fresh process with one checkout on the path; returns the measurements."""
    from multisession import MemoryEngine

    rss_before = _rss_mib()
    scratch = tempfile.mkdtemp(prefix="ms-many-users-")
    engine = MemoryEngine(
        sql_url=f"sqlite:///{store}",
        vector_url=str(Path(scratch) / "chroma"),
        embedder=HashEmbedder(),
        repair_on_open=False,
        track_access=False,
    )
    rng = random.Random(11)
    names = [f"user-{index:04d}" for index in range(users)]
    query = iter(queries * 100).__next__
    result: dict[str, Any] = {}

    def timed(user: str) -> float:
        text = query()
        started = time.perf_counter()
        hits = engine.search(user, text, k=10)
        elapsed = time.perf_counter() - started
        assert hits, f"no hits for {user}"
        return elapsed

    for user in rng.sample(names, 3):  # first-call costs (imports, statement caches)
        timed(user)
        engine.indexes.forget(user)
    cold, warm = [], []
    for user in rng.sample(names, counts["cold"]):
        cold.append(timed(user))
        warm.extend(timed(user) for _ in range(3))
        engine.indexes.forget(user)
    result["cold"] = cold
    result["warm"] = warm

    engine.indexes.clear()
    mixed: list[float] = []
    hits = 0
    for index in range(counts["warmup"] + counts["random"]):
        user = rng.choice(names)
        held = user in engine.indexes.cached_users()
        elapsed = timed(user)
        if index >= counts["warmup"]:
            mixed.append(elapsed)
            hits += held
    result["random"] = mixed
    result["hit_rate"] = hits / max(1, counts["random"])
    result["cached_users"] = len(engine.indexes.cached_users())
    cached_bytes = getattr(engine.indexes, "cached_bytes", None)
    result["cache_mib"] = cached_bytes() / 2**20 if cached_bytes is not None else None
    result["rss_mib"] = _rss_mib() - rss_before

    chosen = rng.sample(names, THREADS)
    for user in chosen:
        timed(user)
    per_thread = counts["threaded"]
    started, cpu = time.perf_counter(), time.process_time()
    single = [timed(user) for _ in range(per_thread) for user in chosen]
    single_seconds = time.perf_counter() - started
    single_cpu = time.process_time() - cpu
    latencies: list[list[float]] = [[] for _ in chosen]
    barrier = threading.Barrier(THREADS + 1)

    def run(slot: int) -> None:
        barrier.wait()
        latencies[slot].extend(timed(chosen[slot]) for _ in range(per_thread))

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    threaded_seconds = time.perf_counter() - started
    threaded_cpu = time.process_time() - cpu
    result["single"] = single
    result["threaded"] = [value for values in latencies for value in values]
    result["throughput_ratio"] = single_seconds / threaded_seconds
    # CPU per search: contention inside the process (locks, the GIL) shows here even
    # when other processes' load skews the wall-clock ratio.
    result["single_cpu_ms"] = 1000 * single_cpu / len(single)
    result["threaded_cpu_ms"] = 1000 * threaded_cpu / len(single)
    engine.close()
    return result


# --------------------------------------------------------------------------- reporting


def _ms(values: Sequence[float], percentile: float) -> float:
    return float(np.percentile(np.asarray(values), percentile) * 1000)


def _summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over rounds of each round's figures."""

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    figures: dict[str, float] = {
        "cold p50": median([_ms(run["cold"], 50) for run in runs]),
        "cold p95": median([_ms(run["cold"], 95) for run in runs]),
        "warm p50": median([_ms(run["warm"], 50) for run in runs]),
        "warm p95": median([_ms(run["warm"], 95) for run in runs]),
        "random p50": median([_ms(run["random"], 50) for run in runs]),
        "random p95": median([_ms(run["random"], 95) for run in runs]),
        "hit rate %": median([100 * run["hit_rate"] for run in runs]),
        "users held": median([run["cached_users"] for run in runs]),
        "private RSS growth MiB": median([run["rss_mib"] for run in runs]),
        "1 thread p95": median([_ms(run["single"], 95) for run in runs]),
        "8 threads p95": median([_ms(run["threaded"], 95) for run in runs]),
        "8 vs 1 thread x": median([run["throughput_ratio"] for run in runs]),
        "1 thread CPU ms": median([run["single_cpu_ms"] for run in runs]),
        "8 threads CPU ms": median([run["threaded_cpu_ms"] for run in runs]),
    }
    held = [run["cache_mib"] for run in runs if run["cache_mib"] is not None]
    figures["cache MiB"] = median(held)
    return figures


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    """Build the store (unless kept), measure each checkout in turn, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--memories", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", type=int, default=60, help="cold searches per round")
    parser.add_argument("--random", type=int, default=300, help="random-user searches")
    parser.add_argument("--threaded", type=int, default=40, help="searches per thread")
    parser.add_argument("--store", type=Path, help="keep (or reuse) the built store here")
    parser.add_argument("--data", help="LoCoMo JSON (default: the shared dev split)")
    parser.add_argument("--code", type=Path, action="append", help="a checkout to time")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        job = json.loads(Path(arguments.worker).read_text())
        measured = worker(Path(job["store"]), job["users"], job["queries"], job["counts"])
        print("RESULT " + json.dumps(measured))
        return

    codes = [code.resolve() for code in arguments.code or [Path(__file__).resolve().parents[1]]]
    with tempfile.TemporaryDirectory(prefix="ms-many-users-") as scratch:
        store = arguments.store or Path(scratch) / "memory.db"
        queries_file = store.with_suffix(".queries.json")
        if not store.exists():
            print(f"building {arguments.users} users x {arguments.memories} memories in {store}")
            queries = build(store, arguments.users, arguments.memories, arguments.data)
            queries_file.write_text(json.dumps(queries))
        job = {
            "store": str(store),
            "users": arguments.users,
            "queries": json.loads(queries_file.read_text()),
            "counts": {
                "cold": arguments.cold,
                "warmup": arguments.random,
                "random": arguments.random,
                "threaded": arguments.threaded,
            },
        }
        job_file = Path(scratch) / "job.json"
        job_file.write_text(json.dumps(job))
        runs: dict[Path, list[dict[str, Any]]] = {code: [] for code in codes}
        loads = [_load_average()]
        for round_ in range(arguments.rounds):
            for code in codes:
                environment = dict(os.environ, PYTHONPATH=str(code), ANONYMIZED_TELEMETRY="False")
                finished = subprocess.run(
                    [sys.executable, __file__, "--worker", str(job_file)],
                    capture_output=True,
                    text=True,
                    env=environment,
                    check=False,
                    cwd=scratch,
                )
                if finished.returncode != 0:
                    raise RuntimeError(finished.stderr[-3000:])
                line = [ln for ln in finished.stdout.splitlines() if ln.startswith("RESULT ")][-1]
                runs[code].append(json.loads(line.removeprefix("RESULT ")))
                print(f"  round {round_ + 1}: {code} done (load {_load_average()})", flush=True)
            loads.append(_load_average())

    summaries = {code: _summary(runs[code]) for code in codes}
    first = summaries[codes[0]]
    print(
        f"\n{arguments.users} users x {arguments.memories} memories; {arguments.rounds} rounds, "
        f"medians of the rounds; ratios to the first checkout; load averages: " + " | ".join(loads)
    )
    header = "| figure          | " + " | ".join(f"{str(code)[-28:]:>28}" for code in codes) + " |"
    print(header)
    print("|" + "-" * 17 + "|" + "|".join("-" * 30 for _ in codes) + "|")
    for figure in first:
        cells = []
        for code in codes:
            value = summaries[code][figure]
            ratio = value / first[figure] if first[figure] else float("nan")
            cells.append(f"{value:>17.2f}" + (f" ({ratio:5.2f}x)" if code != codes[0] else " " * 9))
        print(f"| {figure:<15} | " + " | ".join(f"{cell:>28}" for cell in cells) + " |")


if __name__ == "__main__":
    main()
