"""Making a built context safe to send back to a chat model.

The conversation store keeps tool calls as text, without the call ids that chat model
providers require to replay them: a tool result needs the id of the call it answers,
and an assistant turn needs text or tool calls. The framework adapters turn a built
context into their own messages through :func:`replayable`, so they all follow one rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import ContextMessage

__all__ = ["replayable"]


def replayable(messages: Sequence[ContextMessage]) -> list[ContextMessage]:
    """The messages a chat model accepts without tool-call ids, in order.

    A tool result becomes an assistant message saying what the tool returned; an
    assistant message without text (a bare tool call) is left out; every other
    message is kept as it is.

    Example:
        >>> replayable([
        ...     ContextMessage("user", "Weather in Lisbon?"),
        ...     ContextMessage("assistant", ""),
        ...     ContextMessage("tool", "Sunny, 21 C"),
        ... ])  # doctest: +NORMALIZE_WHITESPACE
        [ContextMessage(role='user', content='Weather in Lisbon?'),
         ContextMessage(role='assistant', content='Tool result: Sunny, 21 C')]
    """
    replay: list[ContextMessage] = []
    for message in messages:
        if message.role == "tool":
            replay.append(ContextMessage("assistant", f"Tool result: {message.content}"))
        elif message.role != "assistant" or message.content.strip():
            replay.append(message)
    return replay
