"""MultiSessionRetriever: langchain-tests' standard suite, filters and metadata."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_multisession import MultiSessionRetriever
from multisession import MemoryEngine

_FOOD_MEMORIES = [
    "I'm allergic to peanuts",
    "I love spicy Thai food",
    "I don't eat pork",
    "My favourite dessert is lemon tart",
    "I had sushi for dinner on Friday",
]


class TestMultiSessionRetrieverStandard(RetrieversIntegrationTests):
    """The standard retriever suite, on an engine holding a few food memories."""

    @pytest.fixture(autouse=True)
    def _memories(self, engine: MemoryEngine) -> None:
        engine.add_many("alice", _FOOD_MEMORIES)
        engine.add("bob", "I'm allergic to shellfish")
        self.engine = engine

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return MultiSessionRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"engine": self.engine, "user_id": "alice"}

    @property
    def retriever_query_example(self) -> str:
        return "what food do I like or avoid?"


def test_documents_carry_id_and_score_breakdown(engine: MemoryEngine) -> None:
    stored = engine.add("alice", "I'm allergic to peanuts", conversation_id="c1")
    engine.add("bob", "I'm allergic to peanuts too")
    [document] = MultiSessionRetriever(engine=engine, user_id="alice").invoke("peanut allergy")
    hit = engine.search("alice", "peanut allergy")[0]
    assert document.id == stored.id
    assert document.page_content == "I'm allergic to peanuts"
    assert document.metadata == {
        "kind": "fact",
        "created_at": stored.created_at.isoformat(),
        "conversation_id": "c1",
        "score": hit.score,
        **hit.breakdown.to_dict(),
    }


async def test_filters_apply_sync_and_async(engine: MemoryEngine, clock: Any) -> None:
    engine.add("alice", "I prefer window seats", kind="preference")
    engine.add("alice", "I flew to Oslo for work", conversation_id="travel")
    clock.advance(days=10)
    engine.add("alice", "I flew to Rome on holiday", conversation_id="travel")
    query = "flights and seats"

    def contents(retriever: MultiSessionRetriever) -> list[str]:
        return sorted(document.page_content for document in retriever.invoke(query))

    preferences = MultiSessionRetriever(engine=engine, user_id="alice", kinds=["preference"])
    assert contents(preferences) == ["I prefer window seats"]
    travel = MultiSessionRetriever(engine=engine, user_id="alice", conversation_id="travel")
    assert contents(travel) == ["I flew to Oslo for work", "I flew to Rome on holiday"]
    recent = MultiSessionRetriever(
        engine=engine, user_id="alice", since=clock.now - timedelta(days=1)
    )
    assert contents(recent) == ["I flew to Rome on holiday"]
    older = MultiSessionRetriever(engine=engine, user_id="alice", until=clock.now)
    assert len(await older.ainvoke(query, k=2)) == 2
    assert [d.page_content for d in await recent.ainvoke(query)] == ["I flew to Rome on holiday"]
