"""BM25Index against rank_bm25.BM25Okapi, the oracle: equal scores, bit for bit."""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from multisession.errors import InvalidInputError
from multisession.retrieval.bm25 import BM25Index

WORDS = ["tea", "coffee", "alice", "bob", "paris", "green"]
UNKNOWN = ["zebra", ""]

tokens_st = st.lists(st.sampled_from(WORDS), max_size=8)
query_st = st.lists(st.sampled_from(WORDS + UNKNOWN), max_size=6)
params_st = st.fixed_dictionaries(
    {
        "k1": st.sampled_from([0.5, 1.2, 1.5, 2.0]),
        "b": st.sampled_from([0.0, 0.5, 0.75]),
        "epsilon": st.sampled_from([0.0, 0.25, 0.5]),
    }
)


class Model:
    """The corpus an index should hold, in corpus order (a dict keeps insertion order)."""

    def __init__(self) -> None:
        self.docs: dict[str, list[str]] = {}

    def add(self, doc_id: str, tokens: Sequence[str]) -> None:
        self.docs.pop(doc_id, None)
        self.docs[doc_id] = list(tokens)

    def remove(self, doc_id: str) -> None:
        self.docs.pop(doc_id, None)


def oracle_scores(corpus: list[list[str]], query: Sequence[str], **params: float) -> list[float]:
    if not any(corpus):  # BM25Okapi divides by zero without a single token
        return [0.0] * len(corpus)
    return [float(s) for s in BM25Okapi(corpus, **params).get_scores(list(query))]


def oracle_top_n(
    ids: list[str],
    corpus: list[list[str]],
    query: Sequence[str],
    n: int,
    allowed: Collection[str] | None = None,
    **params: float,
) -> list[tuple[str, float]]:
    scores = oracle_scores(corpus, query, **params)
    return ranking(ids, corpus, query, scores, n, allowed)


def ranking(
    ids: list[str],
    corpus: list[list[str]],
    query: Sequence[str],
    scores: Sequence[float],
    n: int,
    allowed: Collection[str] | None = None,
) -> list[tuple[str, float]]:
    """Documents with a query term, by score descending then corpus order; at most n."""
    matching = [
        i
        for i, doc in enumerate(corpus)
        if set(query) & set(doc) and (allowed is None or ids[i] in allowed)
    ]
    matching.sort(key=lambda i: (-scores[i], i))
    return [(ids[i], scores[i]) for i in matching[:n]]


def assert_matches(index: BM25Index, model: Model, queries: list[list[str]]) -> None:
    params = {"k1": index.k1, "b": index.b, "epsilon": index.epsilon}
    ids = list(model.docs)
    corpus = list(model.docs.values())
    assert index.doc_ids() == ids
    assert len(index) == len(ids)
    for query in queries:
        scores = index.get_scores(query)
        assert scores.dtype == np.float64
        assert scores.tolist() == oracle_scores(corpus, query, **params)
        for n in (1, 3, len(ids) + 1):
            assert index.top_n(query, n) == oracle_top_n(ids, corpus, query, n, **params)


def example_from_docstring(obj: object) -> str:
    doc = obj.__doc__ or ""
    block = re.search(r"Example::\n\n((?:        .*\n|\n)+)", doc)
    assert block, f"{obj!r} has no Example:: block"
    return "\n".join(line[8:] for line in block.group(1).splitlines())


def test_class_docstring_example_runs_and_says_what_it_returns() -> None:
    namespace: dict[str, object] = {}
    exec(example_from_docstring(BM25Index), namespace)
    index = namespace["index"]
    assert isinstance(index, BM25Index)
    assert index.doc_ids() == ["m3", "m1"]

    fresh = BM25Index()
    fresh.add("m1", ["alice", "like", "green", "tea"])
    fresh.add("m2", ["bob", "drink", "black", "coffe"])
    fresh.add("m3", ["alice", "visit", "pari"])
    assert [(d, round(s, 4)) for d, s in fresh.top_n(["alice", "tea"], 2)] == [
        ("m1", 0.5889),
        ("m3", 0.1113),
    ]


