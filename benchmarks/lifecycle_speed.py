"""What supersession and duplicate detection cost a write, at 10k memories.

One user's store is filled with ``--size`` memories (everyday statements, some naming
personal slots, as a chat app would keep), then single ``add`` calls are timed with the
lifecycle off and on, in alternating turns on the same store so that a busy machine
slows both alike. Each added text is new (a statement with a slot, so the rules run
their whole way: neighbours, slot lookup, claims). The embedder is the default one, run
inside each timed call, as an application's ``add`` runs it.

Usage::

    .venv/bin/python benchmarks/lifecycle_speed.py
    .venv/bin/python benchmarks/lifecycle_speed.py --size 10000 --adds 200 --turns 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

SUBJECTS = ["I", "My sister", "My brother", "My friend Ana", "We", "My boss"]
VERBS = [
    "went hiking near {x}",
    "bought a book about {x}",
    "had dinner in {x}",
    "watched a film set in {x}",
    "want to visit {x} next year",
    "talked about {x} all evening",
    "live in {x}",
    "work at a bakery in {x}",
    "switched to a gym in {x}",
    "no longer go to the market in {x}",
]
PLACES = [
    f"{a} {b}"
    for a in ("North", "South", "Old", "New", "Upper", "Lower")
    for b in (
        "Harbor",
        "Hill",
        "Park",
        "Bridge",
        "Market",
        "Valley",
        "Gate",
        "Field",
        "Lake",
        "Wood",
        "Cross",
        "Mill",
        "Green",
        "Ford",
        "Bay",
        "Port",
    )
]


def sentence(rng: random.Random, number: int) -> str:
    """An everyday statement; ``number`` keeps each one distinct."""
    subject = rng.choice(SUBJECTS)
    verb = rng.choice(VERBS).format(x=rng.choice(PLACES))
    if subject != "I" and subject != "We":
        verb = (
            verb.replace("live ", "lives ")
            .replace("work ", "works ")
            .replace("want ", "wants ")
            .replace("go ", "goes ")
        )
    return f"{subject} {verb} (note {number})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--adds", type=int, default=100, help="timed adds per turn")
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)

    from multisession import MemoryEngine, MemoryInput, default_embedder
    from multisession.lifecycle import LifecycleConfig

    rng = random.Random(args.seed)
    embedder = default_embedder()
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory(prefix="multisession-lcspeed-") as directory:
        store = Path(directory) / "store"
        with MemoryEngine(
            store, embedder=embedder, lifecycle=LifecycleConfig(supersede=False, deduplicate=False)
        ) as filler:
            for first in range(0, args.size, 500):
                filler.add_many(
                    "user",
                    [
                        MemoryInput(sentence(rng, n), created_at=start + timedelta(minutes=n))
                        for n in range(first, min(first + 500, args.size))
                    ],
                )
        engines = {
            "off": MemoryEngine(
                store,
                embedder=embedder,
                lifecycle=LifecycleConfig(supersede=False, deduplicate=False),
            ),
            "on": MemoryEngine(store, embedder=embedder, lifecycle=LifecycleConfig()),
        }
        times: dict[str, list[float]] = {"off": [], "on": []}
        number = args.size
        try:
            for engine in engines.values():  # warm: index loaded, model loaded
                engine.search("user", "warm up", k=1)
                number += 1
                engine.add("user", sentence(rng, number))
            for turn in range(args.turns):
                order = ("off", "on") if turn % 2 == 0 else ("on", "off")
                for label in order:
                    engine = engines[label]
                    for _ in range(args.adds):
                        number += 1
                        text = sentence(rng, number)
                        began = time.perf_counter()
                        engine.add("user", text)
                        times[label].append(time.perf_counter() - began)
            stored = engines["on"].count(
                "user",
            )
        finally:
            for engine in engines.values():
                engine.close()
    print(f"store: {args.size} memories at start, {stored} current at the end")
    print(f"{'lifecycle':<10}{'adds':>6}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}")
    for label, values in times.items():
        ordered = sorted(values)
        print(
            f"{label:<10}{len(values):>6}{1000 * statistics.fmean(values):>10.2f}"
            f"{1000 * ordered[len(ordered) // 2]:>10.2f}"
            f"{1000 * ordered[int(len(ordered) * 0.95)]:>10.2f}"
        )
    ratio = statistics.fmean(times["on"]) / statistics.fmean(times["off"])
    print(f"on / off (mean): {ratio:.2f}x  (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
