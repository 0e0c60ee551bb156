"""Many users in one embedded store: build, open, one write, search, checkouts side by side.

The embedded default keeps every vector in SQL and searches users up to
``exact_vector_limit`` exactly; only users above it reach a Chroma index. This script
builds a store of ``--users`` users x ``--memories`` memories through the engine's
real write path (``engine.add_many``, one call per user) and reports, per checkout:

- **build**: seconds for the whole store, and the rate (memories per second) at equal
  user counts, so that a checkout measured on a fraction of the users (``--fraction``,
  for code too slow to build the whole store in minutes) compares on the same users;
- **add CPU**: the process CPU time of one ``add`` of one memory, with its vector
  written wherever the checkout writes it (``flush_vectors()`` included), median of
  ``--adds`` adds to random existing users: once after the first 100 users and once
  after all of them (the target: within 1.5x of each other);
- **open**: seconds to open the built store (target below 2 s);
- **cold / warm search p50**: the first search of a random user (their indexes loaded
  from SQL), then the same user again; and **single-user warm p50**, a store of one user
  with the same number of memories (the target: warm within 1.5x of it).

Vectors are precomputed random unit vectors, served to the engine through a lookup
table: no model runs. Each checkout runs in its own process with ``PYTHONPATH`` set to
it; checkouts run one after the other, so on a loaded machine the CPU columns (process
CPU time, all threads) compare better than the wall-clock ones. The load average is
printed with the table: quote ratios of checkouts measured in the same run, not seconds
across runs.

Usage (from the repository root; ``--code`` repeated compares checkouts)::

    git worktree add --detach /tmp/base <earlier commit>
    .venv/bin/python benchmarks/scale_users.py --users 10000 --memories 100 \\
        --code . --code /tmp/base --fraction 0.05
    .venv/bin/python benchmarks/scale_users.py --users 300 --memories 100   # quick look

Users above the exact-search limit (members of the vector index): ``--exact-limit``
below ``--memories`` makes every user one, and ``--semantic`` leaves keywords out of
the searches, so that the vector index's share is what is compared (warm p50 of a
member among ``--users`` members against the single-user store of one member)::

    .venv/bin/python benchmarks/scale_users.py --users 4 --memories 20000 \
        --exact-limit 10000 --semantic --checkpoint 1 --code . --code /tmp/base
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIMENSION = 384
#: Users built before the first measurement of one add's CPU.
EARLY_USERS = 100


class TableEmbedder:
    """Serves the vectors the benchmark set for the texts about to be written.

    Any other text (a query) gets a fixed random unit vector from its hash.
    """

    name = "bench-scale-table"
    dimension = DIMENSION

    def __init__(self) -> None:
        self.table: dict[str, npt.NDArray[np.float32]] = {}

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for position, text in enumerate(texts):
            vector = self.table.get(text)
            if vector is None:
                rng = np.random.default_rng(abs(hash(text)) % 2**32)
                vector = rng.standard_normal(DIMENSION).astype(np.float32)
                vector /= np.linalg.norm(vector)
            out[position] = vector
        return out


def _batch(
    rng: np.random.Generator, user: int, count: int, start: int = 0
) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Texts (distinct words, so that no duplicate check folds them) and unit vectors."""
    words = rng.integers(0, 20_000, size=(count, 8))
    texts = [
        f"user {user} note {start + i}: " + " ".join(f"w{w}" for w in row)
        for i, row in enumerate(words)
    ]
    vectors = rng.standard_normal((count, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors


#: ``exact_vector_limit`` of the engines (the worker sets it from ``--exact-limit``).
EXACT_LIMIT = 50_000


def _open(directory: Path, embedder: TableEmbedder) -> Any:
    from multisession import MemoryEngine

    return MemoryEngine(
        directory, embedder=embedder, track_access=False, exact_vector_limit=EXACT_LIMIT
    )


def _add_cpu(engine: Any, embedder: TableEmbedder, users: int, adds: int, seed: int) -> float:
    """Median CPU seconds of one add (and its vector's write) to a random existing user."""
    rng = np.random.default_rng(seed)
    picker = random.Random(seed)
    times = []
    for turn in range(adds):
        user = picker.randrange(users)
        texts, vectors = _batch(rng, user, 1, start=10**6 + turn)
        embedder.table = dict(zip(texts, vectors, strict=True))
        started = time.process_time()
        engine.add(f"user-{user:05d}", texts[0])
        engine.flush_vectors()
        times.append(time.process_time() - started)
    return statistics.median(times)


def _searches(
    engine: Any, users: int, count: int, seed: int, semantic: bool = False
) -> tuple[float, float]:
    """Cold and warm search p50 in seconds over ``count`` random users.

    ``semantic``: vectors only (no keyword index), to compare vector indexes.
    """
    from multisession import RetrievalConfig

    config = RetrievalConfig(bm25_weight=0) if semantic else None
    picker = random.Random(seed)
    cold, warm = [], []
    for turn in range(count):
        user = f"user-{picker.randrange(users):05d}"
        query = f"what did I say about w{picker.randrange(20_000)} and w{turn}"
        started = time.perf_counter()
        engine.search(user, query, k=10, config=config)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        engine.search(user, query + " again", k=10, config=config)
        warm.append(time.perf_counter() - started)
    return statistics.median(cold), statistics.median(warm)


def worker(options: dict[str, Any]) -> dict[str, Any]:
    """One checkout's measurements on a fresh store (run in its own process)."""
    global EXACT_LIMIT
    EXACT_LIMIT = options["exact_limit"]
    directory = Path(options["directory"])
    users, memories = options["users"], options["memories"]
    built_users = max(1, int(round(users * options["fraction"])))
    embedder = TableEmbedder()
    rng = np.random.default_rng(11)
    result: dict[str, Any] = {"users_built": built_users}
    engine = _open(directory, embedder)
    checkpoints: dict[int, float] = {}
    cpu: dict[int, float] = {}
    started = time.perf_counter()
    cpu_started = time.process_time()
    for user in range(built_users):
        texts, vectors = _batch(rng, user, memories)
        embedder.table = dict(zip(texts, vectors, strict=True))
        engine.add_many(f"user-{user:05d}", texts)
        done = user + 1
        if done == min(EARLY_USERS, built_users):
            paused, cpu_paused = time.perf_counter(), time.process_time()
            result["add_cpu_early"] = _add_cpu(engine, embedder, done, options["adds"], 1)
            started += time.perf_counter() - paused  # the adds are not part of the build
            cpu_started += time.process_time() - cpu_paused
        if done % options["checkpoint"] == 0 or done == built_users:
            checkpoints[done] = time.perf_counter() - started
            cpu[done] = time.process_time() - cpu_started
    engine.flush_vectors()
    result["build_seconds"] = time.perf_counter() - started
    result["build_cpu"] = time.process_time() - cpu_started
    result["checkpoints"] = checkpoints
    result["cpu_checkpoints"] = cpu
    result["add_cpu_late"] = _add_cpu(engine, embedder, built_users, options["adds"], 2)
    engine.close()

    started = time.perf_counter()
    engine = _open(directory, embedder)
    result["open_seconds"] = time.perf_counter() - started
    semantic = options.get("semantic", False)
    result["cold_p50"], result["warm_p50"] = _searches(
        engine, built_users, options["searches"], 3, semantic
    )
    engine.close()

    single = directory.parent / "single"
    engine = _open(single, embedder)
    texts, vectors = _batch(rng, 0, memories)
    embedder.table = dict(zip(texts, vectors, strict=True))
    engine.add_many("user-00000", texts)
    engine.flush_vectors()
    _, result["single_warm_p50"] = _searches(engine, 1, options["searches"], 3, semantic)
    engine.close()
    return result


def _run(code: str, options: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="multisession-scale-") as scratch:
        directory = Path(scratch) / "store"
        environment = dict(os.environ, PYTHONPATH=str(Path(code).resolve()))
        finished = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                json.dumps({**options, "directory": str(directory)}),
            ],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            raise SystemExit(f"{code}: the worker failed\n{finished.stderr[-3000:]}")
        outcome: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
        for key in ("checkpoints", "cpu_checkpoints"):
            outcome[key] = {int(k): v for k, v in outcome[key].items()}
        return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--memories", type=int, default=100)
    parser.add_argument("--code", action="append", help="checkout to measure (repeatable)")
    parser.add_argument(
        "--fraction",
        type=float,
        action="append",
        help="share of the users to build, one per --code in order (default 1)",
    )
    parser.add_argument("--adds", type=int, default=20)
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--checkpoint", type=int, default=100)
    parser.add_argument(
        "--exact-limit",
        type=int,
        default=50_000,
        help="the engines' exact_vector_limit: below --memories, every user is searched "
        "through the vector index (a collection per such user; earlier code: one shared "
        "collection, or one per user for every user)",
    )
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="search by vectors only (no keywords): compares the vector indexes",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        print(json.dumps(worker(json.loads(arguments.worker))))
        return
    codes = arguments.code or ["."]
    fractions = arguments.fraction or [1.0] * len(codes)
    if len(fractions) != len(codes):
        raise SystemExit("give one --fraction per --code, or none")
    results = []
    for code, fraction in zip(codes, fractions, strict=True):
        print(f"measuring {code} ({fraction:g} of {arguments.users} users) ...", flush=True)
        results.append(
            _run(
                code,
                {
                    "users": arguments.users,
                    "memories": arguments.memories,
                    "fraction": fraction,
                    "adds": arguments.adds,
                    "searches": arguments.searches,
                    "checkpoint": arguments.checkpoint,
                    "exact_limit": arguments.exact_limit,
                    "semantic": arguments.semantic,
                },
            )
        )
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\n{arguments.users} users x {arguments.memories} memories, exact_vector_limit "
        f"{arguments.exact_limit}{', vector search only' if arguments.semantic else ''}, "
        f"{os.cpu_count()} cores, load average {load}\n"
    )
    common = min(result["users_built"] for result in results)
    shared = [
        count
        for count in sorted(results[0]["checkpoints"])
        if count <= common and all(count in result["checkpoints"] for result in results)
    ]
    at = shared[-1] if shared else common
    header = (
        "| checkout | users built | build s | build CPU s | memories/s at "
        f"{at} users | memories per CPU s at {at} users "
        f"| add CPU ms at {EARLY_USERS} users | add CPU ms at the end | ratio "
        "| open s | cold p50 ms | warm p50 ms | single-user warm p50 ms | warm / single |"
    )
    print(header)
    print("|" + "---|" * 14)
    for code, result in zip(codes, results, strict=True):
        rate = at * arguments.memories / result["checkpoints"][at]
        cpu_rate = at * arguments.memories / result["cpu_checkpoints"][at]
        early, late = result["add_cpu_early"], result["add_cpu_late"]
        print(
            f"| {code} | {result['users_built']} | {result['build_seconds']:.1f} | "
            f"{result['build_cpu']:.1f} | {rate:,.0f} | {cpu_rate:,.0f} | "
            f"{early * 1e3:.1f} | {late * 1e3:.1f} | {late / early:.2f} | "
            f"{result['open_seconds']:.2f} | {result['cold_p50'] * 1e3:.1f} | "
            f"{result['warm_p50'] * 1e3:.1f} | {result['single_warm_p50'] * 1e3:.1f} | "
            f"{result['warm_p50'] / result['single_warm_p50']:.2f} |"
        )
    print("\nmemories per CPU second between checkpoints (users built so far):")
    for code, result in zip(codes, results, strict=True):
        marks = sorted(result["cpu_checkpoints"])
        windows = [
            f"{after}: {(after - before) * arguments.memories / (cpu_after - cpu_before):,.0f}"
            for before, after, cpu_before, cpu_after in zip(
                [0, *marks],
                marks,
                [0.0, *(result["cpu_checkpoints"][m] for m in marks)],
                [result["cpu_checkpoints"][m] for m in marks],
                strict=False,
            )
        ]
        print(f"  {code}: " + ", ".join(windows))
    if len(results) > 1:
        for label, key in (("wall-clock", "checkpoints"), ("CPU", "cpu_checkpoints")):
            rates = [at * arguments.memories / result[key][at] for result in results]
            ratios = [
                f"{code}: {rates[0] / rate:.2f}x" for code, rate in zip(codes, rates, strict=True)
            ]
            print(
                f"\nbuild rate ({label}) at {at} users, {codes[0]} against each: "
                + ", ".join(ratios)
            )


if __name__ == "__main__":
    main()
