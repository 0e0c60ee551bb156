"""The vector index: memory vectors in Chroma, one collection per user.

The vector index is derived data: SQL holds every memory, and anything missing here is
re-indexed by :meth:`MemoryEngine.repair`. Each user gets a collection of their own,
named after a hash of the user id (a user id never becomes a name verbatim), so one
user's query cannot reach another user's vectors.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import numpy.typing as npt

from .._lru import LRUCache
from ..errors import ConfigurationError
from ..records import MemoryFilter
from .schema import user_hash

__all__ = ["ChromaVectorIndex", "collection_name"]

logger = logging.getLogger("multisession")

_COLLECTION_PREFIX = "ms-"


def collection_name(user_id: str) -> str:
    """The Chroma collection holding a user's vectors."""
    return _COLLECTION_PREFIX + user_hash(user_id)[:48]


def _where(where: MemoryFilter) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if where.kinds is not None:
        clauses.append({"kind": {"$in": list(where.kinds)}})
    if where.conversation_id is not None:
        clauses.append({"conversation_id": {"$eq": where.conversation_id}})
    if where.since is not None:
        clauses.append({"created_ts": {"$gte": where.since.timestamp()}})
    if where.until is not None:
        clauses.append({"created_ts": {"$lt": where.until.timestamp()}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaVectorIndex:
    """Vectors in Chroma: embedded (a directory) or a Chroma server (a URL).

    Example:
        >>> index = ChromaVectorIndex.open("/tmp/store/chroma", embedder_name="m", dimension=3)
        ... # doctest: +SKIP

    Vectors are always computed by the engine's embedder and passed in: Chroma's own
    default embedding function never runs.
    """

    def __init__(
        self,
        client: Any,
        *,
        embedder_name: str,
        dimension: int,
        connect: Callable[[], Any] | None = None,
    ) -> None:
        # An embedded index opens on first use (``connect``): importing chromadb costs
        # half a second, and users searched exactly from SQL never need it.
        self._connected = client
        self._connect = connect
        self._connect_lock = threading.Lock()
        self._embedder_name = embedder_name
        self._dimension = dimension
        self._collections: LRUCache[str, Any] = LRUCache(256)

    @property
    def _client(self) -> Any:
        if self._connected is None:
            with self._connect_lock:
                if self._connected is None:
                    assert self._connect is not None
                    self._connected = self._connect()
        return self._connected

    @classmethod
    def open(cls, location: str, *, embedder_name: str, dimension: int) -> ChromaVectorIndex:
        """Open a directory (embedded Chroma, on first use) or a Chroma server.

        A server is ``http(s)://host:port``, optionally with ``?tenant=...&database=...``
        to use a tenant or database other than Chroma's defaults (they must exist).
        """
        parsed = urlparse(location)
        if parsed.scheme in ("", "file"):
            return cls(
                None,
                embedder_name=embedder_name,
                dimension=dimension,
                connect=functools.partial(cls._open_embedded, parsed.path or location),
            )
        import chromadb
        from chromadb.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        parsed = urlparse(location)
        if parsed.scheme in ("http", "https"):
            if not parsed.hostname:
                raise ConfigurationError(f"Chroma URL has no host: {location!r}")
            options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
            unknown = set(options) - {"tenant", "database"}
            if unknown:
                raise ConfigurationError(
                    f"unknown option(s) {sorted(unknown)} in Chroma URL {location!r}: "
                    "only tenant and database are understood"
                )
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
                tenant=options.get("tenant", DEFAULT_TENANT),
                database=options.get("database", DEFAULT_DATABASE),
            )
        else:
            raise ConfigurationError(
                f"unsupported vector store location {location!r}: give a directory or "
                "http://host:port of a Chroma server"
            )
        return cls(client, embedder_name=embedder_name, dimension=dimension)

    @staticmethod
    def _open_embedded(path: str) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        return chromadb.PersistentClient(path=path, settings=settings)

    def _collection(self, user_id: str, *, create: bool) -> Any | None:
        name = collection_name(user_id)
        cached = self._collections.get(name)
        if cached is not None:
            return cached
        if create:
            collection = self._client.get_or_create_collection(
                name,
                metadata={"embedder": self._embedder_name, "dimension": self._dimension},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        else:
            try:
                collection = self._client.get_collection(name, embedding_function=None)
            except Exception as error:  # chromadb raises NotFoundError / ValueError by version
                if "does not exist" in str(error) or type(error).__name__ == "NotFoundError":
                    return None
                raise
        stored = collection.metadata or {}
        if (
            stored.get("embedder") != self._embedder_name
            or stored.get("dimension") != self._dimension
        ):
            raise ConfigurationError(
                f"the vector index was built with embedder {stored.get('embedder')!r} "
                f"(dimension {stored.get('dimension')}), not {self._embedder_name!r} "
                f"(dimension {self._dimension}): open the store with the same embedder, "
                "or use a new store directory and re-import"
            )
        self._collections.put(name, collection)
        return collection

    def ids(self, user_id: str) -> set[str]:
        """Every memory id the user's collection holds."""
        collection = self._collection(user_id, create=False)
        if collection is None:
            return set()
        return set(collection.get(include=[])["ids"])

    def upsert(
        self,
        user_id: str,
        ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
        metadatas: Sequence[Mapping[str, str | float]],
    ) -> None:
        if not ids:
            return
        collection = self._collection(user_id, create=True)
        assert collection is not None
        collection.upsert(
            ids=list(ids),
            embeddings=np.asarray(vectors, dtype=np.float32),
            metadatas=[dict(m) for m in metadatas],
        )

    def query(
        self, user_id: str, vector: npt.NDArray[np.float32], n: int, where: MemoryFilter
    ) -> list[tuple[str, float]]:
        collection = self._collection(user_id, create=False)
        if collection is None:
            return []
        result = collection.query(
            query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
            n_results=n,
            where=_where(where),
            include=["distances"],
        )
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        return [
            (doc_id, 1.0 - float(distance)) for doc_id, distance in zip(ids, distances, strict=True)
        ]

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        collection = self._collection(user_id, create=False)
        if collection is not None:
            collection.delete(ids=list(ids))

    def drop_user(self, user_id: str) -> None:
        name = collection_name(user_id)
        self._collections.discard(name)
        try:
            self._client.delete_collection(name)
        except Exception as error:
            if "does not exist" in str(error) or type(error).__name__ == "NotFoundError":
                return
            raise

    def remove_orphans(self, existing: Callable[[list[str]], set[str]]) -> int:
        """Delete vectors whose memory no longer exists; returns how many.

        ``existing`` tells which of a list of memory ids SQL still holds. A collection
        left empty is dropped.
        """
        removed = 0
        for listed in self._client.list_collections():
            name = listed if isinstance(listed, str) else listed.name
            if not name.startswith(_COLLECTION_PREFIX):
                continue
            collection = self._client.get_collection(name, embedding_function=None)
            ids = list(collection.get(include=[])["ids"])
            orphans = sorted(set(ids) - existing(ids))
            if orphans:
                collection.delete(ids=orphans)
                removed += len(orphans)
            if len(orphans) == len(ids):
                self._collections.discard(name)
                self._client.delete_collection(name)
        return removed

    def close(self) -> None:
        self._collections.clear()
        if self._connected is None:
            return  # never opened: nothing to release
        closer = getattr(self._client, "close", None)
        if callable(closer):
            closer()
        # chromadb's HTTP client (and the admin client inside it) leave their
        # connection pools open after close().
        for owner in (self._client, getattr(self._client, "_admin_client", None)):
            session = getattr(getattr(owner, "_server", None), "_session", None)
            if session is not None and hasattr(session, "close"):
                session.close()
