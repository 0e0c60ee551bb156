"""Per-user data keys wrapped by a master key: envelope encryption and crypto-shredding.

Each user's content is encrypted (AES-256-GCM) with that user's own data key. Data keys
are stored only wrapped, that is encrypted with the operator's master key, in a table
of their own (``ms_data_keys``); the master key never touches SQL. So:

- rotating the master key re-wraps the data keys, one small transaction each, and never
  re-encrypts content; a process killed half-way leaves every data key wrapped by the
  old or the new master key, and rotating again with both finishes the job;
- destroying a user's data key (:meth:`KeyRing.destroy`) makes every copy of that user's
  ciphertext unreadable, also copies made earlier (backups, replicas), as long as the
  key table itself is not restored from such a copy: keep it apart from the data's
  backups (its own database, or backups that expire quickly), because it is the one
  place that must really forget.

The master key comes from an environment variable, a file or a callable (for a KMS); see
:class:`MasterKey`. Wrong, missing and destroyed keys raise :class:`KeyUnavailableError`
naming which; tampered ciphertext raises :class:`DecryptionError`. Neither message
repeats a key or any content.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection, Engine

from .._lru import LRUCache
from ..errors import ConfigurationError, MultisessionError

__all__ = [
    "DEFAULT_KEY_RECHECK_SECONDS",
    "DEFAULT_MASTER_KEY_ENV",
    "DecryptionError",
    "KeyRing",
    "KeyUnavailableError",
    "MasterKey",
    "data_keys_table",
]

#: The environment variable :meth:`MasterKey.from_env` reads by default.
DEFAULT_MASTER_KEY_ENV = "MULTISESSION_MASTER_KEY"

_KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT = b"\x01"  # the layout of a ciphertext: version, nonce, AES-GCM output
_WRAP_CONTEXT = b"multisession data key\x00"
_DATA_CONTEXT = b"multisession data\x00"

#: How long a process trusts a data key it unwrapped before it reads the key table
#: again to see whether the key still exists (another process may have deleted the
#: user): the longest a destroyed key keeps decrypting in a process that had it.
DEFAULT_KEY_RECHECK_SECONDS = 1.0


class KeyUnavailableError(MultisessionError):
    """A key needed to decrypt is missing, wrong, or was destroyed. Nothing was changed."""


class DecryptionError(MultisessionError, ValueError):
    """Ciphertext that does not decrypt with the right key: altered, truncated, or
    given with other associated data or for another user."""


def _decode_key(text: str, where: str) -> bytes:
    """32 key bytes from 64 hex digits or base64 (standard or URL-safe)."""
    text = text.strip()
    decoders: tuple[Callable[[str], bytes], ...] = (
        bytes.fromhex,
        lambda value: base64.b64decode(value, validate=True),
        base64.urlsafe_b64decode,
    )
    for decode in decoders:
        try:
            candidate = decode(text)
        except (binascii.Error, ValueError):
            continue
        if len(candidate) == _KEY_BYTES:
            return candidate
    raise ConfigurationError(
        f"{where} must hold a 256-bit key as 64 hex digits or 44 base64 characters; make one "
        "with: python -c 'import secrets; print(secrets.token_hex(32))'"
    )


@dataclass(frozen=True)
class _Unwrapped:
    """A data key's cipher, the wrapped form it came from, and when that was last read."""

    cipher: AESGCM
    wrapped: bytes
    checked_at: float


