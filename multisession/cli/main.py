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
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import __version__
from .. import _validation as check
from .._files import write_atomically
from ..errors import MemoryNotFoundError, MultisessionError
from .importer import JsonLinesImport, parse_time

# rich comes with the `cli` extra: without it, main() says so in one line, no traceback.
try:
    from rich.table import Table
    from rich.text import Text

    from .render import age, new_console, score_cells
except ModuleNotFoundError as missing:
    if missing.name != "rich" and not (missing.name or "").startswith("rich."):
        raise
    _RICH_MISSING = True
else:
    _RICH_MISSING = False

if TYPE_CHECKING:
    from ..engine import MemoryEngine
    from ..records import Memory

__all__ = ["main"]

STORE_ENV = "MULTISESSION_STORE"
DEFAULT_STORE = "multisession-store"

_EXIT_ERROR = 1
_EXIT_INTERRUPTED = 130
_EXIT_TERMINATED = 143


class CommandError(Exception):
    """A user error: printed as one line ``error: <message>``, exit status 1."""


class _UsageError(Exception):
    """A combination of arguments argparse cannot express: exit status 2."""


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that the engine is closed on the way out."""


# -- the store --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Location:
    directory: Path
    sql_url: str | None
    vector_url: str | None
    embed: bool

    @property
    def database(self) -> Path | None:
        """The SQLite file, when SQL lives in the directory."""
        return self.directory / "memory.db" if self.sql_url is None else None

    @property
    def chroma(self) -> Path | None:
        """The embedded Chroma directory, when vectors live in the directory."""
        return self.directory / "chroma" if self.vector_url is None else None


def _location(args: argparse.Namespace) -> _Location:
    store = getattr(args, "store", None) or os.environ.get(STORE_ENV) or DEFAULT_STORE
    return _Location(
        directory=Path(store),
        sql_url=getattr(args, "sql_url", None),
        vector_url=getattr(args, "vector_url", None),
        embed=not getattr(args, "no_embed", False),
    )


def _require_store(location: _Location, *, vectors: bool = True) -> None:
    """Refuse a store that does not exist, without creating anything.

    ``vectors``: the command opens the vector index (unless --no-embed).
    """
    directory = location.directory
    fix = f"pass --store DIR or set {STORE_ENV}; `multisession add` or `import` create a store"
    if location.sql_url is None:
        if not directory.exists():
            raise CommandError(f"no store at {directory}: the directory does not exist; {fix}")
        if not directory.is_dir():
            raise CommandError(f"no store at {directory}: it is not a directory; {fix}")
        if location.database is not None and not location.database.is_file():
            raise CommandError(f"no store at {directory}: it holds no memory.db; {fix}")
    elif (
        vectors and location.embed and location.chroma is not None and not location.chroma.is_dir()
    ):
        raise CommandError(
            f"no vector index at {location.chroma}: pass --vector-url URL (or --store DIR) "
            "where the vectors are, or --no-embed for keyword-only search"
        )


@contextmanager
def _open_engine(
    args: argparse.Namespace,
    *,
    create: bool = False,
    vectors: bool = True,
    repair_on_open: bool = True,
) -> Iterator[MemoryEngine]:
    """The engine for the store the options name; closed (vectors flushed) on exit.

    ``vectors=False`` opens it keyword-only whatever --no-embed says, for commands that
    read SQL only: no model is loaded, and the vector index is neither created nor opened
    nor repaired. ``repair_on_open`` indexes the memories the vector index misses when
    opening with vectors (a write: commands that only read pass False).
    """
    location = _location(args)
    if not create:
        _require_store(location, vectors=vectors)
    from ..engine import MemoryEngine

    options: dict[str, Any] = {}
    if not (vectors and location.embed):
        options["embedder"] = None
    engine = MemoryEngine(
        location.directory,
        sql_url=location.sql_url,
        vector_url=location.vector_url,
        repair_on_open=repair_on_open,
        track_access=False,
        **options,
    )
    try:
        yield engine
    finally:
        engine.close()


def _require_user(engine: MemoryEngine, user_id: str, args: argparse.Namespace) -> None:
    """Raise CommandError for a user the store knows nothing about."""
    if not engine.has_user(user_id):
        raise _unknown_user(user_id, args)


def _unknown_user(user_id: str, args: argparse.Namespace) -> CommandError:
    where = _describe(_location(args))
    return CommandError(
        f"unknown user {user_id!r}: {where} holds no memories or conversations of it; "
        "check the spelling and --store"
    )


def _describe(location: _Location) -> str:
    if location.sql_url is not None:
        return f"the database {_redact(location.sql_url)}"
    return f"the store at {location.directory}"


def _redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# -- output -----------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _content_cell(memory: Memory) -> Text:
    """The memory's text (never read as rich markup) with its id below, dimmed."""
    cell = Text(memory.content)
    cell.append(f"\n{memory.id}", style="dim")
    return cell


