"""API keys: made and revoked with the CLI, stored hashed, each bound to one tenant.

A key reads ``ms_<key id>_<secret>``. The store keeps the key id, a SHA-256 hash of the
secret (a random 32-byte token needs no slow hash: it cannot be guessed from a
dictionary), the tenant, and what the key may do: all of the tenant's users or only
some, read and write or read only. The secret is shown once, when the key is made.

Keys live in their own table, ``api_keys``, beside the memories in the same SQL store,
so a server and the ``multisession keys`` command see the same keys. A key found valid
is trusted for ``cache_seconds`` (1 s by default; see :mod:`.key_cache`) without reading
the table again, so a key revoked from another process (``multisession keys revoke``)
is refused at most that long after the revocation; one revoked through the same
:class:`KeyStore` is refused by the next request. ``cache_seconds=0`` reads the table
on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .._validation import check_user_id
from ..errors import InvalidInputError, MemoryNotFoundError
from ..storage._connections import lost_creation_race, make_engine
from ..storage.schema import UTCDateTime
from .key_cache import DEFAULT_TTL, KeyCache
from .tenancy import check_tenant

__all__ = ["ApiKey", "KeyStore", "NewKey", "keys_table"]

_PREFIX = "ms"
_KEY = re.compile(r"ms_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_KEY_ID = re.compile(r"[0-9a-f]{16}")

_metadata = sa.MetaData()

keys_table = sa.Table(
    "api_keys",
    _metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    # JSON list of user ids, or null for all of the tenant's users.
    sa.Column("users", sa.JSON, nullable=True),
    sa.Column("read_only", sa.Boolean, nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)


@dataclass(frozen=True)
class ApiKey:
    """What a key may do (never its secret)."""

    key_id: str
    tenant: str
    #: The users the key may reach; None for every user of the tenant.
    users: frozenset[str] | None
    read_only: bool
    label: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "key_id": self.key_id,
            "tenant": self.tenant,
            "users": sorted(self.users) if self.users is not None else None,
            "read_only": self.read_only,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only time its secret ``token`` is known."""

    token: str
    key: ApiKey


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class KeyStore:
    """The API keys of one SQL store.

    Example:
        >>> keys = KeyStore("sqlite:///./memory-store/memory.db")  # doctest: +SKIP
        >>> made = keys.create("acme", users=["alice"], read_only=True)  # doctest: +SKIP
        >>> keys.authenticate(made.token).tenant  # doctest: +SKIP
        'acme'

    Args:
        url: The SQLAlchemy URL of the store's SQL database (the one the engine uses).
        cache_seconds: How long a key found valid is trusted without reading the table
            again (at most 60; 0: never). A key revoked by another process keeps
            working at most this long.
        clock: Seconds, monotonic, for the cache (tests pass a fake one).
    """

    def __init__(
        self,
        url: str | Engine,
        *,
        cache_seconds: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: KeyCache[ApiKey] = KeyCache(cache_seconds, clock=clock)
        self._engine = make_engine(url) if isinstance(url, str) else url
        self._owns_engine = isinstance(url, str)
        try:
            _metadata.create_all(self._engine, checkfirst=True)
        except sa.exc.DBAPIError as error:
            if not lost_creation_race(error):
                raise

    def close(self) -> None:
        """Release the connections (when the store made its own engine)."""
        if self._owns_engine:
            self._engine.dispose()

    def create(
        self,
        tenant: str,
        *,
        users: Iterable[str] | None = None,
        read_only: bool = False,
        label: str | None = None,
        now: datetime | None = None,
    ) -> NewKey:
        """Make a key for ``tenant``; ``users`` limits it to those users."""
        tenant = check_tenant(tenant)
        bound = None if users is None else frozenset(check_user_id(user) for user in users)
        if bound is not None and not bound:
            raise InvalidInputError("users is empty: name at least one user, or leave it out")
        if label is not None and (not isinstance(label, str) or len(label) > 200):
            raise InvalidInputError("label must be a string of at most 200 characters")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            tenant=tenant,
            users=bound,
            read_only=bool(read_only),
            label=label,
            created_at=now or datetime.now(timezone.utc),
        )
        with self._engine.begin() as conn:
            conn.execute(
                keys_table.insert().values(
                    key_id=key_id,
                    secret_hash=_hash(secret),
                    tenant=tenant,
                    users=sorted(bound) if bound is not None else None,
                    read_only=key.read_only,
                    label=label,
                    created_at=key.created_at,
                )
            )
        return NewKey(f"{_PREFIX}_{key_id}_{secret}", key)

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (of one tenant, if given), oldest first, revoked ones included."""
        query = sa.select(keys_table).order_by(keys_table.c.created_at, keys_table.c.key_id)
        if tenant is not None:
            query = query.where(keys_table.c.tenant == check_tenant(tenant))
        with self._engine.connect() as conn:
            return [_key(row) for row in conn.execute(query)]

    def revoke(self, key_id: str, *, now: datetime | None = None) -> ApiKey:
        """Refuse the key from now on; revoking a revoked key changes nothing."""
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise InvalidInputError(
                f"malformed key id {key_id!r}: key ids are 16 lowercase hex characters, "
                "as `multisession keys list` shows them"
            )
        moment = now or datetime.now(timezone.utc)
        with self._engine.begin() as conn:
            conn.execute(
                keys_table.update()
                .where(keys_table.c.key_id == key_id, keys_table.c.revoked_at.is_(None))
                .values(revoked_at=moment)
            )
            row = conn.execute(
                sa.select(keys_table).where(keys_table.c.key_id == key_id)
            ).one_or_none()
        self._cache.clear()
        if row is None:
            raise MemoryNotFoundError(f"no API key {key_id}: see `multisession keys list`")
        return _key(row)

    def cached(self, token: str) -> ApiKey | None:
        """The valid key ``token`` was found to be within ``cache_seconds``, or None.

        Reads no table: a None means "look it up" (:meth:`authenticate`), not "unknown".
        """
        return self._cache.get(token)

    def authenticate(self, token: str) -> ApiKey | None:
        """The key a token is (revoked ones too), or None for a malformed or unknown one.

        A valid key found within the last ``cache_seconds`` is answered from memory.
        """
        key = self._cache.get(token)
        if key is not None:
            return key
        begun = self._cache.begin()
        key = self._lookup(token)
        if key is not None:
            self._cache.put(token, key, begun)
        return key

    def _lookup(self, token: str) -> ApiKey | None:
        match = _KEY.fullmatch(token)
        if match is None:
            return None
        key_id, secret = match.groups()
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(keys_table).where(keys_table.c.key_id == key_id)
            ).one_or_none()
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
            return None
        return _key(row)


def _key(row: sa.Row[object]) -> ApiKey:
    users = row.users
    return ApiKey(
        key_id=row.key_id,
        tenant=row.tenant,
        users=frozenset(users) if users is not None else None,
        read_only=bool(row.read_only),
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
