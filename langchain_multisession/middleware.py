"""Agent middleware giving ``langchain.agents.create_agent`` agents persistent memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AnyMessage, SystemMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime

from multisession import BuiltContext, ContextConfig, MemoryEngine

from ._config import session_ids
from ._messages import text_of

__all__ = ["MultiSessionMiddleware"]


class MultiSessionMiddleware(AgentMiddleware):
    """Memory for agents: budgeted context into each model call, memories after each run.

    Example::

        from langchain.agents import create_agent

        agent = create_agent(model, tools, middleware=[MultiSessionMiddleware(engine)])
        agent.invoke(
            {"messages": [{"role": "user", "content": "What should I cook?"}]},
            {"configurable": {"user_id": "alice", "conversation_id": "c2"}},
        )

    Each model call gets, as its system message, the agent's own system prompt (if any)
    followed by the context :meth:`~multisession.MemoryEngine.build_context` packs for
    the user's latest message: preferences, resumption and relevant memories, within the
    budget. The context is passed to the model only and never added to the agent's
    state. When the run ends, the latest user message and the final reply are recorded
    with :meth:`~multisession.MemoryEngine.record_exchange`.

    Args:
        engine: Where memories and conversations are kept.
        context: How the prompt is filled; the engine's setting when ``None``.
    """

    def __init__(self, engine: MemoryEngine, *, context: ContextConfig | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.context = context

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with the memory context in its system message."""
        user_id, conversation_id = session_ids(get_config())
        built = self.engine.build_context(
            user_id,
            _last_text(request.messages, "human"),
            conversation_id=conversation_id,
            config=self.context,
        )
        return handler(request.override(system_message=_system_message(request, built)))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async :meth:`wrap_model_call`."""
        user_id, conversation_id = session_ids(get_config())
        built = await self.engine.abuild_context(
            user_id,
            _last_text(request.messages, "human"),
            conversation_id=conversation_id,
            config=self.context,
        )
        return await handler(request.override(system_message=_system_message(request, built)))

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> None:
        """Record the run's exchange and the memories worth keeping from it."""
        user_id, conversation_id = session_ids(get_config())
        messages = state["messages"]
        self.engine.record_exchange(
            user_id, conversation_id, _last_text(messages, "human"), _last_text(messages, "ai")
        )

    async def aafter_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> None:
        """Async :meth:`after_agent`."""
        user_id, conversation_id = session_ids(get_config())
        messages = state["messages"]
        await self.engine.arecord_exchange(
            user_id, conversation_id, _last_text(messages, "human"), _last_text(messages, "ai")
        )


def _last_text(messages: Sequence[AnyMessage], message_type: str) -> str:
    for message in reversed(messages):
        if message.type == message_type:
            return text_of(message.content)
    return ""


def _system_message(request: ModelRequest[Any], built: BuiltContext) -> SystemMessage:
    memory = built.messages[0].content
    own = request.system_message.text if request.system_message is not None else ""
    return SystemMessage(content=f"{own}\n\n{memory}" if own else memory)
