"""Fuzz the public API with generated calls and print what they ended in.

The calls are those of ``tests/core/test_fuzz.py`` (which CI runs 2,000 of); this runs
more, 10,000 by default, on a keyword-only engine in a temporary directory, and prints a
table: how many calls succeeded, how many raised a documented error
(``MultisessionError``), and every kind of crash (any other exception) with its count.

    .venv/bin/python benchmarks/fuzz.py
    .venv/bin/python benchmarks/fuzz.py --examples 2000 --seed 7

Takes about a minute per 10,000 calls on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from multisession import MemoryEngine

_FUZZ_TEST = Path(__file__).resolve().parent.parent / "tests" / "core" / "test_fuzz.py"


def _calls_module() -> Any:
    spec = importlib.util.spec_from_file_location("fuzz_calls", _FUZZ_TEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(examples: int, random_seed: int) -> Counter[str]:
    """Outcomes of ``examples`` generated calls: ok, refused, and each crash."""
    calls = _calls_module()
    outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="multisession-fuzz-") as directory:
        engine = MemoryEngine(directory, embedder=None, track_access=False)
        engine.add("u", "I like green tea in the morning")

        @seed(random_seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(call=calls.CALLS)
        def one(call: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
            name, args, kwargs = call
            outcome = calls.call_outcome(engine, name, args, kwargs)
            if outcome.startswith("crash"):
                outcome = f"{name}: {' '.join(outcome.split())}"
            outcomes[outcome] += 1

        try:
            one()
        finally:
            engine.close()
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # refused calls inside build_context log warnings
    started = time.perf_counter()
    outcomes = run(options.examples, options.seed)
    elapsed = time.perf_counter() - started
    total = sum(outcomes.values())
    crashes = sum(count for outcome, count in outcomes.items() if ": crash" in outcome)
    print("| outcome | calls |\n|---|---:|")
    for outcome, count in sorted(outcomes.items(), key=lambda item: (-item[1], item[0])):
        print(f"| {outcome.replace('|', '/')} | {count} |")
    print(f"| **total** | **{total}** |")
    print(f"\n{crashes} crashes in {total} calls ({elapsed:.0f} s)")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
