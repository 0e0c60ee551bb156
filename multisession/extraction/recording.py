"""Recording what comes back: a turn, the memories worth keeping, the rolling summary.

Nothing here knows the engine: each function takes the narrow things it uses (the
conversation store, a function that adds memories, the optional LLM), so the engine,
the importer of the command line and the framework adapters share one procedure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from ..records import Memory, MemoryInput, Message
from ..storage.conversations import ConversationStore
from .llm import LLM, llm_facts
from .summaries import extract_action_items, extract_decisions, rolling_summary
from .worthiness import memories_from_exchange

__all__ = [
    "exchange_memories",
    "record_exchange",
    "refresh_summary",
    "track_decisions_and_actions",
]


def record_exchange(
    conversations: ConversationStore,
    add: Callable[[list[MemoryInput]], list[Memory]],
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
    user's memories (dated ``now``); ``max_chars`` is the longest memory it accepts.
    """
    turn = [("user", user_message, None)]
    if assistant_message is not None:
        turn.append(("assistant", assistant_message, None))
    stored = conversations.add_messages(user_id, conversation_id, turn, now)
    track_decisions_and_actions(conversations, user_id, conversation_id, stored)

    items = exchange_memories(
        llm,
        user_message,
        assistant_message,
        conversation_id=conversation_id,
        created_at=now,
        max_chars=max_chars,
    )
    added = add(items) if items else []
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
