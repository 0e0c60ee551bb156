"""The vector index: one Chroma collection for each user above the exact-search limit.

Users up to the engine's ``exact_vector_limit`` are searched exactly from the vectors SQL
keeps next to each memory and never reach Chroma. Only the few users above it (the
members) have vectors here, each in a collection of their own, named by a keyed hash of
the user id (the store's secret, so the name cannot be traced back to a user id by
hashing guesses). A collection per member, rather than one shared by all with the owner
as a filter, because chromadb applies a metadata filter by scanning: a search in a
shared collection grew with every member's vectors (~100 ms against ~3 ms in a
collection of one's own at 60,000 memories each). A collection per user for every user
was the earlier layout, and its cost (files, caches and listings per collection) grew
with the number of users; members are few, since each holds more memories than the
limit. Every vector also carries its owner's tag, and a search drops any result whose
tag is not the user's, so even a damaged index cannot answer with another user's
vectors. Nothing of a memory's content is sent: only its vector, kind, creation time and
a keyed hash of its conversation.

Deleting a collection in embedded chromadb 1.x leaves its HNSW files on disk (the
vectors, and the ids in ``index_metadata.pickle``), and its rows as free pages in
``chroma.sqlite3``: :meth:`ChromaVectorIndex.compact` removes the directories no
collection owns and rewrites the SQLite file, so a deleted member leaves no bytes.

The vector index is derived data: SQL holds every memory and vector, and anything
missing here is re-indexed by :meth:`MemoryEngine.repair`. Stores written in the earlier
layouts (a collection per user, ``ms-<hash>``, or one shared collection,
``multisession-vectors``) are moved to this layout on open (see
:meth:`ChromaVectorIndex.legacy_collections`).

A Chroma server may freeze or die; chromadb's HTTP client would then wait forever. Every
call to a server therefore has a timeout, a connection refused is retried once, and after
a failure the server is left alone for a short cool-down, during which calls fail at
once: searches fall back to keywords and writes wait in SQL for a later flush or repair.
The client itself is made on first use, so an engine opens while the server is down;
embedded Chroma too is opened on first use (importing chromadb costs half a second, and
users searched exactly from SQL never need it).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import numpy as np
import numpy.typing as npt

from .._files import write_atomically
from .._lru import LRUCache
from ..errors import BackendUnavailableError, ConfigurationError, StoreDamagedError
from ..records import MemoryFilter
from ._connections import reports_damage
from .schema import user_hash

__all__ = [
    "SHARED_COLLECTION",
    "ChromaVectorIndex",
    "collection_name",
    "conversation_tag",
    "member_collection",
]

logger = logging.getLogger("multisession")

_COLLECTION_PREFIX = "ms-"
#: A member's collection: this prefix and the start of their keyed owner tag.
_MEMBER_PREFIX = "ms-v-"
#: The one collection every member's vectors shared in the previous layout.
SHARED_COLLECTION = "multisession-vectors"
#: Most vectors read from Chroma in one call when a whole collection is walked.
_PAGE = 5_000
# Names the SQL store the index belongs to: when it is missing or names another store,
# the index was lost or replaced. A server keeps it as an empty collection's metadata;
# embedded Chroma as a file in its directory, read without opening Chroma.
_MARKER = "multisession-store"
#: Seconds a Chroma server call may take, unless the engine says otherwise.
DEFAULT_TIMEOUT = 5.0
_Result = TypeVar("_Result")


def _is_outage(error: BaseException) -> bool:
    """Whether an error means the server did not answer (rather than refused the call)."""
    import httpx

    if isinstance(error, (httpx.TransportError, ConnectionError, TimeoutError)):
        return True
    return isinstance(error, ValueError) and "could not connect" in str(error).lower()


def collection_name(user_id: str) -> str:
    """The name earlier stores gave a user's own collection; it keys deletions still."""
    return _COLLECTION_PREFIX + user_hash(user_id)[:48]


