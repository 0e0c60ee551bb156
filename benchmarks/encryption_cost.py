"""What encryption at rest costs: ``add``, ``add_many`` and search with and without it.

Three engines on the same kind of store write the labelled privacy messages
(``tests/core/data/privacy_messages.jsonl``, realistic chat text, about a third of it
sensitive) in alternating turns, so all see the same load on a shared machine:

- ``plain``: no classification, no key (the library's cost before either existed);
- ``sealed``: classification on and a master key, sensitive memories encrypted
  (the default ``encrypt="sensitive"``);
- ``all``: classification on and every memory encrypted (``encrypt="all"``).

Printed: the median time per memory or per search of each, and the ratio to ``plain``.
``search`` is a search of a user whose indexes are held; ``cold search`` first drops
them, so the search loads (and decrypts) the user's memories from SQL.

Usage::

    python benchmarks/encryption_cost.py [--rounds 5] [--no-embed]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from multisession import MemoryEngine
from multisession.embeddings.minilm import default_embedder
from multisession.privacy.keys import MasterKey

DATA = Path(__file__).resolve().parent.parent / "tests" / "core" / "data" / "privacy_messages.jsonl"
MODES = ("plain", "sealed", "all")
OPERATIONS = ("add", "add_many", "search", "cold search")


def open_engine(root: Path, mode: str, embedder: object) -> MemoryEngine:
    key = MasterKey.from_bytes(os.urandom(32))
    options: dict[str, object] = {
        "plain": {"privacy": False},
        "sealed": {"encryption_key": key},
        "all": {"encryption_key": key, "encrypt": "all"},
    }[mode]
    return MemoryEngine(root / mode, embedder=embedder, track_access=False, **options)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-embed", action="store_true", help="keyword-only engines")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    embedder = None if args.no_embed else default_embedder()
    timings = {mode: {operation: [] for operation in OPERATIONS} for mode in MODES}
    with tempfile.TemporaryDirectory() as root:
        engines = {mode: open_engine(Path(root), mode, embedder) for mode in MODES}
        try:
            for engine in engines.values():  # warm up: schema, model, indexes
                engine.add("warm", "warming up")
                engine.search("warm", "warming")
            for round_number in range(args.rounds):
                # Each mode goes first, second and third in turn.
                shift = round_number % len(MODES)
                for mode in MODES[shift:] + MODES[:shift]:
                    measure(engines[mode], timings[mode], f"u{round_number}", texts)
        finally:
            for engine in engines.values():
                engine.close()
    load = os.getloadavg()[0]
    print(f"embedder: {'none (keyword only)' if embedder is None else embedder.name}")
    print(f"{len(texts)} messages, {args.rounds} rounds, load average {load:.1f}")
    header = ("operation", "plain (ms)", "sealed (ms)", "ratio", "all (ms)", "ratio")
    print("{:12} {:>11} {:>12} {:>6} {:>9} {:>6}".format(*header))
    for operation in OPERATIONS:
        plain, sealed, every = (statistics.median(timings[mode][operation]) * 1e3 for mode in MODES)
        print(
            f"{operation:12} {plain:11.3f} {sealed:12.3f} {sealed / plain:5.2f}x "
            f"{every:9.3f} {every / plain:5.2f}x"
        )


def measure(
    engine: MemoryEngine, into: dict[str, list[float]], user: str, texts: list[str]
) -> None:
    """One round of every operation on one engine."""
    started = time.perf_counter()
    for text in texts[:100]:
        engine.add(user, text)
    into["add"].append((time.perf_counter() - started) / 100)
    started = time.perf_counter()
    engine.add_many(f"{user}-batch", texts)
    into["add_many"].append((time.perf_counter() - started) / len(texts))
    queries = texts[:50]
    started = time.perf_counter()
    for query in queries:
        engine.search(f"{user}-batch", query, k=5)
    into["search"].append((time.perf_counter() - started) / len(queries))
    cold = 0.0
    for query in queries[:10]:
        engine.indexes.forget(f"{user}-batch")
        started = time.perf_counter()
        engine.search(f"{user}-batch", query, k=5)
        cold += time.perf_counter() - started
    into["cold search"].append(cold / 10)


if __name__ == "__main__":
    main()
