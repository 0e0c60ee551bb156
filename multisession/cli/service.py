"""The service commands: ``serve``, ``mcp`` and ``keys create|list|revoke``.

They open the store as the other commands do (``--store``, ``--sql-url``,
``--vector-url``, ``--no-embed``) and need the ``server`` extra; without it they say
so in one line. API keys live in the store's SQL database, so ``keys`` works on the
store a server runs on, while it runs: a revoked key is refused within the server's
``--key-cache-seconds`` (1 s), the time it trusts a key it has verified.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.table import Table

from .commands import CommandError, _describe, _location, _open_engine, _print_json, _utc
from .render import new_console

if TYPE_CHECKING:
    from ..server.keys import KeyStore

__all__ = ["cmd_keys_create", "cmd_keys_list", "cmd_keys_revoke", "cmd_mcp", "cmd_serve"]

_MISSING = "the service needs its extra: pip install 'multisession[server]'"


def _need_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as missing:
        raise CommandError(f"{_MISSING} ({missing.name} is not installed)") from None


def sql_url(args: argparse.Namespace) -> str:
    """The SQLAlchemy URL of the store's SQL database."""
    location = _location(args)
    if location.sql_url is not None:
        return location.sql_url
    assert location.database is not None
    return f"sqlite:///{location.database}"


@contextmanager
def _key_store(args: argparse.Namespace, *, create: bool) -> Iterator[KeyStore]:
    _need_server_extra()
    from ..server.keys import KeyStore

    location = _location(args)
    if location.sql_url is None:
        if create:
            location.directory.mkdir(parents=True, exist_ok=True)
        elif location.database is None or not location.database.is_file():
            raise CommandError(
                f"no store at {location.directory}: pass --store DIR (or --sql-url URL)"
            )
    keys = KeyStore(sql_url(args))
    try:
        yield keys
    finally:
        keys.close()


def cmd_keys_create(args: argparse.Namespace) -> int:
    with _key_store(args, create=True) as keys:
        made = keys.create(
            args.tenant, users=args.user or None, read_only=args.read_only, label=args.label
        )
    if args.json:
        _print_json({"key": made.token, **made.key.to_dict()})
        return 0
    sys.stdout.write(made.token + "\n")
    sys.stderr.write(
        f"key {made.key.key_id} for tenant {made.key.tenant!r}: shown once, keep it secret\n"
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    with _key_store(args, create=False) as keys:
        found = keys.list(args.tenant)
    if args.json:
        _print_json([key.to_dict() for key in found])
        return 0
    table = Table(title=_describe(_location(args)))
    for column in ("key id", "tenant", "users", "access", "label", "created", "revoked"):
        table.add_column(column)
    for key in found:
        table.add_row(
            key.key_id,
            key.tenant,
            "all" if key.users is None else ", ".join(sorted(key.users)),
            "read" if key.read_only else "read, write",
            key.label or "",
            _utc(key.created_at),
            _utc(key.revoked_at),
        )
    new_console().print(table)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from ..errors import MemoryNotFoundError

    with _key_store(args, create=False) as keys:
        try:
            key = keys.revoke(args.key_id)
        except MemoryNotFoundError as error:
            raise CommandError(str(error)) from None
    if args.json:
        _print_json(key.to_dict())
    else:
        sys.stdout.write(f"revoked key {key.key_id} of tenant {key.tenant!r}\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    _need_server_extra()
    import uvicorn

    from ..server.app import ServerSettings, create_app
    from ..server.key_cache import KeyCache
    from ..server.keys import KeyStore

    KeyCache(args.key_cache_seconds)  # a bad --key-cache-seconds fails before the store opens
    settings = ServerSettings(
        max_body_bytes=args.max_body_bytes,
        rate_limit=args.rate_limit,
    )
    with _open_engine(
        args, create=True, track_access=True, embedder_threads=args.embedder_threads
    ) as engine:
        engine.search_latency.slow_seconds = args.slow_search_ms / 1000
        keys = KeyStore(sql_url(args), cache_seconds=args.key_cache_seconds)
        try:
            app = create_app(engine, keys, settings)
            sys.stderr.write(
                f"serving {_describe(_location(args))} on http://{args.host}:{args.port} "
                "(REST /v1, browser /ui, metrics /metrics, schema /openapi.json)\n"
            )
            sys.stderr.flush()
            uvicorn.run(
                app,
                host=args.host,
                port=args.port,
                log_level=args.log_level,
                access_log=args.access_log,
            )
        finally:
            keys.close()
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    _need_server_extra()
    try:
        from ..server.mcp_server import KeyGate, build_mcp
    except ModuleNotFoundError as missing:
        raise CommandError(f"{_MISSING} ({missing.name} is not installed)") from None
    from ..server.tenancy import owner_id

    owner_id(args.tenant, args.user)  # a bad tenant or user fails before the store opens
    with _open_engine(args, create=True, track_access=True) as engine:
        server = build_mcp(engine, args.tenant, args.user)
        if args.transport == "stdio":
            server.run("stdio")
            return 0
        import uvicorn

        from ..server.keys import KeyStore

        keys = KeyStore(sql_url(args))
        try:
            app = KeyGate(server.streamable_http_app(host=args.host), keys, args.tenant, args.user)
            sys.stderr.write(
                f"MCP over streamable HTTP on http://{args.host}:{args.port}/mcp "
                f"for user {args.user!r} of tenant {args.tenant!r}\n"
            )
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        finally:
            keys.close()
    return 0
