"""Speed of multisession's BM25Index against rank_bm25.BM25Okapi.

Synthetic corpora of 1k, 10k and 100k documents: a 20,000-term vocabulary drawn with Zipf
exponent 1.07 (the commonest terms are in more than half of the documents, so the
epsilon idf floor is exercised), 8-22 tokens per document, queries of 5 Zipf terms.

For each size it times:

- build: ``BM25Okapi(corpus)`` vs ``BM25Index().add_many(...)``;
- query: ``get_scores`` + top-10 by ``argsort`` (rank_bm25) vs ``top_n(query, 10)``;
- query after a write: the same, right after one document was added (rank_bm25 has
  nothing to invalidate, so its figure is the plain query time);
- add one doc: a full rebuild on N + 1 documents (rank_bm25 cannot add) vs ``add``;
- remove one doc: a full rebuild on N - 1 documents vs ``remove``.

Times are medians. It also checks that both give the same scores on the benchmark
queries (max abs difference, expected 0.0).

Run: ``python benchmarks/bm25_speed.py`` (about a minute).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from rank_bm25 import BM25Okapi

from multisession.retrieval.bm25 import BM25Index

VOCABULARY = 20_000
ZIPF_EXPONENT = 1.07
SIZES = (1_000, 10_000, 100_000)
QUERIES = 20
TOP = 10


def make_corpus(n_docs: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF_EXPONENT
    weights /= weights.sum()
    words = [f"w{i}" for i in range(VOCABULARY)]
    lengths = rng.integers(8, 23, size=n_docs + 200)
    drawn = rng.choice(VOCABULARY, size=int(lengths.sum()), p=weights).tolist()
    docs: list[list[str]] = []
    start = 0
    for length in lengths.tolist():
        docs.append([words[t] for t in drawn[start : start + length]])
        start += length
    queries = [
        [words[t] for t in rng.choice(VOCABULARY, size=5, p=weights).tolist()]
        for _ in range(QUERIES)
    ]
    return docs, queries


def median_ms(action: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def rank_bm25_top(okapi: BM25Okapi, query: list[str]) -> list[int]:
    scores = okapi.get_scores(query)
    return [int(i) for i in np.argsort(scores)[::-1][:TOP]]


def measure(n_docs: int) -> dict[str, tuple[float, float]]:
    all_docs, queries = make_corpus(n_docs, seed=n_docs)
    corpus, spare = all_docs[:n_docs], all_docs[n_docs:]
    ids = [f"d{i}" for i in range(n_docs)]
    slow_repeats = 3 if n_docs >= 100_000 else 5

    okapi = BM25Okapi(corpus)
    index = BM25Index()
    index.add_many(zip(ids, corpus, strict=True))

    build = (
        median_ms(lambda: BM25Okapi(corpus), slow_repeats),
        median_ms(lambda: BM25Index().add_many(zip(ids, corpus, strict=True)), slow_repeats),
    )

    diff = max(float(np.max(np.abs(index.get_scores(q) - okapi.get_scores(q)))) for q in queries)
    assert diff == 0.0, f"scores differ by {diff}"

    cycle = iter(range(10**9))
    query_rank = median_ms(lambda: rank_bm25_top(okapi, queries[next(cycle) % QUERIES]), QUERIES)
    query_ours = median_ms(lambda: index.top_n(queries[next(cycle) % QUERIES], TOP), 200)

    after_write = []
    for i in range(100):
        index.add(f"extra{i}", spare[i % len(spare)])
        start = time.perf_counter()
        index.top_n(queries[i % QUERIES], TOP)
        after_write.append((time.perf_counter() - start) * 1000)
    for i in range(100):
        index.remove(f"extra{i}")

    add_rank = median_ms(lambda: BM25Okapi([*corpus, spare[0]]), slow_repeats)
    added = iter(range(10**9))
    add_ours = median_ms(lambda: index.add(f"new{next(added)}", spare[0]), 200)

    remove_rank = median_ms(lambda: BM25Okapi(corpus[1:]), slow_repeats)
    removed = iter(range(10**9))
    remove_ours = median_ms(lambda: index.remove(ids[next(removed)]), 200)

    return {
        "build": build,
        "query (top-10)": (query_rank, query_ours),
        "query right after an add": (query_rank, statistics.median(after_write)),
        "add one doc": (add_rank, add_ours),
        "remove one doc": (remove_rank, remove_ours),
    }


def main() -> None:
    results = {n: measure(n) for n in SIZES}
    print("| operation | docs | rank_bm25 ms | BM25Index ms | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for operation in next(iter(results.values())):
        for n_docs, rows in results.items():
            theirs, ours = rows[operation]
            ratio = theirs / ours
            speed_up = f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"
            print(f"| {operation} | {n_docs // 1000}k | {theirs:.3f} | {ours:.4f} | {speed_up} |")
    print("\nScores identical (max abs difference 0.0) on every benchmark query.")


if __name__ == "__main__":
    main()
