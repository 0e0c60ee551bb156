"""What classification costs a write: ``add`` and ``add_many`` with and without it.

Two engines on the same kind of store, one with ``privacy=False`` (the code as it was:
nothing classified) and one with the default classifier, write the labelled privacy
messages (``tests/core/data/privacy_messages.jsonl``, realistic chat text with and
without personal data) in alternating turns, so both see the same load on a shared
machine. Printed: the median time per memory of each, and their ratio; and the same for
a search over what they wrote (classification must not touch the read path).

Usage::

    python benchmarks/privacy_cost.py [--rounds 5] [--no-embed]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from multisession import MemoryEngine
from multisession.embeddings.minilm import default_embedder

DATA = Path(__file__).resolve().parent.parent / "tests" / "core" / "data" / "privacy_messages.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-embed", action="store_true", help="keyword-only engines")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    embedder = None if args.no_embed else default_embedder()
    timings: dict[str, dict[str, list[float]]] = {
        mode: {"add": [], "add_many": [], "search": []} for mode in ("off", "on")
    }
    with tempfile.TemporaryDirectory() as root:
        engines = {
            mode: MemoryEngine(
                Path(root) / mode,
                embedder=embedder,
                privacy=mode == "on",
                track_access=False,
            )
            for mode in ("off", "on")
        }
        try:
            for engine in engines.values():  # warm up: schema, model, indexes
                engine.add("warm", "warming up")
                engine.search("warm", "warming")
            for round_number in range(args.rounds):
                order = ("off", "on") if round_number % 2 == 0 else ("on", "off")
                for mode in order:
                    engine = engines[mode]
                    user = f"u{round_number}"
                    started = time.perf_counter()
                    for text in texts[:100]:
                        engine.add(user, text)
                    timings[mode]["add"].append((time.perf_counter() - started) / 100)
                    started = time.perf_counter()
                    engine.add_many(f"{user}-batch", texts)
                    timings[mode]["add_many"].append((time.perf_counter() - started) / len(texts))
                    started = time.perf_counter()
                    for text in texts[:50]:
                        engine.search(f"{user}-batch", text, k=5)
                    timings[mode]["search"].append((time.perf_counter() - started) / 50)
        finally:
            for engine in engines.values():
                engine.close()
    print(f"embedder: {'none (keyword only)' if embedder is None else embedder.name}")
    print("operation   without (ms)   with (ms)   ratio")
    for operation in ("add", "add_many", "search"):
        off = statistics.median(timings["off"][operation]) * 1e3
        on = statistics.median(timings["on"][operation]) * 1e3
        print(f"{operation:10} {off:12.3f} {on:11.3f} {on / off:7.2f}x")


if __name__ == "__main__":
    main()
