"""The privacy commands: ``privacy report`` and ``forget USER --class C``.

A report prints counts by class and by detector name only: never a memory's or a
message's content, so it can be shared with whoever checks what a store holds.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.table import Table
from rich.text import Text

from .. import _validation as check
from ..errors import MemoryNotFoundError
from .commands import (
    CommandError,
    UsageError,
    _location,
    _note_vectors_left,
    _open_engine,
    _print_json,
    _require_store,
    _require_user,
    _stdin_is_terminal,
    _unknown_user,
    cmd_forget,
)
from .render import new_console

__all__ = ["cmd_forget_any", "cmd_privacy_report", "cmd_rotate_key"]


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """Re-wrap every data key with the master key in ``--new-key-file``."""
    from ..privacy.keys import MasterKey

    new_key = MasterKey.from_file(args.new_key_file)
    with _open_engine(args, vectors=False, repair_on_open=False) as engine:
        done = engine.rotate_encryption_key(new_key)
    print(
        f"re-wrapped {done} data keys with master key {new_key.key_id}; from now on give "
        "that key (MULTISESSION_MASTER_KEY or encryption_key=...) to open the store"
    )
    return 0


def cmd_privacy_report(args: argparse.Namespace) -> int:
    user_id = check.check_user_id(args.user)
    with _open_engine(args, vectors=False) as engine:
        try:
            report = engine.privacy_report(user_id)
        except MemoryNotFoundError:
            raise _unknown_user(user_id, args) from None
    if args.json:
        _print_json(report)
        return 0
    out = new_console()
    for part in ("memories", "messages"):
        counts: dict[str, Any] = report[part]
        table = Table(title=Text(f"{part} of {user_id!r}: {counts['total']}"))
        table.add_column("class or detector", no_wrap=True)
        table.add_column("count", justify="right")
        for name, count in counts["by_class"].items():
            table.add_row(Text(f"class {name}", style="bold"), str(count))
        for name, count in counts["by_detector"].items():
            table.add_row(Text(f"  detector {name}"), str(count))
        out.print(table)
    return 0


def cmd_forget_any(args: argparse.Namespace) -> int:
    """``forget``: one memory, a whole user (``--all``), or one class (``--class``)."""
    if args.sensitivity is None:
        return cmd_forget(args)
    if args.all or args.memory_id is not None:
        raise UsageError("give MEMORY_ID, --all or --class, not several")
    return _forget_class(args, check.check_user_id(args.user))


def _forget_class(args: argparse.Namespace, user_id: str) -> int:
    """``forget USER --class C``: erase the user's memories and messages of class C."""
    classes: list[str] = args.sensitivity
    _require_store(_location(args))
    if not args.yes and not _stdin_is_terminal():
        raise CommandError(
            f"forget --class deletes every memory and message of {user_id!r} of class "
            f"{', '.join(classes)} and needs confirmation, but stdin is not a terminal: "
            "add --yes to confirm"
        )
    with _open_engine(args) as engine:
        if not args.yes:
            _require_user(engine, user_id, args)
            count = engine.count(user_id, sensitivity=classes)
            sys.stderr.write(
                f"This permanently deletes {count} memories of user {user_id!r} of class "
                f"{', '.join(classes)}, and their messages of that class.\n"
                "Type the user id to confirm: "
            )
            sys.stderr.flush()
            if sys.stdin.readline().rstrip("\r\n") != user_id:
                raise CommandError("the confirmation did not match the user id: nothing deleted")
        try:
            erased = engine.forget_class(user_id, classes)
        except MemoryNotFoundError:
            raise _unknown_user(user_id, args) from None
    _note_vectors_left(args)
    if args.json:
        _print_json({"user_id": user_id, "classes": classes, **erased})
    else:
        sys.stdout.write(
            f"forgot {erased['memories']} memories and {erased['messages']} messages of "
            f"{user_id!r} of class {', '.join(classes)}\n"
        )
    return 0
