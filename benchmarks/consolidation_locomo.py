"""Consolidation on LoCoMo: what summaries do to the recall of real conversations.

Every LoCoMo turn is one ``episode`` memory of its conversation's user (as in
``retrieval_quality.py``). Recall@5/10/20 is measured with the default settings before
consolidation, then every user is consolidated (extractive, offline) and recall is
measured again, two ways (one search of the top 20 per question; @5 and @10 are its
first 5 and 10):

- strict: only the original turns count; a summary in the ranking takes a place and
  answers nothing, so this is the floor of what consolidation costs;
- quoted: a summary counts for the source turns whose text it quotes (an extractive
  summary holds those sentences word for word), in its place in the ranking.

It also prints how many summaries were written, how many memories they cover, and the
time consolidation took per user (wall clock; quote it with the load average).

Usage::

    .venv/bin/python benchmarks/consolidation_locomo.py
    .venv/bin/python benchmarks/consolidation_locomo.py --data /path/to/locomo.json
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

try:  # imported as benchmarks.consolidation_locomo
    from . import locomo
    from ._peers import VectorTable
except ImportError:  # run as a script
    import locomo  # type: ignore[no-redef]
    from _peers import VectorTable  # type: ignore[no-redef]

KS = (5, 10, 20)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def quoted_turns(summary: Any, sources: dict[str, Any]) -> list[str]:
    """The dia_ids of the summary's sources whose sentences it quotes."""
    found = []
    for source_id in summary.metadata.get("sources", []):
        source = sources.get(source_id)
        if source is None:
            continue
        sentences = [s.strip() for s in _SENTENCE.split(source.content) if len(s.strip()) >= 10]
        if any(sentence.rstrip(".!?") in summary.content for sentence in sentences):
            found.append(source.metadata["dia_id"])
    return found


def measure(
    engine: Any, conversations: Sequence[locomo.Conversation], credit: bool
) -> locomo.RecallTally:
    """Recall@k from one top-20 search per question; summaries credited when ``credit``."""
    tally = locomo.RecallTally(ks=KS)
    for conversation in conversations:
        sources: dict[str, Any] = {}
        if credit:
            sources = {
                m.id: m
                for m in engine.list(conversation.sample_id, kinds=["episode"], limit=100_000)
            }
        for question in conversation.questions:
            hits = engine.search(
                conversation.sample_id, question.question, k=max(KS), now=conversation.now
            )
            ranked: list[str] = []
            for hit in hits:
                if hit.memory.kind == "summary":
                    if credit:
                        ranked.extend(quoted_turns(hit.memory, sources))
                    else:
                        ranked.append(f"summary:{hit.memory.id}")
                else:
                    ranked.append(hit.memory.metadata["dia_id"])
            tally.add(question, ranked, 0.0)
    return tally


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="LoCoMo JSON (default: the dev split)")
    parser.add_argument(
        "--similarity",
        type=float,
        nargs="+",
        default=[0.55],
        help="ConsolidationConfig.similarity values to compare (one store each)",
    )
    parser.add_argument("--quoted", action="store_true", help="also count quoted turns")
    args = parser.parse_args(argv)

    from multisession import MemoryEngine, default_embedder
    from multisession.embeddings.base import as_embedder

    conversations = locomo.load(args.data)
    print(locomo.describe(conversations))
    table = VectorTable(default_embedder())
    table.fill([turn.content for c in conversations for turn in c.turns])
    embedder = as_embedder(table, name="all-MiniLM-L6-v2")
    from multisession.lifecycle import ConsolidationConfig

    turns = sum(len(c.turns) for c in conversations)
    results: dict[str, locomo.RecallTally] = {}
    with tempfile.TemporaryDirectory(prefix="multisession-consolidation-") as directory:
        for similarity in args.similarity:
            config = ConsolidationConfig(similarity=similarity)
            with MemoryEngine(
                Path(directory) / f"store-{similarity}", embedder=embedder, consolidation=config
            ) as engine:
                locomo.ingest(engine, conversations)
                if "before" not in results:
                    results["before"] = measure(engine, conversations, credit=False)
                started = time.perf_counter()
                summaries = covered = 0
                for conversation in conversations:
                    report = engine.consolidate(conversation.sample_id, now=conversation.now)
                    summaries += report.written
                    covered += sum(len(group.source_ids) for group in report.groups)
                seconds = time.perf_counter() - started
                again = sum(
                    engine.consolidate(c.sample_id, now=c.now).written for c in conversations
                )
                print(
                    f"similarity {similarity}: {summaries} summaries over {covered} of "
                    f"{turns} memories ({100 * covered / max(turns, 1):.1f} %); a second run "
                    f"wrote {again}; {1000 * seconds / len(conversations):.0f} ms per user "
                    f"(load average {os.getloadavg()[0]:.1f})"
                )
                for first in (True, False):
                    engine.consolidation = replace(config, summary_first=first)
                    label = f"sim {similarity}, summary_first={first}"
                    results[label] = measure(engine, conversations, credit=False)
                    if args.quoted and first:
                        results[label + ", quoted"] = measure(engine, conversations, credit=True)
    before = results.pop("before")
    print("\nRecall@k (%), default settings, before -> after consolidation (strict unless quoted)")
    print(f"{'variant':<36}" + "".join(f"{'R@' + str(k):>24}" for k in KS))
    for name, after in results.items():
        cells = []
        for k in KS:
            old = before.recall_percent("all", k) or 0.0
            new = after.recall_percent("all", k) or 0.0
            cells.append(f"{old:6.2f} -> {new:6.2f} ({new - old:+.2f})")
        print(f"{name:<36}" + "".join(f"{cell:>24}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
