"""The pure ranking math: fusion, temporal weighting, and the ranking that combines them."""

from __future__ import annotations

import doctest
import math
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multisession import (
    PRESETS,
    RetrievalConfig,
    ScoreBreakdown,
    TemporalConfig,
    reciprocal_rank_fusion,
)
from multisession.retrieval import ranking as ranking_module
from multisession.retrieval.decay import recency, temporal_multiplier
from multisession.retrieval.ranking import rank

DAY = 86_400.0
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
NOW_TS = NOW.timestamp()


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


def test_rank_breaks_down_every_candidate_of_either_list() -> None:
    settings = RetrievalConfig(bm25_weight=1.0, vector_weight=0.5, rrf_k=60)
    created = {"a": NOW_TS - 30 * DAY, "b": NOW_TS, "c": NOW_TS - 400 * DAY}
    ranked = rank([("a", 7.5), ("b", 3.0)], [("c", 0.9), ("a", 0.8)], created, settings, NOW)

    half = temporal_multiplier(0.5, 0.05)  # a: one half-life old
    floor = temporal_multiplier(0.1, 0.05)  # c: decayed to the floor
    assert ranked == [
        (
            "a",
            ScoreBreakdown(
                bm25_rank=1,
                bm25_score=7.5,
                vector_rank=2,
                vector_similarity=0.8,
                fused_score=pytest.approx(1 / 61 + 0.5 / 62),
                recency=pytest.approx(0.5),
                temporal_multiplier=pytest.approx(half),
                final_score=pytest.approx((1 / 61 + 0.5 / 62) * half),
            ),
        ),
        (
            "b",
            ScoreBreakdown(
                bm25_rank=2,
                bm25_score=3.0,
                vector_rank=None,
                vector_similarity=None,
                fused_score=pytest.approx(1 / 62),
                recency=1.0,
                temporal_multiplier=1.0,
                final_score=pytest.approx(1 / 62),
            ),
        ),
        (
            "c",
            ScoreBreakdown(
                bm25_rank=None,
                bm25_score=None,
                vector_rank=1,
                vector_similarity=0.9,
                fused_score=pytest.approx(0.5 / 61),
                recency=0.1,
                temporal_multiplier=pytest.approx(floor),
                final_score=pytest.approx(0.5 / 61 * floor),
            ),
        ),
    ]


def test_rank_orders_equal_scores_newer_first_then_by_id() -> None:
    timeless = RetrievalConfig(temporal=TemporalConfig(enabled=False))
    # Same keyword rank on one side, same vector rank on the other: equal fused scores.
    keyword = [("b", 1.0), ("z", 1.0)]
    semantic = [("a", 0.5), ("y", 0.5)]
    created = {"a": NOW_TS - 2 * DAY, "b": NOW_TS - DAY, "y": NOW_TS, "z": NOW_TS}
    ranked = rank(keyword, semantic, created, timeless, NOW)
    assert [doc_id for doc_id, _ in ranked] == ["b", "a", "y", "z"]
    assert ranked[0][1].final_score == ranked[1][1].final_score
    # Without temporal weighting the multiplier is 1, but the curve is still reported.
    assert ranked[1][1].temporal_multiplier == 1.0
    assert ranked[1][1].recency == pytest.approx(recency(2 * DAY, 30, 0.1))
    # Same score and same time: the smaller id first.
    tied = rank([("n", 1.0)], [("m", 1.0)], {"m": NOW_TS, "n": NOW_TS}, timeless, NOW)
    assert [doc_id for doc_id, _ in tied] == ["m", "n"]


def test_rank_lets_recency_decide_only_near_ties() -> None:
    settings = RetrievalConfig()
    old, new = NOW_TS - 90 * DAY, NOW_TS
    # Rank 1 and 2 of one list: a near-tie, which the newer memory wins.
    near = rank([("old", 9.0), ("new", 8.0)], [], {"old": old, "new": new}, settings, NOW)
    assert [doc_id for doc_id, _ in near] == ["new", "old"]
    # Found by both retrievers against by one: the old memory stays first.
    times = {"old": old, "new": new}
    both = rank([("old", 9.0), ("new", 8.0)], [("old", 0.7)], times, settings, NOW)
    assert [doc_id for doc_id, _ in both] == ["old", "new"]


def test_rank_counts_a_candidate_without_a_time_as_new() -> None:
    ranked = rank([("a", 1.0)], [], {}, RetrievalConfig(), NOW)
    assert ranked[0][1].recency == 1.0 and ranked[0][1].temporal_multiplier == 1.0


def test_rank_keeps_candidates_of_a_list_weighted_zero() -> None:
    keyword_only = RetrievalConfig(vector_weight=0)
    ranked = rank([("a", 2.0)], [("b", 0.9)], {}, keyword_only, NOW)
    assert [doc_id for doc_id, _ in ranked] == ["a", "b"]
    assert ranked[1][1].fused_score == 0.0 and ranked[1][1].vector_rank == 1


def test_rank_of_no_candidates_is_empty() -> None:
    assert rank([], [], {}, RetrievalConfig(), NOW) == []


@given(
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 400)),
)
def test_rank_is_sorted_by_score_then_time_then_id(
    keyword_ids: list[str], semantic_ids: list[str], ages_in_days: dict[str, int]
) -> None:
    created = {doc_id: NOW_TS - days * DAY for doc_id, days in ages_in_days.items()}
    ranked = rank(
        [(doc_id, 1.0) for doc_id in keyword_ids],
        [(doc_id, 0.5) for doc_id in semantic_ids],
        created,
        RetrievalConfig(),
        NOW,
    )
    assert sorted(doc_id for doc_id, _ in ranked) == sorted({*keyword_ids, *semantic_ids})
    keys = [
        (-breakdown.final_score, -created.get(doc_id, NOW_TS), doc_id)
        for doc_id, breakdown in ranked
    ]
    assert keys == sorted(keys)
    for _, breakdown in ranked:
        assert breakdown.final_score == breakdown.fused_score * breakdown.temporal_multiplier


def test_rank_docstring_example_runs() -> None:
    assert doctest.testmod(ranking_module).failed == 0
