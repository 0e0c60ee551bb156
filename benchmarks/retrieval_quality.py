"""Retrieval quality on LoCoMo: multisession against its peers, same data, same embeddings.

Every LoCoMo turn is one memory of its conversation's user; every scored question
(categories 1-4) is asked of that user one day after the conversation's last session.
Recall@k is the fraction of a question's evidence turns found in the top k results,
averaged over questions, overall and per category.

Rows:
    multisession default and variants (BM25 alone, dense alone, temporal weighting off),
    all served by one engine into which each conversation is ingested once;
    rank_bm25 ``BM25Okapi`` on lowercased words; dense cosine in plain numpy;
    LangChain ``EnsembleRetriever`` (BM25Retriever + Chroma, weights 0.5/0.5, c=60);
    LlamaIndex ``QueryFusionRetriever`` (BM25Retriever + VectorIndexRetriever on Chroma,
    reciprocal_rerank). Peers are built per conversation; their sub-retrievers each
    contribute 50 candidates.

Every system uses the project's default embedder. Memory texts are embedded once per run
and the same vectors are given to every system; questions are embedded by the real model
inside each timed query.

Usage::

    .venv/bin/python benchmarks/retrieval_quality.py
    .venv/bin/python benchmarks/retrieval_quality.py --only multisession,langchain --k 5 10
    .venv/bin/python benchmarks/retrieval_quality.py --model int8  # the int8 MiniLM
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

try:  # imported as benchmarks.retrieval_quality
    from . import locomo
    from ._peers import LangChainEnsemble, LlamaIndexFusion, VectorTable, chroma_client
except ImportError:  # run as a script, or imported with benchmarks/ on sys.path
    import locomo  # type: ignore[no-redef]
    from _peers import (  # type: ignore[no-redef]
        LangChainEnsemble,
        LlamaIndexFusion,
        VectorTable,
        chroma_client,
    )

SYSTEMS = ("multisession", "bm25", "dense", "langchain", "llamaindex")


@dataclass
class Row:
    """One line of the results table."""

    name: str
    tally: locomo.RecallTally
    note: str = ""


# --------------------------------------------------------------------------- multisession


def multisession_variants() -> dict[str, Any]:
    """The default configuration, the earlier default (``rrf`` preset) and ablations."""
    from multisession import PRESETS, RetrievalConfig

    recall = RetrievalConfig()  # the default, also named PRESETS["recall"]
    return {
        "multisession default": recall,
        "multisession rrf preset (earlier default)": PRESETS["rrf"],
        "recall, fusion rrf": replace(recall, fusion="rrf"),
        "recall, normalisation min-max": replace(recall, normalisation="min-max"),
        "recall, neighbour window 0": replace(recall, neighbour_window=0),
        "recall, neighbour window 1": replace(recall, neighbour_window=1),
        "recall, neighbour window 3": replace(recall, neighbour_window=3),
        "recall, candidate depth 10": replace(recall, candidate_depth=10),
        "recall, candidate depth 50": replace(recall, candidate_depth=50),
        "recall, date boost off": replace(recall, date_boost=1.0),
        "recall, BM25 alone": replace(recall, vector_weight=0.0),
        "recall, dense alone": replace(recall, bm25_weight=0.0),
        "recall, temporal off": replace(recall, temporal=replace(recall.temporal, enabled=False)),
        "recall, temporal weight 0.05": replace(
            recall, temporal=replace(recall.temporal, weight=0.05)
        ),
        # The decay curve multiplied in whole: what the bounded weighting avoids.
        "recall, temporal weight 1": replace(recall, temporal=replace(recall.temporal, weight=1.0)),
    }


def session_of(turn: locomo.Turn) -> str | None:
    """A turn's conversation id: its LoCoMo session ("D3" of "D3:5")."""
    return turn.dia_id.split(":")[0]


