"""Argument checks shared by the public API, and the coercion of what callers pass.

A bad call argument raises InvalidInputError; a bad setting (a constructor argument)
raises ConfigurationError. Each message names the argument and the fix. Checking here,
before anything is written, is what lets a rejected call change nothing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from ._ids import new_id
from .errors import ConfigurationError, InvalidInputError
from .records import MemoryFilter, MemoryInput, MetadataCondition

_Setting = TypeVar("_Setting")

_MEMORY_ID = re.compile(r"[0-9a-f]{32}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Chat message roles the core stores.
ROLES = ("user", "assistant", "system", "tool")

MAX_ID_LENGTH = 255
MAX_METADATA_BYTES = 64_000
#: Deepest nesting of lists and dicts accepted in metadata.
MAX_METADATA_DEPTH = 32


def check_string(value: object, name: str) -> str:
    """Refuse a value that is not a string, naming the argument."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {type(value).__name__}")
    return value


def check_message_content(content: object) -> str:
    if not isinstance(content, str):
        raise InvalidInputError(f"message content must be a string, got {type(content).__name__}")
    return _check_text(content, "message content")


def check_role(role: object) -> str:
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def _check_text(text: str, name: str) -> str:
    """Refuse text that cannot be stored as UTF-8 (a lone surrogate, e.g. from bad decoding).

    NUL is refused too: PostgreSQL cannot store it in text, and a store must accept the
    same text whichever database it runs on.
    """
    if "\x00" in text:
        raise InvalidInputError(
            f"{name} holds a NUL character (\\x00) at position {text.index(chr(0))}: "
            "remove it, or encode binary data as text (e.g. base64)"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidInputError(
            f"{name} holds a character that is not valid Unicode ({error.object[error.start]!r} "
            f"at position {error.start}): decode the source text correctly"
        ) from None
    return text


def _check_identifier(value: object, name: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        expected = "a non-empty string or None" if optional else "a non-empty string"
        raise InvalidInputError(f"{name} must be {expected}, got {value!r}")
    if len(value) > MAX_ID_LENGTH or _CONTROL.search(value):
        raise InvalidInputError(
            f"{name} must be at most {MAX_ID_LENGTH} characters without control characters"
        )
    return _check_text(value, name)


def check_user_id(user_id: object) -> str:
    checked = _check_identifier(user_id, "user_id", optional=False)
    assert checked is not None
    return checked


def check_conversation_id(conversation_id: object) -> str | None:
    return _check_identifier(conversation_id, "conversation_id", optional=True)


def check_scope(scope: object) -> str | None:
    """A scope is an identifier like a conversation id; ``/`` nests one in another."""
    checked = _check_identifier(scope, "scope", optional=True)
    if checked is not None and "" in checked.split("/"):
        raise InvalidInputError(
            f"scope {checked!r} has an empty part: scopes nest with single '/' between "
            "non-empty names, e.g. 'support-bot/run-7'"
        )
    return checked


def check_memory_id(memory_id: object) -> str:
    if not isinstance(memory_id, str) or not _MEMORY_ID.fullmatch(memory_id):
        raise InvalidInputError(
            f"malformed memory id {memory_id!r}: ids are 32 lowercase hex characters, "
            "as returned by add()"
        )
    return memory_id


def check_content(content: object, max_chars: int) -> str:
    if not isinstance(content, str):
        raise InvalidInputError(f"memory content must be a string, got {type(content).__name__}")
    if not content.strip():
        raise InvalidInputError("memory content is empty: give the text to remember")
    if len(content) > max_chars:
        raise InvalidInputError(
            f"memory content has {len(content)} characters, over the limit of {max_chars}: "
            "split it into smaller memories or raise max_content_chars"
        )
    return _check_text(content, "memory content")


def check_query(query: object) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"query must be a non-empty string, got {query!r}")
    return _check_text(query, "query")


def check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidInputError(
            f"kind must be a lowercase identifier such as 'fact' or 'preference', got {kind!r}"
        )
    return kind


def check_metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping) or not all(isinstance(key, str) for key in metadata):
        raise InvalidInputError("metadata must be a dict with string keys")
    _check_depth(metadata)
    try:
        encoded = json.dumps(dict(metadata), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidInputError(f"metadata must be JSON-serialisable: {error}") from error
    size = len(_check_text(encoded, "metadata").encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInputError(
            f"metadata is {size} bytes as JSON, over the limit of {MAX_METADATA_BYTES}"
        )
    return dict(json.loads(encoded))


def _check_depth(metadata: Mapping[str, Any]) -> None:
    """Refuse metadata nested deeper than MAX_METADATA_DEPTH (walked without recursion)."""
    level: list[Any] = [metadata]
    for _depth in range(MAX_METADATA_DEPTH):
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, Mapping) else value)
            if isinstance(child, (Mapping, list, tuple))
        ]
        if not level:
            return
    raise InvalidInputError(
        f"metadata is nested more than {MAX_METADATA_DEPTH} levels deep: flatten it"
    )


