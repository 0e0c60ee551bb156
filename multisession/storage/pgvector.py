"""Vectors in PostgreSQL itself (pgvector): one table, one transaction, nothing to repair.

On PostgreSQL with the pgvector extension, each memory's vector is a ``vector(dim)``
column of ``ms_memories``, next to the float32 blob every backend keeps. A trigger
derives the column from the blob inside the statement that writes the blob, so every
write path (inserts, updates, repair's re-embedding, a migration) keeps the two equal
in the same transaction: what SQL acknowledged is searchable, and a writer killed at
any point leaves nothing for :meth:`MemoryEngine.repair` to mend. The same trigger
keeps ``vector_indexed`` true exactly when the vector is there.

One HNSW index covers every user. A search scopes it to one user with ``user_id = ?``
inside the query; pgvector's iterative index scans (0.8+) keep walking the graph until
enough of that user's rows are found. A user with fewer memories than asked for, or a
scan that gives up early (``hnsw.max_scan_tuples``), falls back to the exact order over
the user's own rows, which the primary key ``(user_id, id)`` reads directly: the answer
is never short of what an exact search returns. Users up to ``exact_vector_limit`` are
searched in process anyway, as on SQLite; this index serves the larger ones.

Every statement gets a plan for its own values (``plan_cache_mode = force_custom_plan``
on each connection): a generic plan of a prepared statement sees ``user_id = $1``, sizes
every user as the average one and reads a big user's rows through the key, not the index.
A partial HNSW index per big user was measured against this one shared index
(``benchmarks/pgvector_filtered.py``): at equal recall it was 1.2x faster, not enough
for an index to create, plan and drop per user; see benchmarks/README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..errors import ConfigurationError
from ..records import MemoryFilter
from .schema import memories_table
from .sql_store import SQLStore

__all__ = ["PgVectorIndex", "pgvector_available"]

logger = logging.getLogger("multisession")

#: The column, trigger and index this module adds to ``ms_memories``.
COLUMN = "embedding_vector"
_TRIGGER = "ms_memories_embedding_vector"
_INDEX = "ix_ms_memories_embedding_hnsw"
#: Serialises the one-time setup between processes opening the store at once.
_SETUP_LOCK = 0x6D73_7067  # "mspg"

# Little-endian float32 bytes -> vector, exactly (the mantissa fits a float8).
_BYTES_TO_VECTOR = """
CREATE OR REPLACE FUNCTION ms_bytes_to_vector(b bytea) RETURNS vector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(
    CASE WHEN e = 0 THEN (1 - 2 * s) * m * 2.0::float8 ^ -149
         ELSE (1 - 2 * s) * (8388608 + m) * 2.0::float8 ^ (e - 150) END
    ORDER BY i)::real[]::vector
  FROM (
    SELECT i,
           get_byte(b, 4 * i + 3) >> 7 AS s,
           ((get_byte(b, 4 * i + 3) & 127) << 1) | (get_byte(b, 4 * i + 2) >> 7) AS e,
           ((get_byte(b, 4 * i + 2) & 127) << 16) | (get_byte(b, 4 * i + 1) << 8)
             | get_byte(b, 4 * i) AS m
    FROM generate_series(0, length(b) / 4 - 1) AS i
  ) AS parts
$$
"""

_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION ms_memories_embedding_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.embedding IS NULL OR length(NEW.embedding) <> 4 * {dimension} THEN
    NEW.embedding_vector := NULL;
  ELSIF TG_OP = 'INSERT' OR NEW.embedding_vector IS NULL
        OR NEW.embedding IS DISTINCT FROM OLD.embedding THEN
    NEW.embedding_vector := ms_bytes_to_vector(NEW.embedding);
  END IF;
  NEW.vector_indexed := NEW.embedding_vector IS NOT NULL;
  RETURN NEW;
END
$$
"""


def pgvector_available(store: SQLStore) -> bool:
    """Whether the store is on PostgreSQL and the server offers the pgvector extension."""
    if store.engine.dialect.name != "postgresql":
        return False
    with store.engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).first()
    return found is not None


class _Vector(sa.types.UserDefinedType[Any]):
    """pgvector's ``vector`` type, bound from a numpy array as its text form."""

    cache_ok = True

    def __init__(self, dimension: int | None = None) -> None:
        self.dimension = dimension

    def get_col_spec(self, **kw: Any) -> str:
        return "vector" if self.dimension is None else f"vector({self.dimension})"

    def bind_processor(self, dialect: sa.Dialect) -> Callable[[Any], str | None]:
        def process(value: Any) -> str | None:
            if value is None:
                return None
            return "[" + ",".join(repr(float(x)) for x in np.asarray(value).reshape(-1)) + "]"

        return process


