"""Supersession and the relevance floor on LoCoMo: what they cost real conversations.

LoCoMo's conversations are as people chat: nothing in them is meant to be replaced, so
every memory the lifecycle marks superseded or duplicate there is a candidate false
positive. The script ingests every conversation twice, with the lifecycle off and on
(one engine each, the same vectors), and prints:

- recall@5/10/20 of both, for the default retrieval settings and the ``recall`` preset;
- how many memories were marked superseded or duplicate, by reason, and a seeded sample
  of 20 of them with the memory that replaced each, to be read;
- for a range of ``min_relevance`` floors: recall@10 with the floor (lifecycle on,
  default settings) and the share of small-talk messages (``data/small_talk.txt``)
  that retrieve nothing from any conversation's memories, by the floor alone and with
  the small-talk rule a floor above 0 turns on (:mod:`multisession.lifecycle.small_talk`:
  a question it takes for small talk retrieves nothing).

Usage::

    .venv/bin/python benchmarks/lifecycle_locomo.py
    .venv/bin/python benchmarks/lifecycle_locomo.py --data /path/to/locomo.json --sample 40
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:  # imported as benchmarks.lifecycle_locomo
    from . import locomo
    from ._peers import VectorTable
except ImportError:  # run as a script
    import locomo  # type: ignore[no-redef]
    from _peers import VectorTable  # type: ignore[no-redef]

SMALL_TALK = Path(__file__).parent / "data" / "small_talk.txt"
FLOORS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
KS = (5, 10, 20)


def small_talk() -> list[str]:
    """The labelled small-talk messages."""
    lines = SMALL_TALK.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def recall_rows(
    engine: Any, conversations: Sequence[locomo.Conversation], config: Any
) -> tuple[locomo.RecallTally, list[tuple[locomo.Question, list[tuple[str, float]]]]]:
    """Recall@k of one engine and config; also each question's ranking with relevances."""
    from multisession.lifecycle.relevance import relevance

    tally = locomo.RecallTally(ks=KS)
    rankings = []
    for conversation in conversations:
        for question in conversation.questions:
            hits = engine.search(
                conversation.sample_id,
                question.question,
                k=max(KS),
                now=conversation.now,
                config=config,
                min_relevance=0.0,  # the floors are applied below
            )
            ranked = [(hit.memory.metadata["dia_id"], relevance(hit.breakdown)) for hit in hits]
            tally.add(question, [dia_id for dia_id, _ in ranked], 0.0)
            rankings.append((question, ranked))
    return tally, rankings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="LoCoMo JSON (default: the dev split)")
    parser.add_argument("--sample", type=int, default=20, help="marked memories to print")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)

    from multisession import PRESETS, MemoryEngine, RetrievalConfig, default_embedder
    from multisession.embeddings.base import as_embedder
    from multisession.lifecycle import LifecycleConfig
    from multisession.lifecycle.relevance import relevance

    conversations = locomo.load(args.data)
    print(locomo.describe(conversations))
    table = VectorTable(default_embedder())
    table.fill([turn.content for c in conversations for turn in c.turns])
    embedder = as_embedder(table, name="all-MiniLM-L6-v2")
    configs = {"default": RetrievalConfig(), "recall preset": PRESETS["recall"]}
    settings = {
        "off": LifecycleConfig(supersede=False, deduplicate=False),
        "on": LifecycleConfig(),
    }
    results: dict[tuple[str, str], locomo.RecallTally] = {}
    floors_input: list[tuple[locomo.Question, list[tuple[str, float]]]] = []
    talk = small_talk()
    talk_best: list[float] = []
    marked: list[Any] = []
    total = 0
    with tempfile.TemporaryDirectory(prefix="multisession-lifecycle-") as directory:
        for label, lifecycle in settings.items():
            with MemoryEngine(
                Path(directory) / label, embedder=embedder, lifecycle=lifecycle
            ) as engine:
                locomo.ingest(engine, conversations)
                for name, config in configs.items():
                    tally, rankings = recall_rows(engine, conversations, config)
                    results[(label, name)] = tally
                    if label == "on" and name == "default":
                        floors_input = rankings
                if label != "on":
                    continue
                by_id: dict[tuple[str, str], Any] = {}
                for conversation in conversations:
                    memories = engine.list(
                        conversation.sample_id, include_superseded=True, limit=100_000
                    )
                    total += len(memories)
                    by_id.update({(m.user_id, m.id): m for m in memories})
                    marked += [m for m in memories if not m.is_current]
                marked_with = [(m, by_id.get((m.user_id, m.superseded_by))) for m in marked]
                for message in talk:
                    best = 0.0
                    for conversation in conversations:
                        for hit in engine.search(
                            conversation.sample_id,
                            message,
                            k=5,
                            now=conversation.now,
                            min_relevance=0.0,
                        ):
                            best = max(best, relevance(hit.breakdown))
                    talk_best.append(best)

    print("\nRecall@k (%), lifecycle off -> on")
    print(f"{'settings':<16}" + "".join(f"{'R@' + str(k):>22}" for k in KS))
    for name in configs:
        cells = []
        for k in KS:
            before = results[("off", name)].recall_percent("all", k) or 0.0
            after = results[("on", name)].recall_percent("all", k) or 0.0
            cells.append(f"{before:6.2f} -> {after:6.2f} ({after - before:+.2f})")
        print(f"{name:<16}" + "".join(f"{cell:>22}" for cell in cells))

    reasons = Counter(m.supersede_reason for m in marked)
    print(
        f"\nMarked superseded or duplicate: {len(marked)} of {total} memories "
        f"({100 * len(marked) / max(total, 1):.2f} %); by reason: {dict(reasons)}"
    )
    rng = random.Random(args.seed)
    for memory, by in rng.sample(marked_with, min(args.sample, len(marked_with))):
        print(f"  [{memory.supersede_reason}] {memory.content[:110]!r}")
        print(f"      by {by.content[:110]!r}" if by is not None else "      (retracted)")

    from multisession.lifecycle.small_talk import is_follow_up, is_small_talk

    gated_talk = [is_small_talk(message) for message in talk]
    print("\nRelevance floor (lifecycle on, default settings)")
    print(
        f"{'min_relevance':>14}{'R@10':>9}{'drop':>8}{'small talk empty':>19}"
        f"{'R@10 + rule':>13}{'drop':>8}{'small talk empty + rule':>26}"
    )
    base = None
    for floor in FLOORS:
        tally = locomo.RecallTally(ks=(10,))
        ruled = locomo.RecallTally(ks=(10,))
        for question, ranked in floors_input:
            # As in search: a follow-up ("And for me?") is not held to the floor.
            exempt = is_follow_up(question.question)
            kept = [dia_id for dia_id, score in ranked[:10] if exempt or score >= floor]
            tally.add(question, kept, 0.0)
            gated = floor > 0 and is_small_talk(question.question)
            ruled.add(question, [] if gated else kept, 0.0)
        r10 = tally.recall_percent("all", 10) or 0.0
        r10_ruled = ruled.recall_percent("all", 10) or 0.0
        base = r10 if base is None else base
        empty = sum(1 for best in talk_best if best < floor) / len(talk_best)
        empty_ruled = sum(
            1
            for best, gated in zip(talk_best, gated_talk, strict=True)
            if best < floor or (floor > 0 and gated)
        ) / len(talk_best)
        print(
            f"{floor:>14.2f}{r10:>9.2f}{r10 - base:>+8.2f}{100 * empty:>18.1f}%"
            f"{r10_ruled:>13.2f}{r10_ruled - base:>+8.2f}{100 * empty_ruled:>25.1f}%"
        )
    print(f"({len(talk)} small-talk messages, each searched in all {len(conversations)} users)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