def evaluate_multisession(
    conversations: Sequence[locomo.Conversation],
    configs: Mapping[str, Any],
    *,
    ks: Sequence[int] = (5, 10, 20),
    embedder: Any = None,
    conversation_of: Callable[[locomo.Turn], str | None] = session_of,
) -> list[Row]:
    """Ingest each conversation once, then score every config (passed per search call).

    Args:
        conversations: From :func:`locomo.load`; one user per conversation.
        configs: Row name -> ``RetrievalConfig``.
        ks: The k of recall@k; each search asks for ``max(ks)`` hits (once per k when
            a config's ``candidate_depth`` is below ``max(ks)``).
        embedder: The engine's embedder; the project default when None.
        conversation_of: A turn's ``conversation_id`` (which memories are neighbours);
            by default its session.

    Returns:
        One :class:`Row` per config, in the order given.
    """
    from multisession import MemoryEngine, MemoryInput, default_embedder

    embedder = embedder if embedder is not None else default_embedder()
    depth = max(ks)
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="multisession-quality-") as directory,
        MemoryEngine(directory, embedder=embedder) as engine,
    ):
        for conversation in conversations:
            engine.add_many(
                conversation.sample_id,
                [
                    MemoryInput(
                        content=turn.content,
                        kind="episode",
                        conversation_id=conversation_of(turn),
                        created_at=turn.created_at,
                        metadata={"dia_id": turn.dia_id},
                    )
                    for turn in conversation.turns
                ],
            )
        for name, config in configs.items():
            tally = locomo.RecallTally(ks=tuple(ks))
            # The engine widens its candidate depth to k, so a config whose depth is below
            # max(ks) is asked once per k, as a caller wanting k hits would; the time
            # recorded is that of the largest k.
            per_k = config.candidate_depth < depth
            for conversation in conversations:
                for question in conversation.questions:
                    rankings: dict[int, list[str]] = {}
                    elapsed = 0.0
                    for k in sorted(ks, reverse=True) if per_k else [depth]:
                        started = time.perf_counter()
                        hits = engine.search(
                            conversation.sample_id,
                            question.question,
                            k=k,
                            now=conversation.now,
                            config=config,
                        )
                        if k == depth:
                            elapsed = time.perf_counter() - started
                        rankings[k] = [hit.memory.metadata["dia_id"] for hit in hits]
                    if not per_k:
                        rankings = {k: rankings[depth] for k in ks}
                    tally.add_per_k(question, rankings, elapsed)
            rows.append(Row(name, tally))
    return rows


# --------------------------------------------------------------------------- peers

Searcher = Callable[[str, int], list[str]]


def _evaluate(
    name: str,
    conversations: Sequence[locomo.Conversation],
    build: Callable[[locomo.Conversation], Searcher],
    ks: Sequence[int],
    note: str = "",
) -> Row:
    """Build a searcher per conversation (untimed), then time each question's search."""
    tally = locomo.RecallTally(ks=tuple(ks))
    for conversation in conversations:
        search = build(conversation)
        for question in conversation.questions:
            started = time.perf_counter()
            ranked = search(question.question, max(ks))
            elapsed = time.perf_counter() - started
            tally.add(question, ranked, elapsed)
    return Row(name, tally, note)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def evaluate_rank_bm25(conversations: Sequence[locomo.Conversation], ks: Sequence[int]) -> Row:
    from rank_bm25 import BM25Okapi

    def build(conversation: locomo.Conversation) -> Searcher:
        ids = [turn.dia_id for turn in conversation.turns]
        index = BM25Okapi([_words(turn.content) for turn in conversation.turns])

        def search(query: str, k: int) -> list[str]:
            scores = index.get_scores(_words(query))
            return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]

        return search

    return _evaluate("rank_bm25 BM25Okapi (lowercased words)", conversations, build, ks)


