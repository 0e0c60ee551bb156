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
from multisession.errors import ConfigurationError
from multisession.retrieval import ranking as ranking_module
from multisession.retrieval.decay import recency, temporal_multiplier
from multisession.retrieval.fusion import convex_fusion
from multisession.retrieval.ranking import rank

DAY = 86_400.0
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
NOW_TS = NOW.timestamp()
RRF = RetrievalConfig(fusion="rrf")
CONVEX = PRESETS["recall"]


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
    assert (PRESETS["default"].fusion, PRESETS["default"].neighbour_window) == ("convex", 2)
    assert PRESETS["recall"] == PRESETS["default"] == RetrievalConfig()
    assert (PRESETS["rrf"].fusion, PRESETS["rrf"].neighbour_window) == ("rrf", 0)
    assert PRESETS["rrf"].temporal.weight == 0.05


def test_rank_breaks_down_every_candidate_of_either_list() -> None:
    settings = RetrievalConfig(
        fusion="rrf",
        bm25_weight=1.0,
        vector_weight=0.5,
        rrf_k=60,
        temporal=TemporalConfig(weight=0.05),
    )
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
    timeless = RetrievalConfig(fusion="rrf", temporal=TemporalConfig(enabled=False))
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


def test_rrf_rank_lets_recency_decide_only_near_ties() -> None:
    settings = RRF
    old, new = NOW_TS - 90 * DAY, NOW_TS
    # Rank 1 and 2 of one list: a near-tie, which the newer memory wins.
    near = rank([("old", 9.0), ("new", 8.0)], [], {"old": old, "new": new}, settings, NOW)
    assert [doc_id for doc_id, _ in near] == ["new", "old"]
    # Found by both retrievers against by one: the old memory stays first.
    times = {"old": old, "new": new}
    both = rank([("old", 9.0), ("new", 8.0)], [("old", 0.7)], times, settings, NOW)
    assert [doc_id for doc_id, _ in both] == ["old", "new"]


def test_rank_counts_a_candidate_without_a_time_as_new() -> None:
    ranked = rank([("a", 1.0)], [], {}, CONVEX, NOW)
    assert ranked[0][1].fused_score == 1.0  # the only candidate is its list's best
    assert ranked[0][1].recency == 1.0 and ranked[0][1].temporal_multiplier == 1.0


def test_rank_keeps_candidates_of_a_list_weighted_zero() -> None:
    for fusion in ("convex", "rrf"):
        keyword_only = RetrievalConfig(fusion=fusion, vector_weight=0)
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
        RRF,
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


def test_convex_fusion_follows_the_documented_formula() -> None:
    keyword = [("a", 8.0), ("b", 4.0), ("c", 2.0)]
    semantic = [("c", 0.9), ("d", 0.45)]
    by_max = convex_fusion([keyword, semantic], [1, 3])
    assert by_max == pytest.approx({"a": 0.25, "b": 0.125, "c": 0.0625 + 0.75, "d": 0.375})
    by_range = convex_fusion([keyword, semantic], [1, 3], "min-max")
    assert by_range == pytest.approx({"a": 0.25, "b": 0.25 / 3, "c": 0.75, "d": 0.0})
    # All scores of a list equal: each counts as the list's best.
    assert convex_fusion([[("a", 2.0), ("b", 2.0)]], normalisation="min-max") == {
        "a": 1.0,
        "b": 1.0,
    }
    # Scores at or below zero under "max": only the best counts.
    assert convex_fusion([[("a", -1.0), ("b", -2.0)]]) == {"a": 1.0, "b": 0.0}
    # A repeated id counts at its first position; an empty list takes no share.
    assert convex_fusion([[("a", 4.0), ("a", 9.0), ("b", 1.0)], []]) == {"a": 1.0, "b": 0.25}


@given(
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(-50, 50)), max_size=8),
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(-1, 1)), max_size=8),
    st.floats(0, 5),
    st.floats(0.01, 5),
)
def test_convex_fusion_is_a_weighted_mean_in_the_unit_interval(
    keyword: list[tuple[str, float]],
    semantic: list[tuple[str, float]],
    keyword_weight: float,
    vector_weight: float,
) -> None:
    fused = convex_fusion([keyword, semantic], [keyword_weight, vector_weight])
    assert set(fused) == {doc_id for doc_id, _ in (*keyword, *semantic)}
    assert all(-1e-12 <= score <= 1 + 1e-12 for score in fused.values())
    if keyword and semantic:
        assert (
            max(fused.values())
            >= min(keyword_weight, vector_weight) / (keyword_weight + vector_weight) - 1e-12
        )


