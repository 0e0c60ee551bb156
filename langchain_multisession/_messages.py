"""Conversions between LangChain messages and the core's ``(role, content)`` messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from multisession import ContextMessage, Message

__all__ = ["from_core", "many_from_core", "role_and_text", "text_of", "to_core"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def text_of(content: object) -> str:
    """The text of a message, a string, or a list of content parts (text parts joined)."""
    if isinstance(content, BaseMessage):
        return content.text
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return AIMessage(content=list(content)).text
    raise TypeError(f"expected a message or its content, got {type(content).__name__}")


def role_and_text(message: BaseMessage) -> tuple[str, str]:
    """The core role and the text of a message; a role the core lacks is kept as it is."""
    return _ROLES.get(message.type, message.type), text_of(message.content)


def to_core(message: BaseMessage) -> dict[str, Any]:
    """One LangChain message as the core's ``{"role", "content", "metadata"}`` dict.

    Raises:
        ValueError: The message's role has no core equivalent.
    """
    role = _ROLES.get(message.type)
    if role is None and isinstance(message, ChatMessage) and message.role in _ROLES.values():
        role = message.role
    if role is None:
        raise ValueError(
            f"cannot store a {type(message).__name__} (type {message.type!r}): use "
            "HumanMessage, AIMessage, SystemMessage or ToolMessage"
        )
    metadata: dict[str, Any] = {}
    if isinstance(message, ToolMessage):
        metadata["tool_call_id"] = message.tool_call_id
    if isinstance(message, AIMessage) and message.tool_calls:
        metadata["tool_calls"] = [dict(call) for call in message.tool_calls]
    if message.name:
        metadata["name"] = message.name
    return {"role": role, "content": text_of(message.content), "metadata": metadata}


def from_core(message: Message | ContextMessage) -> BaseMessage:
    """One core message as the LangChain message of its role."""
    metadata: Mapping[str, Any] = getattr(message, "metadata", None) or {}
    name = metadata.get("name")
    if message.role == "user":
        return HumanMessage(content=message.content, name=name)
    if message.role == "assistant":
        return AIMessage(
            content=message.content, name=name, tool_calls=list(metadata.get("tool_calls", []))
        )
    if message.role == "tool":
        return ToolMessage(
            content=message.content, tool_call_id=str(metadata.get("tool_call_id", "")), name=name
        )
    return SystemMessage(content=message.content, name=name)


def many_from_core(messages: Iterable[Message | ContextMessage]) -> list[BaseMessage]:
    """Several core messages as LangChain messages, in order."""
    return [from_core(message) for message in messages]
