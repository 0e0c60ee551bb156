"""The REST API, ``/v1``: each route checks its key, maps the user, and calls the engine.

Routes hold no logic of their own: the engine checks every argument and does the work.
What a route adds is the service's part: the key's permission (:class:`~.auth.Caller`),
the tenant's owner id for the user, 404 for a user the tenant does not have, and the
stored owner id turned back into the caller's user id in what is returned.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import TypeAdapter

from ..engine import MemoryEngine
from ..errors import InvalidInputError, MemoryNotFoundError
from ..records import Memory, MemoryInput, SearchHit
from .auth import Caller, authenticate_request
from .dispatch import run_engine
from .error_responses import ApiError
from .models import (
    ContextIn,
    ExchangeIn,
    MemoryBatchIn,
    MemoryChangesIn,
    MemoryIn,
    MessagesIn,
    SearchIn,
)
from .tenancy import split_owner

__all__ = ["memory_dict", "router", "search_hits"]

router = APIRouter(prefix="/v1")

Key = Annotated[Caller, Depends(authenticate_request)]

_JSON_OBJECT = TypeAdapter(dict[str, Any])


def _json(content: dict[str, Any], status_code: int = 200) -> Response:
    """``content`` as a JSON response, serialised in the route's own worker thread.

    A plain route returning a dict has FastAPI check it against its declared type in a
    second worker thread before serialising it; the busiest routes return the response
    themselves (declaring ``response_model`` for the schema) and skip that hop.
    """
    return Response(
        _JSON_OBJECT.dump_json(content), status_code=status_code, media_type="application/json"
    )


def _engine(request: Request) -> MemoryEngine:
    engine: MemoryEngine = request.app.state.engine
    return engine


def memory_dict(memory: Memory, user_id: str) -> dict[str, Any]:
    """A memory as the API returns it: the caller's user id, not the stored owner id."""
    return {**memory.to_dict(), "user_id": user_id}


def _hit_dict(hit: SearchHit, user_id: str) -> dict[str, Any]:
    return {"memory": memory_dict(hit.memory, user_id), "scores": hit.breakdown.to_dict()}


def _require_user(engine: MemoryEngine, owner: str, user_id: str) -> None:
    if not engine.has_user(owner):
        raise MemoryNotFoundError(f"unknown user {user_id!r}: nothing is stored for it")


def _memory_input(item: MemoryIn) -> MemoryInput:
    return MemoryInput(
        item.content, item.kind, item.conversation_id, item.metadata, item.created_at, item.id
    )


def _refuse_taken_ids(engine: MemoryEngine, owner: str, user_id: str, ids: list[str]) -> None:
    """409 for memory ids the user already has (a retry of a stored write, or a clash)."""
    taken = []
    for memory_id in ids:
        try:
            engine.get(owner, memory_id)
        except MemoryNotFoundError:
            continue
        taken.append(memory_id)
    if taken:
        raise ApiError(
            409,
            f"user {user_id!r} already has memories with ids {sorted(taken)[:3]}: use new ids, "
            "or send skip_existing=true to leave those out",
        )


# -- memories ----------------------------------------------------------------------------


@router.post(
    "/users/{user_id}/memories",
    status_code=201,
    tags=["memories"],
    response_model=dict[str, Any],
)
def add_memory(user_id: str, body: MemoryIn, caller: Key, request: Request) -> Response:
    """Store one memory for the user."""
    engine = _engine(request)
    owner = caller.owner(request, user_id, write=True)
    if body.id is not None:
        _refuse_taken_ids(engine, owner, user_id, [body.id])
    [memory] = engine.add_many(owner, [_memory_input(body)])
    return _json(memory_dict(memory, user_id), 201)


@router.post("/users/{user_id}/memories/batch", status_code=201, tags=["memories"])
def add_memories(
    user_id: str, body: MemoryBatchIn, caller: Key, request: Request
) -> dict[str, Any]:
    """Store many memories: every item is checked first; one bad item stores none."""
    engine = _engine(request)
    owner = caller.owner(request, user_id, write=True)
    if not body.memories:
        raise InvalidInputError("memories is empty: send at least one memory")
    ids = [item.id for item in body.memories if item.id is not None]
    if ids and not body.skip_existing:
        _refuse_taken_ids(engine, owner, user_id, ids)
    stored = engine.add_many(
        owner, [_memory_input(item) for item in body.memories], skip_existing=body.skip_existing
    )
    return {"memories": [memory_dict(memory, user_id) for memory in stored]}


@router.get("/users/{user_id}/memories", tags=["memories"])
def list_memories(
    user_id: str,
    caller: Key,
    request: Request,
    kind: Annotated[list[str] | None, Query()] = None,
    conversation_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = True,
) -> dict[str, Any]:
    """A page of the user's memories, newest first."""
    engine = _engine(request)
    owner = caller.owner(request, user_id)
    _require_user(engine, owner, user_id)
    memories = engine.list(
        owner,
        kinds=kind,
        conversation_id=conversation_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        newest_first=newest_first,
    )
    total = engine.count(
        owner, kinds=kind, conversation_id=conversation_id, since=since, until=until
    )
    return {"memories": [memory_dict(m, user_id) for m in memories], "total": total}


