"""A LangChain chat message history stored by multisession."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from multisession import MemoryEngine

from ._messages import many_from_core, to_core

__all__ = ["MultiSessionChatMessageHistory"]


class MultiSessionChatMessageHistory(BaseChatMessageHistory):
    """The messages of one user's conversation, kept by a :class:`~multisession.MemoryEngine`.

    Example::

        from langchain_core.runnables import ConfigurableFieldSpec
        from langchain_core.runnables.history import RunnableWithMessageHistory

        engine = MemoryEngine("./memory-store")
        chain_with_history = RunnableWithMessageHistory(
            chain,
            lambda user_id, conversation_id: MultiSessionChatMessageHistory(
                engine, user_id, conversation_id
            ),
            input_messages_key="input",
            history_messages_key="history",
            history_factory_config=[
                ConfigurableFieldSpec(id="user_id", annotation=str),
                ConfigurableFieldSpec(id="conversation_id", annotation=str),
            ],
        )
        chain_with_history.invoke(
            {"input": "Hi"}, {"configurable": {"user_id": "alice", "conversation_id": "c1"}}
        )

    Human, AI, system and tool messages map to the core roles ``user``, ``assistant``,
    ``system`` and ``tool``; content given as a list of parts is stored as its text.
    The async methods (``aget_messages``, ``aadd_messages``, ``aclear``) are LangChain's,
    which run these in a worker thread.

    Args:
        engine: Where the messages are stored.
        user_id: Whose conversation it is.
        conversation_id: Which of the user's conversations.
    """

    def __init__(self, engine: MemoryEngine, user_id: str, conversation_id: str) -> None:
        self.engine = engine
        self.user_id = user_id
        self.conversation_id = conversation_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The conversation's messages, oldest first."""
        return many_from_core(self.engine.get_messages(self.user_id, self.conversation_id))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages to the conversation."""
        self.engine.add_messages(
            self.user_id, self.conversation_id, [to_core(message) for message in messages]
        )

    def clear(self) -> None:
        """Delete the conversation's messages (the user's memories are kept)."""
        self.engine.clear_conversation(self.user_id, self.conversation_id)
