"""A weak keyword match gets a weak keyword vote: the full-match scale of convex fusion.

Max normalisation makes the keyword side's best candidate a 1.0 however little of the
query it matched, so a memory sharing one common word with a question ("another")
outranks the memory that answers it in other words. Convex fusion therefore scales the
keyword side by at least a share of the query's full match score (its idf mass); these
tests check that score against BM25 itself, the fusion formula, the setting's checks,
and the ranking on every backend with the real embedder.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from multisession import MemoryEngine, MemoryInput, RetrievalConfig
from multisession.errors import ConfigurationError, InvalidInputError
from multisession.retrieval.bm25 import BM25Index
from multisession.retrieval.fusion import convex_fusion

# -- the full match score ----------------------------------------------------------------


def test_full_match_score_is_the_score_of_an_average_document_holding_each_term_once() -> None:
    index = BM25Index()
    # Every document has three tokens, so "m1" is of average length and holds each
    # query term once: BM25 scores it exactly the full match score.
    for doc_id, tokens in {
        "m1": ["walk", "dog", "park"],
        "m2": ["walk", "cat", "home"],
        "m3": ["read", "book", "home"],
        "m4": ["cook", "rice", "pan"],
        "m5": ["bake", "bread", "oven"],
    }.items():
        index.add(doc_id, tokens)
    query = ["walk", "dog", "park"]
    assert index.top_n(query, 1)[0] == ("m1", pytest.approx(index.full_match_score(query)))
    # A term no document holds counts at the idf of df = 0, the rarest.
    assert index.full_match_score(["violin"]) == pytest.approx(math.log(5.5) - math.log(0.5))
    # Duplicates count as often as they occur, as in scoring.
    assert index.full_match_score(["dog", "dog"]) == pytest.approx(
        2 * index.full_match_score(["dog"])
    )


def test_full_match_score_of_an_empty_index_or_query_is_zero() -> None:
    index = BM25Index()
    assert index.full_match_score(["dog"]) == 0.0
    index.add("m1", ["dog"])
    assert index.full_match_score([]) == 0.0
    with pytest.raises(InvalidInputError):
        index.full_match_score("dog")


# -- convex fusion with a full score -----------------------------------------------------


def test_a_list_is_scaled_by_its_full_score_when_its_best_falls_short() -> None:
    keyword = [("a", 2.0), ("b", 1.0)]
    semantic = [("c", 0.6), ("a", 0.3)]
    fused = convex_fusion([keyword, semantic], full_scores=[8.0, 0.0])
    assert fused == pytest.approx({"a": 0.125 + 0.25, "b": 0.0625, "c": 0.5})
    # A best at or above the full score: max normalisation as before.
    assert convex_fusion([keyword, semantic], full_scores=[1.5, 0.0]) == convex_fusion(
        [keyword, semantic]
    )
    # A best not above 0 (BM25 in a tiny store) still counts in full.
    assert convex_fusion([[("a", -0.1), ("b", -0.1)]], full_scores=[3.0]) == {"a": 1.0, "b": 1.0}
    with pytest.raises(ValueError, match="full scores"):
        convex_fusion([keyword, semantic], full_scores=[1.0])


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, True])
def test_keyword_full_match_is_checked(value: float) -> None:
    with pytest.raises(ConfigurationError, match="keyword_full_match"):
        RetrievalConfig(keyword_full_match=value)


# -- on every backend, with the real embedder --------------------------------------------

_ROOMS = ["garden", "kitchen", "garage", "attic", "porch", "hallway", "shed", "fence"]


def test_a_memory_answering_in_other_words_beats_one_shared_common_word(
    fresh_engine: MemoryEngine,
) -> None:
    engine = fresh_engine
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    engine.add_many(
        "ines",
        [
            MemoryInput(f"Spent another weekend painting the {room}", created_at=start)
            for room in _ROOMS
        ]
        + [
            MemoryInput("Our wedding anniversary is on the 12th of June", created_at=start),
            MemoryInput("I play the cello in a local orchestra", created_at=start),
        ],
    )
    question = "When do we mark another year of being married?"
    now = start + timedelta(days=30)
    hits = engine.search("ines", question, k=5, now=now)
    assert hits[0].memory.content.startswith("Our wedding anniversary")
    # Plain max normalisation makes the one shared word ("another") a full keyword vote.
    plain = replace(RetrievalConfig(), keyword_full_match=0.0)
    old = engine.search("ines", question, k=5, now=now, config=plain)
    assert not any(hit.memory.content.startswith("Our wedding") for hit in old)