# Reflection (the schema checks on open) then knows the column's type.
postgresql.base.ischema_names.setdefault("vector", _Vector)


class PgVectorIndex:
    """The vector index of a PostgreSQL store with pgvector: SQL's own column.

    Writes need nothing from it (the trigger fills the column in the writing
    transaction); it answers queries and repair's questions.

    Example:
        >>> index = PgVectorIndex.open(store, dimension=384)  # doctest: +SKIP

    Args:
        store: The SQL store, on PostgreSQL with pgvector installed in its database.
        dimension: The embedder's dimension.
        ef_search: Candidates the HNSW search keeps (``hnsw.ef_search``); at least the
            number of results asked for is used. 200: with the user as a filter, 100
            found 93 % of a big user's exact top 10 and 200 found 98 %, at about the
            same latency (``benchmarks/pgvector_filtered.py``).
        iterative: Whether the server has iterative index scans (pgvector 0.8+).
    """

    in_sql = True

    def __init__(
        self, store: SQLStore, dimension: int, *, ef_search: int = 200, iterative: bool = True
    ) -> None:
        self._store = store
        self._dimension = dimension
        self._ef_search = ef_search
        self._iterative = iterative
        self._column = sa.column(COLUMN, _Vector())
        # Session settings of every new connection, so a query is one round trip.
        # Custom plans only: psycopg prepares a statement after its fifth run on a
        # connection, and PostgreSQL then tends to a generic plan, which cannot know
        # that ``user_id = $1`` names a big user and reads the user's rows by key
        # instead of the HNSW index (benchmarks/pgvector_filtered.py measures it).
        searching = [
            f"SET hnsw.ef_search = {int(ef_search)}",
            "SET plan_cache_mode = force_custom_plan",
        ]
        if iterative:
            searching.append("SET hnsw.iterative_scan = relaxed_order")

        @sa.event.listens_for(store.engine, "connect")
        def _search_settings(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                for statement in searching:
                    cursor.execute(statement)
            dbapi_connection.commit()

        store.engine.dispose()  # connections made before have no such settings

    @classmethod
    def open(cls, store: SQLStore, dimension: int, *, ef_search: int = 200) -> PgVectorIndex:
        """Set up the column, trigger and index if missing, then the index on them.

        Safe while other processes open the same store: the setup runs under an
        advisory lock, and each step checks first. A store whose vectors were only in
        the blob (made with a Chroma index) gets the column filled from the blobs.

        Raises:
            ConfigurationError: The server lacks pgvector, or the role may not create
                the extension.
        """
        if not pgvector_available(store):
            raise ConfigurationError(
                "this PostgreSQL server has no pgvector extension: install it on the server "
                "(e.g. the postgresql-NN-pgvector package) or pass vector_url to use Chroma"
            )
        try:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SETUP_LOCK})")
                version = _setup(conn, dimension)
        except sa.exc.DBAPIError as error:
            raise ConfigurationError(
                f"cannot set up pgvector in {store.engine.url!r}: {error.orig}; a superuser "
                "can run CREATE EXTENSION vector in that database once"
            ) from error
        major, minor = (int(part) for part in version.split(".")[:2])
        return cls(store, dimension, ef_search=ef_search, iterative=(major, minor) >= (0, 8))

    def open_here(self) -> None:
        """Nothing to open: the SQL store's connections serve."""

    def ids(self, user_id: str) -> set[str]:
        """The user's memory ids that have a vector."""
        with self._store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(memories_table.c.id).where(
                    memories_table.c.user_id == user_id, self._column.is_not(None)
                )
            )
            return {row.id for row in rows}

    def upsert(
        self,
        user_id: str,
        ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
        metadatas: Sequence[Mapping[str, str | float]],
    ) -> None:
        """Nothing to write: the vectors came in with their memories' rows."""

    def query(
        self, user_id: str, vector: npt.NDArray[np.float32], n: int, where: MemoryFilter
    ) -> list[tuple[str, float]]:
        """The user's ``n`` nearest memories by cosine, filters applied inside SQL."""
        if n <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        distance = self._column.op("<=>", return_type=sa.Float)(
            sa.cast(sa.bindparam("query", query, type_=_Vector()), _Vector())
        )
        clauses = [*self._store.filter_clauses(user_id, where), self._column.is_not(None)]
        approximate = (
            sa.select(memories_table.c.id, distance.label("distance"))
            .where(*clauses)
            .order_by(distance)
            .limit(n)
        )
        deep = n > self._ef_search  # keep at least as many candidates as asked for
        with self._store.engine.connect() as conn:
            if deep:
                conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {min(n, 1000)}")
            else:  # one statement: one round trip, without BEGIN and ROLLBACK
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            hits = [(row.id, float(row.distance)) for row in conn.execute(approximate)]
            if len(hits) < n:
                # Fewer than asked: a small user, or the scan gave up. Adding zero keeps
                # the planner off the HNSW index, so this reads the user's rows by key.
                exact = (
                    sa.select(memories_table.c.id, distance.label("distance"))
                    .where(*clauses)
                    .order_by(distance + 0)
                    .limit(n)
                )
                hits = [(row.id, float(row.distance)) for row in conn.execute(exact)]
        # relaxed_order may return neighbours slightly out of order.
        hits.sort(key=lambda hit: hit[1])
        return [(doc_id, 1.0 - dist) for doc_id, dist in hits]

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        """Nothing to remove: deleting the row removed its vector."""

    def drop_user(self, user_id: str) -> None:
        """Nothing to remove: deleting the rows removed their vectors."""

    def marker(self) -> str | None:
        """The store's own mark: this index cannot be lost apart from SQL."""
        return self._store.setting("vector_index")

    def set_marker(self, value: str) -> None:
        """Nothing to mark (see :meth:`marker`)."""

    def compact(self) -> None:
        """PostgreSQL reclaims dead rows itself (VACUUM)."""

    def remove_orphans(
        self,
        existing: Callable[[list[str]], set[str]],
        proven: Callable[[str, list[str]], set[str]],
        removed_from: Callable[[str, list[str] | None], None],
    ) -> tuple[int, int]:
        """No vector outlives its row here: nothing to remove."""
        return 0, 0

    def close(self) -> None:
        """Nothing to close: the SQL store owns the connections."""