def evaluate_dense(
    conversations: Sequence[locomo.Conversation], ks: Sequence[int], table: VectorTable
) -> Row:
    def build(conversation: locomo.Conversation) -> Searcher:
        ids = [turn.dia_id for turn in conversation.turns]
        matrix = table([turn.content for turn in conversation.turns])

        def search(query: str, k: int) -> list[str]:
            similarities = matrix @ table.embedder.embed([query])[0]
            return [ids[i] for i in np.argsort(-similarities, kind="stable")[:k]]

        return search

    return _evaluate("dense cosine (numpy)", conversations, build, ks)


def evaluate_langchain(
    conversations: Sequence[locomo.Conversation],
    ks: Sequence[int],
    table: VectorTable,
    directory: str,
) -> Row:
    client = chroma_client(directory)

    def build(conversation: locomo.Conversation) -> Searcher:
        ensemble = LangChainEnsemble(client, f"langchain-{conversation.sample_id}", table)
        ensemble.add(
            [turn.content for turn in conversation.turns],
            [turn.dia_id for turn in conversation.turns],
        )
        return ensemble.search

    return _evaluate(
        "LangChain EnsembleRetriever", conversations, build, ks, "BM25Retriever+Chroma, 50 each"
    )


def evaluate_llamaindex(
    conversations: Sequence[locomo.Conversation],
    ks: Sequence[int],
    table: VectorTable,
    directory: str,
) -> Row:
    client = chroma_client(directory)

    def build(conversation: locomo.Conversation) -> Searcher:
        fusion = LlamaIndexFusion(
            client, f"llamaindex-{conversation.sample_id}", table, top_k=max(ks)
        )
        fusion.add(
            [turn.content for turn in conversation.turns],
            [turn.dia_id for turn in conversation.turns],
        )
        return lambda query, k: fusion.search(query, k)

    return _evaluate(
        "LlamaIndex QueryFusionRetriever",
        conversations,
        build,
        ks,
        f"BM25Retriever+VectorIndexRetriever, 50 each, top {max(ks)}",
    )


# --------------------------------------------------------------------------- output


def format_table(rows: Sequence[Row], ks: Sequence[int]) -> str:
    """Plain-text table: recall@k overall and per category, then mean query ms."""
    groups: list[tuple[str, int | str]] = [("all", "all")] + [
        (name, number) for number, name in locomo.CATEGORY_NAMES.items()
    ]
    name_width = max([len("retriever")] + [len(row.name) for row in rows])
    cell = 5
    group_width = len(ks) * (cell + 1) - 1
    top = (
        " " * name_width
        + " | "
        + " | ".join(label.center(group_width) for label, _ in groups)
        + " | "
        + "query".rjust(8)
    )
    sub = (
        "retriever".ljust(name_width)
        + " | "
        + " | ".join(" ".join(f"R@{k}".rjust(cell) for k in ks) for _ in groups)
        + " | "
        + "ms".rjust(8)
    )
    lines = [top, sub, "-" * len(sub)]
    for row in rows:
        cells = []
        for _, group in groups:
            values = [row.tally.recall_percent(group, k) for k in ks]
            cells.append(" ".join(("-" if v is None else f"{v:.1f}").rjust(cell) for v in values))
        lines.append(
            row.name.ljust(name_width)
            + " | "
            + " | ".join(cells)
            + " | "
            + f"{row.tally.mean_query_ms:.2f}".rjust(8)
        )
    return "\n".join(lines)


def _load_embedder(model: str) -> tuple[Any, str | None]:
    try:
        from multisession import MiniLMEmbedder, default_embedder
    except ImportError as error:
        return None, f"multisession's default embedder is unavailable ({error})"
    if model != "default":
        return MiniLMEmbedder(quantized=model == "int8"), None
    embedder = default_embedder()
    if embedder is None:
        return None, "no local all-MiniLM-L6-v2 weights (see multisession's install hint)"
    return embedder, None


