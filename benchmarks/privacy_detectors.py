"""Precision and recall of each privacy detector on the labelled messages, and their cost.

The labelled set (``tests/core/data/privacy_messages.jsonl``) was split into ``dev`` and
``test`` halves before any rule was written; rules were tuned on ``dev`` only, so the
``test`` half's figures are the held-out ones. A message counts once per detector: a true
positive when the detector fired and the label names it, a false positive when it fired
and the label does not, a false negative when the label names it and it stayed silent.

How the halves were used: rules were written and tuned on ``dev`` (189 messages). The
first run on ``test`` (186) missed three: a Swiss IBAN in the set was one digit short (the
label was right, the text wrong: fixed in the data), a phone number was found inside a
Dutch IBAN, and "came out as queer to my parents" was read as the adverb of "straight
to". Those two rule fixes were made after seeing ``test``, so a third half, ``holdout``
(56 messages written afterwards), was added and run once before any change: it missed
three (a date of birth found after "need", "my best friend is bisexual", plural
"Catholics"), which were then fixed too. The figures printed now are after all fixes.
First runs, before those fixes: on ``test`` every detector met its targets but phone
(precision 12/13 = 0.92), iban (recall 8/9 = 0.89, the short IBAN) and
sexual_orientation (recall 7/8 = 0.88); on ``holdout`` all but date_of_birth
(precision 2/3), sexual_orientation (recall 2/3) and religion (recall 3/4), on few
examples each.

Usage::

    python benchmarks/privacy_detectors.py [--split dev|test|both] [--errors]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from multisession.privacy import DETECTORS, SensitivityClassifier

DATA = Path(__file__).resolve().parent.parent / "tests" / "core" / "data" / "privacy_messages.jsonl"


def load() -> list[dict[str, object]]:
    with DATA.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def evaluate(rows: list[dict[str, object]], show_errors: bool) -> dict[str, tuple[int, int, int]]:
    classifier = SensitivityClassifier()
    counts: dict[str, list[int]] = {name: [0, 0, 0] for name in DETECTORS}
    for row in rows:
        found = set(classifier.classify(str(row["text"])).detectors)
        expected = set(row["detectors"])  # type: ignore[call-overload]
        for name in DETECTORS:
            if name in found and name in expected:
                counts[name][0] += 1
            elif name in found:
                counts[name][1] += 1
                if show_errors:
                    print(f"  FP {name:18} {row['text']}")
            elif name in expected:
                counts[name][2] += 1
                if show_errors:
                    print(f"  FN {name:18} {row['text']}")
    return {name: (tp, fp, fn) for name, (tp, fp, fn) in counts.items()}


def table(split: str, result: dict[str, tuple[int, int, int]]) -> None:
    print(f"\n{split}: detector            tp  fp  fn  precision  recall")
    for name, (tp, fp, fn) in result.items():
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        flag = "" if precision >= 0.95 and recall >= 0.9 else "   < target"
        print(f"  {name:22} {tp:3} {fp:3} {fn:3}  {precision:9.3f}  {recall:6.3f}{flag}")


def cost(texts: list[str], what: str, rounds: int = 5) -> None:
    classifier = SensitivityClassifier()
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            classifier.classify(text)
        per_round.append((time.perf_counter() - started) / len(texts))
    long_text = " ".join(texts)[:4000]
    started = time.perf_counter()
    for _ in range(50):
        classifier.classify(long_text)
    long_cost = (time.perf_counter() - started) / 50
    print(
        f"\ncost on {what}: {statistics.median(per_round) * 1e6:.0f} µs per message "
        f"(median of {rounds} rounds over {len(texts)} messages, "
        f"{statistics.mean(map(len, texts)):.0f} characters on average); "
        f"{long_cost * 1e3:.2f} ms for a {len(long_text)}-character text"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test", "holdout", "all"), default="all")
    parser.add_argument("--errors", action="store_true", help="print each wrong message")
    parser.add_argument(
        "--locomo",
        metavar="PATH",
        help="also time LoCoMo dialogue turns (ordinary chat); default: the dev split "
        "next to the repository, when present",
    )
    args = parser.parse_args()
    rows = load()
    splits = ("dev", "test", "holdout") if args.split == "all" else (args.split,)
    for split in splits:
        chosen = [row for row in rows if row["split"] == split]
        table(f"{split} ({len(chosen)} messages)", evaluate(chosen, args.errors))
    cost([str(row["text"]) for row in rows], "the labelled messages")
    turns = _locomo_turns(args.locomo)
    if turns:
        cost(turns, "LoCoMo dialogue turns")


def _locomo_turns(path: str | None) -> list[str]:
    """The dialogue turns of LoCoMo (read in place, never copied), or none if absent."""
    from locomo import DEFAULT_PATH, load

    if path is None and not Path(DEFAULT_PATH).exists():
        return []
    return [turn.text for conversation in load(path) for turn in conversation.turns]


if __name__ == "__main__":
    main()
