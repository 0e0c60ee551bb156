"""How long building a full context takes: resume + retrieval + packing.

One user with N memories (default 10,000) and a conversation of 200 messages; each
query builds the whole budgeted prompt with ``MemoryEngine.build_context``. Query
embeddings are computed before timing and served from a lookup table, so the figures
exclude embedding time (reported separately).

Usage::

    .venv/bin/python benchmarks/context_speed.py [--memories 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone

import numpy as np

from multisession import MemoryEngine, MemoryInput, as_embedder, default_embedder

TOPICS = [
    "hiking in the Alps",
    "my sister's wedding",
    "the billing migration",
    "learning Japanese",
    "our dog Biscuit",
    "the Lisbon flat",
    "marathon training",
    "a peanut allergy",
    "the quarterly report",
    "jazz concerts",
    "the garden tomatoes",
    "a new espresso machine",
]


def corpus(n: int) -> list[str]:
    rng = np.random.default_rng(7)
    verbs = ["talked about", "worried about", "finished", "planned", "loved", "asked about"]
    return [
        f"I {rng.choice(verbs)} {rng.choice(TOPICS)} on day {i % 365} with friend {i % 97}"
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    model = default_embedder()
    if model is None:
        raise SystemExit("the default embedder is not installed: run `make setup`")
    texts = corpus(args.memories)
    queries = [f"what do you remember about {topic}?" for topic in TOPICS]
    started = time.perf_counter()
    vectors = dict(zip(texts, model.embed(texts), strict=True))
    embed_seconds = time.perf_counter() - started
    vectors.update(zip(queries, model.embed(queries), strict=True))
    single = []
    for query in queries:
        t0 = time.perf_counter()
        model.embed([query])
        single.append((time.perf_counter() - t0) * 1000)

    def lookup(batch: list[str]) -> np.ndarray:
        return np.stack(
            [vectors[text] if text in vectors else model.embed([text])[0] for text in batch]
        )

    embedder = as_embedder(lookup, name=model.name)
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as directory:
        engine = MemoryEngine(directory, embedder=embedder, clock=lambda: now)
        for start in range(0, len(texts), 1000):
            engine.add_many(
                "u",
                [
                    MemoryInput(text, kind="episode", created_at=now - timedelta(days=i % 400))
                    for i, text in enumerate(texts[start : start + 1000], start)
                ],
            )
        engine.add_many(
            "u", [MemoryInput(f"I prefer {t}", kind="preference") for t in ("tea", "metric units")]
        )
        engine.add_messages(
            "u",
            "c",
            [
                ("user" if i % 2 == 0 else "assistant", f"message {i} about {TOPICS[i % 12]}")
                for i in range(args.messages)
            ],
        )
        engine.build_context("u", queries[0], conversation_id="c")  # warm caches
        timings, tokens = [], []
        for i in range(args.queries):
            t0 = time.perf_counter()
            context = engine.build_context("u", queries[i % len(queries)], conversation_id="c")
            timings.append((time.perf_counter() - t0) * 1000)
            tokens.append(context.tokens)
        engine.close()

    timings.sort()
    print(
        f"{args.memories} memories, {args.messages}-message conversation, {args.queries} contexts"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| build_context p50 (embedding excluded) | {statistics.median(timings):.2f} ms |")
    print(f"| build_context p95 | {timings[int(0.95 * len(timings)) - 1]:.2f} ms |")
    print(f"| query embedding alone, p50 | {statistics.median(single):.2f} ms |")
    print(f"| context tokens, mean | {statistics.mean(tokens):.0f} |")
    print(f"| corpus embedding | {args.memories / embed_seconds:.0f} texts/s |")


if __name__ == "__main__":
    main()
