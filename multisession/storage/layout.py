"""Where an engine's stores live, and opening them together.

A directory holds the embedded stores: SQLite in ``memory.db`` and Chroma in
``chroma/``; a SQL URL (PostgreSQL) or a Chroma server URL replaces either. The SQL
store remembers which embedder made its vectors, and exact search compares those with
the query's: opening a store with another embedder is refused, and whatever was opened
by then is closed again.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike, fspath
from pathlib import Path

from ..embeddings.base import Embedder
from ..errors import ConfigurationError
from .sql_store import SQLStore
from .vectors import DEFAULT_TIMEOUT, ChromaVectorIndex

__all__ = ["open_stores"]


def open_stores(
    directory: str | PathLike[str] | None,
    sql_url: str | None,
    vector_url: str | None,
    resolve_embedder: Callable[[], Embedder | None],
    vector_timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Embedder | None, SQLStore, ChromaVectorIndex | None]:
    """The embedder, the SQL store and the vector index (None without an embedder).

    Example:
        >>> embedder, store, vectors = open_stores(None, "sqlite://", None, lambda: None)
        >>> vectors is None
        True
        >>> store.close()

    Args:
        directory: Where the embedded stores live (created if missing), or None.
        sql_url: SQLAlchemy URL of the SQL store; default ``<directory>/memory.db``.
        vector_url: A directory or ``http://host:port``; default ``<directory>/chroma``.
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
    vectors: ChromaVectorIndex | None = None
    if embedder is not None:
        if vector_url is None:
            if base is None:
                raise ConfigurationError(
                    "vector search needs vector_url (a Chroma server http://host:port "
                    "or a directory), or a directory for the embedded stores; or pass "
                    "embedder=None for keyword-only search"
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
