"""What a user's store holds by privacy class, and erasing one class of their messages.

Reports read only the class and the detector names stored beside each memory and
message, never their content, so a report can be printed or logged without repeating
what it counts. Erasing a class of messages also clears what was derived from them in
the conversation: the rolling summary (rebuilt from the messages that remain) and the
decisions and action items whose own text is of the class.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .conversations import open_state, seal_state
from .encryption import StoreCipher
from .schema import conversations_table, memories_table, messages_table

__all__ = ["ClassCounts", "class_counts", "erase_messages"]

#: How rows stored before classification (or with it off) are counted.
UNCLASSIFIED = "unclassified"


@dataclass
class ClassCounts:
    """How many of a user's rows are of each class and carry each detector."""

    by_class: Counter[str] = field(default_factory=Counter)
    by_detector: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": sum(self.by_class.values()),
            "by_class": dict(sorted(self.by_class.items())),
            "by_detector": dict(sorted(self.by_detector.items())),
        }


def class_counts(engine: Engine, user_id: str) -> dict[str, ClassCounts]:
    """The user's memories and messages counted by class and by detector.

    Returns:
        ``{"memories": ClassCounts, "messages": ClassCounts}``.
    """
    counts: dict[str, ClassCounts] = {}
    with engine.connect() as conn:
        for name, table in (("memories", memories_table), ("messages", messages_table)):
            found = ClassCounts()
            rows = conn.execute(
                sa.select(table.c.sensitivity, table.c.detectors).where(table.c.user_id == user_id)
            )
            for sensitivity, detectors in rows:
                found.by_class[sensitivity or UNCLASSIFIED] += 1
                if isinstance(detectors, (str, bytes)):
                    detectors = json.loads(detectors)
                found.by_detector.update(detectors or ())
            counts[name] = found
    return counts


def erase_messages(
    engine: Engine,
    user_id: str,
    classes: Sequence[str],
    is_of_class: Callable[[str], bool],
    cipher: StoreCipher | None = None,
) -> int:
    """Delete the user's messages of these classes, and what their conversations derived.

    In each conversation that lost a message, the rolling summary is dropped (the next
    refresh rebuilds it from what remains) and the decisions and action items for which
    ``is_of_class(text)`` holds are removed. One transaction: all of it, or nothing.

    Returns:
        How many messages were deleted.
    """
    if cipher is not None:
        cipher.prepare(user_id)  # the conversations' state is sealed again below
    with engine.begin() as conn:
        lost = Counter(
            conversation_id
            for (conversation_id,) in conn.execute(
                sa.select(messages_table.c.conversation_id).where(
                    messages_table.c.user_id == user_id,
                    messages_table.c.sensitivity.in_(list(classes)),
                )
            )
        )
        if not lost:
            return 0
        conn.execute(
            messages_table.delete().where(
                messages_table.c.user_id == user_id,
                messages_table.c.sensitivity.in_(list(classes)),
            )
        )
        for conversation_id, count in lost.items():
            where = (
                conversations_table.c.user_id == user_id,
                conversations_table.c.conversation_id == conversation_id,
            )
            row = conn.execute(
                sa.select(
                    conversations_table.c.user_id,
                    conversations_table.c.conversation_id,
                    conversations_table.c.summary,
                    conversations_table.c.decisions,
                    conversations_table.c.action_items,
                    conversations_table.c.sealed,
                )
                .where(*where)
                .with_for_update()
            ).first()
            if row is None:
                continue
            state = open_state(row, cipher)  # opened when sealed (encryption at rest)
            values = {
                "summary": None,
                "decisions": [text for text in state["decisions"] or [] if not is_of_class(text)],
                "action_items": [
                    dict(item)
                    for item in state["action_items"] or []
                    if not is_of_class(str(item.get("text", "")))
                ],
            }
            conn.execute(
                conversations_table.update()
                .where(*where)
                .values(
                    message_count=sa.func.max(conversations_table.c.message_count - count, 0)
                    if conn.dialect.name == "sqlite"
                    else sa.func.greatest(conversations_table.c.message_count - count, 0),
                    summarized_count=0,
                    **seal_state(conn, cipher, user_id, conversation_id, values),
                )
            )
    return sum(lost.values())
