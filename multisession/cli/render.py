"""Terminal output shared by the ``multisession`` command and the demo."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import NamedTuple

from rich.console import Console

from ..records import ScoreBreakdown

__all__ = ["ScoreCells", "age", "new_console", "score_cells"]

#: Width of output that is not a terminal (a pipe, a log, a pager), unless COLUMNS says.
PIPED_WIDTH = 120


def new_console(*, stderr: bool = False, highlight: bool = False) -> Console:
    """A console on stdout (or stderr) that does not squeeze tables into 80 columns.

    On a terminal, its width; otherwise ``COLUMNS`` when set, else at least 120.
    """
    terminal = Console(stderr=stderr, highlight=highlight)
    if terminal.is_terminal or os.environ.get("COLUMNS"):
        return terminal
    return Console(stderr=stderr, highlight=highlight, width=max(PIPED_WIDTH, terminal.width))


def age(elapsed: timedelta) -> str:
    """How long ago, roughly: ``"12 min"``, ``"5 h"``, ``"3 d"``, ``"1.2 y"``."""
    seconds = elapsed.total_seconds()
    if seconds < 0:
        return "future"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    if seconds < 365 * 86400:
        return f"{int(seconds // 86400)} d"
    return f"{seconds / (365.25 * 86400):.1f} y"


class ScoreCells(NamedTuple):
    """A hit's score breakdown as table cells."""

    final: str
    fused: str
    bm25: str
    vector: str
    recency: str


def score_cells(breakdown: ScoreBreakdown) -> ScoreCells:
    """The scores of a hit: BM25 and vector as ``#rank value``, ``-`` where it was not found."""
    return ScoreCells(
        final=f"{breakdown.final_score:.4f}",
        fused=f"{breakdown.fused_score:.4f}",
        bm25=_rank_and(breakdown.bm25_rank, breakdown.bm25_score, 2),
        vector=_rank_and(breakdown.vector_rank, breakdown.vector_similarity, 3),
        recency=f"{breakdown.recency:.3f}",
    )


def _rank_and(rank: int | None, value: float | None, digits: int) -> str:
    if rank is None or value is None:
        return "-"
    return f"#{rank} {value:.{digits}f}"