def member_collection(owner: str) -> str:
    """The collection of the member whose vectors are tagged ``owner`` (a keyed hash)."""
    return _MEMBER_PREFIX + owner[:32]


def _is_legacy(name: str) -> bool:
    """Whether a collection belongs to an earlier layout: per user, or shared."""
    if name == SHARED_COLLECTION:
        return True
    return name.startswith(_COLLECTION_PREFIX) and not name.startswith(_MEMBER_PREFIX)


def conversation_tag(owner: str, conversation_id: str) -> str:
    """A conversation id as the index keeps it: hashed with its (keyed) owner."""
    return hashlib.sha256(f"{owner}\0{conversation_id}".encode()).hexdigest()[:32]


def _where(owner: str, where: MemoryFilter) -> dict[str, Any] | None:
    """The search's filters as Chroma's ``where``; None when there are none.

    The owner is not among them: a member's collection holds only their vectors, and
    the results' tags are checked instead (a filter would cost a scan of the metadata).
    """
    clauses: list[dict[str, Any]] = []
    if where.kinds is not None:
        clauses.append({"kind": {"$in": list(where.kinds)}})
    if where.conversation_id is not None:
        tag = conversation_tag(owner, where.conversation_id)
        clauses.append({"conversation_id": {"$eq": tag}})
    if where.since is not None:
        clauses.append({"created_ts": {"$gte": where.since.timestamp()}})
    if where.until is not None:
        clauses.append({"created_ts": {"$lt": where.until.timestamp()}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _unkeyed(user_id: str) -> str:
    raise ConfigurationError(
        "the vector index has no key for its owners yet: pass it to a WriteBehind (or "
        "call key_owners_with) before writing or searching"
    )


class ChromaVectorIndex:
    """Vectors in a collection per member: embedded Chroma (a directory) or a server (a URL).

    Example:
        >>> index = ChromaVectorIndex.open("/tmp/store/chroma", embedder_name="m", dimension=3)
        ... # doctest: +SKIP

    Vectors are always computed by the engine's embedder and passed in: Chroma's own
    default embedding function never runs.
    """

    #: Vectors follow SQL behind it (buffered, repaired), not in SQL's transaction.
    in_sql = False

    def __init__(
        self,
        client: Any | None,
        *,
        embedder_name: str,
        dimension: int,
        connect: Callable[[], Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        where: str = "the vector index",
    ) -> None:
        self._client = client
        self._connect = connect
        self._timeout = timeout
        self._where = where
        # After a server failed to answer, calls fail at once until then.
        self._cool_down = max(5.0, 2 * timeout)
        self._unavailable_until = 0.0
        self._connecting = threading.Lock()
        self._embedder_name = embedder_name
        self._dimension = dimension
        # Each member's collection once looked up, by owner tag.
        self._members: dict[str, Any] = {}
        self._owner_of: Callable[[str], str] = _unkeyed
        self._owners: LRUCache[str, str] = LRUCache(4096)
        # Embedded Chroma's directory, whose SQLite file compact() rewrites.
        self._directory: str | None = None

    @classmethod
    def open(
        cls,
        location: str,
        *,
        embedder_name: str,
        dimension: int,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ChromaVectorIndex:
        """Open a directory (embedded Chroma, on first use) or a Chroma server.

        A server is ``http(s)://host:port``, optionally with ``?tenant=...&database=...``
        to use a tenant or database other than Chroma's defaults (they must exist). It
        is first contacted on first use; each call to it may take ``timeout`` seconds.
        """
        parsed = urlparse(location)
        if parsed.scheme in ("", "file"):
            path = parsed.path or location
            index = cls(
                None,
                embedder_name=embedder_name,
                dimension=dimension,
                connect=functools.partial(cls._open_embedded, path),
            )
            index._directory = path
            return index
        import chromadb
        from chromadb.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
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
            host, secure = parsed.hostname, parsed.scheme == "https"
            port = parsed.port or (443 if secure else 8000)

            def connect() -> Any:
                client = chromadb.HttpClient(
                    host=host,
                    port=port,
                    ssl=secure,
                    settings=settings,
                    tenant=options.get("tenant", DEFAULT_TENANT),
                    database=options.get("database", DEFAULT_DATABASE),
                )
                _limit_wait(client, timeout)
                return client

            return cls(
                None,
                embedder_name=embedder_name,
                dimension=dimension,
                connect=connect,
                timeout=timeout,
                where=f"the Chroma server at {host}:{port}",
            )
        raise ConfigurationError(
            f"unsupported vector store location {location!r}: give a directory or "
            "http://host:port of a Chroma server"
        )

    @staticmethod
    def _open_embedded(path: str) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        return chromadb.PersistentClient(path=path, settings=settings)

    def _guarded(self, call: Callable[[], _Result]) -> _Result:
        """Run one call to Chroma: bounded in time, retried once if refused.

        Raises:
            BackendUnavailableError: The server did not answer (now or just before).
        """
        if time.monotonic() < self._unavailable_until:
            raise BackendUnavailableError(
                f"{self._where} did not answer a moment ago; vector search resumes once "
                "it does (keyword search meanwhile)"
            )
        attempts = 2
        for attempt in range(attempts):
            try:
                return call()
            except Exception as error:
                self._raise_if_damaged(error)
                if not _is_outage(error):
                    raise
                import httpx

                # A timeout is not retried: one frozen server costs a call one timeout.
                if attempt + 1 == attempts or isinstance(error, httpx.TimeoutException):
                    self._unavailable_until = time.monotonic() + self._cool_down
                    raise BackendUnavailableError(
                        f"{self._where} did not answer within {self._timeout:g} s "
                        f"({type(error).__name__}): check that it runs; searches use "
                        "keywords meanwhile and repair() indexes what it missed"
                    ) from error
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _raise_if_damaged(self, error: BaseException) -> None:
        """Raise StoreDamagedError if embedded Chroma reports its files damaged."""
        if self._directory is None or not reports_damage(error):
            return
        text = str(error)
        raise StoreDamagedError(
            f"the vector index {self._directory}/chroma.sqlite3 is damaged ({text}): it is derived "
            f"from SQL, so delete the directory {self._directory} and open the store "
            "again to rebuild it (or restore it from a backup)"
        ) from error

    @property
    def _chroma(self) -> Any:
        """The Chroma client, made on first use (a server may be down at open)."""
        client = self._client
        if client is not None:
            return client
        assert self._connect is not None
        with self._connecting:
            if self._client is None:
                if self._directory is None:
                    self._client = self._guarded(self._connect_in_time)
                else:
                    try:
                        self._client = self._connect()
                    except Exception as error:
                        self._raise_if_damaged(error)
                        raise
            return self._client

    def open_here(self) -> None:
        """Open embedded Chroma now, in the calling thread, if it is not open yet.

        A failure is left for the call that needs the index to report. A server is
        contacted on first use only, wherever that is: its client imports nothing new.
        """
        if self._client is None and self._directory is not None:
            with contextlib.suppress(Exception):
                self._chroma  # noqa: B018 - opened for its side effect

    def _connect_in_time(self) -> Any:
        """Make the client; chromadb's first requests have no timeout, so bound the wait."""
        assert self._connect is not None
        made: list[Any] = []
        failed: list[BaseException] = []

        def connect() -> None:
            try:
                made.append(self._connect())  # type: ignore[misc]
            except BaseException as error:
                failed.append(error)

        worker = threading.Thread(target=connect, name="multisession-chroma-connect", daemon=True)
        worker.start()
        worker.join(self._timeout)
        if failed:
            raise failed[0]
        if not made:
            raise TimeoutError(f"no answer within {self._timeout:g} s")
        return made[0]

    def key_owners_with(self, owner_of: Callable[[str], str]) -> None:
        """Tag vectors with ``owner_of(user_id)``: a keyed hash, never the user id itself."""
        self._owner_of = owner_of
        self._owners.clear()

    def owner(self, user_id: str) -> str:
        """The tag of the user's vectors in the shared collection."""
        owner = self._owners.get(user_id)
        if owner is None:
            owner = self._owner_of(user_id)
            self._owners.put(user_id, owner)
        return owner

    def _collection(self, user_id: str, *, create: bool) -> Any | None:
        """The member's collection, or None if it was never made and ``create`` is false."""
        if not create and self._unopened_and_empty():
            return None  # embedded Chroma never written: no need to open it
        owner = self.owner(user_id)
        cached = self._members.get(owner)
        if cached is not None:
            return cached
        client = self._chroma
        name = member_collection(owner)
        if create:
            collection = self._guarded(
                lambda: client.get_or_create_collection(
                    name,
                    metadata={
                        "embedder": self._embedder_name,
                        "dimension": self._dimension,
                        "owner": owner,
                    },
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
            )
        else:
            try:
                collection = self._guarded(
                    lambda: client.get_collection(name, embedding_function=None)
                )
            except Exception as error:  # chromadb raises NotFoundError / ValueError by version
                if _not_found(error):
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
        if stored.get("owner") != owner:
            raise StoreDamagedError(
                f"the vector collection {name} belongs to another owner than its name "
                "says: the vector index is derived from SQL, so delete its directory "
                "(or its collections on the server) and open the store again to rebuild it"
            )
        self._members[owner] = collection
        return collection

    def _on_collection(
        self, user_id: str, call: Callable[[Any], _Result], *, create: bool
    ) -> _Result | None:
        """Run ``call`` on the member's collection (None if there is none to read).

        A collection another process dropped (a deleted user) and made again (the user
        id came back and grew past the limit) is looked up afresh once.
        """
        collection = self._collection(user_id, create=create)
        if collection is None:
            return None
        try:
            return self._guarded(functools.partial(call, collection))
        except BackendUnavailableError:
            raise
        except Exception as error:
            if not _not_found(error):
                raise
        self._members.pop(self.owner(user_id), None)
        collection = self._collection(user_id, create=create)
        if collection is None:
            return None
        return self._guarded(functools.partial(call, collection))

    def _unopened_and_empty(self) -> bool:
        """Whether this is embedded Chroma, not open yet, with no file written yet."""
        return (
            self._client is None
            and self._directory is not None
            and not Path(self._directory, "chroma.sqlite3").exists()
        )

    def ids(self, user_id: str) -> set[str]:
        """Every memory id of the user that the index holds."""
        if self._unopened_and_empty():
            return set()
        owner = {"owner": {"$eq": self.owner(user_id)}}
        got = self._on_collection(
            user_id, lambda collection: collection.get(where=owner, include=[]), create=False
        )
        return set() if got is None else set(got["ids"])

    def upsert(
        self,
        user_id: str,
        ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
        metadatas: Sequence[Mapping[str, str | float]],
    ) -> None:
        if not ids:
            return
        owner = self.owner(user_id)
        tagged = []
        for metadata in metadatas:
            entry: dict[str, str | float] = dict(metadata)
            entry["owner"] = owner
            conversation = entry.get("conversation_id")
            if isinstance(conversation, str):
                entry["conversation_id"] = conversation_tag(owner, conversation)
            tagged.append(entry)
        embeddings = np.asarray(vectors, dtype=np.float32)
        self._on_collection(
            user_id,
            lambda collection: collection.upsert(
                ids=list(ids), embeddings=embeddings, metadatas=tagged
            ),
            create=True,
        )

    def query(
        self, user_id: str, vector: npt.NDArray[np.float32], n: int, where: MemoryFilter
    ) -> list[tuple[str, float]]:
        if self._unopened_and_empty():
            return []
        owner = self.owner(user_id)
        clause = _where(owner, where)
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        result = self._on_collection(
            user_id,
            lambda collection: collection.query(
                query_embeddings=query,
                n_results=n,
                where=clause,
                include=["distances", "metadatas"],
            ),
            create=False,
        )
        if result is None:
            return []
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        tags = (result.get("metadatas") or [[]])[0]
        return [
            (doc_id, 1.0 - float(distance))
            for doc_id, distance, tag in zip(ids, distances, tags, strict=True)
            if (tag or {}).get("owner") == owner  # never another user's vector
        ]

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        if not ids or self._unopened_and_empty():
            return
        owner = {"owner": {"$eq": self.owner(user_id)}}
        self._on_collection(
            user_id, lambda collection: collection.delete(ids=list(ids), where=owner), create=False
        )

    def drop_user(self, user_id: str) -> None:
        """Delete the member's collection; :meth:`compact` then removes its bytes."""
        if self._unopened_and_empty():
            return
        owner = self.owner(user_id)
        self._members.pop(owner, None)
        self._drop_collection(member_collection(owner))

    def _drop_collection(self, name: str) -> None:
        """Delete a collection (missing is fine)."""
        client = self._chroma
        try:
            self._guarded(functools.partial(client.delete_collection, name))
        except BackendUnavailableError:
            raise
        except Exception as error:
            if not _not_found(error):
                raise

    def _names(self) -> list[str]:
        """The names of every collection the client lists."""
        client = self._chroma
        listed = self._guarded(client.list_collections)
        return sorted(item if isinstance(item, str) else item.name for item in listed)

    def legacy_collections(self) -> list[str]:
        """Collections of earlier layouts: per user (``ms-<hash>``) or the shared one.

        An embedded index that has no Chroma file yet has none, found without opening
        Chroma.
        """
        if self._directory is not None and not Path(self._directory, "chroma.sqlite3").exists():
            return []
        return [name for name in self._names() if _is_legacy(name)]

    def drop_legacy(self, name: str) -> None:
        """Delete a collection of an earlier layout (missing is fine)."""
        if not _is_legacy(name):
            raise ValueError(f"{name!r} is not a collection of an earlier layout")
        self._drop_collection(name)

    def marker(self) -> str | None:
        """The mark this index was given by :meth:`set_marker`, or None (lost or new)."""
        if self._directory is not None:
            try:
                return Path(self._directory, _MARKER).read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                return None
        client = self._chroma
        try:
            collection = self._guarded(
                lambda: client.get_collection(_MARKER, embedding_function=None)
            )
        except BackendUnavailableError:
            raise
        except Exception as error:
            if _not_found(error):
                return None
            raise
        value = (collection.metadata or {}).get("store")
        return None if value is None else str(value)

    def set_marker(self, value: str) -> None:
        """Mark this index as the one holding the vectors of the SQL store ``value`` names."""
        if self._directory is not None:
            Path(self._directory).mkdir(parents=True, exist_ok=True)
            write_atomically(Path(self._directory, _MARKER), value.encode("utf-8"), mode=0o644)
            return
        client = self._chroma
        self._guarded(
            lambda: client.get_or_create_collection(
                _MARKER, metadata={"store": value}, embedding_function=None
            )
        )

    def compact(self) -> None:
        """Leave no bytes of deleted collections in embedded Chroma's files.

        Chroma deletes a collection's rows but leaves their pages free, unerased, in
        ``chroma.sqlite3`` (ids, metadata and vectors stay readable there); ``VACUUM``
        rebuilds the file from the live rows only. chromadb 1.x also leaves a deleted
        collection's HNSW directory (its vectors, and its ids in a pickle); a directory
        named as a segment that ``chroma.sqlite3`` no longer lists is removed. A Chroma
        server keeps its own files.
        """
        if self._directory is None or not Path(self._directory, "chroma.sqlite3").exists():
            return
        import sqlite3

        # Listed before the segments are read: a collection made meanwhile records its
        # segment before it writes a directory, so none of its files is taken.
        directories = [
            entry for entry in Path(self._directory).iterdir() if _segment_directory(entry)
        ]
        database = sqlite3.connect(
            f"{self._directory}/chroma.sqlite3", timeout=30, isolation_level=None
        )
        try:
            live = {str(row[0]) for row in database.execute("SELECT id FROM segments")}
            for directory in directories:
                if directory.name not in live:
                    shutil.rmtree(directory, ignore_errors=True)
            database.execute("VACUUM")
            if database.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            database.close()

    def remove_orphans(
        self,
        existing: Callable[[list[str]], set[str]],
        proven: Callable[[str, list[str]], set[str]],
        removed_from: Callable[[str, list[str] | None], None],
    ) -> tuple[int, int]:
        """Delete vectors of deleted memories; returns how many, and how many were kept.

        ``existing`` tells which of a list of memory ids SQL still holds. A vector
        without a memory is deleted only if ``proven(owner, ids)`` says SQL recorded its
        deletion (``owner`` is the keyed tag the deletion was recorded under): a memory
        SQL lost (a damaged log) keeps its vector. ``removed_from(owner, ids)`` is told
        what went (None: every vector of that owner).
        """
        if self._unopened_and_empty():
            return 0, 0
        client = self._chroma
        removed = kept = 0
        dropped = False
        for name in self._names():
            if not name.startswith(_MEMBER_PREFIX):
                continue
            collection = self._guarded(
                functools.partial(client.get_collection, name, embedding_function=None)
            )
            owners: dict[str, list[str]] = {}
            offset = 0
            while True:
                page = self._guarded(
                    functools.partial(
                        collection.get, include=["metadatas"], limit=_PAGE, offset=offset
                    )
                )
                ids = list(page["ids"])
                if not ids:
                    break
                offset += len(ids)
                found = existing(ids)
                for doc_id, metadata in zip(ids, page["metadatas"] or [], strict=True):
                    if doc_id not in found:
                        owner = str((metadata or {}).get("owner", ""))
                        owners.setdefault(owner, []).append(doc_id)
            for owner, orphans in sorted(owners.items()):
                deleted = sorted(proven(owner, orphans))
                kept += len(orphans) - len(deleted)
                if deleted:
                    self._guarded(functools.partial(collection.delete, ids=deleted))
                    removed += len(deleted)
                    removed_from(owner, deleted)
            left = self._guarded(functools.partial(collection.get, include=[], limit=1))
            if not left["ids"]:
                # Nothing left (a deleted member whose collection outlived them): drop
                # it, so that compact() removes its files; a write makes it again.
                owner = str((collection.metadata or {}).get("owner", ""))
                self._members.pop(owner, None)
                self._drop_collection(name)
                removed_from(owner, None)
                dropped = True
        if dropped:
            self.compact()
        return removed, kept

    def close(self) -> None:
        self._members.clear()
        client, self._client = self._client, None
        if client is None:
            return
        closer = getattr(client, "close", None)
        if callable(closer):
            closer()
        # chromadb's HTTP client (and the admin client inside it) leave their
        # connection pools open after close().
        for session in _sessions(client):
            session.close()


def _segment_directory(path: Path) -> bool:
    """Whether a path in embedded Chroma's directory is a segment's (named by a UUID)."""
    name = path.name
    return path.is_dir() and len(name) == 36 and name.count("-") == 4


def _not_found(error: BaseException) -> bool:
    """Whether chromadb said a collection does not exist (its error type varies by version)."""
    return "does not exist" in str(error) or type(error).__name__ == "NotFoundError"


def _sessions(client: Any) -> list[Any]:
    """The HTTP sessions of a chromadb client and of the admin client inside it."""
    sessions = []
    for owner in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(owner, "_server", None), "_session", None)
        if session is not None and hasattr(session, "close"):
            sessions.append(session)
    return sessions


def _limit_wait(client: Any, timeout: float) -> None:
    """Give every request of a chromadb HTTP client a timeout (it has none)."""
    import httpx

    for session in _sessions(client):
        session.timeout = httpx.Timeout(timeout)
