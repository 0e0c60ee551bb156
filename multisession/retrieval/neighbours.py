"""Keyword documents that include a memory's neighbours in its conversation.

A question often shares no word with the turn that answers it, but does with the turns
around it ("What did she adopt?" -> "Look at him!" after "We got a puppy"). So a
memory's BM25 document may be its own terms plus those of the ``window`` memories before
and after it in the same conversation; the memory itself is still what is returned. On
LoCoMo 27 % of evidence turns share no content word with their question, 12 % with a
window of 2.

The neighbours of a memory are the memories of the same user with the same
``conversation_id``, ordered by ``created_at``, then id (ids sort in creation order, so
memories written together keep the order they were given in). A memory without a
conversation has none. The document of a memory is the concatenation of the terms of
the memories at positions ``i - window .. i + window`` of its conversation, in that
order, so it can be rebuilt from SQL alone, and :class:`NeighbourIndexes` scores exactly
like ``rank_bm25`` over those documents.

Writes stay incremental: adding, changing or deleting a memory re-indexes only the
documents whose window it falls in (at most ``2 * window + 1`` of them).
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .bm25 import BM25Index

__all__ = ["NeighbourIndexes", "Passage"]

# Up to this many documents are re-indexed one by one rather than in bulk.
_FEW_DOCUMENTS = 16
# A memory as held: its tokens, its conversation and its creation time.
_Entry = tuple[Sequence[str], str | None, float]
_Ints = npt.NDArray[np.int64]


def _ranges(starts: _Ints, lengths: _Ints) -> _Ints:
    """The concatenation of ``arange(start, start + length)`` for each pair."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    # Each output position minus the start of its own range, plus that range's start.
    offsets: _Ints = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


class Passage(NamedTuple):
    """One memory as the keyword side needs it.

    Attributes:
        id: The memory's id.
        tokens: Its own BM25 terms.
        conversation_id: Its conversation, or None.
        created_at: Its creation time as a POSIX timestamp (orders the conversation).
    """

    id: str
    tokens: Sequence[str]
    conversation_id: str | None
    created_at: float


