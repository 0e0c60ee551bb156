"""The ``multisession`` command: look into, fill and maintain a memory store from a shell.

Example::

    multisession --store ./store add alice "I'm allergic to peanuts"
    multisession --store ./store search alice "what should I not eat?"
    multisession --store ./store import history.jsonl --user alice
    multisession --store ./store export alice -o alice.json

The store is a directory holding SQLite (``memory.db``) and embedded Chroma (``chroma/``):
``--store DIR``, else the ``MULTISESSION_STORE`` environment variable, else
``./multisession-store``. ``--sql-url`` and ``--vector-url`` use a PostgreSQL database
and a Chroma server instead, as :class:`~multisession.engine.MemoryEngine` does.
Commands that only read or delete refuse a store that does not exist (and never create
one); ``add`` and ``import`` create it. ``list``, ``show``, ``export`` and ``stats`` read
SQL only: they never load the embedding model or open the vector index, and write nothing.
``search`` loads the model for the query, but leaves memories waiting for the vector index
to ``repair`` (or the next ``add`` or ``import``).

Read commands take ``--json`` and then print only JSON to stdout. Times are shown in UTC.
The exit status is 0 on success, 1 on an error (one line ``error: ...`` on stderr, naming
the fix), 2 when the command line cannot be parsed, 130 when interrupted. The engine is
always closed before exiting, so buffered vectors are written.

Searching from here does not count as an access of the memories found
(``track_access=False``): looking into a store leaves it as it was.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from .. import __version__
from ..errors import MultisessionError

# rich comes with the `cli` extra: without it, main() says so in one line, no traceback.
try:
    from .commands import (
        DEFAULT_STORE,
        STORE_ENV,
        CommandError,
        UsageError,
        cmd_add,
        cmd_demo,
        cmd_export,
        cmd_import,
        cmd_list,
        cmd_repair,
        cmd_search,
        cmd_show,
        cmd_stats,
    )
    from .lifecycle_commands import cmd_history
    from .maintenance_commands import add_maintenance_commands
    from .privacy import cmd_forget_any, cmd_privacy_report, cmd_rotate_key
    from .service import cmd_keys_create, cmd_keys_list, cmd_keys_revoke, cmd_mcp, cmd_serve
except ModuleNotFoundError as missing:
    if missing.name != "rich" and not (missing.name or "").startswith("rich."):
        raise
    _RICH_MISSING = True
else:
    _RICH_MISSING = False

__all__ = ["main"]

_EXIT_ERROR = 1
_EXIT_INTERRUPTED = 130
_EXIT_TERMINATED = 143


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that the engine is closed on the way out."""


# -- the parser -------------------------------------------------------------------------

_EPILOG = """\
examples:
  multisession add alice "I'm allergic to peanuts" --kind fact
  multisession search alice "what should I not eat?" -k 5
  multisession list alice --page 2 --limit 20
  multisession import history.jsonl --user alice
  multisession export alice -o alice.json
  multisession forget alice --all --yes
  multisession privacy report --user alice
  multisession forget alice --class sensitive --yes
  multisession consolidate --user alice --dry-run
  multisession retention --ttl episode=90 --dry-run
  multisession keys create --tenant acme && multisession serve --port 8000

The store is --store DIR, else $MULTISESSION_STORE, else ./multisession-store.
Exit status: 0 ok, 1 error (one line on stderr), 2 bad command line, 130 interrupted.
"""


def _store_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("store options (before or after the command)")
    # SUPPRESS: a value given before the command is not overwritten by the default after it.
    group.add_argument(
        "--store",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help=f"directory with memory.db and chroma/ (default: ${STORE_ENV}, "
        f"else ./{DEFAULT_STORE})",
    )
    group.add_argument(
        "--sql-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="SQL database instead of DIR/memory.db, e.g. postgresql+psycopg://u:p@host/db",
    )
    group.add_argument(
        "--vector-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="Chroma server (http://host:port) or directory instead of DIR/chroma",
    )
    group.add_argument(
        "--no-embed",
        action="store_true",
        default=argparse.SUPPRESS,
        help="keyword-only: do not load the embedding model or the vector index",
    )
    return options


def _json_option() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true", help="print only JSON, for scripts")
    return options


def _filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind", action="append", metavar="K", help="only this kind (repeat for several)"
    )
    parser.add_argument("--conversation", metavar="C", help="only this conversation")
    parser.add_argument("--since", metavar="T", help="created at or after T (ISO 8601, with zone)")
    parser.add_argument("--until", metavar="T", help="created before T (ISO 8601, with zone)")
    _class_option(parser, "only this privacy class: public, personal, sensitive (repeat)")


