"""``multisession import``: JSON Lines of memories and chat messages into a store.

Each line of the file is one JSON object, either a memory::

    {"content": "I'm allergic to peanuts", "kind": "fact", "user_id": "alice",
     "created_at": "2026-03-01T12:00:00Z", "conversation_id": "c1", "metadata": {}}

or, when it has a ``"role"``, a chat message::

    {"role": "user", "content": "I moved to Oslo", "user_id": "alice",
     "timestamp": "2026-03-01T12:00:00+01:00", "conversation_id": "c1"}

Only ``content`` (and, for a message, ``role`` and ``conversation_id``) is required; the
user comes from the line's ``user_id`` or else from ``--user``. ``timestamp`` is another
name for ``created_at``. Times are ISO 8601 with a timezone and default to the time of
the import.

A message is appended to its conversation with its own time, and the memories worth
keeping are extracted from it as :func:`~multisession.extraction.recording.record_exchange`
does. A user message is paired with its reply in the same conversation by the rule of
:func:`~multisession.extraction.recording.pair_turns` (the last assistant message with
text before the next user message);
:func:`~multisession.extraction.recording.exchange_memories` judges the pair (the engine's
LLM when it has one, else the memory-worthiness rules), and each memory it keeps is
stored with the message's time as ``created_at``. Decisions, action items and the
rolling summary of the conversation are kept up to date the same way too.

Re-running an import stores nothing twice, so an interrupted one is finished by running
it again. Every line gets a key derived from its user, its JSON content (keys sorted)
and how many identical lines came before it in the file. A memory line's key is its
memory id and ``add_many(..., skip_existing=True)`` leaves out ids already stored; a
memory extracted from a message has an id derived from the message's key and its text;
a message carries its key as ``metadata["import_id"]`` and is skipped when its
conversation already holds that key. Since keys depend on the lines and not on the file
as a whole, fixing a rejected line, or appending to the file, and importing again adds
just what is new.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import _validation as check
from ..errors import InvalidInputError
from ..extraction.recording import (
    TurnPairing,
    exchange_memories,
    refresh_summary,
    track_decisions_and_actions,
)
from ..records import MemoryInput, Message

if TYPE_CHECKING:
    from ..engine import MemoryEngine

__all__ = ["ImportReport", "JsonLinesImport", "Rejection", "parse_time"]

#: Metadata key of an imported message that holds its import key.
IMPORT_ID = "import_id"

_MEMORY_FIELDS = ("content", "kind", "created_at", "conversation_id", "metadata", "user_id")
_MESSAGE_FIELDS = ("role", "content", "timestamp", "conversation_id", "metadata", "user_id")


def parse_time(value: object, name: str) -> datetime:
    """An ISO 8601 time with a timezone (``Z`` included), as a UTC datetime.

    Example:
        >>> parse_time("2026-03-01T13:00:00+01:00", "created_at").isoformat()
        '2026-03-01T12:00:00+00:00'

    Raises:
        InvalidInputError: ``value`` is not such a time, or has no timezone.
    """
    example = "2026-03-01T12:00:00Z"
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{name} must be an ISO 8601 string such as {example}, got {type(value).__name__}"
        )
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{name} {value!r} is not an ISO 8601 time: write it like {example}"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        stem = value.strip() if "T" in text or " " in text.strip() else f"{value.strip()}T00:00:00"
        raise InvalidInputError(
            f"{name} {value!r} has no timezone: add one, e.g. {stem}Z for UTC or {stem}+02:00"
        )
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidInputError(
            f"{name} {value!r} is outside the years 1-9999 in UTC: give a time within them"
        ) from None


@dataclass(frozen=True)
class Rejection:
    """A line that was not imported, and why."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did, line by line.

    Attributes:
        lines: Non-blank lines read.
        skipped: Lines an earlier run of the same import had stored already.
        memories: Memory lines stored by this run.
        messages: Messages stored by this run.
        extracted: Memories extracted from messages and stored by this run.
        rejected: Lines not imported, by line number.
    """

    lines: int = 0
    skipped: int = 0
    memories: int = 0
    messages: int = 0
    extracted: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Lines stored by this run: memory lines and messages."""
        return self.memories + self.messages

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``rejections`` lists ``{"line", "reason"}`` in line order."""
        return {
            "lines": self.lines,
            "imported": self.imported,
            "skipped": self.skipped,
            "rejected": len(self.rejected),
            "memories": self.memories,
            "messages": self.messages,
            "extracted": self.extracted,
            "rejections": [
                {"line": item.line, "reason": item.reason}
                for item in sorted(self.rejected, key=lambda item: item.line)
            ],
        }


@dataclass(frozen=True)
class _MemoryLine:
    line: int
    user_id: str
    item: MemoryInput


@dataclass(frozen=True)
class _MessageLine:
    line: int
    user_id: str
    conversation_id: str
    role: str
    content: str
    created_at: datetime
    metadata: dict[str, Any]
    key: str


@dataclass
class _OpenTurn:
    """A conversation's turn under way, and the line of its first message."""

    pairing: TurnPairing = field(default_factory=TurnPairing)
    first: _MessageLine | None = None


