"""A memory block for LlamaIndex's ``Memory``: long-term memories from multisession."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.memory.memory import BaseMemoryBlock, Memory
from llama_index.core.storage.chat_store.sql import MessageStatus

from multisession import MemoryEngine, SearchHit
from multisession._threads import to_thread

from ._messages import core_role, last_user_text, store_turns, text_of

__all__ = ["MultiSessionMemoryBlock"]

#: How many stored messages before a flushed chunk's length are searched for it: turns
#: stored when the window showed them, before ``Memory`` flushed them.
_LOOKBACK = 200


class MultiSessionMemoryBlock(BaseMemoryBlock[str]):
    """Long-term memories of one user, as a block of LlamaIndex's ``Memory``.

    Example::

        from llama_index.core.memory import Memory
        from llamaindex_multisession import MultiSessionMemoryBlock

        block = MultiSessionMemoryBlock(engine=engine, user_id="alice", conversation_id="chat-1")
        memory = Memory.from_defaults(session_id="chat-1", memory_blocks=[block])
        agent.run(user_msg="What should I not eat?", memory=memory)

    ``Memory`` keeps the recent messages itself and asks the block for its content with
    the current messages: the block searches the user's memories for the last user
    message (still the question while an agent calls tools) and renders the best hits,
    one per line with their date, in the system message inside
    ``<memory><multisession>...</multisession></memory>``.
    The session's messages are stored in the engine's conversation, and each user
    message is scanned, with the reply right after it, for things worth remembering.
    ``Memory`` hands a block only the messages it flushes out of its short-term window,
    which a short session never fills; so the block also stores what it is shown when
    asked for its content: every turn of the window before the last user message (a
    turn is complete once the next one starts). The session's last turn is stored when
    ``Memory`` flushes it, when the next session on the same ``session_id`` shows it, or
    by :meth:`astore_session` (:meth:`store_session`) at the end of a session.
    Nothing is stored twice: what the engine already holds is recognised by comparing
    the newest stored messages with those handed in (a session whose first messages
    repeat, word for word, the conversation's last stored ones is taken as already
    stored).

    Priority: ``Memory`` truncates blocks, when the total is over its token limit, in
    ascending priority starting at 1 (priority 1 is cut first); 0, the default, means
    never truncated. Truncating this block drops its lowest-scored lines first.

    Args:
        engine: The memory engine.
        user_id: Whose memories are read and written.
        conversation_id: Where flushed messages are stored.
        similarity_top_k: How many memories at most.
        kinds: Only memories of these kinds (default: all).
        name: The block's name (the tag around its content).
        priority: See above.
    """

    name: str = Field(default="multisession", description="The block's name.")
    user_id: str = Field(min_length=1, description="Whose memories are read and written.")
    conversation_id: str = Field(min_length=1, description="Where flushed messages go.")
    similarity_top_k: int = Field(default=5, gt=0, description="How many memories at most.")
    kinds: list[str] | None = Field(default=None, description="Only these kinds.")

    _engine: MemoryEngine = PrivateAttr()

    def __init__(self, *, engine: MemoryEngine, **data: Any) -> None:
        if not isinstance(engine, MemoryEngine):
            raise TypeError(f"engine must be a MemoryEngine, got {type(engine).__name__}")
        super().__init__(**data)
        self._engine = engine

    @property
    def engine(self) -> MemoryEngine:
        """The memory engine this block reads and writes."""
        return self._engine

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        if messages:
            await to_thread(self._store_complete_turns, list(messages))
        query = last_user_text(messages or [])
        if not query.strip():
            return ""
        hits = await self._engine.asearch(
            self.user_id, query, k=self.similarity_top_k, kinds=self.kinds
        )
        return "\n".join(_line(hit) for hit in hits)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        await to_thread(self._store_new, messages, _LOOKBACK)

    async def astore_session(self, memory: Memory) -> None:
        """Store the messages of ``memory``'s window the engine does not hold yet.

        Call it when a session ends, so that its last turn is stored (and scanned for
        memories) even if ``memory`` never flushes it.
        """
        window = await memory.aget_all(status=MessageStatus.ACTIVE)
        await to_thread(self._store_new, window, 0)

    def store_session(self, memory: Memory) -> None:
        """Sync :meth:`astore_session`."""
        self._store_new(memory.get_all(status=MessageStatus.ACTIVE), 0)

    def _store_complete_turns(self, window: list[ChatMessage]) -> None:
        last_user = max(
            (i for i, message in enumerate(window) if core_role(message) == "user"), default=0
        )
        if last_user > 0:
            self._store_new(window[:last_user], 0)

    def _store_new(self, messages: list[ChatMessage], lookback: int) -> None:
        """Store ``messages`` but the part the conversation already ends with.

        ``lookback`` more stored messages are also searched for all of ``messages``
        (a flush of turns stored earlier, when the window showed them).
        """
        incoming = [(core_role(message), text_of(message)) for message in messages]
        if not incoming:
            return
        stored = [
            (message.role, message.content)
            for message in self._engine.get_messages(
                self.user_id, self.conversation_id, last=len(incoming) + lookback
            )
        ]
        skip = _already_stored(stored, incoming)
        if skip < len(messages):
            store_turns(self._engine, self.user_id, self.conversation_id, messages[skip:])

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Drop lines from the end (the lowest-scored memories) until enough is cut.

        Tokens are estimated as four characters each, like LlamaIndex's estimates.
        """
        lines = content.splitlines()
        to_cut = tokens_to_truncate * 4
        while lines and to_cut > 0:
            to_cut -= len(lines.pop()) + 1
        return "\n".join(lines) or None


def _already_stored(stored: list[tuple[str, str]], incoming: list[tuple[str, str]]) -> int:
    """How many of ``incoming``'s first messages ``stored`` (the newest ones) holds.

    All of them when they appear together anywhere in ``stored``; otherwise the longest
    start of ``incoming`` that ``stored`` ends with (0 for none).
    """
    size = len(incoming)
    for start in range(len(stored) - size, -1, -1):
        if stored[start : start + size] == incoming:
            return size
    for overlap in range(min(size, len(stored)), 0, -1):
        if stored[-overlap:] == incoming[:overlap]:
            return overlap
    return 0


def _line(hit: SearchHit) -> str:
    memory = hit.memory
    return f"- ({memory.created_at.date().isoformat()}, {memory.kind}) {memory.content}"
