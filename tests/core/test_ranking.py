"""The pure ranking math: fusion and temporal weighting."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multisession import PRESETS, RetrievalConfig, reciprocal_rank_fusion
from multisession.retrieval.decay import recency, temporal_multiplier

DAY = 86_400.0


def test_rrf_follows_the_documented_formula() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], [1.0, 0.5], k=60)
    assert fused == pytest.approx({"a": 1 / 61 + 0.5 / 62, "b": 1 / 62, "c": 1 / 63 + 0.5 / 61})


def test_rrf_counts_a_repeated_id_once_per_list() -> None:
    assert reciprocal_rank_fusion([["a", "a", "b"]], k=0) == {"a": 1.0, "b": 1 / 3}


@given(
    st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8), min_size=1, max_size=4)
)
def test_rrf_agrees_with_a_direct_sum(rankings: list[list[str]]) -> None:
    fused = reciprocal_rank_fusion(rankings, k=60)
    for doc_id in {d for ranking in rankings for d in ranking}:
        expected = sum(1 / (60 + r.index(doc_id) + 1) for r in rankings if doc_id in r)
        assert fused[doc_id] == pytest.approx(expected)
    assert set(fused) == {d for ranking in rankings for d in ranking}


def test_rrf_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([["a"]], [1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        reciprocal_rank_fusion([["a"]], [-1.0])


def test_recency_is_the_seed_curve_with_a_floor() -> None:
    assert recency(0, 30, 0.1) == 1.0
    assert recency(30 * DAY, 30, 0.1) == pytest.approx(0.5)
    assert recency(60 * DAY, 30, 0.1) == pytest.approx(0.25)
    assert recency(365 * DAY, 30, 0.1) == 0.1
    assert recency(-5 * DAY, 30, 0.1) == 1.0
    assert recency(10 * DAY, 30, 0.0) == pytest.approx(math.exp(-math.log(2) / 3))


@given(st.floats(0, 1), st.floats(0, 1))
def test_multiplier_is_bounded_by_the_weight(curve: float, weight: float) -> None:
    value = temporal_multiplier(curve, weight)
    assert 1 - weight - 1e-12 <= value <= 1 + 1e-12


def test_presets_are_frozen_and_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        PRESETS["default"] = RetrievalConfig()  # type: ignore[index]
    with pytest.raises(AttributeError):
        PRESETS["default"].candidate_depth = 3  # type: ignore[misc]
    changed = replace(PRESETS["default"], candidate_depth=3)
    assert PRESETS["default"].candidate_depth != 3 and changed.candidate_depth == 3
    assert PRESETS["keyword"].vector_weight == 0 and PRESETS["semantic"].bm25_weight == 0
    assert PRESETS["timeless"].temporal.enabled is False
