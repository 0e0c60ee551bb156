"""The conversation tier: messages, rolling summaries, decisions and action items in SQL.

A conversation is a logical thread of one user that may span many sessions and days.
Messages are stored in full (nothing is archived away), each conversation keeps a rolling
summary that is refreshed once enough new messages arrived, and an in-process window of
the latest messages (the session tier) spares SQL round trips on the hot path. With a
shared window cache (Redis, see :mod:`.result_cache`), a process that has not read a
window yet finds it there instead of loading it from SQL.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .. import _validation as check
from .._ids import new_id
from .._lru import LRUCache
from ..errors import MemoryNotFoundError
from ..records import Conversation, Message
from .encryption import StoreCipher
from .schema import UTCDateTime, conversations_table, ensure_user, messages_table, upsert

__all__ = ["ConversationStore", "TextClassifier", "WindowCache", "open_state", "seal_state"]

#: Classifies a message's content: its privacy class and the detectors that fired.
TextClassifier = Callable[[str], tuple[str, tuple[str, ...]]]

#: A window's stamp: the conversation's message count and newest message id.
Stamp = tuple[int, str | None]


class WindowCache(Protocol):
    """Windows shared by every process of a store (:class:`.result_cache.ResultCache`)."""

    def get_window(
        self, user_id: str, conversation_id: str, stamp: Stamp
    ) -> builtins.list[Message] | None:
        """The window cached at this stamp, or None."""

    def put_window(
        self, user_id: str, conversation_id: str, stamp: Stamp, window: Sequence[Message]
    ) -> None:
        """Cache the window at this stamp."""

    def forget_conversation(self, user_id: str, conversation_id: str) -> None:
        """Delete the conversation's windows at every stamp."""

    def forget_user(self, user_id: str) -> None:
        """Delete every entry of the user."""


def _conversation(row: sa.Row[Any], cipher: StoreCipher | None = None) -> Conversation:
    state = open_state(row, cipher)
    return Conversation(
        user_id=row.user_id,
        conversation_id=row.conversation_id,
        created_at=row.created_at,
        last_interaction_at=row.last_interaction_at,
        message_count=row.message_count,
        summary=state["summary"],
        summarized_count=row.summarized_count,
        decisions=list(state["decisions"] or []),
        action_items=[dict(item) for item in state["action_items"] or []],
        metadata=dict(row.metadata or {}),
    )


def open_state(row: Any, cipher: StoreCipher | None) -> dict[str, Any]:
    """A conversation's summary, decisions and action items, opened if sealed.

    Sealed state that cannot be opened (no key) reads as none: a summary is rebuilt.
    """
    if row.sealed is None:
        return {
            "summary": row.summary,
            "decisions": row.decisions,
            "action_items": row.action_items,
        }
    fields = (
        None
        if cipher is None
        else cipher.try_open(row.user_id, "ms_conversations", row.conversation_id, row.sealed)
    )
    fields = fields or {}
    return {
        "summary": fields.get("summary"),
        "decisions": fields.get("decisions") or [],
        "action_items": fields.get("action_items") or [],
    }


def seal_state(
    conn: Connection,
    cipher: StoreCipher | None,
    user_id: str,
    conversation_id: str,
    values: dict[str, Any],
) -> dict[str, Any]:
    """The column values that set a conversation's state, sealed when a key is given.

    With a key, the whole state (summary, decisions, action items) is read, changed
    and sealed again as one value; ``values`` holds the parts that change.
    """
    if (
        cipher is None
        or cipher.ring is None
        or not {"summary", "decisions", "action_items"} & set(values)
    ):
        return values
    row = conn.execute(
        sa.select(
            conversations_table.c.user_id,
            conversations_table.c.conversation_id,
            conversations_table.c.summary,
            conversations_table.c.decisions,
            conversations_table.c.action_items,
            conversations_table.c.sealed,
        ).where(
            conversations_table.c.user_id == user_id,
            conversations_table.c.conversation_id == conversation_id,
        )
    ).first()
    state: dict[str, Any] = {"summary": None, "decisions": [], "action_items": []}
    if row is not None:
        state = open_state(row, cipher)
    for name in ("summary", "decisions", "action_items"):
        if name in values:
            state[name] = values[name]
    blob = cipher.seal(user_id, "ms_conversations", conversation_id, state)
    return {**values, "summary": None, "decisions": [], "action_items": [], "sealed": blob}


