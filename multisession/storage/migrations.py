"""Bring a store made by an earlier version up to the current schema, on open.

Columns are only ever added, never changed or dropped, so an older store gains them
in place: each new column must be nullable or carry a ``server_default`` (the rows
already stored then have a value without a rewrite). Safe while other processes open
the same store: a column another process added first is simply found on the next look.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateColumn

from .schema import metadata

__all__ = ["add_missing_columns"]


def add_missing_columns(engine: Engine, schema: sa.MetaData = metadata) -> list[str]:
    """Add every column of the schema that the store's tables lack.

    Args:
        engine: The store's SQLAlchemy engine; its tables already exist.
        schema: The tables as they should be (the store's own schema by default).

    Returns:
        ``table.column`` for each column added (empty when the store is current).
    """
    inspector = sa.inspect(engine)
    added: list[str] = []
    for table in schema.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise AssertionError(
                    f"schema column {table.name}.{column.name} is added to existing "
                    "stores, so it must be nullable or have a server_default"
                )
            ddl = CreateColumn(column).compile(dialect=engine.dialect)
            with engine.begin() as conn:
                still_missing = column.name not in {
                    c["name"] for c in sa.inspect(conn).get_columns(table.name)
                }
                if still_missing:
                    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
                    added.append(f"{table.name}.{column.name}")
    return added
