"""Rolling conversation summaries, decisions and action items.

Without an LLM everything here is deterministic and extractive: the summary keeps the
user's memorable statements and requests as short points, newest last, so refreshing it
with new messages never needs the whole history. With an LLM (any callable
``prompt -> text``) the summary is written by the model from the previous summary and
the new messages only (:func:`~multisession.extraction.llm.llm_summary`); when the model
gives none, the extractive summary stands in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..records import Message
from .llm import LLM, llm_summary
from .worthiness import memories_from_exchange, split_statements

__all__ = [
    "extract_action_items",
    "extract_decisions",
    "extractive_summary",
    "rolling_summary",
]

_POINT_SEPARATOR = "; "
_DECISION = re.compile(
    r"\b(?:we|i)(?:'ve| have)? (?:decided|agreed|settled on|chose|are going with|'re going with)\b"
    r"|\blet'?s go with\b|\bdecision:",
    re.IGNORECASE,
)
_ACTION = re.compile(
    r"\b(?:remind me to|i need to|i have to|i must|todo:?|to-do:?|action item:?|next step:?"
    r"|don'?t let me forget to|i still have to|i should)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(r"\?\s*$")


def _shorten(text: str, limit: int = 160) -> str:
    # A point never holds the separator: the next refresh would split it in two.
    text = " ".join(text.split()).replace(_POINT_SEPARATOR, ", ")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _points(messages: Sequence[Message]) -> list[str]:
    points: list[str] = []
    for message in messages:
        if message.role != "user":
            continue
        worthy = [item.text for item in memories_from_exchange(message.content) if item.text]
        if worthy:
            points.extend(_shorten(text) for text in worthy)
            continue
        statements = [s for s in split_statements(message.content) if len(s.split()) >= 3]
        requests = [s for s in statements if _QUESTION.search(s)] or statements
        if requests:
            points.append("asked: " + _shorten(requests[0], 120))
    return points


def extractive_summary(
    previous: str | None, messages: Sequence[Message], *, max_points: int = 10
) -> str:
    """Fold new messages into a summary made of short points (deterministic).

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> extractive_summary(None, [Message("user", "I work at Acme Corp.", t)])
        'I work at Acme Corp.'
    """
    points = [p for p in (previous or "").split(_POINT_SEPARATOR) if p.strip()]
    for point in _points(messages):
        if point not in points:
            points.append(point)
    return _POINT_SEPARATOR.join(points[-max_points:])


def rolling_summary(llm: LLM | None, previous: str | None, messages: Sequence[Message]) -> str:
    """The summary updated with new messages: the model's, else the extractive one.

    The extractive summary is used without an ``llm``, and when the model's call fails
    or its reply is empty.
    """
    summary = llm_summary(llm, previous, messages) if llm is not None else None
    return summary if summary is not None else extractive_summary(previous, messages)


def _sentences_matching(pattern: re.Pattern[str], messages: Sequence[Message]) -> list[str]:
    found: list[str] = []
    for message in messages:
        if message.role != "user":
            continue
        for sentence in split_statements(message.content):
            if pattern.search(sentence) and not _QUESTION.search(sentence):
                found.append(_shorten(sentence))
    return found


def extract_decisions(messages: Sequence[Message]) -> list[str]:
    """The user's statements of a decision ("we decided to use Postgres")."""
    return _sentences_matching(_DECISION, messages)


def extract_action_items(messages: Sequence[Message]) -> list[str]:
    """The user's statements of something still to do ("remind me to renew the passport")."""
    return _sentences_matching(_ACTION, messages)