class JsonLinesImport:
    """One run of an import into an open engine.

    Example::

        with MemoryEngine("./store") as engine, open("history.jsonl", "rb") as source:
            report = JsonLinesImport(engine, default_user="alice").run(source)

    Args:
        engine: Where the lines go.
        default_user: The user of lines without a ``user_id`` (a valid user id, the caller
            checks it); None requires one per line.
        batch_size: Lines read, checked and written together (one ``add_many`` per user);
            1 or more, the caller checks it.
    """

    def __init__(
        self, engine: MemoryEngine, *, default_user: str | None = None, batch_size: int = 256
    ) -> None:
        self._engine = engine
        self._default_user = default_user
        self._batch_size = batch_size
        self._report = ImportReport()
        self._seen: Counter[bytes] = Counter()
        self._import_ids: dict[tuple[str, str], set[str]] = {}
        # Each conversation's turn under way: its reply is known only when the next user
        # message of that conversation, or the end of the file, ends the turn. Only the
        # turn's first line and its texts are held, never all of its messages.
        self._turns: dict[tuple[str, str], _OpenTurn] = {}

    def run(
        self, lines: Iterable[bytes], progress: Callable[[int], None] | None = None
    ) -> ImportReport:
        """Import every line; ``progress`` is called with the bytes done after each batch."""
        batch: list[tuple[int, bytes]] = []
        size = 0
        for number, raw in enumerate(lines, start=1):
            batch.append((number, raw))
            size += len(raw)
            if len(batch) >= self._batch_size:
                self._import_batch(batch)
                batch = []
                if progress is not None:
                    progress(size)
                size = 0
        self._import_batch(batch)
        open_turns, self._turns = list(self._turns.values()), {}
        self._store_extracted(
            [item for turn in open_turns for item in self._extract_turn(turn, None)]
        )
        if progress is not None:
            progress(size)
        return self._report

    # -- one batch -------------------------------------------------------------------

    def _import_batch(self, batch: Sequence[tuple[int, bytes]]) -> None:
        memories: list[_MemoryLine] = []
        messages: list[_MessageLine] = []
        for number, raw in batch:
            try:
                entry = self._parse(raw, number)
            except InvalidInputError as error:
                self._reject(number, str(error))
                continue
            if isinstance(entry, _MemoryLine):
                memories.append(entry)
            elif isinstance(entry, _MessageLine):
                messages.append(entry)
        self._store_memories(memories)

        extracted: list[tuple[str, MemoryInput]] = []
        touched: dict[tuple[str, str], list[Message]] = {}
        for message in messages:
            if not self._store_message(message):
                continue
            conversation = (message.user_id, message.conversation_id)
            turn = self._turns.setdefault(conversation, _OpenTurn())
            extracted += self._extract_turn(turn, message)
            touched.setdefault(conversation, []).append(
                Message(
                    message.role,
                    message.content,
                    message.created_at,
                    conversation_id=message.conversation_id,
                )
            )
        self._store_extracted(extracted)
        # Already stored messages count too: both steps are idempotent, and a run that
        # was interrupted between storing messages and this point catches up here.
        for (user_id, conversation_id), stored in touched.items():
            conversations = self._engine.conversations
            track_decisions_and_actions(conversations, user_id, conversation_id, stored)
            refresh_summary(
                conversations,
                self._engine.llm,
                user_id,
                conversation_id,
                self._engine.context_config.summary_every,
            )

    def _store_memories(self, lines: Sequence[_MemoryLine]) -> None:
        for user_id, group in _by_user(lines, lambda line: line.user_id).items():
            try:
                added = self._engine.add_many(
                    user_id, [line.item for line in group], skip_existing=True
                )
            except InvalidInputError:
                # One bad item rejects a whole batch: find it, keep the others.
                for line in group:
                    try:
                        self._count_memories(
                            [line], self._engine.add_many(user_id, [line.item], skip_existing=True)
                        )
                    except InvalidInputError as error:
                        self._reject(line.line, str(error))
                continue
            self._count_memories(group, added)

    def _count_memories(self, lines: Sequence[_MemoryLine], added: Sequence[Any]) -> None:
        new = {memory.id for memory in added}
        for line in lines:
            if line.item.id in new:
                self._report.memories += 1
            else:
                self._report.skipped += 1

    def _store_message(self, message: _MessageLine) -> bool:
        """Append the message unless an earlier run did; False if it was rejected."""
        known = self._known_import_ids(message.user_id, message.conversation_id)
        if message.key in known:
            self._report.skipped += 1
            return True
        try:
            self._engine.add_messages(
                message.user_id,
                message.conversation_id,
                [
                    {
                        "role": message.role,
                        "content": message.content,
                        "metadata": {**message.metadata, IMPORT_ID: message.key},
                    }
                ],
                now=message.created_at,
            )
        except InvalidInputError as error:
            self._reject(message.line, str(error))
            return False
        known.add(message.key)
        self._report.messages += 1
        return True

    def _known_import_ids(self, user_id: str, conversation_id: str) -> set[str]:
        key = (user_id, conversation_id)
        known = self._import_ids.get(key)
        if known is None:
            known = {
                str(message.metadata[IMPORT_ID])
                for message in self._engine.get_messages(user_id, conversation_id)
                if IMPORT_ID in message.metadata
            }
            self._import_ids[key] = known
        return known

    def _store_extracted(self, items: Sequence[tuple[str, MemoryInput]]) -> None:
        for user_id, group in _by_user(items, lambda item: item[0]).items():
            added = self._engine.add_many(user_id, [item for _, item in group], skip_existing=True)
            self._report.extracted += len(added)

    def _reject(self, line: int, reason: str) -> None:
        self._report.rejected.append(Rejection(line, reason))

    # -- one line --------------------------------------------------------------------

    def _parse(self, raw: bytes, number: int) -> _MemoryLine | _MessageLine | None:
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            self._report.lines += 1
            raise InvalidInputError("the line is not valid UTF-8: save the file as UTF-8") from None
        if not text.strip():
            return None
        self._report.lines += 1
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(
                f"malformed JSON ({error.msg} at column {error.colno}): each line must be "
                "one JSON object"
            ) from None
        except RecursionError:
            raise InvalidInputError(
                "the JSON is nested too deeply to read: flatten the line's metadata"
            ) from None
        if not isinstance(record, dict):
            raise InvalidInputError(
                f"expected a JSON object, got {_json_type(record)}: each line is one memory "
                "or one chat message"
            )
        if "role" in record:
            return self._message(record, number)
        return self._memory(record, number)

    def _memory(self, record: Mapping[str, Any], number: int) -> _MemoryLine:
        _check_fields(record, _MEMORY_FIELDS, "a memory")
        user_id = self._user(record)
        content = check.check_content(record["content"], self._engine.max_content_chars)
        kind = check.check_kind(record.get("kind", "fact"))
        conversation_id = check.check_conversation_id(record.get("conversation_id"))
        metadata = check.check_metadata(record.get("metadata"))
        created_at = _time(record)
        item = MemoryInput(
            content,
            kind=kind,
            conversation_id=conversation_id,
            metadata=metadata,
            created_at=created_at,
            id=self._key(user_id, record),
        )
        return _MemoryLine(number, user_id, item)

    def _message(self, record: Mapping[str, Any], number: int) -> _MessageLine:
        _check_fields(record, _MESSAGE_FIELDS, "a chat message")
        role = check.check_role(record["role"])
        user_id = self._user(record)
        content = check.check_message_content(record["content"])
        if not content.strip():
            raise InvalidInputError("message content is empty: a chat message needs its text")
        conversation_id = check.check_conversation_id(record.get("conversation_id"))
        if conversation_id is None:
            raise InvalidInputError(
                'missing "conversation_id": a chat message belongs to a conversation'
            )
        metadata = check.check_metadata(record.get("metadata"))
        if IMPORT_ID in metadata:
            raise InvalidInputError(
                f'metadata key "{IMPORT_ID}" is reserved: the import records its own key there'
            )
        return _MessageLine(
            number,
            user_id,
            conversation_id,
            role,
            content,
            _time(record) or datetime.now(timezone.utc),
            metadata,
            self._key(user_id, record),
        )

    def _user(self, record: Mapping[str, Any]) -> str:
        if "user_id" in record:
            return check.check_user_id(record["user_id"])
        if self._default_user is None:
            raise InvalidInputError('no user: give "user_id" on the line, or --user for all lines')
        return self._default_user

    def _key(self, user_id: str, record: Mapping[str, Any]) -> str:
        """32 hex characters: the user, the line's JSON and its occurrence in the file."""
        canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        base = hashlib.sha256(_utf8(f"{user_id}\0{canonical}")).digest()
        occurrence = self._seen[base]
        self._seen[base] += 1
        return hashlib.sha256(base + f"\0{occurrence}".encode()).hexdigest()[:32]

    def _extract_turn(
        self, turn: _OpenTurn, message: _MessageLine | None
    ) -> list[tuple[str, MemoryInput]]:
        """Add ``message`` to its conversation's turn (``None``: the input ended).

        Returns what the turn this ends keeps, when it has a user message.
        """
        if message is None:
            ended = turn.pairing.finish()
        else:
            ended = turn.pairing.add(message.role, message.content)
        first_of_ended = turn.first
        if message is not None and (ended is not None or turn.first is None):
            turn.first = message  # it starts the next turn (or the very first)
        if ended is None or ended.user is None or first_of_ended is None:
            return []
        # A turn with a user opens with the user's message: its line is the turn's first.
        return self._extract(first_of_ended, ended.reply)

    def _extract(self, message: _MessageLine, reply: str | None) -> list[tuple[str, MemoryInput]]:
        """What record_exchange keeps from a user message and the reply, with import ids.

        Each memory's id comes from the message's key and the memory's text, so that a
        re-run extracts the same ids and stores nothing twice.
        """
        items: list[tuple[str, MemoryInput]] = []
        occurrences: Counter[str] = Counter()
        for item in exchange_memories(
            self._engine.llm,
            message.content,
            reply,
            conversation_id=message.conversation_id,
            created_at=message.created_at,
            max_chars=self._engine.max_content_chars,
        ):
            occurrence = occurrences[item.content]
            occurrences[item.content] += 1
            digest = hashlib.sha256(
                _utf8(f"{message.key}\0extracted\0{item.content}\0{occurrence}")
            )
            metadata = {**(item.metadata or {}), "message_import_id": message.key}
            items.append(
                (
                    message.user_id,
                    dataclasses.replace(item, metadata=metadata, id=digest.hexdigest()[:32]),
                )
            )
        return items


def _utf8(text: str) -> bytes:
    """``text`` as bytes to hash: UTF-8, where a lone surrogate does not raise.

    The line holding one is rejected by validation, with its reason; hashing it first must
    not abort the import.
    """
    return text.encode("utf-8", "surrogatepass")


def _by_user(items: Iterable[Any], user_of: Callable[[Any], str]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(user_of(item), []).append(item)
    return groups


def _check_fields(record: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    names = set(allowed) | {"created_at", "timestamp"}
    unknown = sorted(set(record) - names)
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise InvalidInputError(
            f"unknown field {listed}: {what} has the fields {', '.join(allowed)}"
        )
    if "content" not in record:
        raise InvalidInputError(f'missing "content": {what} needs its text')


def _time(record: Mapping[str, Any]) -> datetime | None:
    if "created_at" in record and "timestamp" in record:
        raise InvalidInputError('give "created_at" or "timestamp", not both')
    name = "created_at" if "created_at" in record else "timestamp"
    value = record.get(name)
    return None if value is None else parse_time(value, name)


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
