"""What the write path and the search ask of a vector index, whichever engine holds it.

Two engines hold vectors for approximate search: Chroma (embedded or a server), which
follows SQL behind it, and pgvector, which is SQL itself. The callers see one interface;
``in_sql`` tells them whether vectors still have to be sent anywhere after SQL commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..records import MemoryFilter

__all__ = ["VectorIndex"]


class VectorIndex(Protocol):
    """A vector index over every user's memories, searched one user at a time."""

    #: True when the vectors are written by the SQL transaction that writes the memory
    #: (nothing to buffer, flush or repair afterwards).
    in_sql: bool

    def open_here(self) -> None:
        """Open what a first use would open, in the calling thread."""

    def ids(self, user_id: str) -> set[str]:
        """Every memory id of the user that has a vector in the index."""
        ...

    def upsert(
        self,
        user_id: str,
        ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
        metadatas: Sequence[Mapping[str, str | float]],
    ) -> None:
        """Write (or overwrite) these memories' vectors."""

    def query(
        self, user_id: str, vector: npt.NDArray[np.float32], n: int, where: MemoryFilter
    ) -> list[tuple[str, float]]:
        """The user's ``n`` nearest memories to ``vector``: ``(id, cosine)``, best first."""
        ...

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        """Remove these memories' vectors."""

    def drop_user(self, user_id: str) -> None:
        """Remove every vector of the user."""

    def marker(self) -> str | None:
        """The mark set by :meth:`set_marker`, or None if the index was lost or is new."""
        ...

    def set_marker(self, value: str) -> None:
        """Mark the index as holding the vectors of the SQL store ``value`` names."""

    def compact(self) -> None:
        """Leave no bytes of removed vectors in the index's files."""

    def remove_orphans(
        self,
        existing: Callable[[list[str]], set[str]],
        proven: Callable[[str, list[str]], set[str]],
        removed_from: Callable[[str, list[str] | None], None],
    ) -> tuple[int, int]:
        """Delete vectors of deleted memories; how many were removed, and kept."""
        ...

    def close(self) -> None:
        """Release connections and clients."""
