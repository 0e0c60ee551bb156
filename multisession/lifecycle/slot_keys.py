"""The slot keys stored with a memory: which personal slots it fills, found without a scan.

A write stores them (the planner), an edit of the content stores them again, and
:meth:`~multisession.engine.MemoryEngine.repair` computes them for memories written
before they existed. ``NULL`` in the column means "never computed"; a memory that fills
no slot stores ``";"``, so that each memory is read by the rules once.
"""

from __future__ import annotations

from collections.abc import Iterable

from .rules import Claim, claims

__all__ = ["NO_SLOTS", "slot_keys", "stored_keys"]

#: What a memory that fills no keyed slot stores.
NO_SLOTS = ";"


def stored_keys(found: Iterable[Claim]) -> str:
    """The column value for a memory's claims: ``";residence|self;role|self;"``.

    Object slots (preferences of a named thing) have no key: they are found by their
    words instead.

    Example:
        >>> stored_keys(claims("I moved to Lisbon"))
        ';residence|self;'
        >>> stored_keys([])
        ';'
    """
    keys = sorted({claim.key for claim in found if claim.slot != "object"})
    return f";{';'.join(keys)};" if keys else NO_SLOTS


def slot_keys(text: str) -> str:
    """The column value for a memory's content, by the offline rules.

    Example:
        >>> slot_keys("I drive a Volvo now")
        ';vehicle|self;'
    """
    return stored_keys(claims(text))