# ---------------------------------------------------------------- oracle


@settings(max_examples=300, deadline=None)
@given(
    corpus=st.lists(tokens_st, max_size=12),
    queries=st.lists(query_st, min_size=1, max_size=4),
    params=params_st,
    bulk=st.booleans(),
)
def test_scores_and_ranking_equal_rank_bm25(
    corpus: list[list[str]], queries: list[list[str]], params: dict[str, float], bulk: bool
) -> None:
    index = BM25Index(**params)
    model = Model()
    items = [(f"d{i}", doc) for i, doc in enumerate(corpus)]
    if bulk:
        index.add_many(items)
    else:
        for doc_id, doc in items:
            index.add(doc_id, doc)
    for doc_id, doc in items:
        model.add(doc_id, doc)
    assert_matches(index, model, queries)


op_st = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 7), tokens_st),
    st.tuples(st.just("remove"), st.integers(0, 8), st.just([])),
    st.tuples(
        st.just("add_many"),
        st.just(0),
        st.lists(st.tuples(st.integers(0, 7), tokens_st), max_size=5),
    ),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(op_st, max_size=120), queries=st.lists(query_st, min_size=1, max_size=3))
def test_any_sequence_of_writes_scores_like_a_fresh_rank_bm25(
    ops: list[tuple[str, int, list]], queries: list[list[str]]
) -> None:
    index = BM25Index()
    model = Model()
    for kind, number, payload in ops:
        if kind == "add":
            index.add(f"d{number}", payload)
            model.add(f"d{number}", payload)
        elif kind == "remove":
            assert index.remove(f"d{number}") == (f"d{number}" in model.docs)
            model.remove(f"d{number}")
        else:
            batch = [(f"d{i}", tokens) for i, tokens in payload]
            index.add_many(batch)
            for doc_id, tokens in batch:
                model.add(doc_id, tokens)
    assert_matches(index, model, queries)


@pytest.mark.parametrize("seed", range(4))
def test_long_random_histories_stay_exact_through_compaction(seed: int) -> None:
    # Long enough for dead slots to be renumbered and posting lists filtered many times,
    # with a Zipf-like vocabulary so that negative idf values (the epsilon floor) occur.
    rng = random.Random(seed)
    vocabulary = [f"t{i}" for i in range(40)]
    weights = [1 / (rank + 1) for rank in range(40)]
    index = BM25Index()
    model = Model()
    for step in range(1500):
        roll = rng.random()
        if roll < 0.55 or not model.docs:
            doc_id = f"d{rng.randrange(150)}"
            tokens = rng.choices(vocabulary, weights, k=rng.randint(0, 12))
            index.add(doc_id, tokens)
            model.add(doc_id, tokens)
        elif roll < 0.6:
            batch = [
                (f"d{rng.randrange(150)}", rng.choices(vocabulary, weights, k=rng.randint(0, 12)))
                for _ in range(rng.randint(1, 30))
            ]
            index.add_many(batch)
            for doc_id, tokens in batch:
                model.add(doc_id, tokens)
        else:
            doc_id = rng.choice(list(model.docs))
            assert index.remove(doc_id)
            model.remove(doc_id)
        if step % 25 == 0:
            queries = [rng.choices(vocabulary, weights, k=rng.randint(1, 5)) for _ in range(3)]
            assert_matches(index, model, queries)
    assert_matches(index, model, [vocabulary[:5], vocabulary[-5:]])