@dataclass(frozen=True, repr=False)
class MasterKey:
    """The operator's key that wraps every data key; it never reaches the store.

    Example:
        >>> key = MasterKey.from_bytes(bytes(range(32)))
        >>> len(key.key_id)
        16

    Attributes:
        material: The 32 key bytes.
        key_id: A fingerprint that names the key in the key table (an HMAC of a fixed
            label, which tells nothing about the key): it tells a wrong key from a
            right one without trying to decrypt.
    """

    material: bytes = field(repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.material, bytes) or len(self.material) != _KEY_BYTES:
            given = (
                f"{len(self.material)} bytes"
                if isinstance(self.material, bytes)
                else type(self.material).__name__
            )
            raise ConfigurationError(f"a master key is {_KEY_BYTES} bytes (256 bits), got {given}")
        digest = hmac.new(self.material, b"multisession master key id", hashlib.sha256)
        object.__setattr__(self, "key_id", digest.hexdigest()[:16])

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    @classmethod
    def from_bytes(cls, material: bytes) -> MasterKey:
        """A master key from its 32 bytes."""
        return cls(material)

    @classmethod
    def from_env(cls, name: str = DEFAULT_MASTER_KEY_ENV) -> MasterKey:
        """The key in an environment variable (64 hex digits or base64).

        Raises:
            KeyUnavailableError: The variable is not set.
            ConfigurationError: It does not hold a 256-bit key.
        """
        value = os.environ.get(name)
        if not value:
            raise KeyUnavailableError(
                f"no master key: the environment variable {name} is not set; set it to the "
                "key the store was encrypted with (64 hex digits)"
            )
        return cls(_decode_key(value, f"the environment variable {name}"))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> MasterKey:
        """The key in a file: its 32 raw bytes, or one line of hex or base64.

        Raises:
            KeyUnavailableError: The file cannot be read.
            ConfigurationError: It does not hold a 256-bit key.
        """
        location = Path(path)
        try:
            content = location.read_bytes()
        except OSError as error:
            raise KeyUnavailableError(
                f"no master key: cannot read the key file {location} ({error.strerror}); "
                "check the path and its permissions"
            ) from None
        if len(content) == _KEY_BYTES:
            return cls(content)
        try:
            text = content.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        return cls(_decode_key(text, f"the key file {location}"))

    @classmethod
    def from_callable(cls, fetch: Callable[[], bytes | str]) -> MasterKey:
        """The key a callable returns (bytes, hex or base64): e.g. one fetched from a KMS.

        Raises:
            KeyUnavailableError: The callable failed.
            ConfigurationError: It returned no 256-bit key.
        """
        try:
            value = fetch()
        except Exception as error:
            raise KeyUnavailableError(
                f"no master key: the key callable failed ({type(error).__name__}); check "
                "the key service it reads from"
            ) from error
        if isinstance(value, bytes) and len(value) == _KEY_BYTES:
            return cls(value)
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        return cls(_decode_key(str(value), "the value the key callable returned"))


_key_metadata = sa.MetaData()

