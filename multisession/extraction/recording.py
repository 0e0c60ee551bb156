"""Recording what comes back: a turn, the memories worth keeping, the rolling summary.

Nothing here knows the engine: each function takes the narrow things it uses (the
conversation store, a function that adds memories, the optional LLM), so the engine,
the importer of the command line and the framework adapters share one procedure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from ..records import Memory, MemoryInput, Message
from ..storage.conversations import ConversationStore
from .llm import LLM, llm_facts
from .summaries import extract_action_items, extract_decisions, rolling_summary
from .worthiness import memories_from_exchange

__all__ = [
    "Turn",
    "TurnPairing",
    "exchange_memories",
    "pair_turns",
    "record_exchange",
    "refresh_summary",
    "track_decisions_and_actions",
]


def record_exchange(
    conversations: ConversationStore,
    add: Callable[[list[MemoryInput], Callable[[Connection], None]], list[Memory]],
    user_id: str,
    conversation_id: str,
    user_message: str,
    assistant_message: str | None = None,
    *,
    now: datetime,
    llm: LLM | None,
    max_chars: int,
    summary_every: int,
) -> list[Memory]:
    """Store a turn, keep what is worth remembering, refresh the summary when due.

    Returns the memories added. With an ``llm``, it extracts short standalone facts;
    otherwise the deterministic memory-worthiness filter decides. ``add`` stores the
    user's memories (dated ``now``) and runs its second argument in the same SQL
    transaction: the turn's messages and its memories commit together or not at all,
    so a caller may retry a failed call without storing the turn twice. ``max_chars``
    is the longest memory it accepts.
    """
    turn = [("user", user_message, None)]
    if assistant_message is not None:
        turn.append(("assistant", assistant_message, None))
    stored = conversations.prepare_messages(conversation_id, turn, now)
    items = exchange_memories(
        llm,
        user_message,
        assistant_message,
        conversation_id=conversation_id,
        created_at=now,
        max_chars=max_chars,
    )
    if items:
        added = add(
            items,
            functools.partial(
                conversations.write_messages,
                user_id=user_id,
                conversation_id=conversation_id,
                stored=stored,
                now=now,
            ),
        )
        conversations.forget_cached(user_id, conversation_id)
    else:
        added = []
        stored = conversations.add_messages(user_id, conversation_id, turn, now)
    track_decisions_and_actions(conversations, user_id, conversation_id, stored)
    refresh_summary(conversations, llm, user_id, conversation_id, summary_every)
    return added


def exchange_memories(
    llm: LLM | None,
    user_message: str,
    assistant_message: str | None,
    *,
    conversation_id: str,
    created_at: datetime,
    max_chars: int,
) -> list[MemoryInput]:
    """What is worth remembering from one exchange, ready for ``add_many``.

    With an ``llm``, its standalone facts; when it has none to give (the call
    fails, the reply is not a list), or without an LLM, the memory-worthiness rules, which
    also tell a preference from a fact. Texts longer than ``max_chars`` are left out.
    """
    facts = llm_facts(llm, user_message, assistant_message) if llm is not None else None
    if facts is not None:
        items = [
            MemoryInput(
                text,
                kind="fact",
                conversation_id=conversation_id,
                metadata={"source": "llm_extraction"},
                created_at=created_at,
            )
            for text in facts
        ]
    else:
        items = [
            MemoryInput(
                assessment.text,
                kind=assessment.kind or "fact",
                conversation_id=conversation_id,
                metadata={"source": "exchange", "cue": assessment.cue, "reason": assessment.reason},
                created_at=created_at,
            )
            for assessment in memories_from_exchange(user_message, assistant_message)
        ]
    return [item for item in items if item.content.strip() and len(item.content) <= max_chars]


def refresh_summary(
    conversations: ConversationStore,
    llm: LLM | None,
    user_id: str,
    conversation_id: str,
    summary_every: int,
) -> None:
    """Rewrite the conversation's rolling summary when enough new messages came in."""
    conversation = conversations.get(user_id, conversation_id)
    if conversation is None:
        return
    pending = conversation.message_count - conversation.summarized_count
    if pending < summary_every:
        return
    new = conversations.messages(user_id, conversation_id, offset=conversation.summarized_count)
    summary = rolling_summary(llm, conversation.summary, new)
    conversations.update_state(
        user_id,
        conversation_id,
        summary=summary,
        summarized_count=conversation.summarized_count + len(new),
    )


