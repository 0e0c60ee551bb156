"""Connecting to the SQL store: the engine for a URL, SQLite's settings, damaged files.

SQLite runs in WAL mode with secure_delete (deleted memories are overwritten on disk);
a file SQLite reports as damaged raises :class:`~multisession.errors.StoreDamagedError`
naming the file and the fix.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import BackendUnavailableError, ConfigurationError, StoreDamagedError


def lost_creation_race(error: sa.exc.DBAPIError) -> bool:
    """Whether a schema statement failed because another process made the object first."""
    text = str(error.orig).lower()
    return isinstance(error, sa.exc.IntegrityError) or any(
        marker in text for marker in ("already exists", "duplicate column", "database is locked")
    )


#: How much of a SQLite file is read through a memory map: as much as SQLite allows by
#: default (just under 2 GiB); a larger store reads the rest the usual way.
_SQLITE_MMAP_BYTES = 0x7FFF0000
_DAMAGE_SIGNS = ("malformed", "not a database", "file is encrypted")


def reports_damage(error: BaseException) -> bool:
    """Whether SQLite (ours, or embedded Chroma's) says a file is damaged."""
    text = str(error).lower()
    return any(sign in text for sign in _DAMAGE_SIGNS)


def damage_error(error: BaseException, path: str) -> StoreDamagedError | None:
    """The documented error for SQLite reporting a damaged file, or None for others."""
    if not reports_damage(error):
        return None
    text = str(error)
    return StoreDamagedError(
        f"the SQL store {path} is damaged ({text}): restore it from a backup (or save what "
        f"SQLite can still read with `sqlite3 {path} .recover`), then run "
        "`multisession repair` to bring the vector index in line"
    )


def make_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as error:
        raise ConfigurationError(
            f"not a database URL: {url!r} (expected e.g. sqlite:///path/memory.db or "
            "postgresql+psycopg://user:pass@host/db)"
        ) from error
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        where = parsed.database or ":memory:"

        @sa.event.listens_for(engine, "handle_error")
        def _damaged(context: Any) -> None:
            damaged = damage_error(context.original_exception, where)
            if damaged is not None:
                raise damaged from context.original_exception

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Deleted memories are overwritten on disk, not left in free pages.
            cursor.execute("PRAGMA secure_delete=ON")
            # Reads through a memory map rather than a read() call per page: loading a
            # user's index (a thousand memories, a few MB) takes about half the time.
            # Writes still go through SQLite's own I/O; the map is address space, the
            # pages are the operating system's file cache that reads use anyway.
            cursor.execute(f"PRAGMA mmap_size={_SQLITE_MMAP_BYTES}")
            cursor.close()

        return engine
    try:
        engine = sa.create_engine(url)
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            f"the driver for {parsed.drivername} is not installed: "
            "pip install 'multisession[postgres]'"
        ) from error
    _ping_when_idle(engine)

    @sa.event.listens_for(engine, "handle_error")
    def _unreachable(context: Any) -> None:
        # A server that went away after the store opened (stopped, restarted, network
        # down) fails as an OperationalError or a lost connection: both mean "retry
        # later", which callers know as BackendUnavailableError.
        if context.is_disconnect or isinstance(
            context.sqlalchemy_exception, sa.exc.OperationalError
        ):
            raise unreachable(engine, context.original_exception) from (context.original_exception)

    return engine


def unreachable(engine: Engine, error: BaseException) -> BackendUnavailableError:
    """The documented error for a database server that cannot be reached."""
    server = engine.url.render_as_string(hide_password=True)
    return BackendUnavailableError(
        f"the SQL store at {server} cannot be reached ({' '.join(str(error).split())}): "
        "check that the database server is running and reachable, then retry; what it "
        "acknowledged is safe"
    )


#: A pooled server connection unused for longer than this is checked before use.
PING_AFTER_IDLE = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle (a server restart, a
    proxy's idle timeout): a check on every use would cost a round trip per query, as
    much as the query itself on a busy server. A dead connection is replaced at once.
    """

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as error:
            raise sa.exc.DisconnectionError(f"a pooled connection was dead: {error}") from error