def test_bulk_load_of_a_zipf_corpus_is_bit_identical() -> None:
    rng = np.random.default_rng(7)
    weights = 1 / np.arange(1, 2001) ** 1.07
    weights /= weights.sum()
    corpus = [
        [f"w{t}" for t in rng.choice(2000, size=int(rng.integers(8, 23)), p=weights)]
        for _ in range(3000)
    ]
    ids = [f"d{i}" for i in range(len(corpus))]
    index = BM25Index()
    index.add_many(zip(ids, corpus, strict=True))
    queries = [[f"w{t}" for t in rng.choice(2000, size=5, p=weights)] for _ in range(20)]

    def assert_same(ids: list[str], corpus: list[list[str]]) -> None:
        okapi = BM25Okapi(corpus)
        for query in queries:
            expected = okapi.get_scores(query).tolist()
            assert index.get_scores(query).tolist() == expected
            for n in (1, 10, 50):
                assert index.top_n(query, n) == ranking(ids, corpus, query, expected, n)

    assert_same(ids, corpus)
    # Remove the oldest third (first occurrences move), then compare with a rebuild.
    for doc_id in ids[:1000]:
        index.remove(doc_id)
    assert_same(ids[1000:], corpus[1000:])


# ---------------------------------------------------------------- behaviour


def test_add_many_equals_one_add_per_item_including_repeated_ids() -> None:
    items = [("a", ["tea"]), ("b", ["coffee", "tea"]), ("a", ["green", "tea"]), ("c", [])]
    one_by_one = BM25Index()
    for doc_id, tokens in items:
        one_by_one.add(doc_id, tokens)
    bulk = BM25Index()
    bulk.add_many(items)
    assert bulk.doc_ids() == one_by_one.doc_ids() == ["b", "a", "c"]
    for query in (["tea"], ["green", "tea", "tea"], ["coffee"]):
        assert bulk.get_scores(query).tolist() == one_by_one.get_scores(query).tolist()


def test_an_update_moves_the_document_to_the_end() -> None:
    index = BM25Index()
    index.add_many([("a", ["x"]), ("b", ["x"]), ("c", ["x"])])
    index.add("a", ["x"])
    assert index.doc_ids() == ["b", "c", "a"]
    # Equal scores come back in corpus order.
    assert [doc_id for doc_id, _ in index.top_n(["x"], 3)] == ["b", "c", "a"]


def test_ties_are_broken_by_corpus_order_among_many_candidates() -> None:
    index = BM25Index()
    index.add_many((f"other{i}", ["filler"]) for i in range(600))  # keeps idf(tea) > 0
    index.add_many((f"d{i}", ["tea", "cup"]) for i in range(500))
    index.add("d3", ["tea", "cup"])  # an update moves d3 behind its equals
    index.add("best", ["tea"])
    assert [doc_id for doc_id, _ in index.top_n(["tea"], 4)] == ["best", "d0", "d1", "d2"]
    assert index.top_n(["tea"], 600)[-1][0] == "d3"


def test_removing_everything_then_adding_again() -> None:
    index = BM25Index()
    model = Model()
    for i in range(100):
        index.add(f"d{i}", ["tea", f"w{i % 7}"])
        model.add(f"d{i}", ["tea", f"w{i % 7}"])
    for i in range(100):
        assert index.remove(f"d{i}")
    assert len(index) == 0
    assert index.doc_ids() == []
    assert index.get_scores(["tea"]).tolist() == []
    assert index.top_n(["tea"], 5) == []
    assert not index.remove("d0")
    model = Model()
    for i in range(5):
        index.add(f"e{i}", ["coffee", "tea"][: i % 2 + 1])
        model.add(f"e{i}", ["coffee", "tea"][: i % 2 + 1])
    assert_matches(index, model, [["tea"], ["coffee", "tea"], ["w1"]])


def test_empty_index_and_empty_documents() -> None:
    index = BM25Index()
    assert len(index) == 0
    assert index.get_scores(["tea"]).dtype == np.float64
    assert index.get_scores(["tea"]).shape == (0,)
    assert index.top_n(["tea"], 3) == []
    index.add("empty", [])
    index.add("also-empty", ())
    assert index.get_scores(["tea"]).tolist() == [0.0, 0.0]
    assert index.top_n(["tea"], 3) == []
    index.add("full", ["tea"])
    model = Model()
    for doc_id, tokens in (("empty", []), ("also-empty", []), ("full", ["tea"])):
        model.add(doc_id, tokens)
    assert_matches(index, model, [["tea"], ["tea", "tea"], [], ["coffee"]])


