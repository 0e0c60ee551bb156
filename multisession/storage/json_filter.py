"""Metadata filters as SQL: each condition becomes a clause of the query itself.

A filter on metadata fields must narrow the rows SQL returns, never the results after
the fact, so that a page (``limit``/``offset``) and a search's candidates hold only
matching memories. SQLite and PostgreSQL read JSON differently (``json_type`` /
``json_extract`` against ``json_typeof`` / ``#>``), so each gets its own clause; both
compare a field only with a value of its own JSON type (a string ``"3"`` never equals
the number 3), and a field that is missing equals None and differs from everything else.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..errors import ConfigurationError
from ..records import MetadataCondition

__all__ = ["metadata_clause"]

_COMPARE = {
    "$eq": lambda left, right: left == right,
    "$gt": lambda left, right: left > right,
    "$gte": lambda left, right: left >= right,
    "$lt": lambda left, right: left < right,
    "$lte": lambda left, right: left <= right,
}


def metadata_clause(
    dialect: str, column: sa.Column[Any], condition: MetadataCondition
) -> sa.ColumnElement[bool]:
    """The WHERE clause testing one condition on the JSON ``column``."""
    if dialect == "sqlite":
        reader: _Reader = _SQLiteReader(column, condition.path)
    elif dialect == "postgresql":
        reader = _PostgresReader(column, condition.path)
    else:
        raise ConfigurationError(f"unsupported SQL backend {dialect!r}: use SQLite or PostgreSQL")
    equal = _equals(reader, condition.value)
    if condition.operator == "$ne":
        return sa.not_(sa.func.coalesce(equal, sa.false(), type_=sa.Boolean))
    if condition.operator == "$eq":
        return equal
    number = reader.number()
    return _COMPARE[condition.operator](number, condition.value)  # type: ignore[no-any-return]


def _equals(reader: _Reader, value: object) -> sa.ColumnElement[bool]:
    if value is None:
        return reader.is_null()
    if isinstance(value, bool):
        return reader.is_bool(value)
    if isinstance(value, int | float):
        return reader.number() == value
    return reader.is_text(str(value))


class _Reader:
    def is_null(self) -> sa.ColumnElement[bool]:
        raise NotImplementedError

    def is_bool(self, value: bool) -> sa.ColumnElement[bool]:
        raise NotImplementedError

    def is_text(self, value: str) -> sa.ColumnElement[bool]:
        raise NotImplementedError

    def number(self) -> sa.ColumnElement[Any]:
        raise NotImplementedError


class _SQLiteReader(_Reader):
    def __init__(self, column: sa.Column[Any], path: tuple[str, ...]) -> None:
        # Each key quoted: '$."a"."b"'; validation keeps '"' out of field names.
        json_path = "$" + "".join(f'."{key}"' for key in path)
        self._type = sa.func.json_type(column, json_path, type_=sa.String)
        self._value = sa.func.json_extract(column, json_path)

    def is_null(self) -> sa.ColumnElement[bool]:
        return sa.or_(self._type.is_(None), self._type == "null")

    def is_bool(self, value: bool) -> sa.ColumnElement[bool]:
        return self._type == ("true" if value else "false")

    def is_text(self, value: str) -> sa.ColumnElement[bool]:
        return sa.and_(self._type == "text", sa.type_coerce(self._value, sa.String) == value)

    def number(self) -> sa.ColumnElement[Any]:
        return sa.case(
            (self._type.in_(["integer", "real"]), sa.type_coerce(self._value, sa.Float)),
            else_=sa.null(),
        )


class _PostgresReader(_Reader):
    def __init__(self, column: sa.Column[Any], path: tuple[str, ...]) -> None:
        from sqlalchemy.dialects import postgresql  # only PostgreSQL stores need it

        keys = sa.literal(list(path), type_=postgresql.ARRAY(sa.Text))
        self._json = column.op("#>", return_type=sa.JSON)(keys)
        self._text = column.op("#>>", return_type=sa.Text)(keys)
        self._type = sa.func.json_typeof(self._json, type_=sa.String)

    def is_null(self) -> sa.ColumnElement[bool]:
        return sa.or_(self._json.is_(None), self._type == "null")

    def is_bool(self, value: bool) -> sa.ColumnElement[bool]:
        return sa.and_(self._type == "boolean", self._text == ("true" if value else "false"))

    def is_text(self, value: str) -> sa.ColumnElement[bool]:
        return sa.and_(self._type == "string", self._text == value)

    def number(self) -> sa.ColumnElement[Any]:
        # CASE first, cast after: a text field never reaches the cast.
        return sa.case((self._type == "number", sa.cast(self._text, sa.Float)), else_=sa.null())
