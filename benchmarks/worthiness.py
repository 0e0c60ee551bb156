"""Quality and speed of the rule-based memory-worthiness filter on the labelled set.

The labelled set (``tests/core/data/worthiness_labelled.jsonl``) holds realistic user
messages, each labelled worthy or not and, when worthy, with its kind (fact, preference,
episode). It is split in two halves, ``dev`` and ``test`` (held out).

For each half and for the whole set it prints precision, recall and F1 on the worthy
label, the same per kind (a message counts as found for a kind when it is predicted worthy
with that kind), and the kind accuracy: the share of correctly found worthy messages that
got the right kind. It ends with the median time per message.

Run: ``python benchmarks/worthiness.py`` (add ``--errors`` to list every error,
``--split dev`` or ``--split test`` to list the errors of one half only, ``--data PATH``
to score another file in the same format; its ``split`` field may be left out).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from multisession.extraction.worthiness import KINDS, Assessment, assess

LABELLED = Path(__file__).resolve().parent.parent / "tests/core/data/worthiness_labelled.jsonl"
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class Example:
    text: str
    worthy: bool
    kind: str | None
    split: str
    note: str


def load(path: Path) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            examples.append(
                Example(
                    row["text"],
                    row["worthy"],
                    row["kind"],
                    row.get("split", ""),
                    row.get("note", ""),
                )
            )
    return examples


def ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def scores(pairs: list[tuple[bool, bool]]) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``(predicted, expected)`` pairs."""
    true_pos = sum(1 for predicted, expected in pairs if predicted and expected)
    precision = ratio(true_pos, sum(1 for predicted, _ in pairs if predicted))
    recall = ratio(true_pos, sum(1 for _, expected in pairs if expected))
    f1 = ratio(int(2 * precision * recall * 1e6), int((precision + recall) * 1e6))
    return precision, recall, f1


Row = tuple[str, int, float, float, float]  # label, support, precision, recall, F1


def evaluate(examples: list[Example], verdicts: list[Assessment]) -> tuple[list[Row], float]:
    """P/R/F1 on the worthy label and per kind, and the kind accuracy on found memories."""
    pairs = list(zip(examples, verdicts, strict=True))
    rows: list[Row] = []
    for label in ("worthy", *KINDS):

        def expected(example: Example, label: str = label) -> bool:
            return example.worthy and (label == "worthy" or example.kind == label)

        def predicted(verdict: Assessment, label: str = label) -> bool:
            return verdict.worthy and (label == "worthy" or verdict.kind == label)

        support = sum(1 for e, _ in pairs if expected(e))
        rows.append((label, support, *scores([(predicted(v), expected(e)) for e, v in pairs])))
    found = [(e, v) for e, v in pairs if e.worthy and v.worthy]
    kind_accuracy = ratio(sum(1 for e, v in found if e.kind == v.kind), len(found))
    return rows, kind_accuracy


def print_table(results: dict[str, tuple[list[Row], float]], sizes: dict[str, int]) -> None:
    header = ("half", "label", "support", "precision", "recall", "F1")
    print("{:<11} {:<11} {:>7} {:>9} {:>7} {:>6}".format(*header))
    for half, (rows, kind_accuracy) in results.items():
        for label, support, precision, recall, f1 in rows:
            name = f"{half} ({sizes[half]})" if label == "worthy" else ""
            print(
                f"{name:<11} {label:<11} {support:>7} {precision:>9.3f} {recall:>7.3f} {f1:>6.3f}"
            )
        print(f"{'':<11} {'kind acc.':<11} {'':>7} {kind_accuracy:>9.3f}")


def print_errors(examples: list[Example], verdicts: list[Assessment], split: str | None) -> None:
    print("\nerrors (expected -> predicted):")
    for example, verdict in zip(examples, verdicts, strict=True):
        if split and example.split != split:
            continue
        wrong_label = example.worthy != verdict.worthy
        wrong_kind = example.worthy and verdict.worthy and example.kind != verdict.kind
        if not (wrong_label or wrong_kind):
            continue
        expected = example.kind if example.worthy else "not worthy"
        predicted = verdict.kind if verdict.worthy else "not worthy"
        tag = "LABEL" if wrong_label else "kind "
        print(
            f"  [{example.split:<4}] {tag} {expected:>10} -> {predicted:<10} "
            f"{example.text!r}  ({verdict.reason})"
        )


def median_microseconds(texts: list[str], repeats: int = 20) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            assess(text)
        samples.append((time.perf_counter() - start) / len(texts) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every misclassified message")
    parser.add_argument("--split", help="list the errors of one half only (dev or test)")
    parser.add_argument(
        "--data", type=Path, default=LABELLED, help="another labelled JSONL file to score"
    )
    args = parser.parse_args()

    examples = load(args.data)
    verdicts = [assess(example.text) for example in examples]
    results = {}
    sizes = {}
    halves = [split for split in SPLITS if any(e.split == split for e in examples)]
    for half in (*halves, "all"):
        chosen = [
            (e, v) for e, v in zip(examples, verdicts, strict=True) if half in ("all", e.split)
        ]
        results[half] = evaluate([e for e, _ in chosen], [v for _, v in chosen])
        sizes[half] = len(chosen)
    print(f"memory-worthiness on {args.data.name}; 'test' is the held-out half\n")
    print_table(results, sizes)
    per_message = median_microseconds([example.text for example in examples])
    print(f"\nmedian time per message: {per_message:.1f} µs")
    if args.errors or args.split:
        print_errors(examples, verdicts, args.split)


if __name__ == "__main__":
    main()
