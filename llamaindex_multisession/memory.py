"""A LlamaIndex ``BaseMemory`` backed by a multisession :class:`~multisession.MemoryEngine`."""

from __future__ import annotations

import dataclasses
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.memory import BaseMemory

from multisession import BuiltContext, ContextConfig, MemoryEngine, Resumption
from multisession._threads import to_thread
from multisession.context.tokens import counting_for

from ._messages import core_role, from_context, from_stored, last_user_text, store_turns, text_of

__all__ = ["MultiSessionMemory"]

# How far back ``get()`` looks for the user's last message when no input is given.
_LAST_USER_LOOKBACK = 20


class MultiSessionMemory(BaseMemory):
    """Chat memory for one user and conversation, remembered across sessions.

    Example::

        from llama_index.core.chat_engine import SimpleChatEngine
        from multisession import MemoryEngine
        from llamaindex_multisession import MultiSessionMemory

        engine = MemoryEngine("./memory-store")
        memory = MultiSessionMemory.from_defaults(
            engine=engine, user_id="alice", conversation_id="chat-1"
        )
        chat = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
        chat.chat("I'm allergic to peanuts")

    Works with every chat engine (``SimpleChatEngine``, ``ContextChatEngine``,
    ``CondensePlusContextChatEngine``, ...) and the workflow agents (``FunctionAgent``,
    ``ReActAgent``, ``AgentWorkflow``: ``agent.run(user_msg, memory=memory)``).

    :meth:`get` returns the engine's budgeted context: one system message (the system
    prompt, the user's preferences, how this session resumes the last one and the
    memories relevant to the input), then the recent history of the conversation, all
    within ``token_limit`` tokens. :meth:`put` stores a message; a user message is also
    scanned for things worth remembering in later sessions.

    The session's resumption (new topic, pick up, continue) is decided once, the first
    time the object is used, because frameworks store the user's message before asking
    for the context. Use a new object for each session.

    The async methods run these in a worker thread; ``aput`` and ``aput_messages``,
    which may call the engine's ``llm``, let an async model be awaited on the caller's
    event loop (the others are LlamaIndex's).

    :meth:`reset` clears this conversation only; the user's long-term memories stay.
    Forgetting a user entirely is the separate, explicit ``engine.delete_user(user_id)``.

    Tool calls are stored as text: a later turn sees what a tool returned, as an
    assistant message, but not a replayable tool call.

    Args:
        engine: The memory engine.
        user_id: Whose memory this is; nothing of another user is ever read.
        conversation_id: The conversation messages are stored in.
        token_limit: The most tokens :meth:`get` returns (3000 by default); history
            that does not fit is left out, oldest first, and :attr:`last_context` says
            how much.
        system_prompt: Replaces the engine's system prompt in the context.
        context: Context settings to start from (default: the engine's); the name the
            engine and the LangChain adapter use.
        context_config: The same as ``context``, its first name here; give one of them.

    Raises:
        TypeError: ``engine`` is not a ``MemoryEngine``, a context setting is not a
            ``ContextConfig``, or both ``context`` and ``context_config`` are given.
    """

    user_id: str = Field(min_length=1, description="Whose memory this is.")
    conversation_id: str = Field(min_length=1, description="Where messages are stored.")
    token_limit: int = Field(default=3000, gt=0, description="Most tokens get() returns.")
    system_prompt: str | None = Field(default=None, description="Replaces the engine's.")

    _engine: MemoryEngine = PrivateAttr()
    _config: ContextConfig = PrivateAttr()
    _resumption: Resumption | None = PrivateAttr(default=None)
    _last_user: str | None = PrivateAttr(default=None)
    _last_context: BuiltContext | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        engine: MemoryEngine,
        user_id: str,
        conversation_id: str,
        token_limit: int = 3000,
        system_prompt: str | None = None,
        context: ContextConfig | None = None,
        context_config: ContextConfig | None = None,
    ) -> None:
        if not isinstance(engine, MemoryEngine):
            raise TypeError(f"engine must be a MemoryEngine, got {type(engine).__name__}")
        if context is not None and context_config is not None:
            raise TypeError("give context or context_config (its former name), not both")
        context = context if context is not None else context_config
        if context is not None and not isinstance(context, ContextConfig):
            name = "context" if context_config is None else "context_config"
            raise TypeError(f"{name} must be a ContextConfig, got {type(context).__name__}")
        super().__init__(
            user_id=user_id,
            conversation_id=conversation_id,
            token_limit=token_limit,
            system_prompt=system_prompt,
        )
        self._engine = engine
        base = context or engine.context_config
        if system_prompt is not None:
            base = dataclasses.replace(base, system_prompt=system_prompt)
        self._config = base

    @classmethod
    def class_name(cls) -> str:
        return "MultiSessionMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        *,
        engine: MemoryEngine,
        user_id: str,
        conversation_id: str,
        token_limit: int = 3000,
        system_prompt: str | None = None,
        context: ContextConfig | None = None,
        context_config: ContextConfig | None = None,
    ) -> MultiSessionMemory:
        """Create the memory of one user's conversation (see the class docstring)."""
        return cls(
            engine=engine,
            user_id=user_id,
            conversation_id=conversation_id,
            token_limit=token_limit,
            system_prompt=system_prompt,
            context=context,
            context_config=context_config,
        )

    @property
    def engine(self) -> MemoryEngine:
        """The memory engine this memory reads and writes."""
        return self._engine

    # -- reading -----------------------------------------------------------------------

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The budgeted context for ``input`` (default: the last user message).

        Args:
            input: The message memories are retrieved for.
            **kwargs: ``initial_token_count`` (tokens the caller adds before these
                messages) is taken off the budget; other arguments are ignored.

        Returns:
            The system message, then the recent history.
        """
        resumption = self._session_resumption()
        with counting_for("llamaindex"):
            built = self._engine.build_context(
                self.user_id,
                input if input is not None else self._last_user_text(),
                conversation_id=self.conversation_id,
                config=self._budgeted(kwargs.get("initial_token_count")),
                resumption=resumption,
            )
        self._last_context = built
        return from_context(built.messages)

    def get_all(self) -> list[ChatMessage]:
        """Every stored message of the conversation, oldest first."""
        return from_stored(self._engine.get_messages(self.user_id, self.conversation_id))

    @property
    def last_context(self) -> BuiltContext | None:
        """The context :meth:`get` built last, or None before the first call.

        Its ``trimmed_messages`` and ``trimmed_tokens`` say how much of the history was
        left out to fit ``token_limit``; ``packed.dropped`` lists everything left out.
        """
        return self._last_context

    # -- writing -----------------------------------------------------------------------

    def put(self, message: ChatMessage) -> None:
        """Store a message; a user message is also scanned for memories worth keeping."""
        self.put_messages([message])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Store messages in order, scanning each turn for memories worth keeping.

        A user message and the assistant reply right after it are scanned together, so
        that a reply confirming what the user said counts too.
        """
        self._session_resumption()
        store_turns(self._engine, self.user_id, self.conversation_id, messages)
        self._remember_last_user(messages)

    async def aput(self, message: ChatMessage) -> None:
        """Async :meth:`put`: in a worker thread, with an async ``llm`` awaited here."""
        await to_thread(self.put_messages, [message])

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`put_messages` (see :meth:`aput`)."""
        await to_thread(self.put_messages, messages)

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the conversation's messages with ``messages``.

        The messages are stored as history only: a history handed in again on every
        call must not be remembered again each time.
        """
        self._session_resumption()
        self._engine.clear_conversation(self.user_id, self.conversation_id)
        self._engine.add_messages(
            self.user_id,
            self.conversation_id,
            [(core_role(message), text_of(message)) for message in messages],
        )
        self._last_user = None
        self._remember_last_user(messages)

    def reset(self) -> None:
        """Clear this conversation's messages and summary (not the user's memories)."""
        self._engine.clear_conversation(self.user_id, self.conversation_id)
        self._resumption = None
        self._last_user = None

    # -- internals ---------------------------------------------------------------------

    def _budgeted(self, initial_token_count: object) -> ContextConfig:
        used = initial_token_count if isinstance(initial_token_count, int) else 0
        limit = max(1, self.token_limit - max(0, used))
        budget = dataclasses.replace(self._config.budget, max_tokens=limit, response_reserve=0)
        return dataclasses.replace(self._config, budget=budget)

    def _session_resumption(self) -> Resumption:
        if self._resumption is None:
            self._resumption = self._engine.resume(self.user_id, self.conversation_id)
        return self._resumption

    def _remember_last_user(self, messages: list[ChatMessage]) -> None:
        if any(core_role(message) == "user" for message in messages):
            self._last_user = last_user_text(messages)

    def _last_user_text(self) -> str:
        # Frameworks put the user's message, then get() the context without an input:
        # the message this object stored is the latest, and saves reading it back.
        if self._last_user is None:
            recent = self._engine.get_messages(
                self.user_id, self.conversation_id, last=_LAST_USER_LOOKBACK
            )
            self._last_user = last_user_text(from_stored(recent))
        return self._last_user
