"""A short demo: remember facts in one session, come back in a new process, search.

Run it with ``python -m multisession.demo`` (``make demo`` does). It uses only the
offline defaults: SQLite and embedded Chroma in a directory, the bundled MiniLM model.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .config import RetrievalConfig, TemporalConfig
from .engine import MemoryEngine
from .records import MemoryInput, SearchHit

USER = "alice"
DAY_ONE = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
SESSION_ONE = [
    MemoryInput("My name is Alice and I work at Acme Corp as a data engineer", "fact"),
    MemoryInput("I'm allergic to peanuts", "fact"),
    MemoryInput("I prefer short answers with code examples", "preference"),
    MemoryInput("I'm halfway through migrating our billing pipeline to Airflow", "episode"),
    MemoryInput("User liked the blue theme", "preference", created_at=DAY_ONE - timedelta(days=90)),
    MemoryInput("User switched to the red theme", "preference"),
]
QUESTIONS = [
    "Where do I work again?",
    "What foods should you avoid suggesting to me?",
    "where did we leave the pipeline work?",
    "color theme preference",
]


def _print_hits(query: str, hits: list[SearchHit]) -> None:
    print(f'\n? "{query}"')
    print(
        f"  {'#':>2}  {'final':>7}  {'fused':>7}  {'bm25':>9}  {'vector':>11}"
        f"  {'recency':>7}  memory"
    )
    for position, hit in enumerate(hits, start=1):
        b = hit.breakdown
        bm25 = f"#{b.bm25_rank} {b.bm25_score:.2f}" if b.bm25_rank else "-"
        vector = f"#{b.vector_rank} {b.vector_similarity:.3f}" if b.vector_rank else "-"
        age = (DAY_ONE + timedelta(days=3) - hit.memory.created_at).days
        print(
            f"  {position:>2}  {b.final_score:7.4f}  {b.fused_score:7.4f}  {bm25:>9}  {vector:>11}"
            f"  {b.recency:7.3f}  {hit.memory.content}  ({hit.memory.kind}, {age} d old)"
        )


def session_one(store: Path) -> None:
    print(f"Session 1, {DAY_ONE:%a %d %b %Y}: {USER} tells the assistant a few things.")
    started = time.perf_counter()
    with MemoryEngine(store, clock=lambda: DAY_ONE) as engine:
        if engine.embedder is None:
            print("  (no local model found: keyword-only search)")
        for memory in engine.add_many(USER, SESSION_ONE):
            print(f"  remembered [{memory.kind}] {memory.content}")
        engine.add("bob", "I work at Globex and I love peanut butter", kind="fact")
        print("  (another user, bob, also stored a memory)")
    print(f"  stored in {store} in {time.perf_counter() - started:.2f} s")


def session_two(store: Path) -> None:
    now = DAY_ONE + timedelta(days=3)
    print(f"\nSession 2, {now:%a %d %b %Y}, in a new process: {USER} comes back.")
    with MemoryEngine(store, clock=lambda: now) as engine:
        for query in QUESTIONS:
            started = time.perf_counter()
            hits = engine.search(USER, query, k=3)
            elapsed = (time.perf_counter() - started) * 1000
            _print_hits(query, hits)
            print(f"  ({elapsed:.1f} ms, embedding the query included)")
        timeless = RetrievalConfig(temporal=TemporalConfig(enabled=False))
        order = [h.memory.content for h in engine.search(USER, QUESTIONS[-1], k=2, config=timeless)]
        print(f"\nWithout temporal weighting the theme order would be: {order}")
        leaked = [
            h
            for h in engine.search(USER, "Globex peanut butter", k=10)
            if "Globex" in h.memory.content
        ]
        print(f"bob's memories seen by {USER}: {len(leaked)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multisession.demo", description=__doc__)
    parser.add_argument(
        "--store", type=Path, help="directory for the store (default: a temporary one)"
    )
    parser.add_argument("--session", type=int, choices=(1, 2), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.session == 2:
        session_two(args.store)
        return 0
    with tempfile.TemporaryDirectory(prefix="multisession-demo-") as temporary:
        store = args.store or Path(temporary) / "store"
        session_one(store)
        command = [
            sys.executable,
            "-m",
            "multisession.demo",
            "--session",
            "2",
            "--store",
            str(store),
        ]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
