"""Okapi BM25 keyword index, updated one document at a time.

:class:`BM25Index` scores exactly like ``rank_bm25.BM25Okapi`` (0.2.2) built on the same
documents in the same order, but adds, replaces and removes documents without rebuilding
anything, and scores a query by touching only the posting lists of its terms.

The scoring, for a corpus of ``N`` documents averaging ``avgdl`` tokens::

    idf(t)      = log(N - df(t) + 0.5) - log(df(t) + 0.5)
                  (a negative idf is replaced by epsilon * the mean idf of all terms)
    score(d, q) = sum over the query tokens t, in order, duplicates included, of
                  idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))

Floating-point operations happen in the same order as in ``rank_bm25``, so the scores
are equal bit for bit, including the mean idf: it is summed in the order in which
``rank_bm25`` meets the terms (first occurrence, documents in corpus order). One
difference: where ``rank_bm25`` divides 0 by 0 (``k1 = 0``, or ``b = 1`` with an empty
document) it gives NaN to the documents that lack a query term; here they get 0.

How it stays fast:

- Each term keeps a posting list (document slots and term frequencies, numpy arrays
  grown by doubling). A query reads the lists of its own terms only.
- Document frequencies, lengths and the total length are kept up to date on every write;
  idf is computed at query time for the query's terms only. The mean idf over the
  vocabulary is one vectorised pass, cached until the next write, and only needed when a
  query term has a negative idf.
- Removing a document marks its slot dead. A posting list is filtered once more than half
  of it is dead, and all slots are renumbered once more than half of them are dead.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import numpy.typing as npt

from multisession.errors import InvalidInputError

__all__ = ["BM25Index", "QueryScores"]

_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]
_Array = TypeVar("_Array", bound="np.ndarray[Any, Any]")


def _frozen_empty(dtype: type[np.generic]) -> Any:
    array = np.empty(0, dtype=dtype)
    array.flags.writeable = False
    return array


_NO_INTS: _Ints = _frozen_empty(np.int64)
_NO_FLOATS: _Floats = _frozen_empty(np.float64)

# Renumber slots once more than half are dead, but not for a handful of them.
_MIN_DEAD_SLOTS_TO_COMPACT = 64
# top_n samples the candidates first when there are more than this many per result.
_PRESELECT_FACTOR = 64
# Filter a posting list once more than half of it is dead, if it is at least this long.
_MIN_POSTINGS_TO_COMPACT = 8


class QueryScores(NamedTuple):
    """One query's scores over an index's slots, kept to pick several top lists from.

    A hybrid search asks the same index twice with the same query: for its candidates,
    then for the scores of the other retriever's candidates. :meth:`BM25Index.score`
    computes them once; :meth:`BM25Index.top_n` takes them back (``scored=``) as long as
    the index has not been written to since.
    """

    source: BM25Index
    version: int
    scores: _Floats
    matched: _Bools


class BM25Index:
    """Okapi BM25 over documents added and removed one at a time.

    Scores equal ``rank_bm25.BM25Okapi(corpus, k1=k1, b=b, epsilon=epsilon)`` for the
    corpus listed by :meth:`doc_ids`, bit for bit. Documents are token lists (see
    :mod:`multisession.retrieval.terms`); ids are strings.

    Example::

        from multisession.retrieval.bm25 import BM25Index

        index = BM25Index()
        index.add("m1", ["alice", "like", "green", "tea"])
        index.add("m2", ["bob", "drink", "black", "coffe"])
        index.add("m3", ["alice", "visit", "pari"])
        index.top_n(["alice", "tea"], 2)  # [('m1', 0.5888...), ('m3', 0.1112...)]
        index.add("m1", ["alice", "like", "herbal", "tea"])  # replaces m1
        index.remove("m2")  # True

    Thread safety: writes (:meth:`add`, :meth:`add_many`, :meth:`remove`,
    :meth:`clear`) need exclusive access; the caller serializes them, and no read may
    run during a write. Reads may run concurrently with each other: the caches they fill
    are recomputed idempotently.

    Args:
        k1: Term-frequency saturation, >= 0.
        b: Length normalisation, between 0 and 1.
        epsilon: Floor for negative idf values, as a fraction of the mean idf.

    Raises:
        InvalidInputError: If a parameter is out of range or not finite.
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> None:
        for name, value in (("k1", k1), ("b", b), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InvalidInputError(f"{name} must be finite, got {value!r}")
        if k1 < 0:
            raise InvalidInputError(f"k1 must be >= 0, got {k1!r}")
        if not 0 <= b <= 1:
            raise InvalidInputError(f"b must be between 0 and 1, got {b!r}")
        self._k1 = float(k1)
        self._b = float(b)
        self._epsilon = float(epsilon)
        self._log_half: _Floats = np.empty(0, dtype=np.float64)  # [k] = math.log(k + 0.5)
        self._version = 0  # bumped by every write; keys the mean-idf cache
        self._reset()

    @property
    def k1(self) -> float:
        """Term-frequency saturation."""
        return self._k1

    @property
    def b(self) -> float:
        """Length normalisation."""
        return self._b

    @property
    def epsilon(self) -> float:
        """Floor for negative idf values, as a fraction of the mean idf."""
        return self._epsilon

    def _reset(self) -> None:
        # Documents live in slots 0.._n_slots-1, in corpus order; dead slots have
        # _alive False and _slot_doc None.
        self._slot_of: dict[str, int] = {}
        self._slot_doc: list[str | None] = []
        self._n_slots = 0
        self._n_live = 0
        self._total_len = 0
        self._doc_len: _Floats = np.empty(0, dtype=np.float64)
        self._alive: _Bools = np.empty(0, dtype=np.bool_)
        # Forward index: the document in slot s is the term-id sequence
        # _fwd_terms[_doc_start[s]:_doc_end[s]], one entry per token.
        self._doc_start: _Ints = np.empty(0, dtype=np.int64)
        self._doc_end: _Ints = np.empty(0, dtype=np.int64)
        self._fwd_terms: _Ints = np.empty(0, dtype=np.int64)
        self._fwd_len = 0
        # Terms: id -> document frequency over live slots (0 for a term no longer
        # present), the slot and position of its first occurrence, and a posting list
        # sorted by slot (may hold dead slots; only the first _post_size entries count).
        self._vocab: dict[str, int] = {}
        self._df: _Ints = np.empty(0, dtype=np.int64)
        self._first_slot: _Ints = np.empty(0, dtype=np.int64)
        self._first_pos: _Ints = np.empty(0, dtype=np.int64)
        self._post_slots: list[_Ints] = []
        self._post_tf: list[_Floats] = []
        self._post_size: list[int] = []
        # Live term ids in first-occurrence order (rank_bm25's vocabulary order), as a
        # buffer and its used length; None when it must be recomputed.
        self._order: tuple[_Ints, int] | None = (_NO_INTS, 0)
        self._version += 1
        self._average_idf_cache: tuple[int, float] | None = None

    def __repr__(self) -> str:
        return f"BM25Index(k1={self.k1}, b={self.b}, epsilon={self.epsilon}, docs={len(self)})"

    def __len__(self) -> int:
        return self._n_live

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and doc_id in self._slot_of

    def doc_ids(self) -> list[str]:
        """Return the ids in corpus order: order of addition, a replaced document last."""
        return [doc_id for doc_id in self._slot_doc if doc_id is not None]

    # ------------------------------------------------------------------ writes

    def add(self, doc_id: str, tokens: Sequence[str]) -> None:
        """Add a document, or replace the one with the same id (which moves to the end).

        Args:
            doc_id: The document's id.
            tokens: Its terms; may be empty.

        Raises:
            InvalidInputError: If ``doc_id`` is not a str or ``tokens`` is not a sequence
                of str. The index is then unchanged.
        """
        _check_doc_id(doc_id)
        _check_token_sequence(tokens)
        counts: dict[str, int] = {}
        first_positions: list[int] = []
        for position, token in enumerate(tokens):
            if not isinstance(token, str):
                raise InvalidInputError(f"tokens must be str, got {type(token).__name__}")
            count = counts.get(token)
            if count is None:
                counts[token] = 1
                first_positions.append(position)
            else:
                counts[token] = count + 1
        old_slot = self._slot_of.get(doc_id)
        if old_slot is not None:
            self._remove_slot(old_slot)
        self._append_document(doc_id, tokens, counts, first_positions)
        self._version += 1
        self._compact_if_sparse()

    def add_many(self, items: Iterable[tuple[str, Sequence[str]]]) -> None:
        """Add or replace many documents at once, much faster than one :meth:`add` each.

        The result is the same as calling :meth:`add` for each pair in turn (so for an id
        given twice, the later tokens win and take the later position).

        Args:
            items: ``(doc_id, tokens)`` pairs.

        Raises:
            InvalidInputError: If an item is not a pair of a str id and a sequence of str.
                The index is then unchanged.
        """
        doc_ids: list[str] = []
        token_lists: list[Sequence[str]] = []
        for item in items:
            try:
                doc_id, tokens = item
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"add_many expects (doc_id, tokens) pairs, got {item!r:.80}"
                ) from None
            if type(doc_id) is not str:
                _check_doc_id(doc_id)
            if type(tokens) is not list and type(tokens) is not tuple:
                _check_token_sequence(tokens)
            doc_ids.append(doc_id)
            token_lists.append(tokens)
        if not doc_ids:
            return
        if len(set(doc_ids)) < len(doc_ids):
            keep = sorted({doc_id: i for i, doc_id in enumerate(doc_ids)}.values())
            doc_ids = [doc_ids[i] for i in keep]
            token_lists = [token_lists[i] for i in keep]

        # Number the batch's distinct tokens, in C.
        flat = list(itertools.chain.from_iterable(token_lists))
        local_ids: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        try:
            local_of_token = np.fromiter(
                map(local_ids.__getitem__, flat), dtype=np.int64, count=len(flat)
            )
        except TypeError:  # an unhashable token
            raise InvalidInputError("tokens must be str") from None
        distinct = list(local_ids)
        for token in distinct:
            if not isinstance(token, str):
                raise InvalidInputError(f"tokens must be str, got {type(token).__name__}")

        # Everything is valid: from here on the index changes.
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        self.add_encoded(doc_ids, lengths, local_of_token, distinct)

    def add_encoded(
        self, doc_ids: list[str], lengths: _Ints, codes: _Ints, tokens: list[str]
    ) -> None:
        """Add or replace documents given already numbered: what :meth:`add_many` does.

        For a caller that holds its documents as numbers (documents made of slices of
        other documents' tokens), so no token is looked up twice.

        Args:
            doc_ids: Distinct document ids (not checked).
            lengths: Each document's token count.
            codes: All tokens, document after document, as positions in ``tokens``.
            tokens: Distinct str tokens (not checked).
        """
        for doc_id in doc_ids:
            old_slot = self._slot_of.get(doc_id)
            if old_slot is not None:
                self._remove_slot(old_slot)
        term_ids = self._term_ids(tokens)[codes]
        self._append_batch(doc_ids, lengths, term_ids)
        self._version += 1
        self._compact_if_sparse()

    def remove(self, doc_id: str) -> bool:
        """Remove a document.

        Args:
            doc_id: The document's id.

        Returns:
            True if it was there, False if not.

        Raises:
            InvalidInputError: If ``doc_id`` is not a str.
        """
        _check_doc_id(doc_id)
        slot = self._slot_of.get(doc_id)
        if slot is None:
            return False
        self._remove_slot(slot)
        self._version += 1
        self._compact_if_sparse()
        return True

    def clear(self) -> None:
        """Remove every document."""
        self._reset()

    # ------------------------------------------------------------------ reads

    def get_scores(self, query_tokens: Sequence[str]) -> _Floats:
        """Score every document, like ``rank_bm25.BM25Okapi.get_scores``.

        Args:
            query_tokens: The query's terms; duplicates count as often as they occur.

        Returns:
            float64 scores aligned with :meth:`doc_ids` (empty for an empty index).

        Raises:
            InvalidInputError: If ``query_tokens`` is not a sequence of str.
        """
        _check_query(query_tokens)
        if not self._n_live:
            return np.zeros(0, dtype=np.float64)
        scores, _ = self._score(query_tokens)
        if self._n_slots != self._n_live:
            scores = scores[self._alive[: self._n_slots]]
        return scores

    def full_match_score(self, query_tokens: Sequence[str]) -> float:
        """The score a document of average length holding each query term once would get.

        With ``tf = 1`` and ``len(d) = avgdl`` a term's BM25 weight is its idf, so this
        is the query's idf mass: the sum of its terms' idf, duplicates included, a term
        no document holds counted at the idf of ``df = 0`` (the rarest). A best match
        far below it matched only a small, common part of the query.

        Args:
            query_tokens: The query's terms, as :meth:`top_n` takes them.

        Returns:
            The idf mass, >= 0; 0 for an empty index or query.

        Example:
            >>> index = BM25Index()
            >>> index.add("m1", ["alice", "tea"])
            >>> index.add("m2", ["bob", "coffe"])
            >>> index.add("m3", ["carol", "juic"])
            >>> [round(index.full_match_score([term]), 3) for term in ("tea", "milk")]
            [0.511, 1.946]
        """
        _check_query(query_tokens)
        n_docs = self._n_live
        if not n_docs:
            return 0.0
        total = 0.0
        for token in query_tokens:
            term = self._vocab.get(token)
            df = int(self._df[term]) if term is not None else 0
            idf = math.log(n_docs - df + 0.5) - math.log(df + 0.5)
            if idf < 0:
                idf = self.epsilon * self._average_idf()
            total += idf
        return max(total, 0.0)

    def top_n(
        self,
        query_tokens: Sequence[str],
        n: int,
        *,
        allowed: Collection[str] | None = None,
        scored: QueryScores | None = None,
    ) -> list[tuple[str, float]]:
        """Return the best-scoring documents that contain at least one query term.

        Args:
            query_tokens: The query's terms; duplicates count as often as they occur.
            n: How many results at most, >= 1.
            allowed: If given, only these ids are eligible (ids not in the index are
                ignored). The restriction applies before the top ``n`` are picked, so
                the best allowed documents are returned however many others score
                higher.
            scored: What :meth:`score` returned for these ``query_tokens``: used
                instead of scoring again while the index is unchanged since.

        Returns:
            ``(doc_id, score)`` pairs, best first; equal scores in corpus order. Scores
            can be zero or negative in tiny corpora (terms in most documents).

        Raises:
            InvalidInputError: If ``query_tokens`` is not a sequence of str, ``n`` is not
                an int >= 1, or ``allowed`` is not a collection of ids.
        """
        _check_query(query_tokens)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInputError(f"n must be an int >= 1, got {n!r}")
        if allowed is not None and (
            isinstance(allowed, (str, bytes)) or not isinstance(allowed, Collection)
        ):
            raise InvalidInputError(
                f"allowed must be a collection of ids or None, got {type(allowed).__name__}"
            )
        if not self._n_live:
            return []
        allowed_slots: list[int] | None = None
        if allowed is not None:
            try:
                allowed_slots = [s for s in map(self._slot_of.get, allowed) if s is not None]
            except TypeError:  # an unhashable id
                raise InvalidInputError("allowed must hold str ids") from None
            if not allowed_slots:
                return []
        if scored is not None and scored.source is self and scored.version == self._version:
            scores, matched = scored.scores, scored.matched
        else:
            scores, matched = self._score(query_tokens)
        if allowed_slots is not None:
            eligible = np.zeros(self._n_slots, dtype=np.bool_)
            eligible[allowed_slots] = True
            matched = matched & eligible
        candidates = np.flatnonzero(matched)
        candidate_scores = scores[candidates]
        if len(candidates) > n * _PRESELECT_FACTOR:
            # The n-th best score of a strided sample is a lower bound for the n-th best
            # overall: dropping everything below it is safe and shrinks the selection.
            sample = candidate_scores[:: len(candidates) // (n * _PRESELECT_FACTOR // 4)]
            bound = np.partition(sample, len(sample) - n)[len(sample) - n]
            keep = np.flatnonzero(candidate_scores >= bound)
            candidates = candidates[keep]
            candidate_scores = candidate_scores[keep]
        if n < len(candidates):
            # Keep everything tied with the n-th best, then order exactly.
            cut = len(candidates) - n
            threshold = np.partition(candidate_scores, cut)[cut]
            keep = np.flatnonzero(candidate_scores >= threshold)
            candidates = candidates[keep]
            candidate_scores = candidate_scores[keep]
        best = np.argsort(-candidate_scores, kind="stable")[:n]
        slot_doc = self._slot_doc
        return [
            (slot_doc[slot], score)
            for slot, score in zip(
                candidates[best].tolist(), candidate_scores[best].tolist(), strict=True
            )
        ]

    def score(self, query_tokens: Sequence[str]) -> QueryScores:
        """The query's scores, for :meth:`top_n` to pick from (``scored=``) more than once.

        Raises:
            InvalidInputError: If ``query_tokens`` is not a sequence of str.
        """
        _check_query(query_tokens)
        if not self._n_live:
            return QueryScores(self, self._version, _NO_FLOATS, _frozen_empty(np.bool_))
        scores, matched = self._score(query_tokens)
        return QueryScores(self, self._version, scores, matched)

    def _score(self, query_tokens: Sequence[str]) -> tuple[_Floats, _Bools]:
        """Scores over all slots, and which slots contain a query term. Needs _n_live > 0."""
        n_docs = self._n_live
        n_slots = self._n_slots
        avgdl = self._total_len / n_docs
        k1, b = self.k1, self.b
        scores = np.zeros(n_slots, dtype=np.float64)
        # A document with a query term scores > 0 unless one of its terms has a weight
        # <= 0 (idf <= 0 after the epsilon floor): only those terms need marking here.
        marked: _Bools | None = None
        computed: dict[int, tuple[_Ints, _Floats]] = {}
        for token in query_tokens:
            term = self._vocab.get(token)
            if term is None:
                continue
            term_scores = computed.get(term)
            if term_scores is None:
                df = int(self._df[term])
                if df == 0:
                    continue
                idf = math.log(n_docs - df + 0.5) - math.log(df + 0.5)
                if idf < 0:
                    idf = self.epsilon * self._average_idf()
                slots, tf = self._live_postings(term, df)
                # rank_bm25 computes, for each document,
                #   idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))
                # These in-place steps are the same operations on the same operands (up
                # to commutation, which is exact), so the results are identical.
                norm = self._doc_len.take(slots)
                norm *= b
                norm /= avgdl
                norm += 1 - b
                norm *= k1
                norm += tf
                weight = tf * (k1 + 1)
                weight /= norm
                weight *= idf
                term_scores = computed[term] = (slots, weight)
                if idf <= 0 or not weight.all():
                    if marked is None:
                        marked = np.zeros(n_slots, dtype=np.bool_)
                    marked[slots] = True
            slots, weight = term_scores
            if 4 * len(slots) > n_slots:
                # Dense: one pass over all slots beats a scatter. Adding 0.0 to the other
                # documents leaves their scores unchanged, as in rank_bm25.
                scores += np.bincount(slots, weights=weight, minlength=n_slots)
            else:
                scores[slots] += weight
        matched = scores > 0
        if marked is not None:
            matched |= marked
        return scores, matched

    def _live_postings(self, term: int, df: int) -> tuple[_Ints, _Floats]:
        size = self._post_size[term]
        slots = self._post_slots[term][:size]
        tf = self._post_tf[term][:size]
        if size != df:
            live = self._alive[slots]
            slots, tf = slots[live], tf[live]
        return slots, tf

    def _average_idf(self) -> float:
        """Mean raw idf over the vocabulary, summed in rank_bm25's order."""
        cached = self._average_idf_cache
        if cached is not None and cached[0] == self._version:
            return cached[1]
        order = self._term_order()
        n_docs = self._n_live
        logs = self._log_table(n_docs)
        df = self._df[order]
        idf = logs[n_docs - df] - logs[df]
        # cumsum adds left to right like rank_bm25's loop; np.sum would add pairwise.
        value = float(np.cumsum(idf)[-1]) / len(order)
        self._average_idf_cache = (self._version, value)
        return value

    def _term_order(self) -> _Ints:
        state = self._order
        if state is None:
            live = np.flatnonzero(self._df[: len(self._vocab)] > 0)
            order = live[np.lexsort((self._first_pos[live], self._first_slot[live]))]
            state = self._order = (order, len(order))
        return state[0][: state[1]]

    def _log_table(self, n: int) -> _Floats:
        table = self._log_half
        if len(table) <= n:
            size = max(n + 1, 2 * len(table), 64)
            # math.log, not np.log: the two differ in the last bit for some inputs.
            extra = [math.log(k + 0.5) for k in range(len(table), size)]
            table = self._log_half = np.concatenate((table, np.array(extra, dtype=np.float64)))
        return table

    # ------------------------------------------------------------------ internals

    def _term_ids(self, tokens: list[str]) -> _Ints:
        """Ids of ``tokens`` (distinct strings), creating the new ones."""
        vocab = self._vocab
        before = len(vocab)
        new = [token for token in tokens if token not in vocab] if vocab else tokens
        if new:
            after = before + len(new)
            vocab.update(zip(new, range(before, after), strict=True))
            self._df = _grown(self._df, after)
            self._df[before:after] = 0
            self._first_slot = _grown(self._first_slot, after)
            self._first_pos = _grown(self._first_pos, after)
            self._post_slots.extend([_NO_INTS] * len(new))
            self._post_tf.extend([_NO_FLOATS] * len(new))
            self._post_size.extend([0] * len(new))
        return np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=len(tokens))

    def _reserve_slots(self, count: int) -> int:
        first = self._n_slots
        needed = first + count
        self._doc_len = _grown(self._doc_len, needed)
        self._alive = _grown(self._alive, needed)
        self._doc_start = _grown(self._doc_start, needed)
        self._doc_end = _grown(self._doc_end, needed)
        return first

    def _reserve_forward(self, count: int) -> int:
        first = self._fwd_len
        needed = first + count
        self._fwd_terms = _grown(self._fwd_terms, needed)
        self._fwd_len = needed
        return first

    def _append_document(
        self,
        doc_id: str,
        tokens: Sequence[str],
        counts: dict[str, int],
        first_positions: list[int],
    ) -> None:
        """Append one document, given its terms' counts and first positions (in order of
        first occurrence)."""
        slot = self._reserve_slots(1)
        self._doc_len[slot] = len(tokens)
        self._alive[slot] = True
        self._slot_doc.append(doc_id)
        self._slot_of[doc_id] = slot
        self._n_slots += 1
        self._n_live += 1
        self._total_len += len(tokens)
        terms = self._term_ids(list(counts))
        term_of = dict(zip(counts, terms.tolist(), strict=True))
        start = self._reserve_forward(len(tokens))
        self._fwd_terms[start : self._fwd_len] = [term_of[token] for token in tokens]
        self._doc_start[slot] = start
        self._doc_end[slot] = self._fwd_len
        if not counts:
            return
        df_before = self._df[terms]
        self._df[terms] = df_before + 1
        born = df_before == 0
        if born.any():
            born_terms = terms[born]
            self._first_slot[born_terms] = slot
            self._first_pos[born_terms] = np.asarray(first_positions, dtype=np.int64)[born]
            self._extend_order(born_terms)  # in first-occurrence order already
        post_slots, post_tf, post_size = self._post_slots, self._post_tf, self._post_size
        for term, tf in zip(terms.tolist(), counts.values(), strict=True):
            size = post_size[term]
            slots = post_slots[term]
            if size == len(slots):
                capacity = max(4, 2 * size)
                slots = post_slots[term] = _resized(slots, size, capacity)
                post_tf[term] = _resized(post_tf[term], size, capacity)
            slots[size] = slot
            post_tf[term][size] = tf
            post_size[term] = size + 1

    def _append_batch(self, doc_ids: list[str], lengths: _Ints, term_ids: _Ints) -> None:
        """Append documents given as their concatenated term-id sequences.

        Args:
            doc_ids: The new documents' ids (none of them in the index).
            lengths: Each document's token count.
            term_ids: All tokens' term ids, document after document.
        """
        n_new = len(doc_ids)
        n_tokens = len(term_ids)
        base = self._reserve_slots(n_new)
        stop = base + n_new
        ends = np.cumsum(lengths)
        fwd = self._reserve_forward(n_tokens)
        self._fwd_terms[fwd : self._fwd_len] = term_ids
        self._doc_start[base:stop] = fwd + ends - lengths
        self._doc_end[base:stop] = fwd + ends
        self._doc_len[base:stop] = lengths
        self._alive[base:stop] = True
        self._slot_doc.extend(doc_ids)
        self._slot_of.update(zip(doc_ids, range(base, stop), strict=True))
        self._n_slots = stop
        self._n_live += n_new
        self._total_len += n_tokens
        if not n_tokens:
            return

        # Regroup the tokens by term, documents ascending within a term: a stable sort
        # keeps each term's tokens in corpus order. A document's repeats of a term are
        # then adjacent: one run per (term, document) pair, its length the frequency.
        by_term = np.argsort(term_ids, kind="stable")
        sorted_terms = term_ids[by_term]
        sorted_docs = np.repeat(np.arange(n_new, dtype=np.int64), lengths)[by_term]
        new_pair = np.empty(n_tokens, dtype=np.bool_)
        new_pair[0] = True
        new_term = new_pair.copy()
        np.not_equal(sorted_terms[1:], sorted_terms[:-1], out=new_term[1:])
        np.logical_or(new_term[1:], sorted_docs[1:] != sorted_docs[:-1], out=new_pair[1:])
        pair_starts = np.flatnonzero(new_pair)
        pair_terms = sorted_terms[pair_starts]
        slots_all: _Ints = base + sorted_docs[pair_starts]
        tf_all: _Floats = np.diff(pair_starts, append=n_tokens).astype(np.float64)
        term_starts = np.flatnonzero(np.r_[True, pair_terms[1:] != pair_terms[:-1]])
        terms = pair_terms[term_starts]
        starts = term_starts
        stops = np.r_[term_starts[1:], len(pair_terms)]

        df_before = self._df[terms]
        self._df[terms] = df_before + (stops - starts)
        born = df_before == 0
        if born.any():
            born_terms = terms[born]
            # The first token of a term in the stable order is its first occurrence.
            first_token = by_term[np.flatnonzero(new_term)][born]
            doc = np.searchsorted(ends, first_token, side="right")
            self._first_slot[born_terms] = base + doc
            self._first_pos[born_terms] = first_token - (ends - lengths)[doc]
            self._extend_order(born_terms[np.argsort(first_token)])

        post_slots, post_tf, post_size = self._post_slots, self._post_tf, self._post_size
        first, last = int(terms[0]), int(terms[-1])
        if born.all() and last - first + 1 == len(terms):
            # Only new terms, numbered in a row (a load): each posting list is a slice
            # of the batch, and the lists are set at once.
            bounds = list(zip(starts.tolist(), stops.tolist(), strict=True))
            post_slots[first : last + 1] = [slots_all[a:b] for a, b in bounds]
            post_tf[first : last + 1] = [tf_all[a:b] for a, b in bounds]
            post_size[first : last + 1] = (stops - starts).tolist()
            return
        for term, start, stop_ in zip(terms.tolist(), starts.tolist(), stops.tolist(), strict=True):
            size = post_size[term]
            if size == 0:
                post_slots[term] = slots_all[start:stop_]
                post_tf[term] = tf_all[start:stop_]
                post_size[term] = stop_ - start
                continue
            needed = size + stop_ - start
            if needed > len(post_slots[term]):
                capacity = max(needed, 2 * size)
                post_slots[term] = _resized(post_slots[term], size, capacity)
                post_tf[term] = _resized(post_tf[term], size, capacity)
            post_slots[term][size:needed] = slots_all[start:stop_]
            post_tf[term][size:needed] = tf_all[start:stop_]
            post_size[term] = needed

    def _extend_order(self, born_terms: _Ints) -> None:
        # New terms first occur in the newest documents, so they go last.
        state = self._order
        if state is None:
            return
        order, length = state
        order = _grown(order, length + len(born_terms))
        order[length : length + len(born_terms)] = born_terms
        self._order = (order, length + len(born_terms))

    def _remove_slot(self, slot: int) -> None:
        doc_id = self._slot_doc[slot]
        assert doc_id is not None
        del self._slot_of[doc_id]
        self._slot_doc[slot] = None
        self._alive[slot] = False
        self._n_live -= 1
        self._total_len -= int(self._doc_len[slot])
        if not self._n_live:
            self._reset()
            return
        terms = np.unique(self._fwd_terms[self._doc_start[slot] : self._doc_end[slot]])
        self._df[terms] -= 1
        remaining = self._df[terms]
        gone = remaining == 0
        for term in terms[gone].tolist():
            self._post_slots[term] = _NO_INTS
            self._post_tf[term] = _NO_FLOATS
            self._post_size[term] = 0
        survivors, remaining = terms[~gone], remaining[~gone]
        moved = survivors[self._first_slot[survivors] == slot]
        for term in moved.tolist():
            self._move_first_occurrence(term, slot)
        post_size = self._post_size
        for term, df in zip(survivors.tolist(), remaining.tolist(), strict=True):
            size = post_size[term]
            if size - df > df and size >= _MIN_POSTINGS_TO_COMPACT:
                slots = self._post_slots[term][:size]
                live = self._alive[slots]
                self._post_slots[term] = slots[live]
                self._post_tf[term] = self._post_tf[term][:size][live]
                post_size[term] = df
        if len(moved):
            self._order = None
        elif self._order is not None and gone.any():
            order, length = self._order
            kept = order[:length][self._df[order[:length]] > 0]
            self._order = (kept, len(kept))

    def _move_first_occurrence(self, term: int, removed_slot: int) -> None:
        """``term`` first occurred in ``removed_slot``: find its next live occurrence."""
        slots = self._post_slots[term]
        i = int(slots[: self._post_size[term]].searchsorted(removed_slot, side="right"))
        alive = self._alive
        while not alive[slots[i]]:
            i += 1
        slot = int(slots[i])
        document = self._fwd_terms[self._doc_start[slot] : self._doc_end[slot]]
        self._first_slot[term] = slot
        self._first_pos[term] = (document == term).argmax()

    def _compact_if_sparse(self) -> None:
        dead = self._n_slots - self._n_live
        if dead > self._n_live and dead >= _MIN_DEAD_SLOTS_TO_COMPACT:
            self._compact()

    def _compact(self) -> None:
        """Renumber live documents to slots 0..N-1 and live terms to 0..V-1."""
        live = np.flatnonzero(self._alive[: self._n_slots])
        starts = self._doc_start[live]
        lengths = self._doc_end[live] - starts
        offsets = np.cumsum(lengths) - lengths
        tokens = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
        term_ids = self._fwd_terms[tokens]
        is_live_term = (self._df[: len(self._vocab)] > 0).tolist()
        live_tokens = [token for token, term in self._vocab.items() if is_live_term[term]]
        old_terms = np.asarray([self._vocab[token] for token in live_tokens], dtype=np.int64)
        doc_ids = [self._slot_doc[slot] for slot in live.tolist()]

        self._reset()
        new_term = np.zeros(len(is_live_term), dtype=np.int64)
        new_term[old_terms] = self._term_ids(live_tokens)
        self._append_batch(doc_ids, lengths, new_term[term_ids])  # type: ignore[arg-type]


def _grown(array: _Array, needed: int) -> _Array:
    """``array`` if it holds ``needed`` items, else a copy at least twice as long."""
    if len(array) >= needed:
        return array
    return _resized(array, len(array), max(needed, 2 * len(array), 16))


def _resized(array: _Array, used: int, capacity: int) -> _Array:
    """A new array of length ``capacity`` starting with ``array[:used]``."""
    new = np.empty(capacity, dtype=array.dtype)
    new[:used] = array[:used]
    return cast(_Array, new)


def _check_doc_id(doc_id: object) -> None:
    if not isinstance(doc_id, str):
        raise InvalidInputError(f"doc_id must be a str, got {type(doc_id).__name__}")


def _check_token_sequence(tokens: object, what: str = "tokens") -> None:
    if type(tokens) is list or type(tokens) is tuple:
        return
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise InvalidInputError(
            f"{what} must be a sequence of str (a list of terms), got {type(tokens).__name__}"
        )


def _check_query(query_tokens: object) -> None:
    _check_token_sequence(query_tokens, "query_tokens")
    assert isinstance(query_tokens, Sequence)
    for token in query_tokens:
        if not isinstance(token, str):
            raise InvalidInputError(f"query_tokens must be str, got {type(token).__name__}")