def test_convex_fusion_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="weights"):
        convex_fusion([[("a", 1.0)]], [1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        convex_fusion([[("a", 1.0)]], [-1.0])
    with pytest.raises(ValueError, match="> 0"):
        convex_fusion([[("a", 1.0)]], [0.0])
    with pytest.raises(ValueError, match="normalisation"):
        convex_fusion([[("a", 1.0)]], normalisation="z")  # type: ignore[arg-type]


def test_convex_rank_keeps_margins_that_rrf_throws_away() -> None:
    timeless = replace(CONVEX, temporal=TemporalConfig(enabled=False))
    # "a" is far ahead on keywords, "b" a marginal second that the vectors put first.
    keyword = [("a", 12.0), ("b", 2.2), ("c", 2.0)]
    semantic = [("b", 0.61), ("d", 0.605), ("a", 0.60), ("e", 0.2)]
    convex = rank(keyword, semantic, {}, timeless, NOW)
    reciprocal = rank(keyword, semantic, {}, replace(timeless, fusion="rrf"), NOW)
    assert [doc_id for doc_id, _ in convex][:2] == ["a", "b"]
    assert [doc_id for doc_id, _ in reciprocal][:2] == ["b", "a"]


def test_convex_rank_lets_recency_decide_only_near_ties() -> None:
    """The two temporal guarantees, on the convex score scale of the recall preset.

    The multiplier lies in ``[1 - weight * (1 - floor), 1]`` (0.91 to 1 by default), so
    (1) of two memories whose fused scores differ by less than that ratio the newer one
    can win (fused scores are shares of each side's best, so near-equal raw scores stay
    near-equal), and (2) a memory whose fused score is more than ``1 / 0.91`` (9.9 %) above
    another's stays above it, however old it is.
    """
    settings = CONVEX
    times = {"old": NOW_TS - 90 * DAY, "new": NOW_TS}
    # Near-equal keyword scores (1.0 and 0.95 after normalisation): the newer one wins.
    near = rank([("old", 9.0), ("new", 8.55), ("x", 1.0)], [], times, settings, NOW)
    assert [doc_id for doc_id, _ in near][:2] == ["new", "old"]
    # A clear margin (1.0 against 0.85): the old memory stays first.
    clear = rank([("old", 9.0), ("new", 7.65), ("x", 1.0)], [], times, settings, NOW)
    assert [doc_id for doc_id, _ in clear][:2] == ["old", "new"]


@given(
    st.floats(0.01, 1.0),
    st.floats(0.0, 1.0),
    st.integers(0, 3650),
    st.integers(0, 3650),
    st.floats(0.0, 1.0),
)
def test_a_clearly_better_memory_is_never_buried_by_age(
    better: float, ratio: float, old_days: int, new_days: int, weight: float
) -> None:
    temporal = TemporalConfig(weight=weight)
    bound = 1 - weight * (1 - temporal.floor)  # the smallest multiplier
    worse = better * bound * ratio * (1 - 1e-9)
    settings = RetrievalConfig(
        fusion="convex", bm25_weight=1.0, vector_weight=1e-9, temporal=temporal
    )
    keyword = [("better", better), ("worse", worse), ("zero", 0.0)]
    created = {"better": NOW_TS - old_days * DAY, "worse": NOW_TS - new_days * DAY}
    ranked = [doc_id for doc_id, _ in rank(keyword, [], created, settings, NOW)]
    assert ranked.index("better") < ranked.index("worse")


def test_date_boost_multiplies_memories_inside_a_named_period_only() -> None:
    settings = replace(CONVEX, temporal=TemporalConfig(enabled=False))
    created = {"inside": NOW_TS - 10 * DAY, "outside": NOW_TS - 40 * DAY}
    period = [(NOW_TS - 14 * DAY, NOW_TS - 7 * DAY)]
    keyword = [("outside", 5.0), ("inside", 4.0), ("zero", 0.0)]
    ranked = dict(rank(keyword, [], created, settings, NOW, dated=period))
    assert ranked["inside"].date_boost == 1.5 and ranked["outside"].date_boost == 1.0
    assert ranked["inside"].final_score == pytest.approx(1.5 * 0.8)
    assert ranked["outside"].final_score == 1.0
    # Without a named period nothing is boosted.
    plain = dict(rank(keyword, [], created, settings, NOW))
    assert {breakdown.date_boost for breakdown in plain.values()} == {1.0}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fusion": "mean"}, "fusion must be one of 'convex', 'rrf'"),
        ({"normalisation": "z"}, "normalisation must be one of 'max', 'min-max'"),
        ({"neighbour_window": -1}, "neighbour_window must be an integer from 0"),
        ({"neighbour_window": 2.0}, "neighbour_window must be an integer from 0"),
        ({"date_boost": 0.5}, "date_boost must be a number >= 1"),
    ],
)
def test_bad_settings_name_the_problem(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RetrievalConfig(**changes)  # type: ignore[arg-type]


def test_rank_with_a_limit_is_the_head_of_the_full_ranking() -> None:
    keyword = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    semantic = [("c", 0.9), ("d", 0.5)]
    created = {"a": NOW_TS - 40 * DAY, "d": NOW_TS - DAY}
    full = rank(keyword, semantic, created, CONVEX, NOW)
    assert rank(keyword, semantic, created, CONVEX, NOW, limit=2) == full[:2]
    assert len(full) == 4