#: One wrapped data key per user, with the id of the master key that wrapped it.
data_keys_table = sa.Table(
    "ms_data_keys",
    _key_metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.Column("master_key_id", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_ms_data_keys_master", "master_key_id"),
)


class KeyRing:
    """Users' data keys in SQL, wrapped by a master key; encrypts and decrypts for a user.

    Example:
        >>> import sqlalchemy as sa
        >>> ring = KeyRing(sa.create_engine("sqlite://"), MasterKey.from_bytes(bytes(32)))
        >>> blob = ring.encrypt("alice", b"I have asthma", aad=b"memory:1")
        >>> ring.decrypt("alice", blob, aad=b"memory:1")
        b'I have asthma'

    Args:
        engine: Where the key table lives (created if missing). Keep it apart from the
            backups of the data it protects (see the module's notes).
        master: The master key that wraps new data keys and unwraps existing ones.
        previous: Earlier master keys, to read data keys not yet re-wrapped by
            :meth:`rotate` (during a rotation, or after one that was interrupted).
        recheck_after: Seconds a data key read from the key table is used to decrypt
            before the table is read again, so that a key another process destroyed
            (it deleted the user) stops decrypting here too; 0 reads it every time.
    """

    def __init__(
        self,
        engine: Engine,
        master: MasterKey,
        previous: Sequence[MasterKey] = (),
        *,
        recheck_after: float = DEFAULT_KEY_RECHECK_SECONDS,
    ) -> None:
        if not isinstance(master, MasterKey) or not all(
            isinstance(key, MasterKey) for key in previous
        ):
            raise ConfigurationError("KeyRing takes MasterKey objects: MasterKey.from_env() ...")
        self._engine = engine
        self.master = master
        self._masters = {key.key_id: key for key in (*previous, master)}
        if not recheck_after >= 0:
            raise ConfigurationError(
                f"recheck_after is a number of seconds, 0 or more; got {recheck_after!r}"
            )
        self.recheck_after = float(recheck_after)
        # Ciphers of unwrapped data keys of recent reads: a search decrypts its hits
        # without a read of the key table (or a new cipher object) each time. An entry
        # is trusted for ``recheck_after`` seconds, then checked against the table: the
        # key may have been destroyed by another process. destroy() drops it at once.
        self._unwrapped: LRUCache[str, _Unwrapped] = LRUCache(4096)
        data_keys_table.create(engine, checkfirst=True)

    @property
    def master_key_ids(self) -> frozenset[str]:
        """The ids of the master keys this ring can unwrap with (current and previous)."""
        return frozenset(self._masters)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction; on SQLite, one that overwrites what it deletes or replaces."""
        with self._engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            yield conn

    # -- data keys ----------------------------------------------------------------------

    def _wrap(self, master: MasterKey, user_id: str, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed: bytes = AESGCM(master.material).encrypt(nonce, data_key, _wrap_aad(user_id))
        return nonce + sealed

    def _unwrap(self, user_id: str, wrapped: bytes, master_key_id: str) -> bytes:
        master = self._masters.get(master_key_id)
        if master is None:
            raise KeyUnavailableError(
                f"wrong master key: the data key of user {user_id!r} was wrapped by master "
                f"key {master_key_id}, and this key ring holds {sorted(self._masters)}; open "
                "it with that key (or pass it in previous= while a rotation finishes)"
            )
        try:
            data_key: bytes = AESGCM(master.material).decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _wrap_aad(user_id)
            )
        except InvalidTag:
            raise KeyUnavailableError(
                f"the wrapped data key of user {user_id!r} does not unwrap with master key "
                f"{master_key_id}: the key table was altered or copied from another user"
            ) from None
        return data_key

    def _stored_key(self, user_id: str) -> tuple[bytes, str] | None:
        """The user's wrapped key and its master key's id, read on the driver directly.

        Every encrypting write reads it (see :meth:`encrypt_many`): SQLAlchemy's
        statement handling cost several times the query itself.
        """
        marker = "?" if self._engine.dialect.paramstyle == "qmark" else "%s"
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(
                    f"SELECT wrapped_key, master_key_id FROM ms_data_keys WHERE user_id = {marker}",
                    (user_id,),
                )
                found = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            connection.close()  # the pool rolls back what the read began
        return None if found is None else (bytes(found[0]), str(found[1]))

    def _cipher(self, user_id: str, *, create: bool) -> AESGCM:
        """The cipher of the user's data key as the key table holds it now.

        The table is read every time; the key is unwrapped again only when its wrapped
        form changed (a rotation re-wrapped it, or the user was deleted and written
        again). A key missing from the table is dropped from the cache.
        """
        row = self._stored_key(user_id)
        if row is None and create:
            data_key: bytes = AESGCM.generate_key(bit_length=256)
            wrapped = self._wrap(self.master, user_id, data_key)
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        data_keys_table.insert().values(
                            user_id=user_id,
                            wrapped_key=wrapped,
                            master_key_id=self.master.key_id,
                            created_at=datetime.now(timezone.utc),
                        )
                    )
            except sa.exc.IntegrityError:
                return self._cipher(user_id, create=False)  # another writer was first
            return self._remember(user_id, AESGCM(data_key), wrapped)
        if row is None:
            self._unwrapped.discard(user_id)
            raise KeyUnavailableError(
                f"no data key for user {user_id!r}: it was destroyed (the user was "
                "deleted, so this copy of their data can no longer be read) or never made"
            )
        cached = self._unwrapped.get(user_id)
        if cached is not None and hmac.compare_digest(cached.wrapped, row[0]):
            return self._remember(user_id, cached.cipher, row[0])
        return self._remember(user_id, AESGCM(self._unwrap(user_id, *row)), row[0])

    def _data_key(self, user_id: str, *, create: bool) -> bytes:
        """The user's data key itself, unwrapped from the key table (made if ``create``)."""
        row = self._stored_key(user_id)
        if row is None:
            self._cipher(user_id, create=create)  # makes it, or says why there is none
            row = self._stored_key(user_id)
            assert row is not None
        return self._unwrap(user_id, *row)

    def _remember(self, user_id: str, cipher: AESGCM, wrapped: bytes) -> AESGCM:
        self._unwrapped.put(user_id, _Unwrapped(cipher, wrapped, time.monotonic()))
        return cipher

    def copy_key(self, user_id: str, target: KeyRing) -> bool:
        """Put the user's wrapped data key in ``target``'s key table too, unless there.

        For moving a user's ciphertext to a store with a key table of its own (another
        shard): the key stays wrapped, so both rings need the same master key. Returns
        whether the user has a data key here.
        """
        stored = self._stored_key(user_id)
        if stored is None:
            return False
        if target.shares_table_with(self) or target._stored_key(user_id) is not None:
            return True
        try:
            with target._begin() as conn:
                conn.execute(
                    data_keys_table.insert().values(
                        user_id=user_id,
                        wrapped_key=stored[0],
                        master_key_id=stored[1],
                        created_at=datetime.now(timezone.utc),
                    )
                )
        except sa.exc.IntegrityError:
            pass  # copied meanwhile by another mover
        return True

    def shares_table_with(self, other: KeyRing) -> bool:
        """Whether both rings keep their data keys in the same database."""
        return self._engine is other._engine or (
            self._engine.url.render_as_string() == other._engine.url.render_as_string()
        )

    def has_key(self, user_id: str) -> bool:
        """Whether the user has a data key (was written for and not destroyed)."""
        with self._engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(data_keys_table.c.user_id).where(data_keys_table.c.user_id == user_id)
                ).first()
                is not None
            )

    def destroy(self, user_id: str) -> bool:
        """Destroy the user's data key (crypto-shredding); False if there was none.

        Every ciphertext of the user, wherever a copy of it lies, can no longer be
        decrypted with this key table. On SQLite the row is overwritten on disk when the
        database runs with ``secure_delete`` (as the memory store does) and the
        write-ahead log is emptied.
        """
        self._unwrapped.discard(user_id)
        with self._begin() as conn:
            deleted = conn.execute(
                data_keys_table.delete().where(data_keys_table.c.user_id == user_id)
            ).rowcount
        self._unwrapped.discard(user_id)
        if deleted and self._engine.dialect.name == "sqlite":
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return bool(deleted)

    def rotate(
        self,
        new_master: MasterKey,
        *,
        batch_size: int = 100,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Re-wrap every data key with ``new_master``; returns how many were re-wrapped.

        Content is not touched. Each batch commits on its own, and a data key's row
        changes from the old wrapping to the new one atomically, so a process killed
        half-way loses nothing: every key stays readable with the old or the new master
        key, and calling this again (with the old key still in ``previous``) finishes.
        Afterwards the ring uses ``new_master`` for new keys too. ``progress`` is called
        with the running count after each batch.

        Raises:
            KeyUnavailableError: A data key is wrapped by a master key this ring lacks
                (nothing of it is changed; the others are re-wrapped).
        """
        if not isinstance(new_master, MasterKey):
            raise ConfigurationError("rotate takes a MasterKey: MasterKey.from_file(...) ...")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        self._masters[new_master.key_id] = new_master
        done = 0
        missing: set[str] = set()
        while True:
            with self._begin() as conn:
                rows = conn.execute(
                    sa.select(
                        data_keys_table.c.user_id,
                        data_keys_table.c.wrapped_key,
                        data_keys_table.c.master_key_id,
                    )
                    .where(
                        data_keys_table.c.master_key_id != new_master.key_id,
                        data_keys_table.c.master_key_id.notin_(sorted(missing) or [""]),
                    )
                    .order_by(data_keys_table.c.user_id)
                    .limit(batch_size)
                ).all()
                if not rows:
                    break
                for row in rows:
                    if row.master_key_id not in self._masters:
                        missing.add(row.master_key_id)
                        continue
                    data_key = self._unwrap(row.user_id, bytes(row.wrapped_key), row.master_key_id)
                    conn.execute(
                        data_keys_table.update()
                        .where(
                            data_keys_table.c.user_id == row.user_id,
                            # Unchanged since read: another rotation may have re-wrapped it.
                            data_keys_table.c.master_key_id == row.master_key_id,
                        )
                        .values(
                            wrapped_key=self._wrap(new_master, row.user_id, data_key),
                            master_key_id=new_master.key_id,
                        )
                    )
                    done += 1
            if progress is not None:
                progress(done)
        self.master = new_master
        if missing:
            raise KeyUnavailableError(
                f"rotation re-wrapped {done} data keys but left those wrapped by master "
                f"keys {sorted(missing)}, which this key ring lacks: rotate again with them "
                "in previous="
            )
        return done

    def pending_rotation(self) -> int:
        """How many data keys are not yet wrapped by the ring's current master key."""
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(data_keys_table)
                    .where(data_keys_table.c.master_key_id != self.master.key_id)
                ).scalar_one()
            )

    # -- content ---------------------------------------------------------------------------

    def encrypt(self, user_id: str, plaintext: bytes | str, aad: bytes = b"") -> bytes:
        """The user's ``plaintext`` encrypted with their data key (made on first use).

        ``aad`` (associated data, e.g. the table and row id) is authenticated, not
        stored: decrypting needs the same, so a ciphertext copied to another row or
        another user does not decrypt.
        """
        return self.encrypt_many(user_id, [(plaintext, aad)])[0]

    def encrypt_many(self, user_id: str, items: Sequence[tuple[bytes | str, bytes]]) -> list[bytes]:
        """Each ``(plaintext, aad)`` encrypted as :meth:`encrypt` does, with one key read.

        The data key is read from the key table for every call (not from the cache):
        a key another process destroyed meanwhile is made anew instead of sealing new
        content with a key that no longer exists.
        """
        cipher = self._cipher(user_id, create=True)
        owner = _data_aad(user_id, b"")
        # One call to the system's random source for the whole batch: each slice is a
        # fresh random nonce all the same.
        nonces = secrets.token_bytes(_NONCE_BYTES * len(items))
        sealed: list[bytes] = []
        for position, (plaintext, aad) in enumerate(items):
            data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
            nonce = nonces[position * _NONCE_BYTES : (position + 1) * _NONCE_BYTES]
            sealed.append(_FORMAT + nonce + cipher.encrypt(nonce, data, owner + aad))
        return sealed

    def decrypt(self, user_id: str, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """The plaintext of one of the user's ciphertexts.

        Raises:
            KeyUnavailableError: The user's data key was destroyed or never made, or the
                master key that wrapped it is not in this ring.
            DecryptionError: The ciphertext was altered, or ``aad`` or the user differ
                from those it was encrypted with.
        """
        return self.decrypt_many(user_id, [(ciphertext, aad)])[0]

    def decrypt_many(self, user_id: str, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """The plaintexts of many ``(ciphertext, aad)`` of one user, finding the key once.

        Raises:
            KeyUnavailableError: As :meth:`decrypt`, for all of them.
            DecryptionError: As :meth:`decrypt`, for the first that does not decrypt.
        """
        for ciphertext, _ in items:
            if not ciphertext.startswith(_FORMAT) or len(ciphertext) < 1 + _NONCE_BYTES + 16:
                raise DecryptionError(
                    "not a ciphertext of this key ring (unknown format or truncated)"
                )
        if not items:
            return []
        cached = self._unwrapped.get(user_id)
        if cached is not None and time.monotonic() - cached.checked_at < self.recheck_after:
            cipher = cached.cipher
        else:
            cipher = self._cipher(user_id, create=False)
        owner = _data_aad(user_id, b"")
        plaintexts: list[bytes] = []
        try:
            for ciphertext, aad in items:
                plaintexts.append(
                    cipher.decrypt(
                        ciphertext[1 : 1 + _NONCE_BYTES],
                        ciphertext[1 + _NONCE_BYTES :],
                        owner + aad,
                    )
                )
        except InvalidTag:
            raise DecryptionError(
                f"a ciphertext of user {user_id!r} does not decrypt: it was altered, or it "
                "belongs to another row or user than the associated data given says"
            ) from None
        return plaintexts

    def users(self) -> list[str]:
        """The users with a data key."""
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(data_keys_table.c.user_id).order_by(data_keys_table.c.user_id)
                ).scalars()
            )


def _wrap_aad(user_id: str) -> bytes:
    return _WRAP_CONTEXT + user_id.encode("utf-8")


def _data_aad(user_id: str, aad: bytes) -> bytes:
    owner = user_id.encode("utf-8")
    return _DATA_CONTEXT + len(owner).to_bytes(4, "big") + owner + aad
