"""The MCP server of ``multisession mcp``: a user's memory as tools for an assistant.

Desktop and IDE assistants speak the Model Context Protocol; this gives them five
tools over one user's memory: ``remember``, ``search``, ``list_memories``, ``forget``
and ``user_summary``. The user is fixed when the server starts (``--tenant`` and
``--user``), never chosen by the model, so an assistant cannot reach another user. Over
stdio the server is the assistant's own subprocess; over streamable HTTP every request
must carry an API key of that tenant which may reach that user, and not a read-only
one, since two of the tools write.

Built on the official MCP Python SDK (``mcp.server.mcpserver.MCPServer``, FastMCP's
successor); like the REST routes, each tool only calls the engine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..engine import MemoryEngine
from ..errors import MultisessionError
from .error_responses import error_body
from .keys import KeyStore
from .tenancy import owner_id

__all__ = ["KeyGate", "build_mcp"]

_INSTRUCTIONS = (
    "Long-term memory of the user you are talking with. Search it before answering "
    "questions about the user's preferences, facts or past conversations; remember "
    "durable facts and preferences the user states; forget what the user asks you to."
)


_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def _told(
    owner: str, user_id: str
) -> Callable[[Callable[_Params, _Result]], Callable[_Params, _Result]]:
    """Let the library's errors reach the model with their message (a bad id, empty text).

    The message names the user as the model knows it, not by the stored owner id.
    """

    def wrap(tool: Callable[_Params, _Result]) -> Callable[_Params, _Result]:
        @functools.wraps(tool)
        def call(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
            try:
                return tool(*args, **kwargs)
            except MultisessionError as error:
                raise ToolError(str(error).replace(owner, user_id)) from error

        return call

    return wrap


def _memory(memory: Any) -> dict[str, Any]:
    return {
        "id": memory.id,
        "content": memory.content,
        "kind": memory.kind,
        "created_at": memory.created_at.isoformat(),
        "conversation_id": memory.conversation_id,
    }


def build_mcp(engine: MemoryEngine, tenant: str, user_id: str) -> MCPServer:
    """The MCP server whose tools read and write ``user_id`` of ``tenant``."""
    owner = owner_id(tenant, user_id)
    server: MCPServer = MCPServer(
        "multisession", instructions=_INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    told = _told(owner, user_id)

    def _with_user(found: dict[str, Any]) -> dict[str, Any]:
        return {**found, "user_id": user_id}

    @server.tool()
    @told
    def remember(content: str, kind: str = "fact") -> dict[str, Any]:
        """Store something worth remembering about the user (kind: fact, preference, ...)."""
        return _with_user(_memory(engine.add(owner, content, kind=kind)))

    @server.tool()
    @told
    def search(query: str, k: int = 5) -> list[dict[str, Any]]:
        """Find the user's memories most relevant to a query, best first, with scores."""
        if not engine.has_user(owner):
            return []
        return [
            {**_memory(hit.memory), "score": hit.breakdown.final_score}
            for hit in engine.search(owner, query, k=k)
        ]

    @server.tool()
    @told
    def list_memories(
        limit: int = 20, offset: int = 0, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """The user's memories, newest first (optionally of one kind)."""
        if not engine.has_user(owner):
            return []
        kinds = [kind] if kind is not None else None
        return [_memory(m) for m in engine.list(owner, limit=limit, offset=offset, kinds=kinds)]

    @server.tool()
    @told
    def forget(memory_id: str) -> str:
        """Delete one memory of the user, by its id (from search or list_memories)."""
        engine.delete(owner, memory_id)
        return f"forgot memory {memory_id}"

    @server.tool()
    @told
    def user_summary() -> dict[str, Any]:
        """The user's preferences, open action items and how much is remembered."""
        if not engine.has_user(owner):
            return {"user_id": user_id, "memories": 0, "preferences": [], "open_action_items": []}
        conversations = engine.conversations.list(owner)
        return {
            "user_id": user_id,
            "memories": engine.count(owner),
            "conversations": len(conversations),
            "preferences": [memory.content for memory in engine.preferences(owner, limit=20)],
            "open_action_items": [
                text for conversation in conversations for text in conversation.open_action_items
            ],
            "recent_summaries": [c.summary for c in conversations[:3] if c.summary],
        }

    return server


class KeyGate:
    """ASGI middleware for the HTTP transport: an API key that may reach the user.

    The key must be of the server's tenant and may reach its user. Read-only keys are
    refused: two of the tools write, and the JSON-RPC body is not read here.
    """

    def __init__(self, app: ASGIApp, keys: KeyStore, tenant: str, user_id: str) -> None:
        self.app = app
        self.keys = keys
        self.tenant = tenant
        self.user_id = user_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or request.headers.get("x-api-key", "")
        key = self.keys.authenticate(token) if token else None
        problem = None
        status = 401
        if key is None:
            problem = "this endpoint needs a valid API key: send 'Authorization: Bearer <key>'"
        elif key.revoked_at is not None:
            problem = f"the API key {key.key_id} was revoked"
        elif key.tenant != self.tenant or (key.users is not None and self.user_id not in key.users):
            problem, status = f"this API key may not reach user {self.user_id!r}", 403
        elif key.read_only:
            problem, status = "this API key is read-only; the MCP tools write too", 403
        if problem is not None:
            response = JSONResponse(error_body(status, problem), status_code=status)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
