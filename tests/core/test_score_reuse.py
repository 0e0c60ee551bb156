"""Scores computed once per search and read twice give the answers of scoring twice.

Convex fusion asks each retriever for its candidates, then for its scores of the other
retriever's candidates. ``BM25Index.score`` and ``ExactVectors.similarities`` compute a
query's scores once for both questions; these tests hold the answers to those of
scoring afresh, and check that scores taken before a write are not used after it.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from multisession.retrieval.bm25 import BM25Index
from multisession.retrieval.exact_vectors import ExactVectors

WORDS = "peanut allergy sister oslo dentist friday coffee black budget kitchen run lisbon"


def _keyword_index(seed: int, size: int = 300) -> BM25Index:
    rng = random.Random(seed)
    vocabulary = WORDS.split()
    index = BM25Index()
    index.add_many(
        (f"m{number}", rng.choices(vocabulary, k=rng.randint(1, 8))) for number in range(size)
    )
    return index


def _vectors(seed: int, size: int = 300, dimension: int = 16) -> ExactVectors:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((size, dimension)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    vectors = ExactVectors(dimension)
    for number, row in enumerate(matrix):
        vectors.upsert(f"m{number}", row)
    return vectors


def _query(seed: int, dimension: int = 16) -> np.ndarray:
    vector = np.random.default_rng(seed + 1000).standard_normal(dimension).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("seed", range(5))
def test_bm25_top_lists_from_one_scoring_equal_scoring_each_time(seed: int) -> None:
    index = _keyword_index(seed)
    for doc_id in [f"m{number}" for number in range(0, 300, 7)]:
        index.remove(doc_id)  # dead slots, as after deletes
    rng = random.Random(seed)
    query = rng.choices(WORDS.split(), k=3)
    scored = index.score(query)
    some = {f"m{number}" for number in rng.sample(range(400), 60)}  # some unknown ids
    most = {f"m{number}" for number in range(250)}
    for n, allowed in [(10, None), (30, None), (300, None), (5, some), (60, some), (40, most)]:
        assert index.top_n(query, n, allowed=allowed, scored=scored) == index.top_n(
            query, n, allowed=allowed
        )
    # Picking a filtered list leaves the shared scores as they were for the next pick.
    assert index.top_n(query, 300, scored=scored) == index.top_n(query, 300)


def test_bm25_scores_taken_before_a_write_are_not_used_after_it() -> None:
    index = _keyword_index(1)
    query = ["peanut", "allergy"]
    scored = index.score(query)
    best = index.top_n(query, 1, scored=scored)[0][0]
    index.remove(best)
    index.add("new", ["peanut", "allergy", "peanut"])
    fresh = index.top_n(query, 20)
    assert index.top_n(query, 20, scored=scored) == fresh
    assert fresh[0][0] == "new"
    assert best not in {doc_id for doc_id, _ in fresh}


def test_bm25_scores_of_another_index_are_not_used() -> None:
    first, second = _keyword_index(1), _keyword_index(2)
    query = ["coffee", "black"]
    assert second.top_n(query, 15, scored=first.score(query)) == second.top_n(query, 15)


def test_bm25_scores_of_an_empty_index() -> None:
    index = BM25Index()
    assert index.top_n(["coffee"], 3, scored=index.score(["coffee"])) == []


@pytest.mark.parametrize("seed", range(5))
def test_vector_top_lists_from_one_product_equal_computing_each_time(seed: int) -> None:
    vectors = _vectors(seed)
    for doc_id in [f"m{number}" for number in range(0, 300, 11)]:
        vectors.remove(doc_id)  # free slots score -inf
    query = _query(seed)
    similarities = vectors.similarities(query)
    rng = random.Random(seed)
    few = {f"m{number}" for number in rng.sample(range(400), 40)}  # gathered rows
    most = {f"m{number}" for number in range(200)}  # masked full product
    for n, allowed in [(10, None), (300, None), (5, few), (40, few), (30, most), (200, most)]:
        assert vectors.search(query, n, allowed, similarities=similarities) == vectors.search(
            query, n, allowed
        )


def test_vector_products_taken_before_a_write_that_grows_the_matrix_are_not_used() -> None:
    vectors = _vectors(3, size=50)
    query = _query(3)
    similarities = vectors.similarities(query)
    vectors.upsert("new", query)  # the query itself: cosine 1, the nearest
    found = vectors.search(query, 5, similarities=similarities)
    assert found == vectors.search(query, 5)
    assert found[0][0] == "new"
