"""What encryption at rest costs: ``add``, ``add_many`` and search with and without it.

Four engines on the same kind of store write the labelled privacy messages
(``tests/core/data/privacy_messages.jsonl``, realistic chat text, about a third of it
sensitive) in turns, each going first in its turn, so all see the same load on a
shared machine:

- ``plain``: no classification, no key (the library before either existed);
- ``classified``: classification on, no key (the default without a key);
- ``sealed``: classification on and a master key, sensitive memories encrypted
  (the default ``encrypt="sensitive"``);
- ``all``: classification on and every memory encrypted (``encrypt="all"``).

Printed: the median time per memory or per search of each, and each one's ratio to
``plain``: the median over the rounds of the ratio within a round (the modes of one
round run back to back, so a machine whose load drifts skews a ratio less than the
medians). The issue's target: classification and encryption within 1.3x for ``add``,
1.2x for search.
``search`` is a search of a user whose indexes are held; ``cold search`` first drops
them, so the search loads (and decrypts) the user's memories from SQL.

Usage::

    python benchmarks/encryption_cost.py [--rounds 4] [--no-embed]
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
MODES = ("plain", "classified", "sealed", "all")
OPERATIONS = ("add", "add_many", "search", "cold search")


def open_engine(root: Path, mode: str, embedder: object) -> MemoryEngine:
    key = MasterKey.from_bytes(os.urandom(32))
    options: dict[str, object] = {
        "plain": {"privacy": False},
        "classified": {},
        "sealed": {"encryption_key": key},
        "all": {"encryption_key": key, "encrypt": "all"},
    }[mode]
    return MemoryEngine(root / mode, embedder=embedder, track_access=False, **options)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-embed", action="store_true", help="keyword-only engines")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    embedder = None if args.no_embed else default_embedder()
    started_load = os.getloadavg()[0]
    timings = {mode: {operation: [] for operation in OPERATIONS} for mode in MODES}
    with tempfile.TemporaryDirectory() as root:
        engines = {mode: open_engine(Path(root), mode, embedder) for mode in MODES}
        try:
            for engine in engines.values():  # warm up: schema, model, indexes
                engine.add("warm", "warming up")
                engine.search("warm", "warming")
            for round_number in range(args.rounds):
                # In turn, each mode goes first.
                shift = round_number % len(MODES)
                for mode in MODES[shift:] + MODES[:shift]:
                    measure(engines[mode], timings[mode], f"u{round_number}", texts)
        finally:
            for engine in engines.values():
                engine.close()
    load = f"{started_load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    print(f"embedder: {'none (keyword only)' if embedder is None else embedder.name}")
    print(f"{len(texts)} messages, {args.rounds} rounds, load average {load}")
    print(f"{'operation':12}" + "".join(f"{mode + ' (ms)':>17} {'ratio':>6}" for mode in MODES))
    for operation in OPERATIONS:
        plain = timings["plain"][operation]
        cells = []
        for mode in MODES:
            mine = timings[mode][operation]
            ratios = [own / base for own, base in zip(mine, plain, strict=True)]
            median = statistics.median(timings[mode][operation])
            cells.append(f"{median * 1e3:17.3f} {statistics.median(ratios):5.2f}x")
        print(f"{operation:12}" + "".join(cells))


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
