"""Encryption at rest, inside the storage layer: which rows are sealed, and how.

With a master key configured, a memory or message whose privacy class is at or above
the configured one is stored *sealed*: its content, its metadata and what derives from
its words (a memory's slot keys) are encrypted together, with the owner's data key
(:class:`~multisession.privacy.keys.KeyRing`), into the ``sealed`` column; the plaintext
columns hold an empty text and an empty object, and the stored BM25 terms stay NULL
(the keyword index tokenizes the decrypted content when it loads). The associated data
names the table and the row id, and the key ring binds the user, so a sealed value
copied to another row or user does not decrypt.

Everything above storage sees plaintext: the SQL store and the conversation store seal
on write and open on read, here, in one place. A store that holds sealed rows records
the id of its master key (``ms_settings``): opened with another key it is refused
before anything is changed; opened without one it is *locked*, read-only, and reads
leave the sealed rows out, saying once how many and what is missing.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import ConfigurationError
from ..privacy.keys import (
    DEFAULT_MASTER_KEY_ENV,
    DecryptionError,
    KeyRing,
    KeyUnavailableError,
    MasterKey,
)
from ._connections import make_engine
from ._rows import INDEX_ROW_NAMES, MEMORY_COLUMNS
from .schema import memories_table, messages_table

__all__ = [
    "KEY_ID_SETTING",
    "KeySource",
    "SettingsStore",
    "StoreCipher",
    "as_master_key",
    "open_index_rows",
    "open_key_ring",
    "open_memory_rows",
    "open_store_cipher",
    "resolve_master_key",
    "seal_memory_row",
    "seal_memory_rows",
    "sealed_classes",
    "sealed_vector",
]

logger = logging.getLogger("multisession")

#: The store-wide setting that names the master key the store's rows are sealed under.
KEY_ID_SETTING = "encryption_master_key"

#: What an engine takes as a master key: the key, its 32 bytes, its text (64 hex digits
#: or base64), or a callable that returns one of those (e.g. from a KMS).
KeySource = MasterKey | bytes | str | Callable[[], bytes | str]

_MISSING = (
    "this store holds encrypted memories and no master key was given: pass "
    f"encryption_key=... or set the environment variable {DEFAULT_MASTER_KEY_ENV} to the key "
    "it was encrypted with"
)


def as_master_key(source: KeySource) -> MasterKey:
    """A :class:`MasterKey` from what an engine's ``encryption_key`` accepts.

    Raises:
        ConfigurationError: ``source`` is no 256-bit key, nor a callable giving one.
        KeyUnavailableError: The callable failed.
    """
    if isinstance(source, MasterKey):
        return source
    if isinstance(source, bytes):
        if len(source) == 32:
            return MasterKey.from_bytes(source)
        return MasterKey.from_callable(lambda: source)
    if isinstance(source, str):
        return MasterKey.from_callable(lambda: source)
    if callable(source):
        return MasterKey.from_callable(source)
    raise ConfigurationError(
        "encryption_key must be a MasterKey, 32 bytes, a key as 64 hex digits, or a callable "
        f"returning one; got {type(source).__name__}"
    )


def resolve_master_key(source: KeySource | None) -> MasterKey | None:
    """The master key given, else the one in ``MULTISESSION_MASTER_KEY``, else None."""
    if source is not None:
        return as_master_key(source)
    if os.environ.get(DEFAULT_MASTER_KEY_ENV):
        return MasterKey.from_env()
    return None


def sealed_classes(encrypt: str, classes: Sequence[str] | None) -> frozenset[str] | None:
    """The privacy classes ``encrypt`` seals: that class and the more sensitive ones.

    Args:
        encrypt: A class name, or ``"all"`` (every row, classified or not).
        classes: The classes from least to most sensitive; None when classification is
            turned off (then only ``"all"`` can seal anything).

    Returns:
        The class names, or None for every row.
    """
    if encrypt == "all":
        return None
    if classes is None:
        raise ConfigurationError(
            f"encrypt={encrypt!r} needs each memory's privacy class, and privacy=False turns "
            "classification off: pass encrypt='all', or turn privacy back on"
        )
    if encrypt not in classes:
        raise ConfigurationError(
            f"encrypt must be 'all' or one of the privacy classes {tuple(classes)}, got {encrypt!r}"
        )
    return frozenset(classes[list(classes).index(encrypt) :])


class StoreCipher:
    """Seals and opens rows for the stores; a locked one (no key) only tells what it lacks.

    Example:
        >>> import sqlalchemy as sa
        >>> ring = KeyRing(sa.create_engine("sqlite://"), MasterKey.from_bytes(bytes(32)))
        >>> cipher = StoreCipher(ring, frozenset({"sensitive"}))
        >>> blob = cipher.seal("alice", "ms_memories", "m1", {"content": "I have asthma"})
        >>> cipher.open("alice", "ms_memories", "m1", blob)["content"]
        'I have asthma'

    Args:
        ring: The users' data keys; None for a locked store (sealed rows, no key).
        classes: The privacy classes sealed; None seals every row.
        seal_vectors: Seal a sealed memory's vector with its words, and keep it out of
            every vector index (see :func:`seal_memory_rows`).
    """

    def __init__(
        self,
        ring: KeyRing | None,
        classes: frozenset[str] | None,
        *,
        keys_engine: Engine | None = None,
        seal_vectors: bool = False,
    ) -> None:
        self.ring = ring
        self.seal_vectors = seal_vectors
        self._classes = classes
        self._keys_engine = keys_engine
        self._skipped = 0
        self._lock = threading.Lock()

    @property
    def locked(self) -> bool:
        """Whether the store holds sealed rows and no key to open them was given."""
        return self.ring is None

    @property
    def skipped(self) -> int:
        """How many sealed rows reads left out so far, for want of the key."""
        return self._skipped

    def close(self) -> None:
        """Release the connections of a key table kept in a database of its own."""
        if self._keys_engine is not None:
            self._keys_engine.dispose()

    def seals(self, sensitivity: str | None) -> bool:
        """Whether a row of this privacy class is stored sealed."""
        if self.ring is None:
            return False
        return self._classes is None or sensitivity in self._classes

    def check_writable(self) -> None:
        """Refuse a write to a locked store (one that would mix keys or lose sealing).

        Raises:
            KeyUnavailableError: The store is locked.
        """
        if self.ring is None:
            raise KeyUnavailableError(f"the store is read-only: {_MISSING}")

    def prepare(self, user_id: str) -> None:
        """Make the user's data key now if they have none, before a write transaction.

        Sealing inside a write transaction then only reads the key: on SQLite, where
        the key table may share the store's database, making it there would wait for
        the transaction's own lock.
        """
        if self.ring is not None:
            self.ring.encrypt_many(user_id, [])

    def seal(self, user_id: str, table: str, row_id: str, fields: Mapping[str, Any]) -> bytes:
        """``fields`` of one row as one ciphertext, bound to the table, row and user."""
        return self.seal_many(user_id, table, [(row_id, fields)])[0]

    def seal_many(
        self, user_id: str, table: str, rows: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[bytes]:
        """:meth:`seal` for many rows of one user, reading the data key once."""
        self.check_writable()
        assert self.ring is not None
        return self.ring.encrypt_many(
            user_id,
            [(_dump(fields), _aad(table, row_id)) for row_id, fields in rows],
        )

    def open(self, user_id: str, table: str, row_id: str, sealed: bytes) -> dict[str, Any]:
        """The fields a sealed row holds.

        Raises:
            KeyUnavailableError: No key was given, or the user's data key was destroyed
                (the user was deleted after this copy of the store was made).
            DecryptionError: The value was altered or moved from another row or user.
        """
        return self.open_many(user_id, table, [(row_id, sealed)])[0]

    def open_many(
        self, user_id: str, table: str, rows: Sequence[tuple[str, bytes]]
    ) -> list[dict[str, Any]]:
        """:meth:`open` for many rows of one user, finding the data key once."""
        if self.ring is None:
            raise KeyUnavailableError(_MISSING)
        plaintexts = self.ring.decrypt_many(
            user_id, [(bytes(sealed), _aad(table, row_id)) for row_id, sealed in rows]
        )
        opened: list[dict[str, Any]] = []
        for plaintext in plaintexts:
            try:
                fields = json.loads(plaintext.decode("utf-8"))
            except ValueError:
                raise DecryptionError("a sealed row does not hold the fields it should") from None
            if not isinstance(fields, dict):
                raise DecryptionError("a sealed row does not hold the fields it should")
            opened.append(fields)
        return opened

    def try_open(
        self, user_id: str, table: str, row_id: str, sealed: bytes
    ) -> dict[str, Any] | None:
        """:meth:`open`, or None when the key is missing (the row is counted as skipped).

        A key that is missing only for this user (destroyed: the user was deleted, and
        this is an older copy of the store) is skipped the same way, and said once.
        """
        return self.try_open_many(user_id, table, [(row_id, sealed)])[0]

    def try_open_many(
        self, user_id: str, table: str, rows: Sequence[tuple[str, bytes]]
    ) -> list[dict[str, Any] | None]:
        """:meth:`try_open` for many rows of one user: all opened, or all None."""
        try:
            return list(self.open_many(user_id, table, rows))
        except KeyUnavailableError as error:
            self.skip(len(rows), str(error))
            return [None] * len(rows)

    def skip(self, count: int, reason: str = _MISSING) -> None:
        """Count rows left out of a read, and say once why."""
        if count <= 0:
            return
        with self._lock:
            first = self._skipped == 0
            self._skipped += count
        if first:
            logger.warning(
                "%d encrypted memories or messages are left out of reads: %s", count, reason
            )


# Made once: json.dumps with options builds a new encoder for every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dump(fields: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(fields).encode("utf-8")


def _aad(table: str, row_id: str) -> bytes:
    return f"{table}\x00{row_id}".encode()


class SettingsStore(Protocol):
    """What opening a cipher uses of the SQL store (its engine and settings)."""

    @property
    def engine(self) -> Engine: ...

    def setting(self, key: str) -> str | None: ...

    def setting_once(self, key: str, value: str) -> str: ...


def open_store_cipher(
    store: SettingsStore,
    key: KeySource | None,
    *,
    previous: Sequence[KeySource] = (),
    classes: frozenset[str] | None = frozenset({"sensitive"}),
    keys_url: str | None = None,
    seal_vectors: bool = False,
) -> StoreCipher | None:
    """The cipher of a store being opened; None for a plain store opened without a key.

    Args:
        store: The SQL store.
        key: The master key, or None (then ``MULTISESSION_MASTER_KEY`` if it is set).
        previous: Earlier master keys, while a rotation finishes.
        classes: The privacy classes to seal (see :func:`sealed_classes`).
        keys_url: The database of the data-key table; None keeps it in the store's own.
        seal_vectors: Seal the vectors of sealed memories too (see :class:`StoreCipher`).

    Raises:
        KeyUnavailableError: The key is not the store's; nothing was changed.
    """
    recorded = store.setting(KEY_ID_SETTING)
    own: list[Engine] = []

    def keys_engine() -> Engine:
        if keys_url is None:
            return store.engine
        own.append(make_engine(keys_url))
        return own[0]

    ring = open_key_ring(store.engine, key, previous, keys_engine, recorded)
    if ring is None:
        if recorded is None:
            return None
        locked = StoreCipher(None, classes)
        locked.skip(_sealed_count(store.engine), _MISSING)
        return locked
    cipher = StoreCipher(
        ring, classes, keys_engine=own[0] if own else None, seal_vectors=seal_vectors
    )
    if recorded is None:
        kept = store.setting_once(KEY_ID_SETTING, ring.master.key_id)
        if kept not in ring.master_key_ids:  # another process first, with another key
            cipher.close()
            raise KeyUnavailableError(
                f"wrong master key: the store is encrypted under master key {kept}, and the "
                f"key given is {ring.master.key_id}; nothing was changed"
            )
    return cipher


def _sealed_count(engine: Engine) -> int:
    """How many memories and messages of the store are sealed."""
    with engine.connect() as conn:
        return sum(
            int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.sealed.isnot(None))
                ).scalar_one()
            )
            for table in (memories_table, messages_table)
        )


def open_key_ring(
    store_engine: Engine,
    key: KeySource | None,
    previous: Sequence[KeySource],
    keys_engine: Callable[[], Engine],
    recorded: str | None,
) -> KeyRing | None:
    """The store's key ring, after checking the key against the one the store records.

    Args:
        store_engine: The store's engine (only to name it in messages).
        key: The master key given, or None to read ``MULTISESSION_MASTER_KEY`` if set.
        previous: Earlier master keys, while a rotation finishes.
        keys_engine: Opens the database of the data-key table (called only with a key).
        recorded: The id of the master key the store records, if any.

    Returns:
        The key ring, or None when no key was given (nor set in the environment).

    Raises:
        KeyUnavailableError: The key is not the one the store's rows are sealed under;
            nothing was changed.
    """
    key = resolve_master_key(key)
    if key is None:
        return None
    master = key
    earlier = [as_master_key(item) for item in previous]
    known = {master.key_id, *(item.key_id for item in earlier)}
    if recorded is not None and recorded not in known:
        raise KeyUnavailableError(
            f"wrong master key: the store at {store_engine.url!r} is encrypted under master key "
            f"{recorded}, and the key given is {master.key_id}; nothing was changed. Give the "
            "key it was encrypted with (after a rotation, the new one)"
        )
    return KeyRing(keys_engine(), master, earlier)


# -- the rows of the SQL store's reads ---------------------------------------------------

_MEMORY_NAMES = [column.name for column in MEMORY_COLUMNS]
_M_OWNER, _M_ID = _MEMORY_NAMES.index("user_id"), _MEMORY_NAMES.index("id")
_M_CONTENT, _M_METADATA = _MEMORY_NAMES.index("content"), _MEMORY_NAMES.index("metadata")
_M_SEALED = _MEMORY_NAMES.index("sealed")
_I_ID, _I_CONTENT = INDEX_ROW_NAMES.index("id"), INDEX_ROW_NAMES.index("content")
_I_TERMS, _I_SLOTS = INDEX_ROW_NAMES.index("terms"), INDEX_ROW_NAMES.index("slot_keys")
_I_SEALED = INDEX_ROW_NAMES.index("sealed")
# Where ``index_rows_sql(with_embeddings=True)`` puts the vector: after the other columns.
_I_EMBEDDING = len(INDEX_ROW_NAMES)


def sealed_vector(fields: Mapping[str, Any]) -> bytes | None:
    """The vector a sealed row holds (with ``seal_vectors``), as SQL stores vectors."""
    value = fields.get("embedding")
    return None if value is None else base64.b64decode(value)


def open_memory_rows(cipher: StoreCipher | None, rows: Sequence[Any]) -> list[Any]:
    """Rows of ``MEMORY_COLUMNS`` with sealed ones opened; those it cannot open left out."""
    if cipher is None or all(row[_M_SEALED] is None for row in rows):
        return list(rows)
    # Each owner's sealed rows opened together, finding their data key once.
    by_owner: dict[str, list[Any]] = {}
    for row in rows:
        if row[_M_SEALED] is not None:
            by_owner.setdefault(row[_M_OWNER], []).append(row)
    found: dict[int, dict[str, Any] | None] = {}
    for owner, owned in by_owner.items():
        batch = [(row[_M_ID], row[_M_SEALED]) for row in owned]
        for row, fields in zip(
            owned, cipher.try_open_many(owner, "ms_memories", batch), strict=True
        ):
            found[id(row)] = fields
    opened: list[Any] = []
    for row in rows:
        if row[_M_SEALED] is None:
            opened.append(row)
            continue
        fields = found[id(row)]
        if fields is None:
            continue
        values = list(row)
        values[_M_CONTENT] = fields.get("content", "")
        values[_M_METADATA] = fields.get("metadata") or {}
        opened.append(tuple(values))
    return opened


def open_index_rows(cipher: StoreCipher | None, user_id: str, rows: Sequence[Any]) -> list[Any]:
    """Rows of ``index_rows_sql`` with sealed ones opened (terms and slot keys too).

    A row that cannot be opened (no key, or the user's key destroyed) is kept with no
    content, so that the indexes account for it like SQL does; it matches no keyword,
    and the read of a search's hits leaves it out.
    """
    if cipher is None or all(row[_I_SEALED] is None for row in rows):
        return list(rows)
    found = iter(
        cipher.try_open_many(
            user_id,
            "ms_memories",
            [(row[_I_ID], row[_I_SEALED]) for row in rows if row[_I_SEALED] is not None],
        )
    )
    opened: list[Any] = []
    for row in rows:
        if row[_I_SEALED] is None:
            opened.append(row)
            continue
        fields = next(found) or {}
        values = list(row)
        values[_I_CONTENT] = fields.get("content", "")
        values[_I_TERMS] = fields.get("terms")
        values[_I_SLOTS] = fields.get("slot_keys")
        if len(values) > _I_EMBEDDING and "embedding" in fields:
            values[_I_EMBEDDING] = sealed_vector(fields)
        opened.append(tuple(values))
    return opened


def seal_memory_row(
    cipher: StoreCipher | None, user_id: str, row: Mapping[str, Any]
) -> dict[str, Any]:
    """A memory row to write: sealed if its class says so, as given otherwise."""
    if cipher is None or not cipher.seals(row.get("sensitivity")):
        return {**row, "sealed": None}
    return seal_memory_rows(cipher, user_id, [row])[0]


def seal_memory_rows(
    cipher: StoreCipher | None, user_id: str, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Memory rows to write, those of a sealed class with their words encrypted.

    With ``seal_vectors``, a sealed row's vector (its ``embedding``, when the row has
    one) is encrypted with its words and the ``embedding`` column left empty: only
    this process's exact search, which decrypts it when it loads the user, reads it,
    and it is never written to a vector index.
    """
    written = [{**row, "sealed": None} for row in rows]
    if cipher is None:
        return written
    chosen = [row for row in written if cipher.seals(row.get("sensitivity"))]
    if not chosen:
        return written
    blobs = cipher.seal_many(
        user_id,
        "ms_memories",
        [
            (
                row["id"],
                {
                    "content": row["content"],
                    "metadata": row.get("metadata") or {},
                    "slot_keys": row.get("slot_keys"),
                    # Sealed with the rest, so that loading the keyword index does not
                    # tokenize the user's encrypted memories again.
                    "terms": row.get("terms"),
                    **(
                        {"embedding": _vector_text(row.get("embedding"))}
                        if cipher.seal_vectors and "embedding" in row
                        else {}
                    ),
                },
            )
            for row in chosen
        ],
    )
    for row, blob in zip(chosen, blobs, strict=True):
        row.update(content="", metadata={}, slot_keys=None, terms=None, sealed=blob)
        if cipher.seal_vectors and "embedding" in row:
            row["embedding"] = None
    return written


def _vector_text(blob: bytes | None) -> str | None:
    return None if blob is None else base64.b64encode(blob).decode("ascii")
