"""The cost of the LangGraph store over the engine: MultiSessionStore against MemoryEngine.

One user holds 10k memories, written through the store (so each is also a store item);
in the same run, query by query in turn:

* ``store.search(("memories", user), query=...)`` against ``engine.search(user, query)``
  over the same memories, ``k`` / ``limit`` 10; p50 and p95;
* ``store.put`` of one new item against ``engine.add`` of one new memory, p50 and p95.

The store's search adds what LangGraph asks of it: the namespace prefix as a scope
and the store's kind as conditions inside the query, and the translation of the hits
into ``SearchItem``s. Query and item texts are embedded once, before timing, and
served from a table to both (the embedder is the same for both; the figures then show
what the store itself costs).

Usage::

    .venv/bin/python benchmarks/store_speed.py            # 10k items, ~2 min
    .venv/bin/python benchmarks/store_speed.py --items 2000 --queries 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from langgraph.store.base import PutOp

from langchain_multisession import MultiSessionStore
from multisession import MemoryEngine, MiniLMEmbedder

USER = "speed-user"
NAMESPACE = ("memories", USER)
# fmt: off
_SUBJECTS = ("Alice", "Bob", "my sister", "the team", "our neighbour", "Grandpa", "Mia", "Tom")
_VERBS = ("likes", "booked", "forgot", "painted", "cooked", "sold", "visited", "ordered")
_OBJECTS = (
    "a red bicycle", "the lake cabin", "green curry", "a jazz record", "the old piano",
    "a trip to Lisbon", "fresh sourdough", "the chess club", "a violin lesson",
    "the garden shed", "a vintage camera", "spicy ramen", "the night train", "a yoga class",
)
_WHEN = ("on Monday", "last spring", "in July", "yesterday", "every weekend", "in 2019")
# fmt: on


def sentences(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
        f"{rng.choice(_WHEN)} (note {seed}-{index})"
        for index in range(count)
    ]


class TableEmbedder:
    """The real embedder behind a lookup table filled before timing."""

    def __init__(self, embedder: MiniLMEmbedder) -> None:
        self.embedder = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.table: dict[str, npt.NDArray[np.float32]] = {}

    def fill(self, texts: Sequence[str]) -> None:
        missing = [text for text in dict.fromkeys(texts) if text not in self.table]
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            for text, vector in zip(chunk, self.embedder.embed(chunk), strict=True):
                self.table[text] = np.asarray(vector, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.fill(texts)
        return np.stack([self.table[text] for text in texts])


def ms(action: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    action(*args, **kwargs)
    return (time.perf_counter() - start) * 1000


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered):6.2f} ms   p95 {p95:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--puts", type=int, default=200)
    args = parser.parse_args()

    embedder = TableEmbedder(MiniLMEmbedder())
    corpus = sentences(args.items, seed=1)
    queries = [
        f"what did {s} do with {o}?" for s, o in zip(_SUBJECTS * 40, _OBJECTS * 40, strict=False)
    ]
    queries = (queries * (args.queries // len(queries) + 1))[: args.queries]
    new_items = sentences(2 * args.puts, seed=2)
    embedder.fill([*corpus, *queries, *new_items])

    with tempfile.TemporaryDirectory() as directory:
        engine = MemoryEngine(directory, embedder=embedder)
        store = MultiSessionStore(engine)
        start = time.perf_counter()
        for begin in range(0, len(corpus), 500):
            store.batch(
                [
                    PutOp(NAMESPACE, f"k{begin + i}", {"text": text})
                    for i, text in enumerate(corpus[begin : begin + 500])
                ]
            )
        print(
            f"loaded {len(corpus)} items through the store in {time.perf_counter() - start:.1f} s"
        )
        for query in queries[:5]:  # warm-up: indexes built, caches filled
            store.search(NAMESPACE, query=query, limit=10)
            engine.search(USER, query, k=10)

        searches: dict[str, list[float]] = {"store": [], "engine": []}
        for query in queries:  # in turn, so both see the same machine load
            searches["store"].append(ms(store.search, NAMESPACE, query=query, limit=10))
            searches["engine"].append(ms(engine.search, USER, query, k=10))

        writes: dict[str, list[float]] = {"store": [], "engine": []}
        for index in range(args.puts):
            store_text, engine_text = new_items[2 * index], new_items[2 * index + 1]
            writes["store"].append(ms(store.put, NAMESPACE, f"new{index}", {"text": store_text}))
            writes["engine"].append(ms(engine.add, USER, engine_text))
        engine.close()

    print(f"\nsearch at {len(corpus)} items, k=10, {len(queries)} queries (vectors from a table)")
    for name in ("engine", "store"):
        print(f"  {name:<7} {summary(searches[name])}")
    ratio = statistics.median(searches["store"]) / statistics.median(searches["engine"])
    print(f"  store / engine p50: {ratio:.2f}x")
    print(f"\nwrite of one item, {args.puts} each (vectors from a table)")
    for name in ("engine", "store"):
        print(f"  {name:<7} {summary(writes[name])}")
    ratio = statistics.median(writes["store"]) / statistics.median(writes["engine"])
    print(f"  put / add p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()