def check_time(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{name} must be timezone-aware, e.g. datetime.now(timezone.utc), got {value!r}"
        )
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidInputError(
            f"{name} {value.isoformat()} is outside the years 1-9999 in UTC: give a time "
            "within them"
        ) from None
    return value


def check_sequence(value: object, name: str, example: str) -> None:
    """Refuse a value that is not a list-like collection (a string counts as one text)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidInputError(
            f"{name} must be a list of {name}, e.g. {example}, not a {type(value).__name__}"
        )


def check_positive_int(value: object, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidInputError(f"{name} must be an integer from 1 to {maximum}, got {value!r}")
    return value


def check_non_negative_int(value: object, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidInputError(f"{name} must be an integer from 0 to {maximum}, got {value!r}")
    return value


def check_conversation_required(conversation_id: object) -> str:
    checked = check_conversation_id(conversation_id)
    if checked is None:
        raise InvalidInputError("conversation_id is required here")
    return checked


def memory_filter(
    kinds: Sequence[str] | None,
    conversation_id: str | None,
    since: datetime | None,
    until: datetime | None,
    metadata: Mapping[str, Any] | None = None,
    scope: str | None = None,
) -> MemoryFilter:
    """The filter of a search, list or count, from its checked arguments."""
    if kinds is not None:
        check_sequence(kinds, "kinds", "['fact']")
    return MemoryFilter(
        kinds=tuple(check_kind(kind) for kind in kinds) if kinds is not None else None,
        conversation_id=check_conversation_id(conversation_id),
        since=check_time(since, "since"),
        until=check_time(until, "until"),
        metadata=metadata_conditions(metadata),
        scope=check_scope(scope),
    )


_COMPARISONS = frozenset({"$gt", "$gte", "$lt", "$lte"})
_OPERATORS = frozenset({"$eq", "$ne", *_COMPARISONS})


def metadata_conditions(
    metadata_filter: Mapping[str, Any] | None, path: tuple[str, ...] = ()
) -> tuple[MetadataCondition, ...]:
    """The conditions of a ``filter`` on metadata fields, every one checked.

    ``{"color": "red"}`` tests equality; ``{"size": {"$gte": 3, "$lt": 9}}`` applies
    operators; a dict without operators matches the fields of a nested dict
    (``{"address": {"city": "Oslo"}}``). All conditions must hold.
    """
    if metadata_filter is None:
        return ()
    where = ".".join(path) or "filter"
    if not isinstance(metadata_filter, Mapping) or not metadata_filter:
        raise InvalidInputError(
            f"{where} must be a non-empty dict of metadata fields to values, "
            f"e.g. {{'color': 'red'}}, got {metadata_filter!r}"
        )
    conditions: list[MetadataCondition] = []
    for field, expected in metadata_filter.items():
        if not isinstance(field, str) or not field or field.startswith("$") or '"' in field:
            raise InvalidInputError(
                f"{where}: field names are non-empty strings without '\"', not starting "
                "with '$', "
                f"got {field!r}; operators go inside a field: {{'size': {{'$gt': 3}}}}"
            )
        field_path = (*path, field)
        if isinstance(expected, Mapping) and any(
            isinstance(key, str) and key.startswith("$") for key in expected
        ):
            for operator, value in expected.items():
                conditions.append(_condition(field_path, operator, value))
        elif isinstance(expected, Mapping):
            conditions.extend(metadata_conditions(expected, field_path))
        else:
            conditions.append(_condition(field_path, "$eq", expected))
    return tuple(conditions)


def _condition(path: tuple[str, ...], operator: object, value: object) -> MetadataCondition:
    field = ".".join(path)
    if operator not in _OPERATORS:
        raise InvalidInputError(
            f"filter on {field!r}: unknown operator {operator!r}; use one of "
            f"{', '.join(sorted(_OPERATORS))}"
        )
    if operator in _COMPARISONS:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInputError(
                f"filter on {field!r}: {operator} compares numbers, got {value!r}"
            )
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise InvalidInputError(
            f"filter on {field!r}: {operator} takes a string, number, bool or None, "
            f"got {type(value).__name__}; match a nested dict field by field instead"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"filter on {field!r}: {value!r} is not a finite number")
    assert isinstance(operator, str)
    return MetadataCondition(path, operator, value)


def memory_rows(
    items: Iterable[MemoryInput | str | Mapping[str, Any]], now: datetime, max_chars: int
) -> list[dict[str, Any]]:
    """The SQL rows of memories to add, every item checked; ids made where not given.

    Raises InvalidInputError for the first bad item, naming its position, and for an id
    given twice.
    """
    check_sequence(items, "items", "['I like tea'] or [MemoryInput(...)]")
    rows = [
        _memory_row(_memory_input(item, position), now, max_chars)
        for position, item in enumerate(items)
    ]
    seen: set[str] = set()
    for position, row in enumerate(rows):
        if row["id"] in seen:
            raise InvalidInputError(f"item {position}: id {row['id']} is given twice")
        seen.add(row["id"])
    return rows


def _memory_input(item: MemoryInput | str | Mapping[str, Any], position: int) -> MemoryInput:
    if isinstance(item, MemoryInput):
        return item
    if isinstance(item, str):
        return MemoryInput(item)
    if isinstance(item, Mapping):
        try:
            return MemoryInput(**item)
        except TypeError as error:
            raise InvalidInputError(f"item {position}: {error}") from error
    raise InvalidInputError(
        f"item {position}: expected MemoryInput, str or dict, got {type(item).__name__}"
    )


def _memory_row(item: MemoryInput, now: datetime, max_chars: int) -> dict[str, Any]:
    created_at = check_time(item.created_at, "created_at") or now
    return {
        "id": new_id() if item.id is None else check_memory_id(item.id),
        "content": check_content(item.content, max_chars),
        "kind": check_kind(item.kind),
        "conversation_id": check_conversation_id(item.conversation_id),
        "scope": check_scope(item.scope),
        "metadata": check_metadata(item.metadata),
        "created_at": created_at.astimezone(timezone.utc),
    }


def memory_changes(
    content: object, kind: object, metadata: object, max_chars: int
) -> dict[str, Any]:
    """The checked values of an update; at least one must be given."""
    values: dict[str, Any] = {}
    if content is not None:
        values["content"] = check_content(content, max_chars)
    if kind is not None:
        values["kind"] = check_kind(kind)
    if metadata is not None:
        values["metadata"] = check_metadata(metadata)
    if not values:
        raise InvalidInputError("update needs content, kind or metadata")
    return values


def message_rows(
    messages: Iterable[tuple[str, str] | Mapping[str, Any]],
) -> list[tuple[str, str, Mapping[str, Any] | None]]:
    """``(role, content, metadata)`` of chat messages given as tuples or dicts.

    Roles and contents are checked where they are stored.
    """
    check_sequence(messages, "messages", "[('user', 'hello')]")
    rows: list[tuple[str, str, Mapping[str, Any] | None]] = []
    for position, message in enumerate(messages):
        if isinstance(message, Mapping):
            rows.append((message.get("role"), message.get("content"), message.get("metadata")))  # type: ignore[arg-type]
        elif isinstance(message, tuple) and len(message) == 2:
            rows.append((message[0], message[1], None))
        else:
            raise InvalidInputError(
                f"message {position}: expected (role, content) or a dict, "
                f"got {type(message).__name__}"
            )
    return rows


# -- settings (constructor arguments) ----------------------------------------------------


def check_setting_int(value: object, name: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigurationError(
            f"{name} must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return value


def check_setting_seconds(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            f"{name} must be a positive, finite number of seconds, got {value!r}"
        )
    return float(value)


def check_setting_type(value: _Setting | None, kind: type[_Setting], name: str) -> _Setting | None:
    if value is not None and not isinstance(value, kind):
        raise ConfigurationError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value
