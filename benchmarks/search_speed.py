"""Search and write speed for one user at growing sizes: multisession and its peers.

Measured in one run, on the same texts and the same vectors:

* search latency p50/p95 at each size (default 1k, 10k, 100k memories), with the query
  embedding (the real model runs on the query) and without it (a precomputed vector);
  the systems take turns query by query, so that they see the same machine load;
* the chat pattern at 10k: every cycle adds one memory, then searches; cycle p50 against
  plain search p50;
* batch ingestion: ``add_many`` throughput with the real embedder against the embedder's
  own throughput on the same texts; and bulk-load throughput with precomputed vectors.

Peers: LangChain ``EnsembleRetriever`` (``BM25Retriever`` + Chroma) and LlamaIndex
``QueryFusionRetriever`` (``BM25Retriever`` + ``VectorIndexRetriever`` on Chroma), each
sub-retriever 50 candidates. Neither can add a document to its BM25 retriever, so their
add-then-search cycle is: vector-store add, BM25 rebuild on the grown corpus, new
fusion retriever, search.

Corpus: sentences of LoCoMo dialogue turns (``"Speaker: sentence"``, at least 4 words),
cycled with the names swapped for other names on every pass, so the text statistics are
those of chat. The whole corpus is embedded once with the project's default embedder and
the same vectors are served to every system through a lookup table; a text not in the
table (a query, in the "+embed" measurements) goes to the real model.

Usage::

    .venv/bin/python benchmarks/search_speed.py                      # 1k, 10k, 100k
    .venv/bin/python benchmarks/search_speed.py --sizes 1000 10000   # quick run
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

try:  # imported as benchmarks.search_speed
    from . import locomo
    from ._peers import LangChainEnsemble, LlamaIndexFusion, VectorTable, chroma_client
except ImportError:  # run as a script
    import locomo  # type: ignore[no-redef]
    from _peers import (  # type: ignore[no-redef]
        LangChainEnsemble,
        LlamaIndexFusion,
        VectorTable,
        chroma_client,
    )

SYSTEMS = ("multisession", "ms-rrf", "langchain", "llamaindex")
LABELS = {
    "multisession": "multisession",
    "ms-rrf": "ms rrf",
    "langchain": "LangChain",
    "llamaindex": "LlamaIndex",
}
#: Memories per conversation in the corpus (neighbour windows stay inside one).
CONVERSATION_LENGTH = 20
USER = "speed-user"
CHAT_SIZE = 10_000
WARMUP_QUERIES = 5

# fmt: off
_NAMES = (
    "Aaron", "Abby", "Adele", "Alan", "Alma", "Amir", "Anya", "Arlo", "Bea", "Ben", "Bianca",
    "Cal", "Cara", "Dani", "Dev", "Dora", "Eli", "Elsa", "Emil", "Enzo", "Faye", "Finn", "Gia",
    "Gus", "Hana", "Hugo", "Ida", "Ivan", "Jade", "Jonas", "Kai", "Kira", "Leo", "Lina", "Luca",
    "Mae", "Marco", "Mila", "Nico", "Nina", "Omar", "Opal", "Otto", "Pia", "Quinn", "Raj",
    "Rosa", "Rudy", "Sage", "Sami", "Tara", "Theo", "Uma", "Vera", "Vik", "Wade", "Wren",
    "Yara", "Zane", "Zoe",
)
# fmt: on
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


# --------------------------------------------------------------------------- corpus


def chat_corpus(conversations: Sequence[locomo.Conversation], size: int) -> list[str]:
    """``size`` chat-like memories: LoCoMo sentences, names swapped on every pass."""
    speakers = sorted({turn.speaker for c in conversations for turn in c.turns})
    base: list[tuple[str, str]] = [
        (turn.speaker, sentence)
        for c in conversations
        for turn in c.turns
        for sentence in _SENTENCE_END.split(turn.text)
        if len(sentence.split()) >= 4
    ]
    texts: list[str] = []
    passes = 0
    while len(texts) < size:
        rename = _renamer(speakers, passes)
        for speaker, sentence in base:
            texts.append(f"{rename(speaker)}: {rename(sentence)}")
            if len(texts) == size:
                break
        passes += 1
    return texts


def _renamer(speakers: Sequence[str], variant: int) -> Callable[[str], str]:
    """Swap every speaker name for another name, differently on each pass."""
    mapping = {
        name: _NAMES[(position * 7 + variant) % len(_NAMES)]
        for position, name in enumerate(speakers)
    }
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, speakers)) + r")\b")
    return lambda text: pattern.sub(lambda match: mapping[match.group(1)], text)


def query_pool(conversations: Sequence[locomo.Conversation], count: int) -> list[str]:
    """LoCoMo questions, names swapped like the corpus, cycled to ``count``."""
    speakers = sorted({turn.speaker for c in conversations for turn in c.turns})
    questions = [q.question for c in conversations for q in c.questions]
    return [
        _renamer(speakers, index % 8)(questions[index % len(questions)]) for index in range(count)
    ]


# --------------------------------------------------------------------------- measurements


def _ms(seconds: Sequence[float], percentile: float) -> float:
    return (
        float(np.percentile(np.asarray(seconds) * 1000.0, percentile)) if seconds else float("nan")
    )


@dataclass
class Latency:
    seconds: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return _ms(self.seconds, 50)

    @property
    def p95(self) -> float:
        return _ms(self.seconds, 95)


@dataclass
class SizeResult:
    with_embedding: Latency = field(default_factory=Latency)
    with_vector: Latency = field(default_factory=Latency)
    bulk_load_per_second: float = float("nan")


@dataclass
class ChatResult:
    cycles: Latency = field(default_factory=Latency)
    found_new: int = -1  # cycles whose new memory came back for its own text (-1: not checked)


def _timed(call: Callable[[], Any], seconds: list[float]) -> Any:
    started = time.perf_counter()
    result = call()
    seconds.append(time.perf_counter() - started)
    return result


class _Multisession:
    """The engine under test, one user, growing."""

    def __init__(self, directory: str, table: VectorTable, k: int) -> None:
        from multisession import MemoryEngine, as_embedder

        self.k = k
        self.engine = MemoryEngine(directory, embedder=as_embedder(table, name=table.embedder.name))
        self.clock = datetime(2024, 1, 1, tzinfo=timezone.utc)
        self.now = self.clock
        self.added = 0

    def add(self, texts: Sequence[str], ids: Sequence[str] = (), *, rebuild: bool = True) -> None:
        """Add texts in ``add_many`` batches of 1000 (``ids``, ``rebuild``: peer signature)."""
        from multisession import MemoryInput

        batch = 1000

        for start in range(0, len(texts), batch):
            items = []
            for text in texts[start : start + batch]:
                self.clock += timedelta(minutes=5)
                conversation = f"c{self.added // CONVERSATION_LENGTH}"
                self.added += 1
                items.append(
                    MemoryInput(
                        content=text,
                        kind="episode",
                        conversation_id=conversation,
                        created_at=self.clock,
                    )
                )
            self.engine.add_many(USER, items, now=self.clock)
        self.now = self.clock + timedelta(hours=1)

    def search(self, query: str, vector: np.ndarray | None = None) -> list[Any]:
        return self.engine.search(USER, query, k=self.k, now=self.now, query_vector=vector)

    def close(self) -> None:
        self.engine.close()


class _RrfPreset(_Multisession):
    """A second engine, searched with the ``rrf`` preset (the earlier default: RRF, no window).

    Its own engine, so that each holds only the keyword index its configuration uses, as
    an application would; searches take turns with the default's, on the same load.
    """

    def __init__(self, directory: str, table: VectorTable, k: int) -> None:
        from multisession import PRESETS

        super().__init__(directory, table, k)
        self.config = PRESETS["rrf"]

    def search(self, query: str, vector: np.ndarray | None = None) -> list[Any]:
        return self.engine.search(
            USER, query, k=self.k, now=self.now, query_vector=vector, config=self.config
        )


def measure_ingestion(
    texts: Sequence[str], embedder: Any, directory: str, batch: int
) -> tuple[float, float]:
    """(add_many memories/s with the real embedder, embedder texts/s), same texts and batches.

    The two are timed batch by batch, alternately, so that both see the same machine load.
    """
    from multisession import MemoryEngine, MemoryInput

    created = datetime(2024, 1, 1, tzinfo=timezone.utc)
    embed_seconds = ingest_seconds = 0.0
    with MemoryEngine(directory, embedder=embedder) as engine:
        engine.add_many("ingest-user", [MemoryInput(content="warm-up memory", created_at=created)])
        embedder.embed(list(texts[:batch]))  # warm-up
        for start in range(0, len(texts), batch):
            chunk = list(texts[start : start + batch])
            started = time.perf_counter()
            embedder.embed(chunk)
            embed_seconds += time.perf_counter() - started
            items = [MemoryInput(content=t, kind="episode", created_at=created) for t in chunk]
            started = time.perf_counter()
            engine.add_many("ingest-user", items)
            ingest_seconds += time.perf_counter() - started
    return len(texts) / ingest_seconds, len(texts) / embed_seconds


# --------------------------------------------------------------------------- run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--data", help="LoCoMo JSON (default: ../shared/data/locomo/locomo-dev.json)"
    )
    parser.add_argument("--only", help=f"comma-separated subset of: {','.join(SYSTEMS)}")
    parser.add_argument("--queries", type=int, default=200, help="timed searches per size and mode")
    parser.add_argument("--k", type=int, default=20, help="hits per search")
    parser.add_argument("--cycles", type=int, default=200, help="multisession add+search cycles")
    parser.add_argument("--peer-cycles", type=int, default=20, help="peer add+search cycles")
    parser.add_argument("--ingest", type=int, default=3_000, help="texts for the ingestion test")
    parser.add_argument("--batch", type=int, default=500, help="add_many / embed batch size")
    parser.add_argument(
        "--vector-cache",
        metavar="FILE.npz",
        help="keep the corpus vectors in this file (outside the repository) and reuse them on "
        "later runs with the same corpus and embedder",
    )
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes))
    selected = list(SYSTEMS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = set(selected) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown system(s) {sorted(unknown)}; choose from {','.join(SYSTEMS)}")

    run_started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    try:
        from multisession import default_embedder
    except ImportError as error:
        print(f"cannot run: multisession's default embedder is unavailable ({error})")
        return 1
    embedder = default_embedder()
    if embedder is None:
        print("cannot run: no local all-MiniLM-L6-v2 weights")
        return 1
    if "multisession" in selected:
        try:
            from multisession import MemoryEngine, MemoryInput  # noqa: F401
        except ImportError as error:
            print(f"SKIPPED multisession: MemoryEngine is unavailable ({error})")
            selected.remove("multisession")

    conversations = locomo.load(args.data)
    chat_extra = max(args.cycles, args.peer_cycles) if CHAT_SIZE in sizes else 0
    corpus = chat_corpus(conversations, max(sizes) + chat_extra)
    ids = [f"m{index}" for index in range(len(corpus))]
    queries = query_pool(conversations, args.queries + WARMUP_QUERIES)
    print(
        f"corpus: {len(corpus)} chat sentences from LoCoMo turns, names varied per pass "
        f"({len(set(corpus))} distinct, "
        f"mean {np.mean([len(t.split()) for t in corpus]):.1f} words); "
        f"{len(queries)} LoCoMo questions as queries"
    )

    table = VectorTable(embedder)
    if not _load_vector_cache(args.vector_cache, table, corpus):
        seconds = table.fill(corpus, batch_size=args.batch)
        print(
            f"embedded the corpus once with {embedder.name}: {seconds:.0f} s "
            f"({len(table) / seconds:.0f} texts/s); every system gets these vectors",
            flush=True,
        )
        _save_vector_cache(args.vector_cache, table, corpus)
    query_vectors = {q: v for q, v in zip(queries, embedder.embed(queries), strict=True)}

    results: dict[tuple[str, int], SizeResult] = {}
    chat: dict[str, ChatResult] = {}
    ingestion: tuple[float, float] | None = None

    with tempfile.TemporaryDirectory(prefix="speed-") as directory:
        systems: dict[str, Any] = {}
        if "multisession" in selected:
            systems["multisession"] = _Multisession(f"{directory}/multisession", table, args.k)
        if "ms-rrf" in selected:
            systems["ms-rrf"] = _RrfPreset(f"{directory}/rrf", table, args.k)
        if "langchain" in selected:
            systems["langchain"] = LangChainEnsemble(
                chroma_client(f"{directory}/langchain"), "langchain-speed", table
            )
        if "llamaindex" in selected:
            systems["llamaindex"] = LlamaIndexFusion(
                chroma_client(f"{directory}/llamaindex"), "llamaindex-speed", table, top_k=args.k
            )

        loaded = 0
        for size in sizes:
            print(f"size {size}:", flush=True)
            new_texts, new_ids = corpus[loaded:size], ids[loaded:size]
            for name, system in systems.items():
                started = time.perf_counter()
                system.add(new_texts, new_ids)
                rate = len(new_texts) / (time.perf_counter() - started)
                results[(name, size)] = SizeResult(bulk_load_per_second=rate)
                print(
                    f"  {name}: loaded {len(new_texts)} in {len(new_texts) / rate:.1f} s",
                    flush=True,
                )
            loaded = size
            gc.collect()

            # Systems take turns query by query, so that all see the same machine load.
            # With the query embedding: queries are not in the table, the model runs.
            for position, query in enumerate(queries):
                for name, system in systems.items():
                    call = _searcher(name, system, query, None, args.k)
                    if position < WARMUP_QUERIES:
                        call()
                    else:
                        _timed(call, results[(name, size)].with_embedding.seconds)
            # Without: a precomputed query vector.
            for query, vector in query_vectors.items():
                table.put(query, vector)
            for position, query in enumerate(queries):
                for name, system in systems.items():
                    call = _searcher(name, system, query, query_vectors[query], args.k)
                    if position < WARMUP_QUERIES:
                        call()
                    else:
                        _timed(call, results[(name, size)].with_vector.seconds)
            for name in systems:
                result = results[(name, size)]
                print(
                    f"  {name}: search p50 {result.with_embedding.p50:.2f} ms (+embed), "
                    f"{result.with_vector.p50:.2f} ms (vector given)",
                    flush=True,
                )

            if size == CHAT_SIZE:
                # Query vectors stay in the table: the cycles exclude embedding on both sides.
                for name, system in systems.items():
                    own = name in ("multisession", "ms-rrf")
                    cycles = args.cycles if own else args.peer_cycles
                    chat[name] = _chat_cycles(
                        name,
                        system,
                        corpus,
                        ids,
                        size,
                        cycles,
                        queries,
                        query_vectors,
                        table,
                        args.k,
                    )
                    print(f"  {name}: chat cycle p50 {chat[name].cycles.p50:.2f} ms", flush=True)
                    # Bring every system to the same size again before growing further.
                    rest = slice(size + cycles, size + chat_extra)
                    if rest.start < rest.stop:
                        system.add(corpus[rest], ids[rest], rebuild=False)
                loaded = size + chat_extra
            table.forget(queries)

        for name, system in systems.items():
            if name in ("multisession", "ms-rrf"):
                system.close()
        systems.clear()
        gc.collect()

        if "multisession" in selected and args.ingest > 0:
            texts = corpus[: args.ingest]
            print(f"ingestion: {len(texts)} texts, batches of {args.batch}", flush=True)
            ingestion = measure_ingestion(texts, embedder, f"{directory}/ingest", args.batch)

    print()
    print(report(results, chat, ingestion, sizes, list(dict.fromkeys(s for s, _ in results)), args))
    print(
        f"total run time {time.perf_counter() - run_started:.0f} s; machine: {os.cpu_count()} "
        f"cores, load average at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}"
    )
    return 0


def _corpus_key(embedder_name: str, corpus: Sequence[str]) -> str:
    digest = hashlib.sha256(embedder_name.encode())
    for text in corpus:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _load_vector_cache(path: str | None, table: VectorTable, corpus: Sequence[str]) -> bool:
    """Fill ``table`` from a cache written by an earlier run, if it matches."""
    if not path or not os.path.exists(path):
        return False
    with np.load(path) as cached:
        if str(cached["key"]) != _corpus_key(table.embedder.name, corpus):
            print(f"vector cache {path} is for another corpus or embedder; re-embedding")
            return False
        vectors = cached["vectors"]
    for text, vector in zip(corpus, vectors, strict=True):
        table.put(text, vector)
    print(
        f"corpus vectors ({table.embedder.name}) loaded from {path}, embedded by an "
        "earlier run; every system gets these vectors",
        flush=True,
    )
    return True


def _save_vector_cache(path: str | None, table: VectorTable, corpus: Sequence[str]) -> None:
    if path:
        key = _corpus_key(table.embedder.name, corpus)
        np.savez(path, key=np.array(key), vectors=table(list(corpus)))


def _searcher(
    name: str, system: Any, query: str, vector: np.ndarray | None, k: int
) -> Callable[[], Any]:
    if name in ("multisession", "ms-rrf"):
        return lambda: system.search(query, vector)
    if name == "llamaindex":
        return lambda: system.search(query, k, query_vector=vector)
    # LangChain: EnsembleRetriever.invoke takes a string only; a precomputed vector is
    # served by the lookup-table Embeddings (the query was put in the table).
    return lambda: system.search(query, k)


def _chat_cycles(
    name: str,
    system: Any,
    corpus: Sequence[str],
    ids: Sequence[str],
    start: int,
    cycles: int,
    queries: Sequence[str],
    query_vectors: dict[str, np.ndarray],
    table: VectorTable,
    k: int,
) -> ChatResult:
    result = ChatResult()
    for cycle in range(cycles):
        text, memory_id = corpus[start + cycle], ids[start + cycle]
        query = queries[cycle % len(queries)]
        # Peers: vector-store add + BM25 rebuild + new fusion retriever, then search.
        add = functools.partial(system.add, [text], [memory_id])
        search = _searcher(name, system, query, query_vectors[query], k)
        _timed(lambda add=add, search=search: (add(), search()), result.cycles.seconds)
        if name == "multisession":  # untimed check: the new memory is searchable at once
            hits = system.search(text, table([text])[0])
            found = any(hit.memory.content == text for hit in hits[:10])
            result.found_new = max(result.found_new, 0) + found
    return result


# --------------------------------------------------------------------------- report


def _ratio(numerator: float, denominator: float) -> str:
    if not (np.isfinite(numerator) and np.isfinite(denominator)) or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.1f}x"


def report(
    results: dict[tuple[str, int], SizeResult],
    chat: dict[str, ChatResult],
    ingestion: tuple[float, float] | None,
    sizes: Sequence[int],
    systems: Sequence[str],
    args: argparse.Namespace,
) -> str:
    lines = [
        f"Search latency, one user, k={args.k}, {args.queries} queries per cell (ms). "
        "+embed: the real model embeds the query inside the call; vector: a precomputed "
        "query vector (multisession: query_vector=; LlamaIndex: QueryBundle.embedding; "
        "LangChain: EnsembleRetriever.invoke takes only a string, so the vector comes from "
        "a lookup-table Embeddings). multisession runs with its defaults, including "
        "track_access (each search counts its hits' accesses, written to SQL in batches) "
        "and exact in-process vector search up to exact_vector_limit (50,000) memories.",
        f"{'size':>8}  {'system':<13} {'p50 +embed':>10} {'p95 +embed':>10} {'p50 vector':>10} "
        f"{'p95 vector':>10} {'peer/ms p50':>11} {'bulk load/s':>11}",
    ]
    lines.append("-" * len(lines[-1]))
    for size in sizes:
        base = results.get(("multisession", size))
        for name in systems:
            result = results.get((name, size))
            if result is None:
                continue
            ratio = (
                ""
                if name == "multisession" or base is None
                else _ratio(result.with_vector.p50, base.with_vector.p50)
            )
            load = f"{result.bulk_load_per_second:,.0f}"
            lines.append(
                f"{size:>8,}  {LABELS[name]:<13} {result.with_embedding.p50:>10.2f} "
                f"{result.with_embedding.p95:>10.2f} {result.with_vector.p50:>10.2f} "
                f"{result.with_vector.p95:>10.2f} {ratio:>11} {load:>11}"
            )
    lines.append(
        "peer/ms p50: peer's p50 (vector given) / multisession's, same run. bulk load/s: "
        "memories per second growing the store to that size with precomputed vectors "
        "(multisession add_many in batches of 1000; peers: vector-store add + one BM25 build). "
        "ms rrf: multisession with PRESETS['rrf'] (the earlier default: RRF, candidate depth "
        "10, no neighbour window, no date boost), its own engine on the same memories; memories "
        f"come in conversations of {CONVERSATION_LENGTH}."
    )
    if chat:
        lines += [
            "",
            f"Chat pattern at {CHAT_SIZE:,} memories: each cycle adds one memory, then searches "
            "(embedding excluded on both steps: vectors precomputed).",
        ]
        header = (
            f"{'system':<13} {'cycles':>6} {'cycle p50':>9} {'cycle p95':>9} "
            f"{'search p50':>10} {'cycle/search':>12} {'peer/ms cycle':>13}"
        )
        lines += [header, "-" * len(header)]
        base_cycle = chat["multisession"].cycles.p50 if "multisession" in chat else float("nan")
        for name, result in chat.items():
            search = results[(name, CHAT_SIZE)].with_vector.p50
            lines.append(
                f"{LABELS[name]:<13} {len(result.cycles.seconds):>6} {result.cycles.p50:>9.2f} "
                f"{result.cycles.p95:>9.2f} {search:>10.2f} "
                f"{_ratio(result.cycles.p50, search):>12} "
                f"{'' if name == 'multisession' else _ratio(result.cycles.p50, base_cycle):>13}"
            )
        if "multisession" in chat and chat["multisession"].found_new >= 0:
            fresh = chat["multisession"]
            lines.append(
                "multisession: the memory added in a cycle was in the top 10 for its own text in "
                f"{fresh.found_new}/{len(fresh.cycles.seconds)} cycles."
            )
        lines.append(
            "Peers cannot add to their BM25 retriever: a cycle is vector-store add + BM25 "
            "rebuild on the grown corpus + new fusion retriever + search."
        )
    if ingestion is not None:
        ingest_rate, embed_rate = ingestion
        lines += [
            "",
            f"Ingestion, {args.ingest} memories, batches of {args.batch}: multisession add_many "
            f"with the real embedder {ingest_rate:,.0f} memories/s; the embedder alone on the "
            f"same texts and batches {embed_rate:,.0f} texts/s; "
            f"ratio {ingest_rate / embed_rate:.2f}.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
