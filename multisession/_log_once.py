"""Warnings logged once per process, for conditions that hold until the process ends.

Running without a local embedding model, or with estimated token counts, is a fact about
the installation, not about one call: repeating it on every call would bury the logs.
Each such warning has a topic; the first warning of a topic is logged on the
``multisession`` logger and later ones are dropped.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["forget_warnings", "warn_once"]

_logger = logging.getLogger("multisession")
_lock = threading.Lock()
_warned: set[str] = set()


def warn_once(topic: str, message: str, *args: object) -> None:
    """Log ``message % args`` as a warning, unless a warning of ``topic`` was logged before.

    Args:
        topic: What the warning is about, such as ``"keyword-only"``.
        message: The message, with ``%s`` placeholders for ``args`` as in :mod:`logging`.
        *args: Values for the placeholders.
    """
    with _lock:
        if topic in _warned:
            return
        _warned.add(topic)
    _logger.warning(message, *args)


def forget_warnings() -> None:
    """Let every topic warn again, as in a new process (tests use it)."""
    with _lock:
        _warned.clear()