def _engine_available() -> str | None:
    try:
        from multisession import MemoryEngine, MemoryInput, RetrievalConfig  # noqa: F401
    except ImportError as error:
        return f"multisession's MemoryEngine is unavailable ({error}); its rows are skipped"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", help="LoCoMo JSON (default: ../shared/data/locomo/locomo-dev.json)"
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated subset of: {','.join(SYSTEMS)} (default: all)",
    )
    parser.add_argument("--k", nargs="+", type=int, default=[5, 10, 20], help="the k of recall@k")
    parser.add_argument(
        "--model",
        choices=("default", "fp32", "int8"),
        default="default",
        help="the embedder every system uses: the default, or MiniLM in float32 or int8",
    )
    args = parser.parse_args(argv)
    ks = sorted(set(args.k))
    selected = SYSTEMS if not args.only else tuple(s.strip() for s in args.only.split(","))
    unknown = set(selected) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown system(s) {sorted(unknown)}; choose from {','.join(SYSTEMS)}")

    run_started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    conversations = locomo.load(args.data)
    print(f"LoCoMo: {locomo.describe(conversations)}")

    needs_vectors = set(selected) - {"bm25"}
    embedder, embedder_problem = _load_embedder(args.model) if needs_vectors else (None, None)
    table: VectorTable | None = None
    query_embed_ms = float("nan")
    if embedder is not None:
        table = VectorTable(embedder)
        texts = [turn.content for c in conversations for turn in c.turns]
        seconds = table.fill(texts)
        print(
            f"embedder: {embedder.name} (dimension {embedder.dimension}); "
            f"{len(table)} memory texts embedded once in {seconds:.1f} s "
            f"({len(table) / seconds:.0f} texts/s), the same vectors given to every system"
        )
        questions = [q.question for c in conversations for q in c.questions][:200]
        embedder.embed(questions[:5])  # warm-up
        started = time.perf_counter()
        for question in questions:
            embedder.embed([question])
        query_embed_ms = 1000 * (time.perf_counter() - started) / len(questions)
    elif embedder_problem:
        print(f"SKIPPED: {embedder_problem}; rows that need embeddings are skipped")

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="peers-quality-") as directory:
        for system in selected:
            step_started = time.perf_counter()
            if system == "bm25":
                rows.append(evaluate_rank_bm25(conversations, ks))
            elif table is None:
                print(f"SKIPPED {system}: no embedder")
                continue
            elif system == "multisession":
                problem = _engine_available()
                if problem:
                    print(f"SKIPPED: {problem}")
                    continue
                from multisession import as_embedder

                rows.extend(
                    evaluate_multisession(
                        conversations,
                        multisession_variants(),
                        ks=ks,
                        embedder=as_embedder(table, name=embedder.name),
                    )
                )
            elif system == "dense":
                rows.append(evaluate_dense(conversations, ks, table))
            elif system == "langchain":
                rows.append(evaluate_langchain(conversations, ks, table, f"{directory}/lc"))
            elif system == "llamaindex":
                rows.append(evaluate_llamaindex(conversations, ks, table, f"{directory}/li"))
            print(f"  {system}: done in {time.perf_counter() - step_started:.1f} s", flush=True)

    questions = sum(len(c.questions) for c in conversations)
    print()
    print(
        f"Recall@k (%) on LoCoMo, {len(conversations)} conversations, {questions} questions: "
        "fraction of a question's evidence turns found in the top k, averaged over questions."
    )
    print(format_table(rows, ks))
    print(
        "query ms: mean wall time of one search call per question, everything included: "
        "embedding the question with the real model (where the system embeds; "
        f"{query_embed_ms:.1f} ms alone in this run), keyword and vector search, fusion, "
        "framework overhead, result objects. Index building is not timed."
    )
    for row in rows:
        if row.note:
            print(f"  {row.name}: {row.note}")
    print(
        f"total run time {time.perf_counter() - run_started:.0f} s; machine: {os.cpu_count()} "
        f"cores, load average at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
