"""Where an engine's stores live, and opening them together.

A directory holds the embedded stores: SQLite in ``memory.db`` and Chroma in
``chroma/``; a SQL URL (PostgreSQL) or a Chroma server URL replaces either. On a
PostgreSQL server with the pgvector extension the vectors stay in SQL (no Chroma at
all) unless a ``vector_url`` asks for Chroma; ``vector_url="pgvector"`` insists. The SQL
store remembers which embedder made its vectors, and exact search compares those with
the query's: opening a store with another embedder is refused, and whatever was opened
by then is closed again.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike, fspath
from pathlib import Path
from typing import TYPE_CHECKING

from ..embeddings.base import Embedder
from ..errors import ConfigurationError
from .sql_store import SQLStore
from .vector_index import VectorIndex
from .vectors import DEFAULT_TIMEOUT, ChromaVectorIndex

if TYPE_CHECKING:
    from .pgvector import PgVectorIndex

#: ``vector_url`` that keeps the vectors in PostgreSQL (pgvector) rather than Chroma.
PGVECTOR = "pgvector"

__all__ = ["open_stores"]


def open_stores(
    directory: str | PathLike[str] | None,
    sql_url: str | None,
    vector_url: str | None,
    resolve_embedder: Callable[[], Embedder | None],
    vector_timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Embedder | None, SQLStore, VectorIndex | None]:
    """The embedder, the SQL store and the vector index (None without an embedder).

    Example:
        >>> embedder, store, vectors = open_stores(None, "sqlite://", None, lambda: None)
        >>> vectors is None
        True
        >>> store.close()

    Args:
        directory: Where the embedded stores live (created if missing), or None.
        sql_url: SQLAlchemy URL of the SQL store; default ``<directory>/memory.db``.
        vector_url: A directory or ``http://host:port``; default: pgvector when the
            SQL store is PostgreSQL with the extension available, else
            ``<directory>/chroma``. ``"pgvector"`` requires pgvector.
        resolve_embedder: Returns the embedder, or None for keyword-only search; called
            once the SQL store's location is known (so a missing location is reported
            before a model loads).
        vector_timeout: Seconds each call to a Chroma server may take.

    Raises:
        ConfigurationError: A store has no location, a location is malformed, or the
            store's vectors were made by another embedder.
    """
    base = Path(fspath(directory)) if directory is not None else None
    if sql_url is None:
        if base is None:
            raise ConfigurationError(
                "give a directory for the embedded stores, or sql_url (and vector_url)"
            )
        base.mkdir(parents=True, exist_ok=True)
        sql_url = f"sqlite:///{base / 'memory.db'}"

    embedder = resolve_embedder()
    if embedder is not None and vector_url in (None, PGVECTOR):
        in_sql = _open_in_sql(sql_url, embedder, require=vector_url == PGVECTOR)
        if in_sql is not None:
            return embedder, *in_sql
    vectors: ChromaVectorIndex | None = None
    if embedder is not None:
        if vector_url is None:
            if base is None:
                raise ConfigurationError(
                    "vector search needs vector_url (a Chroma server http://host:port "
                    "or a directory), or a directory for the embedded stores, or "
                    "PostgreSQL with the pgvector extension; or pass embedder=None for "
                    "keyword-only search"
                )
            base.mkdir(parents=True, exist_ok=True)
            vector_url = str(base / "chroma")
        vectors = ChromaVectorIndex.open(
            vector_url,
            embedder_name=embedder.name,
            dimension=embedder.dimension,
            timeout=vector_timeout,
        )

    store = SQLStore(sql_url)
    if embedder is not None:
        try:
            store.check_embedder(embedder.name, embedder.dimension)
        except ConfigurationError:
            store.close()
            if vectors is not None:
                vectors.close()
            raise
    return embedder, store, vectors


def _open_in_sql(
    sql_url: str, embedder: Embedder, *, require: bool
) -> tuple[SQLStore, PgVectorIndex] | None:
    """The SQL store and its pgvector index, or None when the server has no pgvector.

    Raises:
        ConfigurationError: ``require`` and the store is not PostgreSQL with pgvector, or
            the store's vectors were made by another embedder.
    """
    postgres = sql_url.startswith("postgresql")
    if not postgres and not require:
        return None
    if not postgres:
        raise ConfigurationError(
            f"vector_url={PGVECTOR!r} keeps vectors in PostgreSQL: give sql_url="
            "'postgresql+psycopg://...' as well, or leave vector_url unset"
        )
    # Imported here: it loads SQLAlchemy's PostgreSQL dialect, which SQLite stores skip.
    from .pgvector import PgVectorIndex, pgvector_available

    store = SQLStore(sql_url)
    try:
        if not require and not pgvector_available(store):
            store.close()
            return None
        store.check_embedder(embedder.name, embedder.dimension)
        return store, PgVectorIndex.open(store, embedder.dimension)
    except BaseException:
        store.close()
        raise
