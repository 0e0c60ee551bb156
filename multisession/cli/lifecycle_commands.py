"""The CLI's lifecycle commands: the versions a fact went through.

Kept apart from :mod:`.commands` so that each file reads in one sitting; it reuses that
module's helpers for opening the store and reporting unknown users and memories.
"""

from __future__ import annotations

import argparse

from rich.table import Table
from rich.text import Text

from .. import _validation as check
from ..errors import MemoryNotFoundError
from .commands import _no_such_memory, _open_engine, _print_json, _utc
from .render import new_console

__all__ = ["cmd_history"]


def cmd_history(args: argparse.Namespace) -> int:
    """Print every version of the fact a memory belongs to, oldest first."""
    user_id = check.check_user_id(args.user)
    memory_id = check.check_memory_id(args.memory_id)
    with _open_engine(args, vectors=False) as engine:
        try:
            versions = engine.history(user_id, memory_id)
        except MemoryNotFoundError:
            raise _no_such_memory(engine, user_id, memory_id, args) from None
        sources = {memory.id: engine.sources(user_id, memory.id) for memory in versions}
    if args.json:
        _print_json([memory.to_dict() for memory in versions])
        return 0
    table = Table(title=Text(f"history of memory {memory_id}"))
    table.add_column("id", no_wrap=True)
    table.add_column("content", overflow="fold")
    table.add_column("valid from", no_wrap=True)
    table.add_column("superseded", overflow="fold")
    table.add_column("mentions", justify="right")
    for memory in versions:
        if memory.superseded_at is None:
            state = "current"
        else:
            by = f" by {memory.superseded_by[:8]}" if memory.superseded_by else ""
            state = f"{_utc(memory.superseded_at)}{by} ({memory.supersede_reason})"
        table.add_row(
            memory.id[:8] + ("*" if memory.id == memory_id else ""),
            Text(memory.content),
            _utc(memory.valid_from or memory.created_at),
            state,
            str(memory.mentions),
        )
    out = new_console()
    out.print(table)
    # Provenance of consolidation: which summary a memory went into, what a summary covers.
    for memory in versions:
        if memory.consolidated_into:
            out.print(Text(f"{memory.id} consolidated into summary {memory.consolidated_into}"))
        if sources[memory.id]:
            out.print(Text(f"summary {memory.id} consolidates {len(sources[memory.id])} memories:"))
            for source in sources[memory.id]:
                out.print(Text(f"  {source.id}  {_utc(source.created_at)}  {source.content}"))
    return 0