def _setup(conn: sa.Connection, dimension: int) -> str:
    """Create what is missing of the extension, column, trigger and index; its version."""
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
    version = str(
        conn.exec_driver_sql(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).scalar_one()
    )
    column = conn.exec_driver_sql(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = 'ms_memories'::regclass AND a.attname = %s AND NOT a.attisdropped",
        (COLUMN,),
    ).scalar_one_or_none()
    if column is None:
        conn.exec_driver_sql(f"ALTER TABLE ms_memories ADD COLUMN {COLUMN} vector({dimension})")
        # The vector stays in the row, where a distance reads it without a TOAST fetch;
        # the blob (the same floats, read only to load a user) moves out of line first.
        conn.exec_driver_sql(f"ALTER TABLE ms_memories ALTER COLUMN {COLUMN} SET STORAGE PLAIN")
        conn.exec_driver_sql("ALTER TABLE ms_memories ALTER COLUMN embedding SET STORAGE EXTERNAL")
    elif column != f"vector({dimension})":
        raise ConfigurationError(
            f"ms_memories.{COLUMN} is {column}, not vector({dimension}): this store's vectors "
            "come from another embedder"
        )
    trigger = conn.exec_driver_sql(
        "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = 'ms_memories'::regclass",
        (_TRIGGER,),
    ).first()
    if trigger is None:
        conn.exec_driver_sql(_BYTES_TO_VECTOR)
        conn.exec_driver_sql(_TRIGGER_FUNCTION.format(dimension=int(dimension)))
        conn.exec_driver_sql(
            f"CREATE TRIGGER {_TRIGGER} BEFORE INSERT OR UPDATE ON ms_memories "
            "FOR EACH ROW EXECUTE FUNCTION ms_memories_embedding_vector()"
        )
        # Vectors kept only as blobs so far (a store that used Chroma): fill the column.
        filled = conn.exec_driver_sql(
            f"UPDATE ms_memories SET embedding = embedding "
            f"WHERE embedding IS NOT NULL AND {COLUMN} IS NULL"
        ).rowcount
        if filled:
            logger.info("filled the pgvector column of %d memories from their blobs", filled)
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {_INDEX} ON ms_memories "
        f"USING hnsw ({COLUMN} vector_cosine_ops)"
    )
    return version
