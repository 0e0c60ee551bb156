"""Regular expressions compiled on first use, so a process pays only for those it runs.

The write side (the worthiness filter, the lifecycle's claim rules, the privacy detectors)
holds several hundred patterns in module-level tables. Compiling them all at import cost a
tenth of a second of every process start, although a process that only searches never
matches one of them. :func:`lazy_compile` returns a stand-in that compiles its pattern the
first time a method is called on it and from then on hands out the compiled pattern's own
methods, so a match costs the same as on a pattern compiled at import.

The stand-in knows its source (``.pattern``) without compiling, which lets a table build a
combined pattern from its rows' sources for free. Everything else (``.flags``, ``.groups``,
``.search`` ...) compiles it. It is not a :class:`re.Pattern` for ``isinstance`` or for the
module-level functions of :mod:`re` (``re.sub(pattern, ...)``): call its methods instead.
"""

from __future__ import annotations

import re
from typing import Any, cast

__all__ = ["lazy_compile"]


class _LazyPattern:
    """A pattern's source and flags, compiled when first matched.

    Args:
        pattern: The regular expression's source.
        flags: The flags to compile it with.
    """

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        self._flags = flags

    def __getattr__(self, name: str) -> Any:
        # Called only for a name not set yet: compile once, then keep every attribute of
        # the compiled pattern on this object, so later lookups never come back here.
        if name.startswith("__"):
            raise AttributeError(name)
        compiled = re.compile(self.pattern, self._flags)
        for attribute in (
            "search",
            "match",
            "fullmatch",
            "finditer",
            "findall",
            "split",
            "sub",
            "subn",
            "scanner",
            "flags",
            "groups",
            "groupindex",
        ):
            setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy_compile({self.pattern!r}, {self._flags!r})"


def lazy_compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A regular expression compiled the first time it is used.

    Args:
        pattern: The regular expression's source.
        flags: Flags for :func:`re.compile` (``re.IGNORECASE`` ...).

    Returns:
        An object with the methods and attributes of ``re.compile(pattern, flags)``.

    Example:
        >>> WORD = lazy_compile(r"\\w+")
        >>> WORD.pattern  # known without compiling
        '\\\\w+'
        >>> WORD.findall("two words")
        ['two', 'words']
    """
    return cast("re.Pattern[str]", _LazyPattern(pattern, flags))
