"""Agent middleware giving ``langchain.agents.create_agent`` agents persistent memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import AnyMessage, SystemMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from typing_extensions import NotRequired

from multisession import BuiltContext, ContextConfig, MemoryEngine
from multisession.extraction.recording import Turn, pair_turns

from ._config import session_ids
from ._messages import role_and_text

__all__ = ["MultiSessionMiddleware"]


class MultiSessionState(AgentState[Any]):
    """The agent's state plus the memory context of the current run (never returned)."""

    multisession_context: NotRequired[Annotated[str, PrivateStateAttr]]


class MultiSessionMiddleware(AgentMiddleware[MultiSessionState, Any, Any]):
    """Memory for agents: budgeted memories in each model call, memories after each run.

    Example::

        from langchain.agents import create_agent

        agent = create_agent(model, tools, middleware=[MultiSessionMiddleware(engine)])
        agent.invoke(
            {"messages": [{"role": "user", "content": "What should I cook?"}]},
            {"configurable": {"user_id": "alice", "conversation_id": "c2"}},
        )

    When a run starts, :meth:`~multisession.MemoryEngine.build_context` packs, for the
    user's latest message, the user's preferences, how this session resumes the last
    one and the relevant memories, within the budget. The agent keeps the conversation
    itself, so no stored history is packed and the memories get its share, and the
    engine's system prompt is left out. Each model call of the run gets, as its system
    message, the agent's own system prompt (if any) followed by that context; the
    context is passed to the model only and never returned in the agent's messages.
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

    def before_agent(self, state: MultiSessionState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Build the run's memory context for the latest user message."""
        user_id, conversation_id = session_ids(get_config())
        built = self.engine.build_context(
            user_id,
            _question(state["messages"]),
            conversation_id=conversation_id,
            config=self._memories_only(),
        )
        return {"multisession_context": _context_text(built)}

    async def abefore_agent(
        self, state: MultiSessionState, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        """Async :meth:`before_agent`."""
        user_id, conversation_id = session_ids(get_config())
        built = await self.engine.abuild_context(
            user_id,
            _question(state["messages"]),
            conversation_id=conversation_id,
            config=self._memories_only(),
        )
        return {"multisession_context": _context_text(built)}

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with the run's memory context in its system message."""
        return handler(_with_context(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async :meth:`wrap_model_call`."""
        return await handler(_with_context(request))

    def after_agent(self, state: MultiSessionState, runtime: Runtime[Any]) -> None:
        """Record the run's exchange and the memories worth keeping from it."""
        user_id, conversation_id = session_ids(get_config())
        turn = _last_turn(state["messages"])
        if turn is not None and turn.user is not None:
            self.engine.record_exchange(user_id, conversation_id, turn.user, turn.reply)

    async def aafter_agent(self, state: MultiSessionState, runtime: Runtime[Any]) -> None:
        """Async :meth:`after_agent`."""
        user_id, conversation_id = session_ids(get_config())
        turn = _last_turn(state["messages"])
        if turn is not None and turn.user is not None:
            await self.engine.arecord_exchange(user_id, conversation_id, turn.user, turn.reply)

    def _memories_only(self) -> ContextConfig:
        # The agent sends its own messages and system prompt: packing the stored history
        # or the engine's prompt as well would repeat them and crowd out the memories.
        base = self.context or self.engine.context_config
        return dataclasses.replace(base, history_messages=0, system_prompt="")


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


def _with_context(request: ModelRequest[Any]) -> ModelRequest[Any]:
    context = request.state.get("multisession_context")
    if not isinstance(context, str) or not context:
        return request
    own = request.system_message.text if request.system_message is not None else ""
    return request.override(
        system_message=SystemMessage(content="\n\n".join(part for part in (own, context) if part))
    )