def test_top_n_keeps_matching_documents_whose_score_is_not_positive() -> None:
    # "tea" is in 2 of 3 documents: negative raw idf, floored at epsilon * mean idf.
    index = BM25Index(epsilon=0.0)
    index.add_many([("a", ["tea"]), ("b", ["tea", "milk"]), ("c", ["milk", "sugar"])])
    assert index.top_n(["tea"], 5) == [("a", 0.0), ("b", 0.0)]


@pytest.mark.parametrize(("k1", "b"), [(0.0, 0.75), (1.5, 1.0)])
def test_where_rank_bm25_gives_nan_documents_without_the_term_score_zero(
    k1: float, b: float
) -> None:
    # With k1 = 0, or b = 1 and an empty document, rank_bm25 computes 0 / 0 for the
    # documents that lack a query term; everywhere else the scores agree exactly.
    corpus = [["tea", "tea"], ["coffee"], [], ["tea", "milk", "sugar"]]
    index = BM25Index(k1=k1, b=b)
    index.add_many((f"d{i}", doc) for i, doc in enumerate(corpus))
    with np.errstate(invalid="ignore"):
        expected = BM25Okapi(corpus, k1=k1, b=b).get_scores(["tea"])
    assert np.isnan(expected).any()
    assert index.get_scores(["tea"]).tolist() == np.nan_to_num(expected, nan=0.0).tolist()


def test_membership_length_and_clear() -> None:
    index = BM25Index()
    index.add("a", ["tea"])
    assert "a" in index
    assert "b" not in index
    assert 3 not in index
    assert ["unhashable"] not in index
    assert len(index) == 1
    index.clear()
    assert len(index) == 0
    assert "a" not in index
    index.add("a", ["coffee"])
    assert index.top_n(["coffee"], 1)[0][0] == "a"


# ---------------------------------------------------------------- allowed


def test_allowed_returns_the_best_allowed_documents_beyond_the_unfiltered_top_n() -> None:
    index = BM25Index()
    for i in range(20):
        index.add(f"strong{i}", ["tea"] * 3)
    index.add("weak", ["tea", "coffee", "milk", "sugar", "water"])
    index.add("weaker", ["tea"] + ["filler"] * 20)
    index.add("no-match", ["coffee"])
    assert all(doc_id.startswith("strong") for doc_id, _ in index.top_n(["tea"], 5))
    result = index.top_n(["tea"], 5, allowed={"weaker", "weak", "no-match", "unknown"})
    assert [doc_id for doc_id, _ in result] == ["weak", "weaker"]
    assert index.top_n(["tea"], 5, allowed=set()) == []
    assert index.top_n(["tea"], 5, allowed=["unknown"]) == []


@settings(max_examples=150, deadline=None)
@given(
    corpus=st.lists(tokens_st, min_size=1, max_size=12),
    query=query_st,
    allowed_mask=st.lists(st.booleans(), min_size=12, max_size=12),
    n=st.integers(1, 5),
)
def test_allowed_equals_the_oracle_ranking_restricted_to_allowed_ids(
    corpus: list[list[str]], query: list[str], allowed_mask: list[bool], n: int
) -> None:
    ids = [f"d{i}" for i in range(len(corpus))]
    allowed = {doc_id for doc_id, keep in zip(ids, allowed_mask, strict=False) if keep}
    index = BM25Index()
    index.add_many(zip(ids, corpus, strict=True))
    result = index.top_n(query, n, allowed=allowed)
    assert {doc_id for doc_id, _ in result} <= allowed
    assert result == oracle_top_n(ids, corpus, query, n, allowed, k1=1.5, b=0.75, epsilon=0.25)


