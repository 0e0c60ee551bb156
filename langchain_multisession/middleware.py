"""Agent middleware giving ``langchain.agents.create_agent`` agents persistent memory.

The memory context of a run is held by the middleware, never in the agent's state:
state is what a checkpointer saves, and memory text saved there would outlive a
``delete_user``. The state carries only an opaque token naming the run's context.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import AnyMessage, SystemMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from typing_extensions import NotRequired

from multisession import BuiltContext, ContextConfig, MemoryEngine
from multisession.context.tokens import counting_for
from multisession.extraction.recording import Turn, pair_turns

from ._messages import role_and_text

__all__ = ["MultiSessionMiddleware"]

#: How many runs' memory contexts are held at once (a run that never ends, e.g. one
#: interrupted for good, is let go after this many newer ones; a later model call of
#: it builds its context again).
_HELD_RUNS = 1024


class MultiSessionState(AgentState[Any]):
    """The agent's state plus the token of the current run's memory context."""

    multisession_run: NotRequired[Annotated[str, PrivateStateAttr]]


class MultiSessionMiddleware(AgentMiddleware[MultiSessionState, Any, Any]):
    """Memory for agents: budgeted memories in each model call, memories after each run.

    Example::

        from langchain.agents import create_agent
        from langgraph.checkpoint.memory import InMemorySaver

        agent = create_agent(
            model,
            tools,
            middleware=[MultiSessionMiddleware(engine)],
            context_schema=dict,
            checkpointer=InMemorySaver(),
        )
        agent.invoke(
            {"messages": [{"role": "user", "content": "What should I cook?"}]},
            {"configurable": {"thread_id": "c2"}},
            context={"user_id": "alice"},
        )

    Who and which conversation: the user is ``user_id`` of the runtime context
    (``context={"user_id": ...}``, a dict or an object of the agent's
    ``context_schema``), or else of ``config["configurable"]``; the conversation is
    ``conversation_id`` of either, or else the graph's ``thread_id``. Without a user a
    run fails with an error naming both ways to pass one.

    When a run starts, :meth:`~multisession.MemoryEngine.build_context` packs, for the
    user's latest message, the user's preferences, how this session resumes the last
    one and the relevant memories, within the budget. The agent keeps the conversation
    itself, so no stored history is packed and the memories get its share, and the
    engine's system prompt is left out. Each model call of the run gets, as its system
    message, the agent's own system prompt (if any) followed by that context; the
    context is passed to the model only: it is never returned in the agent's messages
    nor kept in its state, so a checkpointer saves none of it.
    When the run ends, the latest user message and its reply (the last AI message with
    text after it, past the tool calls) are recorded with
    :meth:`~multisession.MemoryEngine.record_exchange`.

    Args:
        engine: Where memories and conversations are kept.
        context: How the prompt is filled; the engine's setting when ``None``. Its
            ``history_messages`` and ``system_prompt`` are not used.
    """

    state_schema = MultiSessionState

    def __init__(self, engine: MemoryEngine, *, context: ContextConfig | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.context = context
        self._held: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def before_agent(self, state: MultiSessionState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Build the run's memory context for the latest user message."""
        user_id, conversation_id = session_of(runtime)
        with counting_for("langchain"):
            built = self.engine.build_context(
                user_id,
                _question(state["messages"]),
                conversation_id=conversation_id,
                config=self._memories_only(),
            )
        return {"multisession_run": self._hold(_context_text(built))}

    async def abefore_agent(
        self, state: MultiSessionState, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        """Async :meth:`before_agent`."""
        user_id, conversation_id = session_of(runtime)
        with counting_for("langchain"):
            built = await self.engine.abuild_context(
                user_id,
                _question(state["messages"]),
                conversation_id=conversation_id,
                config=self._memories_only(),
            )
        return {"multisession_run": self._hold(_context_text(built))}

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with the run's memory context in its system message."""
        context = self._held_context(request)
        if context is None:
            user_id, conversation_id = session_of(request.runtime)
            with counting_for("langchain"):
                built = self.engine.build_context(
                    user_id,
                    _question(request.state["messages"]),
                    conversation_id=conversation_id,
                    config=self._memories_only(),
                )
            context = _context_text(built)
        return handler(_with_context(request, context))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async :meth:`wrap_model_call`."""
        context = self._held_context(request)
        if context is None:
            user_id, conversation_id = session_of(request.runtime)
            with counting_for("langchain"):
                built = await self.engine.abuild_context(
                    user_id,
                    _question(request.state["messages"]),
                    conversation_id=conversation_id,
                    config=self._memories_only(),
                )
            context = _context_text(built)
        return await handler(_with_context(request, context))

    def after_agent(self, state: MultiSessionState, runtime: Runtime[Any]) -> None:
        """Record the run's exchange and the memories worth keeping from it."""
        self._release(state)
        user_id, conversation_id = session_of(runtime)
        turn = _last_turn(state["messages"])
        if turn is not None and turn.user is not None:
            self.engine.record_exchange(user_id, conversation_id, turn.user, turn.reply)

    async def aafter_agent(self, state: MultiSessionState, runtime: Runtime[Any]) -> None:
        """Async :meth:`after_agent`."""
        self._release(state)
        user_id, conversation_id = session_of(runtime)
        turn = _last_turn(state["messages"])
        if turn is not None and turn.user is not None:
            await self.engine.arecord_exchange(user_id, conversation_id, turn.user, turn.reply)

    def _hold(self, context: str) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._held[token] = context
            while len(self._held) > _HELD_RUNS:
                self._held.popitem(last=False)
        return token

    def _held_context(self, request: ModelRequest[Any]) -> str | None:
        token = request.state.get("multisession_run")
        with self._lock:
            return self._held.get(token) if isinstance(token, str) else None

    def _release(self, state: MultiSessionState) -> None:
        token = state.get("multisession_run")
        if isinstance(token, str):
            with self._lock:
                self._held.pop(token, None)

    def _memories_only(self) -> ContextConfig:
        # The agent sends its own messages and system prompt: packing the stored history
        # or the engine's prompt as well would repeat them and crowd out the memories.
        base = self.context or self.engine.context_config
        return dataclasses.replace(base, history_messages=0, system_prompt="")


def session_of(runtime: Runtime[Any]) -> tuple[str, str]:
    """``(user_id, conversation_id)`` of the current run.

    The user comes from the runtime context, else from ``config["configurable"]``;
    the conversation from ``conversation_id`` in either, else the graph's
    ``thread_id``.

    Raises:
        ValueError: No user, or no conversation; the message shows how to pass one.
    """
    configurable = get_config().get("configurable") or {}
    context = runtime.context

    def named(name: str) -> Any:
        value = context.get(name) if isinstance(context, Mapping) else None
        if value is None and not isinstance(context, Mapping):
            value = getattr(context, name, None)
        return value if value is not None else configurable.get(name)

    user_id = named("user_id")
    if not user_id:
        raise ValueError(
            "MultiSessionMiddleware needs the user: pass it in the runtime context, "
            "agent.invoke(..., context={'user_id': ...}) with "
            "create_agent(..., context_schema=...) declaring user_id, or in the config, "
            "config={'configurable': {'user_id': ...}}"
        )
    conversation_id = named("conversation_id") or configurable.get("thread_id")
    if not conversation_id:
        raise ValueError(
            "MultiSessionMiddleware needs the conversation: run the agent with a "
            "checkpointer and config={'configurable': {'thread_id': ...}}, or pass "
            "conversation_id in the context or in config['configurable']"
        )
    return str(user_id), str(conversation_id)


def _last_turn(messages: Sequence[AnyMessage]) -> Turn | None:
    turns = pair_turns([role_and_text(message) for message in messages])
    return turns[-1] if turns else None


def _question(messages: Sequence[AnyMessage]) -> str:
    # During a run the last message is often a tool call or result; the user's message
    # is still what the run is about.
    turn = _last_turn(messages)
    return turn.user if turn is not None and turn.user is not None else ""


def _context_text(built: BuiltContext) -> str:
    return built.messages[0].content if built.messages else ""


def _with_context(request: ModelRequest[Any], context: str) -> ModelRequest[Any]:
    if not context:
        return request
    own = request.system_message.text if request.system_message is not None else ""
    return request.override(
        system_message=SystemMessage(content="\n\n".join(part for part in (own, context) if part))
    )