def _time_option(args: argparse.Namespace, name: str) -> datetime | None:
    """The value of the time option ``--NAME`` as a UTC datetime; None when not given."""
    value = getattr(args, name.replace("-", "_"))
    return None if value is None else parse_time(value, f"--{name}")


# -- commands ---------------------------------------------------------------------------


def _cmd_add(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    check.check_content(args.text, sys.maxsize)
    kind = check.check_kind(args.kind)
    conversation_id = check.check_conversation_id(args.conversation)
    metadata = None
    if args.metadata is not None:
        try:
            metadata = check.check_metadata(json.loads(args.metadata))
        except json.JSONDecodeError as error:
            raise CommandError(
                f"--metadata is not valid JSON ({error.msg}): give an object such as "
                '\'{"source": "crm"}\''
            ) from None
    created_at = _time_option(args, "created-at")
    with _open_engine(args, create=True) as engine:
        memory = engine.add(
            user_id,
            args.text,
            kind=kind,
            conversation_id=conversation_id,
            metadata=metadata,
            created_at=created_at,
        )
    if args.json:
        _print_json(memory.to_dict())
    else:
        sys.stdout.write(memory.id + "\n")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    query = check.check_query(args.query)
    since, until = _time_option(args, "since"), _time_option(args, "until")
    # No repair on open: a search leaves memories waiting for the vector index as they are.
    with _open_engine(args, repair_on_open=False) as engine:
        _require_user(engine, user_id, args)
        hits = engine.search(
            user_id,
            query,
            k=args.k,
            kinds=args.kind,
            conversation_id=args.conversation,
            since=since,
            until=until,
        )
    if args.json:
        _print_json(
            [{"memory": hit.memory.to_dict(), "breakdown": hit.breakdown.to_dict()} for hit in hits]
        )
        return 0
    out = new_console()
    if not hits:
        out.print(Text(f"no memories of {user_id!r} match {query!r}"))
        return 0
    now = datetime.now(timezone.utc)
    table = Table(
        title=Text(f"{len(hits)} hit{'s' if len(hits) > 1 else ''} for {query!r}, user {user_id!r}")
    )
    # A narrow terminal drops the fused score and recency (--json has everything).
    wide = out.width >= 110
    numbers = ("#", "final", "fused", "bm25", "vector", "recency") if wide else ("#", "final")
    for name in numbers if wide else (*numbers, "bm25", "vector"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("content / id", overflow="fold", min_width=24 if wide else 20, ratio=1)
    table.add_column("kind", no_wrap=True)
    table.add_column("age", justify="right", no_wrap=True)
    for position, hit in enumerate(hits, start=1):
        cells = score_cells(hit.breakdown)
        scores = cells if wide else (cells.final, cells.bm25, cells.vector)
        table.add_row(
            str(position),
            *scores,
            _content_cell(hit.memory),
            hit.memory.kind,
            age(now - hit.memory.created_at),
        )
    out.print(table)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    limit = check.check_positive_int(args.limit, "--limit", 100_000)
    page: int | None = None
    if args.offset is not None:
        if args.offset < 0:
            raise CommandError(f"--offset must be 0 or more, got {args.offset}")
        offset = args.offset
    else:
        page = args.page if args.page is not None else 1
        if page < 1:
            raise CommandError(f"--page counts from 1, got {page}")
        offset = (page - 1) * limit
    filters: dict[str, Any] = {
        "kinds": args.kind,
        "conversation_id": args.conversation,
        "since": _time_option(args, "since"),
        "until": _time_option(args, "until"),
    }
    with _open_engine(args, vectors=False) as engine:
        _require_user(engine, user_id, args)
        total = engine.count(user_id, **filters)
        memories = engine.list(
            user_id, limit=limit, offset=offset, newest_first=not args.oldest_first, **filters
        )
    if args.json:
        _print_json(
            {
                "user_id": user_id,
                "total": total,
                "page": page,
                "offset": offset,
                "limit": limit,
                "memories": [memory.to_dict() for memory in memories],
            }
        )
        return 0
    where = f"page {page}, " if page is not None else ""
    if memories:
        status = f"{where}showing {offset + 1}–{offset + len(memories)} of {total}"
    else:
        pages = -(-total // limit)
        status = f"{where}showing none of {total} ({pages} page{'s' * (pages != 1)} of {limit})"
    out = new_console()
    if memories:
        table = Table(title=Text(f"memories of {user_id!r}"))
        table.add_column("created", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("conversation", overflow="fold")
        table.add_column("content / id", overflow="fold", min_width=34, ratio=1)
        for memory in memories:
            table.add_row(
                _utc(memory.created_at),
                memory.kind,
                Text(memory.conversation_id or "-"),
                _content_cell(memory),
            )
        out.print(table)
    out.print(Text(status))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    memory_id = check.check_memory_id(args.memory_id)
    with _open_engine(args, vectors=False) as engine:
        memory = _get_memory(engine, user_id, memory_id, args)
    if args.json:
        _print_json(memory.to_dict())
        return 0
    table = Table(show_header=False, title=Text(f"memory {memory.id}"))
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows: list[tuple[str, str]] = [
        ("id", memory.id),
        ("user", memory.user_id),
        ("kind", memory.kind),
        ("content", memory.content),
        ("conversation", memory.conversation_id or "-"),
        ("created", _utc(memory.created_at)),
        ("updated", _utc(memory.updated_at)),
        ("last accessed", _utc(memory.last_accessed)),
        ("access count", str(memory.access_count)),
        ("metadata", json.dumps(memory.metadata, ensure_ascii=False, sort_keys=True)),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))
    new_console().print(table)
    return 0


def _get_memory(
    engine: MemoryEngine, user_id: str, memory_id: str, args: argparse.Namespace
) -> Memory:
    try:
        return engine.get(user_id, memory_id)
    except MemoryNotFoundError:
        raise _no_such_memory(engine, user_id, memory_id, args) from None


def _no_such_memory(
    engine: MemoryEngine, user_id: str, memory_id: str, args: argparse.Namespace
) -> CommandError:
    """The error for a memory id the user does not have (or for an unknown user)."""
    _require_user(engine, user_id, args)
    return CommandError(
        f"user {user_id!r} has no memory {memory_id}: "
        f"find the ids with `multisession list {user_id}`"
    )


def _cmd_export(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    with _open_engine(args, vectors=False) as engine:
        try:
            exported = engine.export_user(user_id)
        except MemoryNotFoundError:
            raise _unknown_user(user_id, args) from None
    text = json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
    if args.output is None or args.output == "-":
        sys.stdout.write(text)
        return 0
    target = Path(args.output)
    _write_export(target, text)
    sys.stderr.write(
        f"exported {len(exported['memories'])} memories and "
        f"{len(exported['conversations'])} conversations of {user_id!r} to {target}\n"
    )
    return 0


def _write_export(target: Path, text: str) -> None:
    """Write an export whole, readable by its owner only: it holds everything about a person."""
    directory = target.parent
    if not directory.is_dir():
        raise CommandError(f"cannot write {target}: the directory {directory} does not exist")
    write_atomically(target, text.encode("utf-8"), mode=0o600)


def _cmd_forget(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    if args.all == (args.memory_id is not None):
        raise _UsageError("give either MEMORY_ID or --all")
    if not args.all:
        return _forget_one(args, user_id, check.check_memory_id(args.memory_id))
    _require_store(_location(args))
    interactive = _stdin_is_terminal()
    if not args.yes and not interactive:
        raise CommandError(
            f"forget --all deletes every memory and conversation of {user_id!r} and needs "
            "confirmation, but stdin is not a terminal: add --yes to confirm"
        )
    with _open_engine(args) as engine:
        if not args.yes:
            _require_user(engine, user_id, args)  # before asking to confirm
            memories = engine.count(user_id)
            conversations = len(engine.conversations.list(user_id))
            sys.stderr.write(
                f"This permanently deletes {memories} memories and {conversations} "
                f"conversations of user {user_id!r}.\nType the user id to confirm: "
            )
            sys.stderr.flush()
            if sys.stdin.readline().rstrip("\r\n") != user_id:
                raise CommandError("the confirmation did not match the user id: nothing deleted")
        try:
            deleted = engine.delete_user(user_id)
        except MemoryNotFoundError:
            raise _unknown_user(user_id, args) from None
    _note_vectors_left(args)
    if args.json:
        _print_json({"user_id": user_id, "memories_deleted": deleted})
    else:
        sys.stdout.write(f"forgot user {user_id!r}: {deleted} memories and all conversations\n")
    return 0


def _forget_one(args: argparse.Namespace, user_id: str, memory_id: str) -> int:
    with _open_engine(args) as engine:
        try:
            engine.delete(user_id, memory_id)
        except MemoryNotFoundError:
            raise _no_such_memory(engine, user_id, memory_id, args) from None
    _note_vectors_left(args)
    if args.json:
        _print_json({"user_id": user_id, "memory_id": memory_id, "memories_deleted": 1})
    else:
        sys.stdout.write(f"forgot memory {memory_id} of {user_id!r}\n")
    return 0


def _note_vectors_left(args: argparse.Namespace) -> None:
    if not _location(args).embed:
        sys.stderr.write(
            "note: with --no-embed the vector index was not opened, so the deleted memories' "
            "vectors stay in it (never returned by search) until `multisession repair` "
            "removes them\n"
        )


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def _cmd_stats(args: argparse.Namespace) -> int:
    location = _location(args)
    uses_directory = location.database is not None or (
        location.chroma is not None and location.chroma.is_dir()
    )
    # SQL only: the counts and the embedder the store records, without loading a model.
    with _open_engine(args, vectors=False) as engine:
        stats = engine.stats()
    # Sizes after closing: SQLite folds its write-ahead log back into memory.db then.
    database = _file_size(location.database)
    chroma = _tree_size(location.chroma)
    report = {
        "store": str(location.directory) if uses_directory else None,
        "sql_url": _redact(location.sql_url) if location.sql_url else None,
        "vector_url": location.vector_url,
        "users": stats["users"],
        "memories": stats["memories"],
        "pending_vectors": stats["pending_vectors"],
        "buffered_vectors": stats["buffered_vectors"],
        "embedder": stats["store_embedder"],
        "disk": {
            "memory_db_bytes": database,
            "chroma_bytes": chroma,
            "total_bytes": (database or 0) + (chroma or 0),
        },
        "events": stats.get("events", {}),
    }
    if args.json:
        _print_json(report)
        return 0
    table = Table(show_header=False, title=Text(_describe(location)))
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    embedder = report["embedder"] or "none recorded (keyword-only so far)"
    rows = [
        ("users", str(report["users"])),
        ("memories", str(report["memories"])),
        ("pending vectors", f"{report['pending_vectors']} (`multisession repair` indexes them)"),
        ("buffered vectors", str(report["buffered_vectors"])),
        ("embedder", embedder),
        ("memory.db (+wal)", _size(database) if location.sql_url is None else "-"),
        ("chroma/", _size(chroma) if location.vector_url is None else "-"),
    ]
    if location.sql_url is not None:
        rows.append(("sql", _redact(location.sql_url)))
    if location.vector_url is not None:
        rows.append(("vectors", location.vector_url))
    for name, value in rows:
        table.add_row(name, Text(value))
    new_console().print(table)
    return 0


def _file_size(database: Path | None) -> int | None:
    if database is None:
        return None
    total = 0
    for path in (database, database.with_name(database.name + "-wal")):
        with suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


def _tree_size(directory: Path | None) -> int | None:
    if directory is None:
        return None
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            with suppress(FileNotFoundError):
                total += (Path(root) / name).stat().st_size
    return total


def _cmd_import(args: argparse.Namespace) -> int:
    default_user = check.check_user_id(args.user) if args.user is not None else None
    batch_size = check.check_positive_int(args.batch_size, "--batch-size", 100_000)
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    try:
        with _open_engine(args, create=True) as engine:
            importer = JsonLinesImport(engine, default_user=default_user, batch_size=batch_size)
            report = _run_with_progress(importer, source, quiet=args.quiet)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    summary = report.to_dict()
    rejections = summary["rejections"]
    if args.json:
        _print_json(summary)
    else:
        if rejections:
            table = Table(title=f"{len(rejections)} rejected lines")
            table.add_column("line", justify="right", no_wrap=True)
            table.add_column("reason", overflow="fold")
            for item in rejections:
                table.add_row(str(item["line"]), Text(item["reason"]))
            new_console(stderr=True).print(table)
        sys.stdout.write(
            f"imported {_count(report.imported, 'line')} "
            f"({_count(report.memories, 'memory', 'memories')}, "
            f"{_count(report.messages, 'message')}) and "
            f"{_count(report.extracted, 'memory', 'memories')} extracted from messages; "
            f"skipped {report.skipped} already stored; rejected {len(rejections)}\n"
        )
    if rejections:
        lines, them = ("line was", "it") if len(rejections) == 1 else ("lines were", "them")
        sys.stderr.write(
            f"error: {len(rejections)} {lines} rejected (the others are stored): fix {them} "
            "and run the same import again; what is stored already is skipped\n"
        )
        return _EXIT_ERROR
    return 0


def _run_with_progress(importer: JsonLinesImport, source: Any, *, quiet: bool) -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    try:
        total: int | None = os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError, AttributeError):
        total = None
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=new_console(stderr=True),
        disable=quiet or not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task("import", total=total)
        return importer.run(source, lambda done: progress.advance(task, done))


def _cmd_repair(args: argparse.Namespace) -> int:
    if not _location(args).embed:
        raise CommandError(
            "repair brings the vector index in line with SQL and needs the embedder: "
            "run it without --no-embed"
        )
    # No repair on open: repair() itself does it, and reports what it did.
    with _open_engine(args, repair_on_open=False) as engine:
        if engine.embedder is None:
            from ..embeddings.minilm import INSTALL_HINT

            raise CommandError(
                f"no embedding model is installed, so there is no vector index to repair: "
                f"run `{INSTALL_HINT}`"
            )
        report = engine.repair()
    if args.json:
        _print_json({"reindexed": report.reindexed, "orphans_removed": report.orphans_removed})
    else:
        sys.stdout.write(
            f"reindexed {report.reindexed} memories; "
            f"removed {report.orphans_removed} orphaned vectors\n"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    store = getattr(args, "store", None)
    return demo.main(["--store", store] if store else [])


# -- the parser -------------------------------------------------------------------------

_EPILOG = """\
examples:
  multisession add alice "I'm allergic to peanuts" --kind fact
  multisession search alice "what should I not eat?" -k 5
  multisession list alice --page 2 --limit 20
  multisession import history.jsonl --user alice
  multisession export alice -o alice.json
  multisession forget alice --all --yes

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

    add = command("add", _cmd_add, "remember one thing for a user; prints the new id")
    add.add_argument("user", metavar="USER")
    add.add_argument("text", metavar="TEXT")
    add.add_argument("--kind", default="fact", metavar="K", help="fact (default), preference, ...")
    add.add_argument("--conversation", metavar="C", help="the conversation it came from")
    add.add_argument("--metadata", metavar="JSON", help='a JSON object, e.g. \'{"source": "crm"}\'')
    add.add_argument(
        "--created-at", metavar="ISO8601", help="when it was said (default: now), with zone"
    )

    search = command("search", _cmd_search, "hybrid search with the score breakdown of each hit")
    search.add_argument("user", metavar="USER")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", type=int, default=10, metavar="N", help="hits at most (default 10)")
    _filter_options(search)

    listing = command("list", _cmd_list, "a page of a user's memories, newest first")
    listing.add_argument("user", metavar="USER")
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="per page (20)")
    where = listing.add_mutually_exclusive_group()
    where.add_argument("--page", type=int, metavar="P", help="page number, from 1")
    where.add_argument("--offset", type=int, metavar="N", help="skip the first N instead")
    listing.add_argument("--oldest-first", action="store_true", help="oldest memories first")
    _filter_options(listing)

    show = command("show", _cmd_show, "every field of one memory")
    show.add_argument("user", metavar="USER")
    show.add_argument("memory_id", metavar="MEMORY_ID")

    export = command("export", _cmd_export, "everything stored about a user, as JSON")
    export.add_argument("user", metavar="USER")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout"
    )

    forget = command("forget", _cmd_forget, "delete one memory, or a user entirely with --all")
    forget.add_argument("user", metavar="USER")
    forget.add_argument("memory_id", metavar="MEMORY_ID", nargs="?")
    forget.add_argument("--all", action="store_true", help="delete every memory and conversation")
    forget.add_argument(
        "--yes", action="store_true", help="confirm --all without asking (needed without a tty)"
    )

    command("stats", _cmd_stats, "users, memories, vectors and sizes on disk")

    importing = command(
        "import",
        _cmd_import,
        "import JSON Lines of memories and chat messages; re-run to resume",
    )
    importing.add_argument("file", metavar="FILE", help="a .jsonl file, or - for stdin")
    importing.add_argument("--user", metavar="U", help="user of lines without a user_id")
    importing.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="lines per write (256)"
    )
    importing.add_argument("--quiet", action="store_true", help="no progress bar")

    command("repair", _cmd_repair, "index what the vector index misses, drop orphaned vectors")

    demo = commands.add_parser(
        "demo", help="a short demo in a temporary store", description="a short demo"
    )
    demo.add_argument(
        "--store", metavar="DIR", default=argparse.SUPPRESS, help="keep the demo store in DIR"
    )
    demo.set_defaults(handler=_cmd_demo, parser=demo)
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
    except _UsageError as error:
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