# ---------------------------------------------------------------- bad input


@pytest.fixture
def filled_index() -> BM25Index:
    index = BM25Index()
    index.add_many([("a", ["tea", "green"]), ("b", ["coffee"]), ("c", ["tea"])])
    return index


def snapshot(index: BM25Index) -> tuple[list[str], list[float]]:
    return index.doc_ids(), index.get_scores(["tea", "coffee", "green"]).tolist()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda ix: ix.add(1, ["tea"]), id="add-int-id"),
        pytest.param(lambda ix: ix.add(None, ["tea"]), id="add-none-id"),
        pytest.param(lambda ix: ix.add("a", "tea green"), id="add-str-tokens"),
        pytest.param(lambda ix: ix.add("a", iter(["tea"])), id="add-iterator-tokens"),
        pytest.param(lambda ix: ix.add("a", {"tea"}), id="add-set-tokens"),
        pytest.param(lambda ix: ix.add("a", ["tea", 3]), id="add-int-token"),
        pytest.param(lambda ix: ix.add("a", ["tea", None]), id="add-none-token"),
        pytest.param(lambda ix: ix.add("a", [["tea"]]), id="add-unhashable-token"),
        pytest.param(lambda ix: ix.add_many([("d", ["x"]), (5, ["y"])]), id="many-int-id"),
        pytest.param(lambda ix: ix.add_many([("a", ["x"]), ("d", "y z")]), id="many-str"),
        pytest.param(lambda ix: ix.add_many([("a", ["x"]), ("d", [1])]), id="many-int-token"),
        pytest.param(lambda ix: ix.add_many([("a", ["x"]), ("d", [["y"]])]), id="many-list"),
        pytest.param(lambda ix: ix.add_many([("a", ["x"]), ("d",)]), id="many-not-a-pair"),
        pytest.param(lambda ix: ix.add_many([("a", ["x"]), 7]), id="many-not-iterable"),
        pytest.param(lambda ix: ix.remove(1), id="remove-int-id"),
        pytest.param(lambda ix: ix.top_n(["tea"], 0), id="n-zero"),
        pytest.param(lambda ix: ix.top_n(["tea"], -1), id="n-negative"),
        pytest.param(lambda ix: ix.top_n(["tea"], 2.0), id="n-float"),
        pytest.param(lambda ix: ix.top_n(["tea"], True), id="n-bool"),
        pytest.param(lambda ix: ix.top_n("tea", 2), id="query-str"),
        pytest.param(lambda ix: ix.top_n(["tea", 1], 2), id="query-int-token"),
        pytest.param(lambda ix: ix.top_n(["tea"], 2, allowed="a"), id="allowed-str"),
        pytest.param(lambda ix: ix.top_n(["tea"], 2, allowed=[["a"]]), id="allowed-unhashable"),
        pytest.param(lambda ix: ix.get_scores("tea"), id="scores-str"),
        pytest.param(lambda ix: ix.get_scores(None), id="scores-none"),
    ],
)
def test_bad_input_raises_and_leaves_the_index_unchanged(
    filled_index: BM25Index, call: object
) -> None:
    before = snapshot(filled_index)
    with pytest.raises(InvalidInputError) as raised:
        call(filled_index)  # type: ignore[operator]
    assert isinstance(raised.value, ValueError)
    assert snapshot(filled_index) == before


@pytest.mark.parametrize(
    "params",
    [{"k1": -0.1}, {"b": 1.5}, {"b": -0.1}, {"epsilon": float("nan")}, {"k1": "1.5"}],
)
def test_bad_parameters_are_rejected(params: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        BM25Index(**params)  # type: ignore[arg-type]


def test_tuples_and_other_sequences_are_accepted() -> None:
    index = BM25Index()
    index.add("a", ("tea", "green"))
    index.add_many([("b", ("coffee",))])
    assert index.top_n(("tea",), 1) == index.top_n(["tea"], 1)
