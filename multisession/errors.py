"""The errors multisession raises.

One base, :class:`MultisessionError`, and a subclass only where a caller branches on it.
Bad arguments raise :class:`InvalidInputError`, which is also a :class:`ValueError`, so
code that already catches ``ValueError`` keeps working. Messages name the fix.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "ConfigurationError",
    "InvalidInputError",
    "MemoryNotFoundError",
    "MultisessionError",
    "StoreDamagedError",
]


class MultisessionError(Exception):
    """Base class of every error raised by multisession."""


class InvalidInputError(MultisessionError, ValueError):
    """An argument is malformed (empty content, bad id, out-of-range value).

    Nothing stored was changed.
    """


class ConfigurationError(MultisessionError, ValueError):
    """A configuration value or combination is invalid, or a dependency is missing."""


class MemoryNotFoundError(MultisessionError, KeyError):
    """No memory (or user) with that id exists for the given user."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class BackendUnavailableError(MultisessionError):
    """A storage backend (SQL database, Chroma server) could not be reached."""


class StoreDamagedError(MultisessionError):
    """A file of the store is damaged; the message names the file and how to recover.

    Retrying does not help (unlike :class:`BackendUnavailableError`): the SQL store
    comes back from a backup; the vector index, derived from SQL, is rebuilt by deleting
    its directory and opening the store again.
    """
