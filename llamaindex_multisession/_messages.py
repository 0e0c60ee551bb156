"""Translating chat messages between LlamaIndex and multisession, and storing them."""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from multisession import ContextMessage, MemoryEngine, Message
from multisession.context.replay import replayable
from multisession.extraction.recording import pair_turns

__all__ = [
    "core_role",
    "from_context",
    "from_stored",
    "last_user_text",
    "store_turns",
    "text_of",
]

# LlamaIndex knows more roles than the core stores; each maps to its closest core role.
_CORE_ROLES: dict[str, str] = {
    MessageRole.SYSTEM.value: "system",
    MessageRole.DEVELOPER.value: "system",
    MessageRole.USER.value: "user",
    MessageRole.ASSISTANT.value: "assistant",
    MessageRole.CHATBOT.value: "assistant",
    MessageRole.MODEL.value: "assistant",
    MessageRole.TOOL.value: "tool",
    MessageRole.FUNCTION.value: "tool",
}


def core_role(message: ChatMessage) -> str:
    """The core role (``user``, ``assistant``, ``system`` or ``tool``) of a message."""
    role = message.role.value if isinstance(message.role, MessageRole) else str(message.role)
    return _CORE_ROLES.get(role, "user")


def text_of(message: ChatMessage) -> str:
    """The text of a message (its text blocks joined); other blocks are not stored."""
    return message.content or ""


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """The text of the last user message, or ``""`` when there is none.

    During an agent run the last message is often a tool call or a tool result; the
    user's message is still what the run is about.
    """
    for message in reversed(messages):
        if core_role(message) == "user":
            return text_of(message)
    return ""


def from_stored(messages: Sequence[Message]) -> list[ChatMessage]:
    """Stored messages as LlamaIndex messages, roles unchanged."""
    return [ChatMessage(role=message.role, content=message.content) for message in messages]


def from_context(messages: Sequence[ContextMessage]) -> list[ChatMessage]:
    """A built context as messages a chat model accepts (tool calls replayed as text)."""
    return [
        ChatMessage(role=message.role, content=message.content) for message in replayable(messages)
    ]


def store_turns(
    engine: MemoryEngine, user_id: str, conversation_id: str, messages: Sequence[ChatMessage]
) -> None:
    """Store messages in order, keeping what is worth remembering from each turn.

    Turns are split by :func:`~multisession.extraction.recording.pair_turns`. A user
    message and its reply are recorded as one exchange
    (:meth:`~multisession.MemoryEngine.record_exchange`), so a memory can come from the
    pair; every other message (tool calls and results, system messages) is appended as
    it is. The engine stores an exchange as two adjacent messages: when tool calls stand
    between the user's message and the reply, the user's message is recorded alone, so
    that the history keeps its order.
    """
    pending = [(core_role(message), text_of(message)) for message in messages]
    others: list[tuple[str, str]] = []
    for turn in pair_turns(pending):
        if turn.user is None:
            others += pending[turn.start : turn.end]
            continue
        if others:
            engine.add_messages(user_id, conversation_id, others)
        adjacent = turn.reply_at == turn.start + 1
        engine.record_exchange(
            user_id, conversation_id, turn.user, turn.reply if adjacent else None
        )
        others = pending[(turn.start + (2 if adjacent else 1)) : turn.end]
    if others:
        engine.add_messages(user_id, conversation_id, others)
