"""The plain records: what a search hit tells a framework about itself."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from multisession import Memory, ScoreBreakdown, SearchHit


def test_search_hit_metadata_is_flat_and_json_ready() -> None:
    created = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    memory = Memory(
        "m1", "alice", "I'm allergic to peanuts", "fact", created, created, None, 0, "c1"
    )
    breakdown = ScoreBreakdown(2, 1.5, None, None, 0.016, 0.9, 0.995, 0.0159)
    hit = SearchHit(memory, breakdown)

    metadata = hit.to_metadata()

    assert metadata == {
        "kind": "fact",
        "created_at": "2026-03-01T12:00:00+00:00",
        "conversation_id": "c1",
        "score": 0.0159,
        "bm25_rank": 2,
        "bm25_score": 1.5,
        "vector_rank": None,
        "vector_similarity": None,
        "fused_score": 0.016,
        "recency": 0.9,
        "temporal_multiplier": 0.995,
        "final_score": 0.0159,
        "date_boost": 1.0,
        "slot_boost": 1.0,
    }
    assert json.loads(json.dumps(metadata)) == metadata
