"""A memory block for LlamaIndex's ``Memory``: long-term memories from multisession."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.memory.memory import BaseMemoryBlock

from multisession import MemoryEngine, SearchHit
from multisession._threads import to_thread

from ._messages import last_user_text, store_turns

__all__ = ["MultiSessionMemoryBlock"]


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
    Messages that ``Memory`` flushes out of its short-term window are stored in the
    engine's conversation, and each user message is scanned, with the reply right after
    it, for things worth remembering.

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
        query = last_user_text(messages or [])
        if not query.strip():
            return ""
        hits = await self._engine.asearch(
            self.user_id, query, k=self.similarity_top_k, kinds=self.kinds
        )
        return "\n".join(_line(hit) for hit in hits)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        await to_thread(store_turns, self._engine, self.user_id, self.conversation_id, messages)

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Drop lines from the end (the lowest-scored memories) until enough is cut.

        Tokens are estimated as four characters each, like LlamaIndex's estimates.
        """
        lines = content.splitlines()
        to_cut = tokens_to_truncate * 4
        while lines and to_cut > 0:
            to_cut -= len(lines.pop()) + 1
        return "\n".join(lines) or None


def _line(hit: SearchHit) -> str:
    memory = hit.memory
    return f"- ({memory.created_at.date().isoformat()}, {memory.kind}) {memory.content}"