def track_decisions_and_actions(
    conversations: ConversationStore,
    user_id: str,
    conversation_id: str,
    messages: Sequence[Message],
) -> None:
    """Record the decisions and action items these messages state in the conversation."""
    decisions = extract_decisions(messages)
    actions = extract_action_items(messages)
    if not decisions and not actions:
        return
    conversation = conversations.get(user_id, conversation_id)
    if conversation is None:
        return
    known = {item["text"] for item in conversation.action_items}
    conversations.update_state(
        user_id,
        conversation_id,
        decisions=[
            *conversation.decisions,
            *(d for d in decisions if d not in conversation.decisions),
        ],
        action_items=[
            *conversation.action_items,
            *({"text": text, "done": False} for text in actions if text not in known),
        ],
    )


# -- pairing a user message with its reply ------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """A user message, the reply that answers it, and where the turn lies in the sequence.

    Attributes:
        user: The user's text; ``None`` for the messages before the first user message.
        reply: The text of the last assistant message with text before the next user
            message, or ``None`` when the assistant gave none (a tool call alone is no
            reply).
        start: The position of the turn's first message (the user's, when ``user`` is
            set); the turn is ``messages[start:end]``, every message in the order given.
        end: The position after the turn's last message.
        reply_at: The position of the reply, or ``None``.
    """

    user: str | None
    reply: str | None
    start: int
    end: int
    reply_at: int | None = None


class TurnPairing:
    """:func:`pair_turns` one message at a time, for input too long to hold at once.

    It keeps the texts of the turn under way only, not its messages.

    Example:
        >>> pairing = TurnPairing()
        >>> pairing.add("user", "I moved to Oslo") is None
        True
        >>> pairing.add("assistant", "Noted!") is None
        True
        >>> pairing.add("user", "Any tips?")
        Turn(user='I moved to Oslo', reply='Noted!', start=0, end=2, reply_at=1)
        >>> pairing.finish()
        Turn(user='Any tips?', reply=None, start=2, end=3, reply_at=None)
    """

    def __init__(self) -> None:
        self._position = 0
        self._start = 0
        self._user: str | None = None
        self._reply: str | None = None
        self._reply_at: int | None = None

    def add(self, role: str, text: str) -> Turn | None:
        """Take the next message; returns the turn it ends, if it starts a new one.

        A user message with text starts a turn. Within a turn, each assistant message
        with text becomes the reply, so the last one before the next user message wins:
        in an agent's run, the final answer after its tool calls.
        """
        ended = None
        if role == "user" and text.strip():
            ended = self.finish()
            self._user = text
        elif role == "assistant" and text.strip() and self._user is not None:
            self._reply, self._reply_at = text, self._position
        self._position += 1
        return ended

    def finish(self) -> Turn | None:
        """End the turn under way; ``None`` if no message came since the last one ended.

        Messages added afterwards start the next turn, at the next position.
        """
        if self._position == self._start:
            return None
        turn = Turn(self._user, self._reply, self._start, self._position, self._reply_at)
        self._start, self._user, self._reply, self._reply_at = self._position, None, None, None
        return turn


def pair_turns(messages: Sequence[tuple[str, str]]) -> list[Turn]:
    """Split ``(role, text)`` messages into turns, each user message with its reply.

    One rule for every caller that records a conversation (the framework adapters, the
    importer): a user message with text pairs with the last assistant message with text
    before the next user message; every other message (tool calls and results, system
    messages, earlier assistant messages) stays in its turn, in order. Messages before
    the first user message form a turn without a user.

    Example:
        >>> [(turn.user, turn.reply) for turn in pair_turns([
        ...     ("user", "What can I cook?"),
        ...     ("assistant", ""),
        ...     ("tool", "rice, peanuts"),
        ...     ("assistant", "Coconut rice."),
        ...     ("user", "Thanks"),
        ... ])]
        [('What can I cook?', 'Coconut rice.'), ('Thanks', None)]

    Returns:
        The turns in order; one after the other, they cover every message.
    """
    pairing = TurnPairing()
    turns = [turn for role, text in messages if (turn := pairing.add(role, text)) is not None]
    last = pairing.finish()
    return [*turns, last] if last is not None else turns
