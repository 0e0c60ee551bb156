"""LoCoMo loading and turn-level evidence recall, shared by the benchmarks.

The data is read from ``../shared/data/locomo/locomo-dev.json`` next to the repository, or
from a path given by the caller; it is never copied into the repository (CC BY-NC 4.0).

Every dialogue turn becomes one memory. A question's evidence is the list of turns
(``dia_id``) that answer it; recall@k is the fraction of those turns found in the top k,
averaged over questions. Categories 1-4 are scored; 5 (adversarial, no answer) is not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DEFAULT_PATH = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo-dev.json"
)

CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SCORED_CATEGORIES = tuple(CATEGORY_NAMES)

#: Turns of one session get distinct, ordered times this far apart.
TURN_SPACING = timedelta(seconds=30)

_DATE_FORMAT = "%I:%M %p on %d %B, %Y"  # "1:56 pm on 8 May, 2023"
_SESSION_KEY = re.compile(r"session_(\d+)")
_EVIDENCE_ID = re.compile(r"D:?(\d+):(\d+)")


@dataclass(frozen=True)
class Turn:
    """One dialogue turn, stored as one memory."""

    dia_id: str
    sample_id: str
    speaker: str
    text: str
    created_at: datetime
    image_caption: str | None = None

    @property
    def content(self) -> str:
        """The memory text: ``"speaker: text"``, plus the shared image's caption if any."""
        content = f"{self.speaker}: {self.text}"
        if self.image_caption:
            content += f" [shares {self.image_caption}]"
        return content


@dataclass(frozen=True)
class Question:
    """A scored question (categories 1-4) with at least one valid evidence turn."""

    sample_id: str
    question: str
    category: int
    evidence: tuple[str, ...]


@dataclass
class Conversation:
    """One LoCoMo conversation: one user's whole history and the questions about it."""

    sample_id: str
    turns: list[Turn]
    questions: list[Question]
    #: The time the questions are asked: one day after the last session.
    now: datetime
    #: Scored questions dropped because none of their evidence ids exist.
    skipped_questions: int = 0
    #: Evidence ids dropped (malformed beyond repair or not in the conversation).
    dropped_evidence_ids: int = 0


def parse_session_time(text: str) -> datetime:
    """Parse ``"1:56 pm on 8 May, 2023"`` as a timezone-aware UTC datetime."""
    return datetime.strptime(text.strip(), _DATE_FORMAT).replace(tzinfo=timezone.utc)


def normalise_evidence(raw: Iterable[str]) -> list[str]:
    """Normalise evidence ids: ``D:11:26`` -> ``D11:26``, ``D30:05`` -> ``D30:5``.

    A string holding several ids (``"D8:6; D9:17"``) is split; strings with no id in them
    are dropped. Order is kept and duplicates removed.
    """
    ids: list[str] = []
    for item in raw:
        for session, turn in _EVIDENCE_ID.findall(str(item)):
            dia_id = f"D{int(session)}:{int(turn)}"
            if dia_id not in ids:
                ids.append(dia_id)
    return ids


def load(path: str | Path | None = None) -> list[Conversation]:
    """Read LoCoMo conversations as turns (memories) and scored questions."""
    data_path = Path(path) if path is not None else DEFAULT_PATH
    if not data_path.exists():
        raise FileNotFoundError(f"LoCoMo data not found at {data_path}; pass its path with --data")
    with data_path.open(encoding="utf-8") as handle:
        raw_conversations = json.load(handle)
    return [_conversation(raw) for raw in raw_conversations]


