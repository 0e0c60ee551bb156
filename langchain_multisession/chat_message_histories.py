"""A LangChain chat message history stored by multisession."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from multisession import MemoryEngine
from multisession._threads import to_thread
from multisession.extraction.recording import exchange_memories, pair_turns

from ._messages import many_from_core, role_and_text, to_core

__all__ = ["MultiSessionChatMessageHistory"]


class MultiSessionChatMessageHistory(BaseChatMessageHistory):
    """The messages of one user's conversation, kept by a :class:`~multisession.MemoryEngine`.

    For existing code built on ``RunnableWithMessageHistory``, which langchain-core has
    deprecated (with ``BaseChatMessageHistory``) in favour of LangGraph persistence. New
    code: an agent from ``create_agent`` with :class:`MultiSessionStore` as its
    ``store`` and :class:`MultiSessionMiddleware`, or an LCEL chain wrapped by
    :func:`with_multisession_memory`.

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
    which run these in a worker thread. Like the other adapters, adding a user message
    and its reply also keeps the memories worth keeping from that exchange (with the
    engine's ``llm`` if it has one, else its memory-worthiness rules), so later
    sessions find them.

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
        """Append messages to the conversation; keep the memories of each exchange."""
        stored = self.engine.add_messages(
            self.user_id, self.conversation_id, [to_core(message) for message in messages]
        )
        memories = [
            item
            for turn in pair_turns([role_and_text(message) for message in messages])
            if turn.user is not None
            for item in exchange_memories(
                self.engine.llm,
                turn.user,
                turn.reply,
                conversation_id=self.conversation_id,
                created_at=stored[turn.start].created_at,
                max_chars=self.engine.max_content_chars,
            )
        ]
        if memories:
            self.engine.add_many(self.user_id, memories)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`: in a worker thread, an async ``llm`` awaited here."""
        await to_thread(self.add_messages, list(messages))

    def clear(self) -> None:
        """Delete the conversation's messages (the user's memories are kept)."""
        self.engine.clear_conversation(self.user_id, self.conversation_id)