class NeighbourIndexes:
    """One user's BM25 indexes, one per neighbour window in use, kept in step on writes.

    An index for a window is built the first time a search asks for it, from the terms
    held here, and is kept in step from then on.

    Example::

        from multisession.retrieval.neighbours import NeighbourIndexes, Passage

        indexes = NeighbourIndexes()
        indexes.upsert([
            Passage("m1", ["we", "got", "puppi"], "c1", 1.0),
            Passage("m2", ["look", "at", "him"], "c1", 2.0),
        ])
        indexes.document("m2", window=1)  # ['we', 'got', 'puppi', 'look', 'at', 'him']
        indexes.index(1).top_n(["puppi"], 2)  # both memories match

    Not thread-safe: the caller serializes writes and keeps reads out of them.
    """

    def __init__(self) -> None:
        # id -> (tokens, conversation_id, created_at): a plain tuple, which the garbage
        # collector stops walking once it holds only strings and numbers (a Passage, a
        # tuple subclass, it would walk on every full pass, for every held memory).
        self._passages: dict[str, _Entry] = {}
        # conversation id -> its memories' (created_at, id), sorted.
        self._threads: dict[str, list[tuple[float, str]]] = {}
        self._indexes: dict[int, BM25Index] = {}
        self._term_count = 0

    def __len__(self) -> int:
        return len(self._passages)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._passages

    def term_count(self) -> int:
        """How many terms the memories hold together (repeats included)."""
        return self._term_count

    def windows(self) -> list[int]:
        """The windows whose indexes are held."""
        return sorted(self._indexes)

    def index(self, window: int) -> BM25Index:
        """The BM25 index whose documents include ``window`` neighbours on each side."""
        index = self._indexes.get(window)
        if index is None:
            index = BM25Index()
            if window == 0:  # the memories' own terms, as they are (BM25 copies nothing)
                index.add_many((doc_id, entry[0]) for doc_id, entry in self._passages.items())
            elif self._passages:
                index.add_encoded(*self._encoded_documents(window))
            self._indexes[window] = index
        return index

    def _encoded_documents(self, window: int) -> tuple[list[str], _Ints, _Ints, list[str]]:
        """Every memory's document for ``window``, numbered for :meth:`BM25Index.add_encoded`.

        The same documents as :meth:`document` gives, built in a few array operations:
        laid out conversation by conversation, a memory's window is one contiguous run of
        tokens, so each document is a slice of that layout. ``(ids, lengths, codes,
        tokens)``: the memories in the order held, their document lengths, the documents'
        tokens as positions in ``tokens``.
        """
        ids = list(self._passages)
        own = [entry[0] for entry in self._passages.values()]
        numbered: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        flat = list(itertools.chain.from_iterable(own))
        codes = np.fromiter(map(numbered.__getitem__, flat), dtype=np.int64, count=len(flat))
        own_length = np.fromiter(map(len, own), dtype=np.int64, count=len(own))
        own_start = np.cumsum(own_length) - own_length
        # The memories conversation by conversation, each in its order; one alone if it
        # has no conversation.
        position = {doc_id: place for place, doc_id in enumerate(ids)}
        layout: list[int] = []
        first: list[int] = []  # per memory in layout order: where its conversation starts
        last: list[int] = []  # ... and where it ends (exclusive)
        for thread in self._threads.values():
            start = len(layout)
            layout.extend(position[doc_id] for _, doc_id in thread)
            first.extend([start] * len(thread))
            last.extend([len(layout)] * len(thread))
        for place, entry in enumerate(self._passages.values()):
            if entry[1] is None:
                first.append(len(layout))
                layout.append(place)
                last.append(len(layout))
        order = np.asarray(layout, dtype=np.int64)
        laid_length = own_length[order]
        laid_end = np.cumsum(laid_length)
        laid_start = laid_end - laid_length
        laid_codes = codes[_ranges(own_start[order], laid_length)]
        # Each memory's window, in layout places, kept inside its conversation.
        places = np.arange(len(order), dtype=np.int64)
        low = np.maximum(places - window, np.asarray(first, dtype=np.int64))
        high = np.minimum(places + window, np.asarray(last, dtype=np.int64) - 1)
        doc_start = np.empty(len(ids), dtype=np.int64)
        doc_length = np.empty(len(ids), dtype=np.int64)
        doc_start[order] = laid_start[low]
        doc_length[order] = laid_end[high] - laid_start[low]
        return ids, doc_length, laid_codes[_ranges(doc_start, doc_length)], list(numbered)

    def document(self, doc_id: str, window: int) -> list[str]:
        """The terms of ``doc_id``'s keyword document for ``window``.

        Raises:
            KeyError: No such memory.
        """
        own, conversation_id, created_at = self._passages[doc_id]
        if window == 0 or conversation_id is None:
            return list(own)
        thread = self._threads[conversation_id]
        place = bisect.bisect_left(thread, (created_at, doc_id))
        tokens: list[str] = []
        for _, neighbour in thread[max(0, place - window) : place + window + 1]:
            tokens.extend(self._passages[neighbour][0])
        return tokens

    def load(
        self,
        ids: Sequence[str],
        tokens: Sequence[Sequence[str]],
        conversation_ids: Sequence[str | None],
        created: Sequence[float],
    ) -> None:
        """Fill an empty instance at once, column by column: what :meth:`upsert` does.

        A user's whole set of memories (distinct ids), read when their index is loaded:
        each thread is sorted once instead of kept sorted insert by insert, and nothing
        is re-indexed (the keyword indexes are built when a search first asks for them).

        Raises:
            ValueError: The instance is not empty.
        """
        if self._passages:
            raise ValueError("load() fills an empty NeighbourIndexes; use upsert()")
        entries = zip(tokens, conversation_ids, created, strict=True)
        self._passages = dict(zip(ids, entries, strict=True))
        self._term_count = sum(map(len, tokens))
        threads = self._threads
        for doc_id, conversation_id, created_at in zip(ids, conversation_ids, created, strict=True):
            if conversation_id is not None:
                thread = threads.get(conversation_id)
                if thread is None:
                    thread = threads[conversation_id] = []
                thread.append((created_at, doc_id))
        for thread in threads.values():
            thread.sort()

    def upsert(self, passages: Iterable[Passage]) -> None:
        """Add memories, or replace those with the same id, and re-index what they touch."""
        touched: dict[str, int] = {}  # id -> the distance at which a change came near it
        for passage in passages:
            old = self._passages.get(passage.id)
            if old is not None:
                self._leave_thread(passage.id, old, touched)
                self._term_count -= len(old[0])
            self._passages[passage.id] = (
                passage.tokens,
                passage.conversation_id,
                passage.created_at,
            )
            self._term_count += len(passage.tokens)
            touched[passage.id] = 0
            if passage.conversation_id is not None:
                thread = self._threads.setdefault(passage.conversation_id, [])
                key = (passage.created_at, passage.id)
                place = bisect.bisect_left(thread, key)
                thread.insert(place, key)
                self._note_neighbours(thread, place, place + 1, touched)
        self._reindex(touched, removed=())

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Remove memories (unknown ids are ignored) and re-index their neighbours."""
        touched: dict[str, int] = {}
        removed: list[str] = []
        for doc_id in doc_ids:
            entry = self._passages.pop(doc_id, None)
            if entry is None:
                continue
            self._term_count -= len(entry[0])
            removed.append(doc_id)
            touched.pop(doc_id, None)
            self._leave_thread(doc_id, entry, touched)
        self._reindex(touched, removed)

    def _leave_thread(self, doc_id: str, entry: _Entry, touched: dict[str, int]) -> None:
        _, conversation_id, created_at = entry
        if conversation_id is None:
            return
        thread = self._threads[conversation_id]
        place = bisect.bisect_left(thread, (created_at, doc_id))
        del thread[place]
        if thread:
            # The memories that had it in their window: distance d on either side.
            self._note_neighbours(thread, place, place, touched)
        else:
            del self._threads[conversation_id]

    def _note_neighbours(
        self, thread: list[tuple[float, str]], start: int, stop: int, touched: dict[str, int]
    ) -> None:
        """Note the memories within the widest held window of ``thread[start:stop]``.

        For a removal ``start == stop``: the gap it left, whose left neighbour is at
        distance 1 as is its right one.
        """
        reach = max(self._indexes, default=0)
        if reach == 0:
            return
        for distance in range(1, reach + 1):
            for place in (start - distance, stop + distance - 1):
                if 0 <= place < len(thread):
                    neighbour = thread[place][1]
                    if touched.get(neighbour, reach + 1) > distance:
                        touched[neighbour] = distance

    def _reindex(self, touched: dict[str, int], removed: Sequence[str]) -> None:
        for window, index in self._indexes.items():
            for doc_id in removed:
                index.remove(doc_id)
            documents = [
                (doc_id, self.document(doc_id, window))
                for doc_id, distance in touched.items()
                if distance <= window and doc_id in self._passages
            ]
            if len(documents) > _FEW_DOCUMENTS:
                index.add_many(documents)
            else:
                # Same result; a bulk add costs a fixed millisecond a handful does not need.
                for doc_id, tokens in documents:
                    index.add(doc_id, tokens)
