"""Ids that sort in creation order."""

from __future__ import annotations

import itertools
import secrets
import time

_counter = itertools.count()


def new_id() -> str:
    """32 hex characters: microseconds since the epoch, a counter, randomness.

    Rows written in one transaction share a timestamp; ordering by id then keeps the
    order in which they were given.
    """
    micros = time.time_ns() // 1000
    return f"{micros:014x}{next(_counter) % 0x10000:04x}{secrets.token_hex(7)}"
