"""The bodies the REST API accepts: strict types, unknown fields refused.

A field of the wrong type (a number for ``content``, a string for ``k``) or a field
the API does not know is a 400 naming the field, before the engine is called, so a
rejected request stores nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

__all__ = [
    "ContextIn",
    "ExchangeIn",
    "MemoryBatchIn",
    "MemoryChangesIn",
    "MemoryIn",
    "MessageIn",
    "MessagesIn",
    "SearchIn",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryIn(_Body):
    """One memory to store."""

    content: StrictStr
    kind: StrictStr = "fact"
    conversation_id: StrictStr | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = Field(
        default=None, description="when it was said, ISO 8601 with a zone (default: now)"
    )
    id: StrictStr | None = Field(
        default=None, description="your own id, 32 lowercase hex characters"
    )


class MemoryBatchIn(_Body):
    """Many memories, stored together or not at all."""

    memories: list[MemoryIn]
    skip_existing: StrictBool = Field(
        default=False, description="leave out items whose id the user already has"
    )


class MemoryChangesIn(_Body):
    """New content, kind or metadata (replaced whole) of a memory."""

    content: StrictStr | None = None
    kind: StrictStr | None = None
    metadata: dict[str, Any] | None = None


class SearchIn(_Body):
    """A hybrid search of one user's memories."""

    query: StrictStr
    k: StrictInt = 10
    kinds: list[StrictStr] | None = None
    conversation_id: StrictStr | None = None
    since: datetime | None = None
    until: datetime | None = None
    filter: dict[str, Any] | None = Field(
        default=None, description="metadata conditions, e.g. {'source': 'crm'}"
    )
    as_of: datetime | None = Field(
        default=None,
        description="search the memories as they were then (needs memory lifecycle)",
    )
    include_superseded: StrictBool | None = Field(
        default=None, description="also return superseded memories (needs memory lifecycle)"
    )


class MessageIn(_Body):
    role: StrictStr
    content: StrictStr
    metadata: dict[str, Any] | None = None


class MessagesIn(_Body):
    """Chat messages to append to a conversation, as they are (no extraction)."""

    conversation_id: StrictStr
    messages: list[MessageIn]


class ExchangeIn(_Body):
    """One turn: stored, and the memories worth keeping extracted from it."""

    conversation_id: StrictStr
    user_message: StrictStr
    assistant_message: StrictStr | None = None


class ContextIn(_Body):
    """The user's next message, to build the budgeted prompt for."""

    message: StrictStr
    conversation_id: StrictStr | None = None