def _message(row: sa.Row[Any], cipher: StoreCipher | None = None) -> Message | None:
    """A message from its row; None for a sealed one that cannot be opened."""
    content, metadata = row.content, row.metadata
    if row.sealed is not None:
        fields = (
            None
            if cipher is None
            else cipher.try_open(row.user_id, "ms_messages", row.id, row.sealed)
        )
        if fields is None:
            return None
        content, metadata = fields.get("content", ""), fields.get("metadata")
    return Message(
        role=row.role,
        content=content,
        created_at=row.created_at,
        id=row.id,
        conversation_id=row.conversation_id,
        metadata=dict(metadata or {}),
        sensitivity=row.sensitivity,
        detectors=tuple(row.detectors or ()),
    )


class ConversationStore:
    """Messages and conversation state in SQL, with a bounded in-process window cache.

    Args:
        engine: The SQLAlchemy engine the memories live in (tables are shared).
        window: How many recent messages per conversation stay cached in process.
        max_cached: How many conversations' windows are cached.
        classify: Gives each new message its privacy class and detectors; None stores
            messages unclassified.
        cipher: Seals the messages of the classes it encrypts and opens them on read
            (see :mod:`.encryption`); None stores and reads plaintext.
        window_cache: Where windows missing from the process's cache are looked for
            (and put) before SQL; windows holding a sealed message never go there.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        window: int = 50,
        max_cached: int = 256,
        classify: TextClassifier | None = None,
        cipher: StoreCipher | None = None,
        window_cache: WindowCache | None = None,
    ) -> None:
        self._engine = engine
        self._shared = window_cache
        self._classify = classify
        self._cipher = cipher
        self._window = window
        # (user, conversation) -> ((message count, newest message id), window)
        self._cache: LRUCache[tuple[str, str], tuple[Stamp, builtins.list[Message]]] = LRUCache(
            max_cached
        )

    # -- writes ------------------------------------------------------------------------

    def add_messages(
        self,
        user_id: str,
        conversation_id: str,
        messages: Sequence[tuple[str, str, Mapping[str, Any] | None]],
        now: datetime,
    ) -> builtins.list[Message]:
        """Append ``(role, content, metadata)`` messages; creates the conversation."""
        stored = self.prepare_messages(conversation_id, messages, now)
        if not stored:
            return []
        if self._cipher is not None:
            self._cipher.prepare(user_id)
        with self._engine.begin() as conn:
            self.write_messages(conn, user_id, conversation_id, stored, now)
        self.forget_cached(user_id, conversation_id)
        return stored

    def prepare_messages(
        self,
        conversation_id: str,
        messages: Sequence[tuple[str, str, Mapping[str, Any] | None]],
        now: datetime,
    ) -> builtins.list[Message]:
        """Check ``(role, content, metadata)`` messages, give them ids and classify them.

        Writes nothing.
        """
        prepared = [
            Message(
                role=check.check_role(role),
                content=check.check_message_content(content),
                created_at=now,
                id=new_id(),
                conversation_id=conversation_id,
                metadata=check.check_metadata(metadata),
            )
            for role, content, metadata in messages
        ]
        if self._classify is None:
            return prepared
        classified = []
        for message in prepared:
            sensitivity, detectors = self._classify(message.content)
            classified.append(
                dataclasses.replace(message, sensitivity=sensitivity, detectors=detectors)
            )
        return classified

    def write_messages(
        self,
        conn: Connection,
        user_id: str,
        conversation_id: str,
        stored: Sequence[Message],
        now: datetime,
    ) -> None:
        """Write prepared messages in the caller's transaction.

        Call :meth:`forget_cached` once it commits.
        """
        self._check_writable()
        rows: builtins.list[dict[str, Any]] = [
            {
                "user_id": user_id,
                "conversation_id": conversation_id,
                "id": message.id,
                "role": message.role,
                "content": message.content,
                "created_at": message.created_at,
                "metadata": message.metadata,
                "sensitivity": message.sensitivity,
                "detectors": (None if message.sensitivity is None else list(message.detectors)),
                "sealed": None,
            }
            for message in stored
        ]
        cipher = self._cipher
        chosen = [row for row in rows if cipher is not None and cipher.seals(row["sensitivity"])]
        if chosen:
            assert cipher is not None
            blobs = cipher.seal_many(
                user_id,
                "ms_messages",
                [
                    (row["id"], {"content": row["content"], "metadata": row["metadata"]})
                    for row in chosen
                ],
            )
            for row, blob in zip(chosen, blobs, strict=True):
                row.update(content="", metadata={}, sealed=blob)
        ensure_user(conn, user_id, now)
        self._upsert_conversation(conn, user_id, conversation_id, now, len(stored))
        conn.execute(messages_table.insert(), rows)

    def _check_writable(self) -> None:
        if self._cipher is not None:
            self._cipher.check_writable()

    def _messages(self, rows: Any) -> builtins.list[Message]:
        """The messages of these rows, leaving out sealed ones that cannot be opened."""
        found = (_message(row, self._cipher) for row in rows)
        return [message for message in found if message is not None]

    def forget_cached(self, user_id: str, conversation_id: str) -> None:
        """Drop the cached window of a conversation that was written to."""
        self._cache.discard((user_id, conversation_id))

    def _upsert_conversation(
        self, conn: Connection, user_id: str, conversation_id: str, now: datetime, added: int
    ) -> None:
        moment = sa.bindparam("moment", now, type_=UTCDateTime)
        statement = upsert(conn, conversations_table).values(
            user_id=user_id,
            conversation_id=conversation_id,
            created_at=now,
            last_interaction_at=now,
            message_count=added,
            summary=None,
            summarized_count=0,
            decisions=[],
            action_items=[],
            metadata={},
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    conversations_table.c.user_id,
                    conversations_table.c.conversation_id,
                ],
                # Imported history may arrive out of order: times only ever widen.
                set_={
                    "last_interaction_at": sa.case(
                        (conversations_table.c.last_interaction_at < moment, moment),
                        else_=conversations_table.c.last_interaction_at,
                    ),
                    "created_at": sa.case(
                        (conversations_table.c.created_at > moment, moment),
                        else_=conversations_table.c.created_at,
                    ),
                    "message_count": conversations_table.c.message_count + added,
                },
            )
        )

    def update_state(
        self,
        user_id: str,
        conversation_id: str,
        *,
        summary: str | None = None,
        summarized_count: int | None = None,
        decisions: Sequence[str] | None = None,
        action_items: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if summary is not None:
            values["summary"] = summary
        if summarized_count is not None:
            values["summarized_count"] = summarized_count
        if decisions is not None:
            values["decisions"] = list(decisions)
        if action_items is not None:
            values["action_items"] = [dict(item) for item in action_items]
        if not values:
            return
        self._check_writable()
        if self._cipher is not None:
            self._cipher.prepare(user_id)
        with self._engine.begin() as conn:
            values = seal_state(conn, self._cipher, user_id, conversation_id, values)
            result = conn.execute(
                conversations_table.update()
                .where(
                    conversations_table.c.user_id == user_id,
                    conversations_table.c.conversation_id == conversation_id,
                )
                .values(**values)
            )
        if result.rowcount == 0:
            raise MemoryNotFoundError(f"user {user_id!r} has no conversation {conversation_id!r}")

    def clear(self, user_id: str, conversation_id: str) -> int:
        """Delete a conversation's messages and state; returns how many messages."""
        self._check_writable()
        with self._engine.begin() as conn:
            count = conn.execute(
                messages_table.delete().where(
                    messages_table.c.user_id == user_id,
                    messages_table.c.conversation_id == conversation_id,
                )
            ).rowcount
            conn.execute(
                conversations_table.delete().where(
                    conversations_table.c.user_id == user_id,
                    conversations_table.c.conversation_id == conversation_id,
                )
            )
        self._cache.discard((user_id, conversation_id))
        if self._shared is not None:
            self._shared.forget_conversation(user_id, conversation_id)
        return int(count)

    def forget_user(self, user_id: str) -> None:
        """Drop cached windows of a deleted user (SQL rows go with the user).

        Also called when some of the user's messages were erased: every entry of the
        user goes from the shared cache too.
        """
        self._cache.discard_where(lambda key: key[0] == user_id)
        if self._shared is not None:
            self._shared.forget_user(user_id)

    # -- reads -------------------------------------------------------------------------

    def get(self, user_id: str, conversation_id: str) -> Conversation | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(conversations_table).where(
                    conversations_table.c.user_id == user_id,
                    conversations_table.c.conversation_id == conversation_id,
                )
            ).first()
        return _conversation(row, self._cipher) if row is not None else None

    def list(self, user_id: str, *, limit: int | None = None) -> builtins.list[Conversation]:
        """The user's conversations, most recently active first."""
        statement = (
            sa.select(conversations_table)
            .where(conversations_table.c.user_id == user_id)
            .order_by(conversations_table.c.last_interaction_at.desc())
        )
        if limit is not None:
            statement = statement.limit(limit)
        with self._engine.connect() as conn:
            return [_conversation(row, self._cipher) for row in conn.execute(statement)]

    def messages(
        self,
        user_id: str,
        conversation_id: str,
        *,
        last: int | None = None,
        offset: int = 0,
    ) -> builtins.list[Message]:
        """Messages in chronological order; ``last`` keeps only the latest ones."""
        if last is not None and last <= self._window and offset == 0:
            return self._window_messages(user_id, conversation_id)[-last:] if last else []
        return self._load(user_id, conversation_id, last=last, offset=offset)

    def _window_messages(self, user_id: str, conversation_id: str) -> builtins.list[Message]:
        key = (user_id, conversation_id)
        # The count alone can come back to a cached value (cleared, or the user deleted
        # and re-created, perhaps by another process): the newest id never does, ids
        # being made from the wall clock.
        newest = (
            sa.select(sa.func.max(messages_table.c.id))
            .where(
                messages_table.c.user_id == user_id,
                messages_table.c.conversation_id == conversation_id,
            )
            .scalar_subquery()
        )
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(conversations_table.c.message_count, newest).where(
                    conversations_table.c.user_id == user_id,
                    conversations_table.c.conversation_id == conversation_id,
                )
            ).first()
        if row is None:
            return []
        stamp: Stamp = (int(row[0]), row[1])
        cached = self._cache.get(key)
        if cached is not None and cached[0] == stamp:
            return list(cached[1])
        shared = self._shared
        window = None if shared is None else shared.get_window(user_id, conversation_id, stamp)
        if window is None:
            rows = self._latest_rows(user_id, conversation_id, self._window)
            window = self._messages(rows)
            # A sealed message stays out of the shared cache: no plaintext there, and no
            # window short of the messages a process without the key could not open.
            if shared is not None and all(row.sealed is None for row in rows):
                shared.put_window(user_id, conversation_id, stamp, window)
        self._cache.put(key, (stamp, window))
        return list(window)

    def _latest_rows(self, user_id: str, conversation_id: str, last: int) -> Any:
        """The rows of the latest ``last`` messages, oldest first."""
        statement = (
            sa.select(messages_table)
            .where(
                messages_table.c.user_id == user_id,
                messages_table.c.conversation_id == conversation_id,
            )
            .order_by(messages_table.c.created_at.desc(), messages_table.c.id.desc())
            .limit(last)
        )
        with self._engine.connect() as conn:
            return conn.execute(statement).all()[::-1]

    def _load(
        self, user_id: str, conversation_id: str, *, last: int | None, offset: int
    ) -> builtins.list[Message]:
        where = (
            messages_table.c.user_id == user_id,
            messages_table.c.conversation_id == conversation_id,
        )
        order = (messages_table.c.created_at, messages_table.c.id)
        if last is not None:
            return self._messages(self._latest_rows(user_id, conversation_id, last))
        statement = sa.select(messages_table).where(*where).order_by(*order).offset(offset)
        with self._engine.connect() as conn:
            return self._messages(conn.execute(statement))