def _class_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--class", dest="sensitivity", action="append", metavar="CLASS", help=help)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``multisession`` command."""
    store = _store_options()
    output = _json_option()
    parser = argparse.ArgumentParser(
        prog="multisession",
        description="Look into, fill and maintain a multisession memory store.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[store],
    )
    parser.add_argument("--version", action="version", version=f"multisession {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], summary: str, *, json: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            parents=[store, output] if json else [store],
        )
        sub.set_defaults(handler=handler, parser=sub)
        return sub

    add = command("add", cmd_add, "remember one thing for a user; prints the new id")
    add.add_argument("user", metavar="USER")
    add.add_argument("text", metavar="TEXT")
    add.add_argument("--kind", default="fact", metavar="K", help="fact (default), preference, ...")
    add.add_argument("--conversation", metavar="C", help="the conversation it came from")
    add.add_argument("--metadata", metavar="JSON", help='a JSON object, e.g. \'{"source": "crm"}\'')
    add.add_argument(
        "--created-at", metavar="ISO8601", help="when it was said (default: now), with zone"
    )

    search = command("search", cmd_search, "hybrid search with the score breakdown of each hit")
    search.add_argument("user", metavar="USER")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", type=int, default=10, metavar="N", help="hits at most (default 10)")
    _filter_options(search)

    listing = command("list", cmd_list, "a page of a user's memories, newest first")
    listing.add_argument("user", metavar="USER")
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="per page (20)")
    where = listing.add_mutually_exclusive_group()
    where.add_argument("--page", type=int, metavar="P", help="page number, from 1")
    where.add_argument("--offset", type=int, metavar="N", help="skip the first N instead")
    listing.add_argument("--oldest-first", action="store_true", help="oldest memories first")
    _filter_options(listing)

    show = command("show", cmd_show, "every field of one memory")
    show.add_argument("user", metavar="USER")
    show.add_argument("memory_id", metavar="MEMORY_ID")

    history = command(
        "history", cmd_history, "every version of a fact: what superseded what, when, why"
    )
    history.add_argument("user", metavar="USER")
    history.add_argument("memory_id", metavar="MEMORY_ID")

    add_maintenance_commands(command)

    export = command("export", cmd_export, "everything stored about a user, as JSON")
    export.add_argument("user", metavar="USER")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout"
    )

    forget = command(
        "forget",
        cmd_forget_any,
        "delete one memory, a user entirely with --all, or one privacy class with --class",
    )
    forget.add_argument("user", metavar="USER")
    forget.add_argument("memory_id", metavar="MEMORY_ID", nargs="?")
    forget.add_argument("--all", action="store_true", help="delete every memory and conversation")
    _class_option(
        forget, "delete the memories and messages of this privacy class (repeat for several)"
    )
    forget.add_argument(
        "--yes",
        action="store_true",
        help="confirm --all or --class without asking (needed without a tty)",
    )

    privacy = commands.add_parser(
        "privacy",
        help="what a user's store holds by privacy class",
        description="what a user's store holds by privacy class",
    )
    privacy_commands = privacy.add_subparsers(
        dest="privacy_command", metavar="PRIVACY_COMMAND", required=True
    )
    report = privacy_commands.add_parser(
        "report",
        help="counts by class and detector (never any content)",
        description="a user's memories and messages counted by privacy class and detector; "
        "never prints any content",
        parents=[store, output],
    )
    report.add_argument("--user", required=True, metavar="U", help="whose store to report")
    report.set_defaults(handler=cmd_privacy_report, parser=report)
    rotate = privacy_commands.add_parser(
        "rotate-key",
        help="re-wrap the users' data keys with a new master key (encryption at rest)",
        description="re-wrap every user's data key with the master key in --new-key-file, "
        "never re-encrypting content; the current key comes from MULTISESSION_MASTER_KEY. "
        "Run it again to finish a rotation that was interrupted",
        parents=[store],
    )
    rotate.add_argument(
        "--new-key-file",
        required=True,
        metavar="PATH",
        help="a file with the new key: 32 raw bytes, or 64 hex digits or base64 on one line",
    )
    rotate.set_defaults(handler=cmd_rotate_key, parser=rotate)

    command("stats", cmd_stats, "users, memories, vectors and sizes on disk")

    importing = command(
        "import",
        cmd_import,
        "import JSON Lines of memories and chat messages; re-run to resume",
    )
    importing.add_argument("file", metavar="FILE", help="a .jsonl file, or - for stdin")
    importing.add_argument("--user", metavar="U", help="user of lines without a user_id")
    importing.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="lines per write (256)"
    )
    importing.add_argument("--quiet", action="store_true", help="no progress bar")

    command("repair", cmd_repair, "index what the vector index misses, drop orphaned vectors")

    serve = command(
        "serve", cmd_serve, "run the memory service: REST API, browser, metrics", json=False
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument(
        "--max-body-bytes", type=int, default=1_000_000, metavar="N", help="largest body (1 MB)"
    )
    serve.add_argument(
        "--rate-limit", type=float, default=0.0, metavar="R", help="requests/s per key (0: off)"
    )
    serve.add_argument(
        "--slow-search-ms", type=float, default=1000, metavar="MS", help="warn above (1000)"
    )
    serve.add_argument(
        "--embedder-threads",
        type=int,
        default=None,
        metavar="N",
        help="threads for each embedding (default: onnxruntime's; 1 under many clients)",
    )
    serve.add_argument(
        "--key-cache-seconds",
        type=float,
        default=1.0,
        metavar="S",
        help="trust a verified API key this long; a revoked one works at most S more (1)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.add_argument("--access-log", action="store_true", help="log every request")

    mcp = command("mcp", cmd_mcp, "run the MCP server (stdio, or streamable HTTP)", json=False)
    mcp.add_argument("--tenant", required=True, metavar="T", help="the tenant of the user")
    mcp.add_argument("--user", required=True, metavar="U", help="whose memory the tools use")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="with --transport http (127.0.0.1)")
    mcp.add_argument("--port", type=int, default=8001, help="with --transport http (8001)")

    keys = commands.add_parser("keys", help="API keys of the service: create, list, revoke")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    def key_command(
        name: str, handler: Callable[[argparse.Namespace], int], summary: str
    ) -> argparse.ArgumentParser:
        sub = key_commands.add_parser(
            name, help=summary, description=summary, parents=[store, output]
        )
        sub.set_defaults(handler=handler, parser=sub)
        return sub

    create = key_command("create", cmd_keys_create, "make a key; prints it once")
    create.add_argument("--tenant", required=True, metavar="T", help="the tenant it belongs to")
    create.add_argument(
        "--user", action="append", metavar="U", help="only this user (repeat for several)"
    )
    create.add_argument("--read-only", action="store_true", help="may read, never write")
    create.add_argument("--label", metavar="TEXT", help="a note: who or what uses it")
    listing_keys = key_command("list", cmd_keys_list, "the keys, revoked ones included")
    listing_keys.add_argument("--tenant", metavar="T", help="only this tenant's")
    revoke = key_command("revoke", cmd_keys_revoke, "refuse a key from now on")
    revoke.add_argument("key_id", metavar="KEY_ID", help="as `multisession keys list` shows")

    demo = commands.add_parser(
        "demo", help="a short demo in a temporary store", description="a short demo"
    )
    demo.add_argument(
        "--store", metavar="DIR", default=argparse.SUPPRESS, help="keep the demo store in DIR"
    )
    demo.set_defaults(handler=cmd_demo, parser=demo)
    return parser


# -- entry point ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``multisession`` command; returns the exit status."""
    if _RICH_MISSING:
        sys.stderr.write(
            "error: the multisession command needs rich: pip install 'multisession[cli]'\n"
        )
        return _EXIT_ERROR
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_warnings_to_stderr()
    previous = _terminate_on_sigterm()
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except UsageError as error:
        command_parser: argparse.ArgumentParser = args.parser
        command_parser.error(str(error))  # exits with status 2
    except KeyboardInterrupt:
        sys.stderr.write(f"interrupted{_resume_hint(args)}\n")
        return _EXIT_INTERRUPTED
    except _Terminated:
        sys.stderr.write(f"terminated{_resume_hint(args)}\n")
        return _EXIT_TERMINATED
    except BrokenPipeError:
        # The reader went away (`multisession export alice | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _EXIT_ERROR
    except Exception as error:
        if not _is_user_error(error):
            raise
        sys.stderr.write(f"error: {_one_line(error)}\n")
        return _EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _resume_hint(args: argparse.Namespace) -> str:
    if args.command != "import":
        return ""
    return ": run the same import again to finish it, nothing is stored twice"


def _is_user_error(error: Exception) -> bool:
    if isinstance(error, CommandError | MultisessionError | ValueError | OSError):
        return True
    # Backends' own errors: a database or server that cannot be reached or refuses.
    module = type(error).__module__
    return module.startswith(("sqlalchemy", "chromadb", "psycopg", "httpx"))


def _one_line(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, CommandError | MultisessionError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


class _OneLineWarnings(logging.Formatter):
    """The library's warnings as ``warning: ...`` lines, without tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _log_warnings_to_stderr() -> None:
    logger = logging.getLogger("multisession")
    if not any(isinstance(h.formatter, _OneLineWarnings) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLineWarnings())
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False


def _terminate_on_sigterm() -> Any:
    """Turn SIGTERM into an exception so the engine closes; returns the old handler."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise _Terminated()

    try:
        return signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        return None


if __name__ == "__main__":
    sys.exit(main())
