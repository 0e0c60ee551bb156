"""One user's vectors in memory, searched exactly.

SQL holds every memory's vector next to its text, so this matrix is derived from SQL
the way the BM25 index is, and kept in step by the same per-user revisions: a write by
another process is visible to the next search, vectors included. At ten thousand
memories a search here (one matrix-vector product) takes a fraction of a millisecond
and finds the true nearest neighbours, where the vector index's approximate search
costs more; users with more memories than the engine's ``exact_vector_limit`` are
searched through the vector index instead.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["ExactVectors", "row_dots"]


def row_dots(
    matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Each row's dot product with ``query``, on the calling thread.

    ``matrix @ query`` would be a BLAS gemv, which OpenBLAS splits over threads: faster
    on an idle machine, but when the cores are busy (a server answering many users) the
    call waits for a thread to be scheduled and p50 latency grows several times.
    ``vecdot`` (numpy 2) and ``einsum`` stay on this thread.
    """
    vecdot = getattr(np, "vecdot", None)
    if vecdot is not None:
        return vecdot(matrix, query)  # type: ignore[no-any-return]
    return np.einsum("ij,j->i", matrix, query)  # type: ignore[no-any-return]


class ExactVectors:
    """A growable matrix of unit vectors keyed by memory id. Not thread-safe."""

    def __init__(self, dimension: int, capacity: int = 64) -> None:
        self.dimension = dimension
        self._matrix = np.zeros((max(capacity, 1), dimension), dtype=np.float32)
        self._ids: list[str | None] = []
        self._slots: dict[str, int] = {}
        self._free: list[int] = []

    @classmethod
    def from_blobs(
        cls, dimension: int, ids: Sequence[str], blobs: Sequence[bytes | None]
    ) -> ExactVectors:
        """The vectors as SQL stores them (little-endian float32), decoded in one call.

        ``ids`` are distinct (SQL keys memories by id). A memory without a vector of
        this dimension (not embedded yet) is left out.
        """
        size = 4 * dimension
        kept = [i for i, blob in enumerate(blobs) if blob is not None and len(blob) == size]
        vectors = cls(dimension, capacity=1)
        if kept:
            chosen = blobs if len(kept) == len(blobs) else [blobs[i] for i in kept]
            # A bytearray: the matrix is the joined blobs themselves, writable, no copy.
            joined = bytearray().join(chosen)  # type: ignore[arg-type]
            vectors._matrix = np.frombuffer(joined, dtype="<f4").reshape(len(kept), dimension)
            kept_ids = [ids[i] for i in kept]
            vectors._ids = list(kept_ids)
            vectors._slots = dict(zip(kept_ids, range(len(kept)), strict=True))
        return vectors

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def nbytes(self) -> int:
        """About how much memory this holds: the matrix, and each id's slot."""
        return int(self._matrix.nbytes) + 120 * len(self._ids)

    def upsert(self, memory_id: str, vector: npt.NDArray[np.float32]) -> None:
        slot = self._slots.get(memory_id)
        if slot is None:
            if self._free:
                slot = self._free.pop()
                self._ids[slot] = memory_id
            else:
                slot = len(self._ids)
                if slot == self._matrix.shape[0]:
                    grown = np.zeros((slot * 2, self.dimension), dtype=np.float32)
                    grown[:slot] = self._matrix
                    self._matrix = grown
                self._ids.append(memory_id)
            self._slots[memory_id] = slot
        self._matrix[slot] = vector

    def remove(self, memory_id: str) -> None:
        slot = self._slots.pop(memory_id, None)
        if slot is None:
            return
        self._ids[slot] = None
        self._matrix[slot] = 0.0
        self._free.append(slot)

    def similarities(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Every slot's cosine with ``query`` (-inf for a free slot), for :meth:`search`.

        A hybrid search asks twice with the same query (its candidates, then the other
        retriever's): one product serves both, until the next write.
        """
        similarities = row_dots(self._matrix[: len(self._ids)], query)
        if self._free:
            similarities[self._free] = -np.inf
        return similarities

    def search(
        self,
        query: npt.NDArray[np.float32],
        n: int,
        allowed: Collection[str] | None = None,
        *,
        similarities: npt.NDArray[np.float32] | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` nearest memories as ``(id, cosine)``, best first.

        ``allowed`` restricts the search to those ids (a filter's result).
        ``similarities`` is what :meth:`similarities` returned for ``query`` since the
        last write: the rows' products are read from it rather than computed again (a
        row's product is the same number either way).
        """
        if similarities is not None and similarities.shape[0] != len(self._ids):
            similarities = None  # written to since: not this matrix's products
        if allowed is not None:
            found = [slot for slot in map(self._slots.get, allowed) if slot is not None]
            slots = np.array(found, dtype=np.intp)
            if slots.size == 0:
                return []
            if 4 * slots.size < len(self._ids):
                chosen = (
                    row_dots(self._matrix[slots], query)
                    if similarities is None
                    else similarities[slots]
                )
                return self._best(chosen, slots, n)
            # Most rows allowed: score them all in place rather than copy most of the
            # matrix, and mask out the rest.
            scored = (
                row_dots(self._matrix[: len(self._ids)], query)
                if similarities is None
                else similarities
            )
            similarities = np.full(scored.shape, -np.inf, dtype=np.float32)
            similarities[slots] = scored[slots]
            return self._best(similarities, None, n)
        if not self._ids:
            return []
        if similarities is None:
            similarities = self.similarities(query)
        return self._best(similarities, None, n)

    def _best(
        self,
        similarities: npt.NDArray[np.float32],
        slots: npt.NDArray[np.intp] | None,
        n: int,
    ) -> list[tuple[str, float]]:
        if n < similarities.shape[0]:
            top = np.argpartition(-similarities, n - 1)[:n]
        else:
            top = np.arange(similarities.shape[0])
        top = top[np.argsort(-similarities[top], kind="stable")]
        # As Python numbers in one call each (the same values float() gives one by one).
        values: list[float] = similarities[top].tolist()
        positions: list[int] = (top if slots is None else slots[top]).tolist()
        ids = self._ids
        found: list[tuple[str, float]] = []
        for position, similarity in zip(positions, values, strict=True):
            if similarity == -math.inf:
                break
            memory_id = ids[position]
            if memory_id is not None:
                found.append((memory_id, similarity))
        return found
