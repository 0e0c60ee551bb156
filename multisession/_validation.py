"""Argument checks shared by the public API. Each raises InvalidInputError naming the fix."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import InvalidInputError

_MEMORY_ID = re.compile(r"[0-9a-f]{32}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Chat message roles the core stores.
ROLES = ("user", "assistant", "system", "tool")

MAX_ID_LENGTH = 255
MAX_METADATA_BYTES = 64_000


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
    """Refuse text that cannot be stored as UTF-8 (a lone surrogate, e.g. from bad decoding)."""
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
    try:
        encoded = json.dumps(dict(metadata), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"metadata must be JSON-serialisable: {error}") from error
    size = len(_check_text(encoded, "metadata").encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInputError(
            f"metadata is {size} bytes as JSON, over the limit of {MAX_METADATA_BYTES}"
        )
    return dict(json.loads(encoded))


def check_time(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{name} must be timezone-aware, e.g. datetime.now(timezone.utc), got {value!r}"
        )
    return value


def check_positive_int(value: object, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidInputError(f"{name} must be an integer from 1 to {maximum}, got {value!r}")
    return value


def check_non_negative_int(value: object, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidInputError(f"{name} must be an integer from 0 to {maximum}, got {value!r}")
    return value