@router.get("/users/{user_id}/memories/{memory_id}", tags=["memories"])
def get_memory(user_id: str, memory_id: str, caller: Key, request: Request) -> dict[str, Any]:
    """One memory."""
    owner = caller.owner(request, user_id)
    return memory_dict(_engine(request).get(owner, memory_id), user_id)


@router.patch("/users/{user_id}/memories/{memory_id}", tags=["memories"])
def update_memory(
    user_id: str, memory_id: str, body: MemoryChangesIn, caller: Key, request: Request
) -> dict[str, Any]:
    """Change a memory's content, kind or metadata (metadata is replaced whole)."""
    owner = caller.owner(request, user_id, write=True)
    memory = _engine(request).update(
        owner, memory_id, content=body.content, kind=body.kind, metadata=body.metadata
    )
    return memory_dict(memory, user_id)


@router.delete("/users/{user_id}/memories/{memory_id}", status_code=204, tags=["memories"])
def delete_memory(user_id: str, memory_id: str, caller: Key, request: Request) -> Response:
    """Forget one memory."""
    owner = caller.owner(request, user_id, write=True)
    _engine(request).delete(owner, memory_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/memories/{memory_id}/history", tags=["memories"])
def memory_history(user_id: str, memory_id: str, caller: Key, request: Request) -> dict[str, Any]:
    """A memory, its versions where the store keeps them, and its source conversation."""
    engine = _engine(request)
    owner = caller.owner(request, user_id)
    memory = engine.get(owner, memory_id)
    history = getattr(engine, "history", None)
    versions: list[dict[str, Any]]
    if callable(history):
        versions = [memory_dict(version, user_id) for version in history(owner, memory_id)]
    else:
        versions = [memory_dict(memory, user_id)]
    source: dict[str, Any] | None = None
    if memory.conversation_id is not None:
        messages = engine.get_messages(owner, memory.conversation_id, last=20)
        source = {
            "conversation_id": memory.conversation_id,
            "messages": [message.to_dict() for message in messages],
        }
    return {
        "memory": memory_dict(memory, user_id),
        "versions": versions,
        "lifecycle": callable(history),
        "source": source,
    }


# -- search and context ------------------------------------------------------------------


def _lifecycle_options(engine: MemoryEngine, body: SearchIn) -> dict[str, Any]:
    """``as_of`` / ``include_superseded``, passed on where the engine takes them."""
    wanted = {
        name: value
        for name, value in (("as_of", body.as_of), ("include_superseded", body.include_superseded))
        if value is not None
    }
    if not wanted:
        return wanted
    accepted = inspect.signature(engine.search).parameters
    missing = sorted(name for name in wanted if name not in accepted)
    if missing:
        raise InvalidInputError(
            f"{', '.join(missing)} needs memory lifecycle, which this store's version of "
            "multisession does not have: leave it out"
        )
    return wanted


@router.post("/users/{user_id}/search", tags=["search"], response_model=dict[str, Any])
async def search(user_id: str, body: SearchIn, caller: Key, request: Request) -> Response:
    """Hybrid (BM25 + vector) search, best first, with each hit's score breakdown."""
    # In the event loop when no other request is in flight (see .dispatch).
    return _json(await run_engine(request, search_hits, user_id, body, caller, request))


def search_hits(user_id: str, body: SearchIn, caller: Caller, request: Request) -> dict[str, Any]:
    """What :func:`search` answers, as a dict (the memory browser renders it)."""
    engine = _engine(request)
    owner = caller.owner(request, user_id)
    options = _lifecycle_options(engine, body)
    _require_user(engine, owner, user_id)
    hits = engine.search(
        owner,
        body.query,
        k=body.k,
        kinds=body.kinds,
        conversation_id=body.conversation_id,
        since=body.since,
        until=body.until,
        filter=body.filter,
        **options,
    )
    return {"hits": [_hit_dict(hit, user_id) for hit in hits]}


@router.post("/users/{user_id}/context", tags=["search"])
def build_context(user_id: str, body: ContextIn, caller: Key, request: Request) -> dict[str, Any]:
    """The budgeted prompt for the user's next message, as chat messages."""
    owner = caller.owner(request, user_id)
    built = _engine(request).build_context(
        owner, body.message, conversation_id=body.conversation_id
    )
    return {
        "messages": [{"role": m.role, "content": m.content} for m in built.messages],
        "tokens": built.tokens,
        "resume_mode": built.resumption.mode,
        "hits": [_hit_dict(hit, user_id) for hit in built.hits],
        "warnings": list(built.warnings),
    }


@router.get("/users/{user_id}/resume", tags=["search"])
def resume(
    user_id: str, caller: Key, request: Request, conversation_id: str | None = None
) -> dict[str, Any]:
    """How to pick up with a returning user: the mode by the gap, and what to recall."""
    owner = caller.owner(request, user_id)
    resumption = _engine(request).resume(owner, conversation_id)
    return {
        "mode": resumption.mode,
        "instruction": resumption.instruction,
        "last_interaction": resumption.last_interaction.isoformat()
        if resumption.last_interaction
        else None,
        "summary": resumption.summary,
        "preferences": list(resumption.preferences),
        "open_action_items": list(resumption.open_action_items),
        "recent_summaries": list(resumption.recent_summaries),
        "prompt": resumption.render(),
    }


# -- conversations -----------------------------------------------------------------------


@router.post("/users/{user_id}/messages", status_code=201, tags=["conversations"])
def add_messages(user_id: str, body: MessagesIn, caller: Key, request: Request) -> dict[str, Any]:
    """Append chat messages to a conversation as they are (nothing extracted)."""
    owner = caller.owner(request, user_id, write=True)
    if not body.messages:
        raise InvalidInputError("messages is empty: send at least one message")
    stored = _engine(request).add_messages(
        owner,
        body.conversation_id,
        [message.model_dump(exclude_none=True) for message in body.messages],
    )
    return {"messages": [message.to_dict() for message in stored]}


@router.post("/users/{user_id}/exchanges", status_code=201, tags=["conversations"])
def record_exchange(
    user_id: str, body: ExchangeIn, caller: Key, request: Request
) -> dict[str, Any]:
    """Store a turn, and the memories worth keeping from it (returned)."""
    owner = caller.owner(request, user_id, write=True)
    memories = _engine(request).record_exchange(
        owner, body.conversation_id, body.user_message, body.assistant_message
    )
    return {"memories": [memory_dict(memory, user_id) for memory in memories]}


# -- users -------------------------------------------------------------------------------


@router.get("/users", tags=["users"])
def list_users(caller: Key, request: Request) -> dict[str, Any]:
    """The tenant's users (a key for all of the tenant's users only)."""
    caller.require_tenant_wide("listing users")
    users = []
    for owner in _engine(request).users():
        split = split_owner(owner)
        if split is not None and split[0] == caller.tenant:
            users.append(split[1])
    return {"users": sorted(users)}


@router.get("/users/{user_id}/summary", tags=["users"])
def user_summary(user_id: str, caller: Key, request: Request) -> dict[str, Any]:
    """Preferences, recent conversations' summaries, open action items, counts."""
    engine = _engine(request)
    owner = caller.owner(request, user_id)
    _require_user(engine, owner, user_id)
    conversations = engine.conversations.list(owner)
    preferences = engine.preferences(owner, limit=20)
    open_items = [
        {"conversation_id": conversation.conversation_id, "text": text}
        for conversation in conversations
        for text in conversation.open_action_items
    ]
    return {
        "user_id": user_id,
        "counts": {
            "memories": engine.count(owner),
            "preferences": engine.count(owner, kinds=["preference"]),
            "conversations": len(conversations),
            "messages": sum(conversation.message_count for conversation in conversations),
            "open_action_items": len(open_items),
        },
        "preferences": [memory_dict(memory, user_id) for memory in preferences],
        "recent_conversations": [
            {
                "conversation_id": conversation.conversation_id,
                "last_interaction_at": conversation.last_interaction_at.isoformat(),
                "message_count": conversation.message_count,
                "summary": conversation.summary,
            }
            for conversation in conversations[:5]
        ],
        "open_action_items": open_items,
    }


@router.get("/users/{user_id}/export", tags=["users"])
def export_user(user_id: str, caller: Key, request: Request) -> dict[str, Any]:
    """Everything stored about the user, as JSON."""
    owner = caller.owner(request, user_id)
    exported = _engine(request).export_user(owner)
    exported["user_id"] = user_id
    for memory in exported["memories"]:
        memory["user_id"] = user_id
    return exported


@router.delete("/users/{user_id}", tags=["users"])
def delete_user(user_id: str, caller: Key, request: Request) -> dict[str, Any]:
    """Forget the user entirely; the receipt holds counts and a hash, never content."""
    engine = _engine(request)
    owner = caller.owner(request, user_id, write=True)
    _require_user(engine, owner, user_id)
    conversations = engine.conversations.list(owner)
    had_key = engine.has_data_key(owner)
    memories = engine.delete_user(owner)
    counts = {
        "sql_memories": memories,
        "sql_conversations": len(conversations),
        "sql_messages": sum(conversation.message_count for conversation in conversations),
        "vector_index_entries": memories if engine.embedder is not None else 0,
        "keyword_index_entries": memories,
    }
    deleted_at = datetime.now(timezone.utc).isoformat()
    user_hash = hashlib.sha256(owner.encode("utf-8")).hexdigest()
    receipt = {
        "user_hash": user_hash,
        "deleted_at": deleted_at,
        "counts": counts,
        # Encryption at rest: the user's data key is gone, so copies of the store made
        # before (backups, replicas) can no longer be read for the user.
        "data_key_destroyed": had_key and not engine.has_data_key(owner),
    }
    digest = hashlib.sha256(json.dumps(receipt, sort_keys=True).encode()).hexdigest()
    return {**receipt, "receipt_hash": digest}
