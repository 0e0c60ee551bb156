"""MultiSessionRetriever alone, in a query engine and in a fusion retriever."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import MetadataMode, QueryBundle, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from llamaindex_multisession import MultiSessionRetriever
from multisession import PRESETS, MemoryEngine

from .conftest import RecordingLLM


@pytest.fixture
def remembered(engine: MemoryEngine) -> MemoryEngine:
    engine.add("alice", "Alice is allergic to peanuts", kind="fact", conversation_id="monday")
    engine.add("alice", "Alice prefers window seats", kind="preference")
    engine.add("alice", "Alice's sister lives in Porto", kind="fact")
    engine.add("bob", "Bob is allergic to shellfish", kind="fact")
    return engine


def test_nodes_carry_the_memory_and_its_score_breakdown(remembered: MemoryEngine) -> None:
    retriever = MultiSessionRetriever(remembered, "alice", similarity_top_k=2)

    nodes = retriever.retrieve("which food allergy does she have?")

    hit = remembered.search("alice", "which food allergy does she have?", k=2)[0]
    top = nodes[0]
    assert len(nodes) == 2
    assert top.node.node_id == hit.memory.id
    assert top.node.get_content() == "Alice is allergic to peanuts"
    assert top.score == pytest.approx(hit.score)
    metadata = top.node.metadata
    assert metadata["kind"] == "fact"
    assert metadata["created_at"] == hit.memory.created_at.isoformat()
    assert metadata["conversation_id"] == "monday"
    assert metadata == hit.to_metadata()  # the same as a LangChain document's
    shown = top.node.get_content(metadata_mode=MetadataMode.LLM)
    assert "kind: fact" in shown and "fused_score" not in shown


def test_filters_and_users_are_respected(remembered: MemoryEngine) -> None:
    preferences = MultiSessionRetriever(remembered, "alice", kinds=["preference"])
    assert [n.node.get_content() for n in preferences.retrieve("seats allergic")] == [
        "Alice prefers window seats"
    ]
    bob = MultiSessionRetriever(remembered, "bob")
    assert [n.node.get_content() for n in bob.retrieve("allergic")] == [
        "Bob is allergic to shellfish"
    ]


def test_retrieval_settings_apply(remembered: MemoryEngine) -> None:
    query = "Any siblings overseas?"  # no word in common with any memory
    keyword_only = MultiSessionRetriever(remembered, "alice", config=PRESETS["keyword"])
    default = MultiSessionRetriever(remembered, "alice")

    by_meaning = [n.node.node_id for n in default.retrieve(query)]

    assert keyword_only.retrieve(query) == []
    assert by_meaning and by_meaning == [h.memory.id for h in remembered.search("alice", query)]
    with pytest.raises(TypeError):
        MultiSessionRetriever(remembered, "alice", config="keyword")  # type: ignore[arg-type]


def test_a_query_embedding_of_the_right_size_is_used(remembered: MemoryEngine, minilm: Any) -> None:
    retriever = MultiSessionRetriever(remembered, "alice", similarity_top_k=1)
    porto = minilm.embed(["Alice's sister lives in Porto"])[0].tolist()

    by_vector = retriever.retrieve(QueryBundle("zzz", embedding=porto))
    wrong_size = retriever.retrieve(QueryBundle("peanuts", embedding=[1.0, 0.0]))

    assert by_vector[0].node.get_content() == "Alice's sister lives in Porto"
    assert wrong_size[0].node.get_content() == "Alice is allergic to peanuts"


@pytest.mark.asyncio
async def test_async_retrieval_matches_sync(remembered: MemoryEngine) -> None:
    retriever = MultiSessionRetriever(remembered, "alice")

    async_nodes = await retriever.aretrieve("peanut allergy")

    assert [n.node.node_id for n in async_nodes] == [
        n.node.node_id for n in retriever.retrieve("peanut allergy")
    ]


def test_in_a_query_engine(remembered: MemoryEngine) -> None:
    llm = RecordingLLM()
    retriever = MultiSessionRetriever(remembered, "alice", similarity_top_k=2)
    query_engine = RetrieverQueryEngine.from_args(retriever, llm=llm)

    response = query_engine.query("What is Alice allergic to?")

    assert "Alice is allergic to peanuts" in [n.node.get_content() for n in response.source_nodes]
    assert "Alice is allergic to peanuts" in llm.last_input
    assert "shellfish" not in llm.last_input


@pytest.mark.asyncio
async def test_in_a_fusion_retriever(remembered: MemoryEngine) -> None:
    documents = BM25Retriever.from_defaults(
        nodes=[
            TextNode(text="Peanut-free snacks: rice cakes, fruit, popcorn", id_="snacks"),
            TextNode(text="Porto is a city in northern Portugal", id_="porto"),
        ],
        similarity_top_k=1,
    )
    fusion = QueryFusionRetriever(
        [MultiSessionRetriever(remembered, "alice"), documents],
        num_queries=1,
        mode="reciprocal_rerank",
        similarity_top_k=4,
        llm=MockLLM(),
    )

    nodes = await fusion.aretrieve("peanut allergy snacks")

    texts = [n.node.get_content() for n in nodes]
    assert "Alice is allergic to peanuts" in texts
    assert "Peanut-free snacks: rice cakes, fruit, popcorn" in texts
    assert not any("Bob" in text for text in texts)


def test_rejects_bad_arguments(remembered: MemoryEngine) -> None:
    with pytest.raises(ValueError):
        MultiSessionRetriever(remembered, "alice", similarity_top_k=0)
    with pytest.raises(TypeError):
        MultiSessionRetriever(remembered, "alice", kinds="fact")