def _conversation(raw: dict) -> Conversation:
    sample_id = str(raw["sample_id"])
    dialogue = raw["conversation"]
    session_numbers = sorted(
        int(match.group(1))
        for key in dialogue
        if (match := _SESSION_KEY.fullmatch(key)) and dialogue[key]
    )
    turns: list[Turn] = []
    last_session_time: datetime | None = None
    for number in session_numbers:
        started = parse_session_time(dialogue[f"session_{number}_date_time"])
        if last_session_time is None or started > last_session_time:
            last_session_time = started
        for position, raw_turn in enumerate(dialogue[f"session_{number}"]):
            (dia_id,) = normalise_evidence([raw_turn["dia_id"]])
            turns.append(
                Turn(
                    dia_id=dia_id,
                    sample_id=sample_id,
                    speaker=raw_turn["speaker"],
                    text=raw_turn["text"],
                    created_at=started + position * TURN_SPACING,
                    image_caption=raw_turn.get("blip_caption") or None,
                )
            )
    if last_session_time is None:
        raise ValueError(f"conversation {sample_id} has no sessions")

    known_ids = {turn.dia_id for turn in turns}
    questions: list[Question] = []
    skipped = dropped = 0
    for raw_question in raw["qa"]:
        category = int(raw_question["category"])
        if category not in CATEGORY_NAMES:
            continue
        raw_evidence = raw_question.get("evidence", [])
        normalised = normalise_evidence(raw_evidence)
        evidence = tuple(dia_id for dia_id in normalised if dia_id in known_ids)
        unparsable = sum(1 for item in raw_evidence if not normalise_evidence([item]))
        dropped += unparsable + len(normalised) - len(evidence)
        if not evidence:
            skipped += 1
            continue
        questions.append(
            Question(
                sample_id=sample_id,
                question=str(raw_question["question"]),
                category=category,
                evidence=evidence,
            )
        )
    return Conversation(
        sample_id=sample_id,
        turns=turns,
        questions=questions,
        now=last_session_time + timedelta(days=1),
        skipped_questions=skipped,
        dropped_evidence_ids=dropped,
    )


def recall(ranked_ids: Sequence[str], evidence: Sequence[str], k: int) -> float:
    """Fraction of ``evidence`` found among the first ``k`` of ``ranked_ids``."""
    top = set(ranked_ids[:k])
    return sum(1 for dia_id in evidence if dia_id in top) / len(evidence)


@dataclass
class RecallTally:
    """Accumulates recall@k per question, overall and per category, and query times."""

    ks: tuple[int, ...] = (5, 10, 20)
    _sums: dict[tuple[int | str, int], float] = field(default_factory=dict)
    _counts: dict[int | str, int] = field(default_factory=dict)
    query_seconds: list[float] = field(default_factory=list)

    def add(self, question: Question, ranked_ids: Sequence[str], seconds: float) -> None:
        """Score one question's ranking and record how long the query took."""
        self.add_per_k(question, {k: ranked_ids for k in self.ks}, seconds)

    def add_per_k(
        self, question: Question, rankings: Mapping[int, Sequence[str]], seconds: float
    ) -> None:
        """Score one ranking per k (a search asked for exactly k results each time)."""
        for group in ("all", question.category):
            self._counts[group] = self._counts.get(group, 0) + 1
            for k in self.ks:
                key = (group, k)
                self._sums[key] = self._sums.get(key, 0.0) + recall(
                    rankings[k], question.evidence, k
                )
        self.query_seconds.append(seconds)

    def questions(self, group: int | str = "all") -> int:
        return self._counts.get(group, 0)

    def recall_percent(self, group: int | str, k: int) -> float | None:
        """Mean recall@k in percent over the group's questions (None if it has none)."""
        count = self._counts.get(group, 0)
        if count == 0:
            return None
        return 100.0 * self._sums[(group, k)] / count

    @property
    def mean_query_ms(self) -> float:
        if not self.query_seconds:
            return float("nan")
        return 1000.0 * sum(self.query_seconds) / len(self.query_seconds)


def ingest(engine: Any, conversations: Sequence[Conversation]) -> None:
    """Every turn an episode, one user per conversation (``dia_id`` in its metadata)."""
    from multisession import MemoryInput

    for conversation in conversations:
        engine.add_many(
            conversation.sample_id,
            [
                MemoryInput(
                    content=turn.content,
                    kind="episode",
                    conversation_id=turn.dia_id.split(":")[0],
                    created_at=turn.created_at,
                    metadata={"dia_id": turn.dia_id},
                )
                for turn in conversation.turns
            ],
        )


def describe(conversations: Sequence[Conversation]) -> str:
    """One line on what was loaded: conversations, memories, questions, skips."""
    questions = sum(len(c.questions) for c in conversations)
    per_category = {
        name: sum(1 for c in conversations for q in c.questions if q.category == number)
        for number, name in CATEGORY_NAMES.items()
    }
    categories = ", ".join(f"{count} {name}" for name, count in per_category.items())
    skipped = sum(c.skipped_questions for c in conversations)
    dropped = sum(c.dropped_evidence_ids for c in conversations)
    return (
        f"{len(conversations)} conversations, {sum(len(c.turns) for c in conversations)} "
        f"memories (one per turn), {questions} scored questions ({categories}); "
        f"{skipped} skipped for lack of valid evidence, {dropped} evidence ids dropped"
    )
