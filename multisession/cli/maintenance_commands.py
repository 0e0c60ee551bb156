"""The CLI's upkeep commands: ``consolidate`` and ``retention``.

Both are meant for a scheduler (cron, a CI job) as much as for a person: ``--dry-run``
shows what would be written or deleted, ``--json`` gives it to a script, and a run
prints counts. Retention never prints the content of a memory of the sensitive class,
and of the others only a short preview.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from .. import _validation as check
from ..errors import InvalidInputError, MemoryNotFoundError
from ..lifecycle.consolidation import ConsolidationReport
from ..lifecycle.retention import RetentionPolicy
from .commands import CommandError, _open_engine, _print_json, _unknown_user, _utc
from .render import new_console

__all__ = ["add_maintenance_commands", "cmd_consolidate", "cmd_retention"]


def add_maintenance_commands(make: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``consolidate`` and ``retention`` through ``build_parser``'s ``command`` helper
    (``make(name, handler, summary)`` returns the new subparser)."""
    consolidate = make(
        "consolidate",
        cmd_consolidate,
        "summarise groups of related episodes (the originals are kept and linked)",
    )
    consolidate.add_argument("--user", metavar="USER", help="only this user (default: every user)")
    consolidate.add_argument(
        "--dry-run", action="store_true", help="show the groups and summaries, write nothing"
    )
    consolidate.add_argument(
        "--min-group", type=int, metavar="N", help="fewest memories a group needs (default 3)"
    )

    retention = make(
        "retention",
        cmd_retention,
        "delete what a retention policy selects (--dry-run lists it first)",
    )
    retention.add_argument("--user", metavar="USER", help="only this user (default: every user)")
    retention.add_argument(
        "--ttl",
        action="append",
        metavar="KIND=DAYS",
        help="delete memories of KIND older than DAYS (repeat for several kinds)",
    )
    retention.add_argument(
        "--unused-days",
        type=float,
        metavar="N",
        help="delete memories not retrieved within N days ...",
    )
    retention.add_argument(
        "--min-accesses",
        type=int,
        default=1,
        metavar="M",
        help="... and retrieved fewer than M times (default 1: never)",
    )
    retention.add_argument(
        "--unused-kind",
        action="append",
        metavar="KIND",
        help="the kinds the unused rule applies to (default: episode; repeat)",
    )
    retention.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
    )


def cmd_consolidate(args: argparse.Namespace) -> int:
    """Consolidate one user's episodes, or every user's."""
    user_id = check.check_user_id(args.user) if args.user is not None else None
    reports: list[ConsolidationReport] = []
    with _open_engine(args) as engine:
        users = [user_id] if user_id is not None else engine.users()
        for user in users:
            try:
                reports.append(
                    engine.consolidate(user, dry_run=args.dry_run, min_group=args.min_group)
                )
            except MemoryNotFoundError:
                raise _unknown_user(user, args) from None
    if args.json:
        _print_json([report.to_dict() for report in reports])
        return 0
    out = new_console()
    verb = "would write" if args.dry_run else "wrote"
    for report in reports:
        table = Table(
            title=Text(
                f"{report.user_id!r}: {len(report.groups)} groups in {report.considered} "
                f"episodic memories; {verb} {len(report.groups)} summaries"
            )
        )
        table.add_column("summary", no_wrap=True)
        table.add_column("sources", justify="right")
        table.add_column("period", no_wrap=True)
        table.add_column("replaces", no_wrap=True)
        table.add_column("text", overflow="fold")
        for group in report.groups:
            table.add_row(
                group.summary_id or "(dry run)",
                str(len(group.source_ids)),
                f"{_utc(group.start)[:10]} .. {_utc(group.end)[:10]}",
                ", ".join(group.replaces) or "-",
                Text(group.content),
            )
        out.print(table)
    return 0


def _policy(args: argparse.Namespace) -> RetentionPolicy:
    ttl: dict[str, float] = {}
    for spec in args.ttl or []:
        kind, sep, days = spec.partition("=")
        try:
            ttl[check.check_kind(kind.strip())] = float(days)
        except (ValueError, InvalidInputError):
            sep = ""
        if not sep:
            raise CommandError(f"--ttl takes KIND=DAYS, e.g. --ttl episode=90; got {spec!r}")
    if not ttl and args.unused_days is None:
        raise CommandError(
            "give a policy: --ttl KIND=DAYS (e.g. --ttl episode=90) and/or --unused-days N"
        )
    try:
        return RetentionPolicy(
            ttl_days=ttl,
            unused_days=args.unused_days,
            min_accesses=args.min_accesses,
            unused_kinds=tuple(args.unused_kind or ("episode",)),
        )
    except ValueError as error:
        raise CommandError(str(error)) from None


def cmd_retention(args: argparse.Namespace) -> int:
    """List (``--dry-run``) or delete what the policy on the command line selects."""
    user_id = check.check_user_id(args.user) if args.user is not None else None
    policy = _policy(args)
    with _open_engine(args) as engine:
        try:
            report = engine.apply_retention(user_id, policy, dry_run=args.dry_run)
        except MemoryNotFoundError:
            assert user_id is not None
            raise _unknown_user(user_id, args) from None
    if args.json:
        _print_json(report.to_dict())
        return 0
    out = new_console()
    if args.dry_run:
        table = Table(title=Text(f"{len(report.items)} memories would be deleted"))
        table.add_column("user", no_wrap=True)
        table.add_column("id", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("age (days)", justify="right")
        table.add_column("reason", no_wrap=True)
        table.add_column("preview", overflow="fold")
        for item in report.items:
            preview = (
                Text(item.preview)
                if item.preview is not None
                else Text(f"({item.sensitivity}: not shown)", style="dim")
            )
            table.add_row(
                Text(item.user_id),
                item.memory_id,
                item.kind,
                f"{item.age_days:.0f}",
                item.reason,
                preview,
            )
        out.print(table)
        return 0
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.by_kind.items()))
    reasons = ", ".join(f"{why} {count}" for why, count in sorted(report.by_reason.items()))
    out.print(
        Text(
            f"deleted {report.deleted} memories"
            + (f" (by kind: {kinds}; by rule: {reasons})" if report.deleted else "")
        )
    )
    return 0
