"""Translating chat messages between LlamaIndex and multisession."""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from multisession import ContextMessage, Message

__all__ = ["core_role", "from_context", "from_stored", "text_of"]

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


def from_stored(messages: Sequence[Message]) -> list[ChatMessage]:
    """Stored messages as LlamaIndex messages, roles unchanged."""
    return [ChatMessage(role=message.role, content=message.content) for message in messages]


def from_context(messages: Sequence[ContextMessage]) -> list[ChatMessage]:
    """A built context as messages a chat model accepts.

    Tool calls are stored as text, without the call ids providers require to replay
    them: a stored tool result becomes an assistant message saying what the tool
    returned, and an assistant message without text (a bare tool call) is left out.
    """
    converted: list[ChatMessage] = []
    for message in messages:
        if message.role == "tool":
            converted.append(
                ChatMessage(role=MessageRole.ASSISTANT, content=f"Tool result: {message.content}")
            )
        elif message.role == "assistant" and not message.content.strip():
            continue
        else:
            converted.append(ChatMessage(role=message.role, content=message.content))
    return converted
