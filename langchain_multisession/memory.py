"""Drop-in long-term memory for an LCEL chain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSequence

from multisession import ContextConfig, MemoryEngine
from multisession.context.replay import replayable
from multisession.context.tokens import counting_for

from ._config import session_ids
from ._messages import many_from_core, text_of

__all__ = ["MultiSessionMemory", "with_multisession_memory"]


class MultiSessionMemory:
    """Budgeted memory for LCEL chains: context before each turn, memories after it.

    Example::

        prompt = ChatPromptTemplate([MessagesPlaceholder("history"), ("human", "{input}")])
        chain = MultiSessionMemory(MemoryEngine("./memory-store")).wrap(prompt | model)
        chain.invoke(
            {"input": "I'm allergic to peanuts"},
            {"configurable": {"user_id": "alice", "conversation_id": "c1"}},
        )

    Before each turn the wrapped chain receives, under ``history_key``, the messages
    :meth:`~multisession.MemoryEngine.build_context` packed for the input (a system
    message with the system prompt, preferences, resumption and relevant memories, then
    the conversation's recent history); after it, the turn is recorded with
    :meth:`~multisession.MemoryEngine.record_exchange`.

    The wrapped chain streams: ``stream`` / ``astream`` yield the chain's own chunks
    (the model's tokens), and the reply they add up to is recorded at the end.

    Tool calls in the history are replayed as text, since the stored history keeps no
    tool-call ids: a tool result comes back as an AI message saying what the tool
    returned, and an AI message that only called a tool is left out.

    Args:
        engine: Where memories and conversations are kept.
        context: How the prompt is filled; the engine's setting when ``None``.
    """

    def __init__(self, engine: MemoryEngine, *, context: ContextConfig | None = None) -> None:
        self.engine = engine
        self.context = context

    def load(
        self, user_id: str, text: str, *, conversation_id: str | None = None
    ) -> list[BaseMessage]:
        """The context messages for the user's next message ``text``."""
        with counting_for("langchain"):
            built = self.engine.build_context(
                user_id, text, conversation_id=conversation_id, config=self.context
            )
        return many_from_core(replayable(built.messages))

    async def aload(
        self, user_id: str, text: str, *, conversation_id: str | None = None
    ) -> list[BaseMessage]:
        """Async :meth:`load`."""
        with counting_for("langchain"):
            built = await self.engine.abuild_context(
                user_id, text, conversation_id=conversation_id, config=self.context
            )
        return many_from_core(replayable(built.messages))

    def save(self, user_id: str, conversation_id: str, text: str, reply: str | None) -> None:
        """Record a turn and the memories worth keeping from it."""
        self.engine.record_exchange(user_id, conversation_id, text, reply)

    async def asave(self, user_id: str, conversation_id: str, text: str, reply: str | None) -> None:
        """Async :meth:`save`."""
        await self.engine.arecord_exchange(user_id, conversation_id, text, reply)

    def wrap(
        self,
        chain: Runnable[Any, Any],
        *,
        input_key: str = "input",
        history_key: str = "history",
        output_key: str | None = None,
    ) -> Runnable[Any, Any]:
        """``chain`` with this memory; see :func:`with_multisession_memory`.

        Raises:
            ValueError: The chain starts with a prompt that has no placeholder named
                ``history_key``, so the memory would never reach the model.
        """
        _check_placeholder(chain, history_key)
        return _WithMemory(self, chain, input_key, history_key, output_key)


class _WithMemory(Runnable[Any, Any]):
    """A chain run with a :class:`MultiSessionMemory`: load, run (or stream), save."""

    name = "MultiSessionMemory"

    def __init__(
        self,
        memory: MultiSessionMemory,
        chain: Runnable[Any, Any],
        input_key: str,
        history_key: str,
        output_key: str | None,
    ) -> None:
        self.memory = memory
        self.chain = chain
        self.input_key = input_key
        self.history_key = history_key
        self.output_key = output_key

    def _start(self, inputs: Any, config: RunnableConfig | None) -> tuple[str, str, str, Any]:
        user_id, conversation_id = session_ids(config or {})
        text, chain_input = _chain_input(inputs, self.input_key)
        return user_id, conversation_id, text, chain_input

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the chain with the user's memory; record the turn."""
        user_id, conversation_id, text, chain_input = self._start(input, config)
        history = self.memory.load(user_id, text, conversation_id=conversation_id)
        output = self.chain.invoke({**chain_input, self.history_key: history}, config)
        self.memory.save(user_id, conversation_id, text, _reply(output, self.output_key))
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke`."""
        user_id, conversation_id, text, chain_input = self._start(input, config)
        history = await self.memory.aload(user_id, text, conversation_id=conversation_id)
        output = await self.chain.ainvoke({**chain_input, self.history_key: history}, config)
        await self.memory.asave(user_id, conversation_id, text, _reply(output, self.output_key))
        return output

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Yield the chain's chunks as they come; record the turn once they are all out."""
        user_id, conversation_id, text, chain_input = self._start(input, config)
        history = self.memory.load(user_id, text, conversation_id=conversation_id)
        whole: Any = None
        for chunk in self.chain.stream({**chain_input, self.history_key: history}, config):
            whole = _joined(whole, chunk)
            yield chunk
        self.memory.save(user_id, conversation_id, text, _reply(whole, self.output_key))

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async :meth:`stream`."""
        user_id, conversation_id, text, chain_input = self._start(input, config)
        history = await self.memory.aload(user_id, text, conversation_id=conversation_id)
        whole: Any = None
        async for chunk in self.chain.astream({**chain_input, self.history_key: history}, config):
            whole = _joined(whole, chunk)
            yield chunk
        await self.memory.asave(user_id, conversation_id, text, _reply(whole, self.output_key))


def with_multisession_memory(
    chain: Runnable[Any, Any],
    engine: MemoryEngine,
    *,
    input_key: str = "input",
    history_key: str = "history",
    output_key: str | None = None,
    context: ContextConfig | None = None,
) -> Runnable[Any, Any]:
    """Give an LCEL chain persistent memory across sessions.

    Example::

        chain = with_multisession_memory(prompt | model, engine)
        chain.invoke(
            {"input": "What should I cook?"},
            {"configurable": {"user_id": "alice", "conversation_id": "c2"}},
        )

    Args:
        chain: A runnable taking a dict with ``input_key`` and ``history_key`` (the
            variable of a ``MessagesPlaceholder``).
        engine: Where memories and conversations are kept.
        input_key: The input dict's key holding the user's message (a plain string
            input is put under it).
        history_key: Where the context messages go.
        output_key: The output dict's key holding the reply, when the chain returns a
            dict; messages and strings are used as they are.
        context: How the prompt is filled; the engine's setting when ``None``.

    Returns:
        A runnable (sync and async) called with the chain's input and
        ``{"configurable": {"user_id": ..., "conversation_id": ...}}``.
    """
    return MultiSessionMemory(engine, context=context).wrap(
        chain, input_key=input_key, history_key=history_key, output_key=output_key
    )


def _check_placeholder(chain: Runnable[Any, Any], history_key: str) -> None:
    prompt = chain.first if isinstance(chain, RunnableSequence) else chain
    if not isinstance(prompt, BasePromptTemplate):
        return  # not a prompt we can read: the chain is trusted to use the history
    if history_key not in (*prompt.input_variables, *prompt.optional_variables):
        raise ValueError(
            f"the chain's prompt has no placeholder {history_key!r}, so the memory would "
            f"never reach the model: add MessagesPlaceholder({history_key!r}) to the "
            "prompt (e.g. ChatPromptTemplate([MessagesPlaceholder('history'), "
            "('human', '{input}')])), or pass history_key=... naming the one it has"
        )


def _joined(whole: Any, chunk: Any) -> Any:
    """The chunks of a stream so far, added up as LangChain adds them (else the last)."""
    if whole is None:
        return chunk
    try:
        return whole + chunk
    except TypeError:
        return chunk


def _chain_input(inputs: Any, input_key: str) -> tuple[str, dict[str, Any]]:
    if isinstance(inputs, str):
        return inputs, {input_key: inputs}
    if not isinstance(inputs, Mapping) or input_key not in inputs:
        raise ValueError(
            f"the chain input must be a string or a dict with the key {input_key!r} "
            "(or pass input_key=... naming the key of the user's message)"
        )
    return text_of(inputs[input_key]), dict(inputs)


def _reply(output: Any, output_key: str | None) -> str:
    if output_key is not None:
        if not isinstance(output, Mapping) or output_key not in output:
            raise ValueError(f"the chain's output has no key {output_key!r}")
        output = output[output_key]
    return text_of(output)
