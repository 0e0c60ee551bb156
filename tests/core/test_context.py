"""Sessions, resumption and the budgeted context, through the engine's public API."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from multisession import ConfigurationError, MemoryEngine, Message, ResumeConfig, RetrievalConfig
from multisession.context.builder import ContextConfig, expand_query
from multisession.context.packing import ContextBudget
from multisession.context.tokens import token_counter
from multisession.extraction.summaries import extractive_summary


def tell(engine, clock, conversation, *messages):  # type: ignore[no-untyped-def]
    for text in messages:
        engine.record_exchange("alice", conversation, text, "Noted!")
        clock.advance(minutes=1)


@pytest.mark.parametrize(
    ("gap", "mode"),
    [
        (timedelta(days=3), "fresh_start"),
        (timedelta(hours=5), "recap"),
        (timedelta(minutes=10), "continue"),
    ],
)
def test_two_sessions_days_apart(fresh_engine, clock, gap, mode):
    tell(
        fresh_engine,
        clock,
        "session-1",
        "My name is Alice and I work at Acme Corp",
        "I'm allergic to peanuts",
        "My favorite color is green",
    )
    clock.advance(seconds=gap.total_seconds())

    work = fresh_engine.build_context(
        "alice", "Where do I work again?", conversation_id="session-2"
    )
    assert work.resumption.mode == mode
    assert "Acme" in work.as_text()
    food = fresh_engine.build_context(
        "alice", "What foods should you avoid suggesting to me?", conversation_id="session-2"
    )
    assert "peanuts" in food.as_text()
    # The unrelated memory ranks below, or not at all under the default relevance floor.
    ranked = [hit.memory.content for hit in food.hits]
    first = ranked.index("I'm allergic to peanuts")
    assert "My favorite color is green" not in ranked[:first]
    ranked = [hit.memory.content for hit in work.hits]
    assert ranked[0].startswith("My name is Alice and I work at Acme Corp")
    assert food.tokens <= ContextBudget().available
    assert food.messages[0].role == "system"


def test_chit_chat_is_not_remembered_but_facts_are(fresh_engine, clock):
    added = fresh_engine.record_exchange("alice", "c1", "Hi there! Thanks a lot", "You're welcome")
    assert added == []
    added = fresh_engine.record_exchange("alice", "c1", "I prefer answers in bullet points")
    assert [(m.kind, m.conversation_id) for m in added] == [("preference", "c1")]
    assert [m.content for m in fresh_engine.preferences("alice")] == [added[0].content]
    assert [m.role for m in fresh_engine.get_messages("alice", "c1")] == [
        "user",
        "assistant",
        "user",
    ]


def test_other_users_never_appear_in_the_context(fresh_engine, clock):
    fresh_engine.record_exchange("bob", "b1", "I'm allergic to shellfish and I work at Globex")
    tell(fresh_engine, clock, "a1", "I'm allergic to peanuts")
    clock.advance(days=2)
    context = fresh_engine.build_context("alice", "what am I allergic to? where do I work?")
    assert "peanuts" in context.as_text()
    assert "shellfish" not in context.as_text() and "Globex" not in context.as_text()


def test_resumption_carries_summary_and_open_action_items(fresh_engine, clock):
    fresh_engine.context_config = replace(fresh_engine.context_config, summary_every=4)
    tell(
        fresh_engine,
        clock,
        "launch",
        "I'm working on the billing pipeline migration to Airflow",
        "We decided to keep Postgres for the ledger",
    )
    conversation = fresh_engine.conversations.get("alice", "launch")
    assert conversation is not None and conversation.summary is not None
    assert "Airflow" in conversation.summary
    assert conversation.decisions == ["We decided to keep Postgres for the ledger"]
    fresh_engine.record_exchange("alice", "launch", "Remind me to update the runbook tomorrow.")
    fresh_engine.record_exchange("alice", "launch", "ok")
    clock.advance(hours=3)
    resumption = fresh_engine.resume("alice")
    assert resumption.mode == "recap"
    assert resumption.open_action_items == ["Remind me to update the runbook tomorrow."]
    assert "runbook" in resumption.render()
    clock.advance(minutes=-170)
    assert fresh_engine.resume("alice", "launch").mode == "continue"


def test_first_visit_is_a_fresh_start(fresh_engine):
    resumption = fresh_engine.resume("nobody-yet")
    assert (resumption.mode, resumption.last_interaction) == ("fresh_start", None)
    context = fresh_engine.build_context("nobody-yet", "hello")
    assert context.hits == [] and context.messages[0].role == "system"


def test_context_never_exceeds_a_small_budget(fresh_engine, clock):
    for index in range(30):
        fresh_engine.record_exchange(
            "alice", "long", f"I went to the museum number {index} and loved the paintings there"
        )
    budget = ContextBudget(max_tokens=400, response_reserve=100)
    context = fresh_engine.build_context(
        "alice",
        "which museums did I like?",
        conversation_id="long",
        config=replace(fresh_engine.context_config, budget=budget),
    )
    counter = token_counter("gpt-4o")
    assert counter.count_messages(context.messages) == context.tokens <= 300
    assert context.packed.dropped  # the rest is reported, not silently lost
    kept = [m.content for m in context.messages if m.role != "system"]
    history = [m.content for m in fresh_engine.get_messages("alice", "long")]
    assert kept == history[len(history) - len(kept) :]


def test_context_survives_a_failing_embedder(store_dir, minilm, unreachable_embedder, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock) as engine:
        engine.record_exchange("alice", "c1", "I'm allergic to peanuts")

    with MemoryEngine(store_dir, embedder=unreachable_embedder, clock=clock) as engine:
        context = engine.build_context("alice", "am I allergic to peanuts?")
        assert "peanuts" in context.as_text()
        assert engine.events["query_embedding_failed"] == 1


def test_expand_query_adds_recent_topics() -> None:
    recent = ["I'm looking at the Lisbon flat", "Lisbon is nice"]
    # Most frequent first, then the most recently mentioned.
    assert expand_query("and the price?", recent, 2) == "and the price? lisbon nice"
    assert expand_query("lisbon", ["Lisbon Lisbon"], 3) == "lisbon"


def test_context_config_is_per_call(fresh_engine, clock):
    tell(fresh_engine, clock, "c", "I live in Porto")
    tiny = replace(ContextConfig(), system_prompt="Be brief.", memories_k=1)
    context = fresh_engine.build_context(
        "alice", "where do I live", conversation_id="c", config=tiny
    )
    assert context.messages[0].content.startswith("Be brief.")
    assert len(context.hits) == 1


@pytest.mark.parametrize("exact", [True, False], ids=["exact-search", "vector-index-search"])
def test_context_survives_the_vector_server_going_down(
    own_chroma_server, store_dir, minilm, clock, exact
):
    engine = MemoryEngine(
        embedder=minilm,
        clock=clock,
        sql_url=f"sqlite:///{store_dir}.db",
        vector_url=own_chroma_server.url,
        exact_vector_limit=50_000 if exact else 0,
    )
    engine.record_exchange("alice", "c1", "I'm allergic to peanuts")
    # A user searched exactly keeps their vectors in SQL alone: nothing goes to Chroma.
    assert engine.flush_vectors() == (0 if exact else 1)
    assert engine.search("alice", "peanuts")[0].breakdown.vector_rank == 1
    own_chroma_server.stop()
    context = engine.build_context("alice", "am I allergic to peanuts?")
    assert "peanuts" in context.as_text()
    if exact:
        # Exact search runs in process on the vectors SQL keeps: still both retrievers.
        assert engine.events["vector_search_failed"] == 0
        assert engine.search("alice", "peanuts")[0].breakdown.vector_rank == 1
    else:
        assert engine.events["vector_search_failed"] == 1
    # Writes while it is down are acknowledged, stay searchable and wait for a flush.
    engine.record_exchange("alice", "c1", "I live in Porto")
    assert engine.flush_vectors() == 0
    if exact:
        assert engine.events["vector_write_failed"] == 0
        assert engine.stats()["pending_vectors"] == 0 and engine.stats()["buffered_vectors"] == 0
    else:
        assert engine.events["vector_write_failed"] == 1
        assert engine.stats()["pending_vectors"] == 1
        assert engine.stats()["buffered_vectors"] == 1
    porto = engine.search("alice", "which city is my home", config=RetrievalConfig(bm25_weight=0))
    assert porto[0].memory.content == "I live in Porto"
    engine.close()


def test_llm_writes_the_summary_and_extracts_facts(store_dir, minilm, clock):
    prompts: list[str] = []

    def fake_llm(prompt: str) -> str:
        """Stands in for a chat model: records the prompt, answers by task."""
        prompts.append(prompt)
        if "summary" in prompt.lower():
            return "Alice is planning a trip to Kyoto in April."
        return '["Alice is planning a trip to Kyoto in April"]'

    with MemoryEngine(store_dir, embedder=minilm, clock=clock, llm=fake_llm) as engine:
        engine.context_config = replace(engine.context_config, summary_every=2)
        added = engine.record_exchange("alice", "trip", "so, Kyoto in April, thoughts?", "Lovely!")
        assert [m.content for m in added] == ["Alice is planning a trip to Kyoto in April"]
        assert added[0].metadata == {"source": "llm_extraction"}
        conversation = engine.conversations.get("alice", "trip")
        assert conversation is not None
        assert conversation.summary == "Alice is planning a trip to Kyoto in April."
        assert any("Kyoto in April, thoughts?" in prompt for prompt in prompts)


def test_a_failing_llm_leaves_extraction_to_the_rules(store_dir, minilm, clock):
    def broken_llm(prompt: str) -> str:
        raise ConnectionError("model unreachable")

    with MemoryEngine(store_dir, embedder=minilm, clock=clock, llm=broken_llm) as engine:
        added = engine.record_exchange("alice", "c1", "I prefer answers in bullet points")
        assert [(m.content, m.kind) for m in added] == [
            ("I prefer answers in bullet points", "preference")
        ]
        assert added[0].metadata["source"] == "exchange"
        assert [m.content for m in engine.preferences("alice")] == [added[0].content]


def test_a_statement_longer_than_the_engine_accepts_is_not_kept(store_dir, minilm, clock):
    with MemoryEngine(store_dir, embedder=minilm, clock=clock, max_content_chars=40) as engine:
        message = "My sister Ingrid moved to Oslo last spring with her two kids"
        assert engine.record_exchange("alice", "c1", message) == []
        assert [m.content for m in engine.get_messages("alice", "c1")] == [message]
        assert engine.record_exchange("alice", "c1", "I live in Porto")[0].content == (
            "I live in Porto"
        )


def test_preferences_are_in_every_prompt_and_current(fresh_engine, clock):
    fresh_engine.set_preference("alice", "I prefer metric units")
    tell(fresh_engine, clock, "c1", "I am planning a bike tour")
    session = fresh_engine.resume("alice", "c1")
    assert session.mode == "continue"
    context = fresh_engine.build_context("alice", "how far is it?", conversation_id="c1")
    # In the preferences block itself: search alone would also bring them in as memories.
    assert "Known preferences:\n- I prefer metric units" in context.messages[0].content
    # A preference set after the session started still reaches the next prompt.
    fresh_engine.set_preference("alice", "I prefer answers in German")
    context = fresh_engine.build_context(
        "alice", "how far is it?", conversation_id="c1", resumption=session
    )
    assert "Known preferences:\n- I prefer answers in German" in context.messages[0].content


def test_another_process_never_serves_cleared_or_deleted_messages(store_dir, minilm, clock):
    reader = MemoryEngine(store_dir, embedder=minilm, clock=clock)
    writer = MemoryEngine(store_dir, embedder=minilm, clock=clock)
    try:
        writer.add_messages(
            "alice", "c1", [("user", "my card number is 1234"), ("assistant", "ok")]
        )
        assert len(reader.get_messages("alice", "c1", last=10)) == 2  # cached now
        # Same count again after a clear: the cached window must not come back.
        writer.clear_conversation("alice", "c1")
        writer.add_messages("alice", "c1", [("user", "hello"), ("assistant", "hi")])
        assert [m.content for m in reader.get_messages("alice", "c1", last=10)] == [
            "hello",
            "hi",
        ]
        writer.delete_user("alice")
        writer.add_messages("alice", "c1", [("user", "new start"), ("assistant", "welcome")])
        assert [m.content for m in reader.get_messages("alice", "c1", last=10)] == [
            "new start",
            "welcome",
        ]
        context = reader.build_context("alice", "what is my card number?", conversation_id="c1")
        assert "1234" not in context.as_text()
    finally:
        writer.close()
        reader.close()


def test_imported_older_messages_do_not_move_a_conversation_back_in_time(fresh_engine, clock):
    fresh_engine.add_messages("alice", "c1", [("user", "today")])
    fresh_engine.add_messages(
        "alice", "c1", [("user", "long ago")], now=clock.now - timedelta(days=400)
    )
    conversation = fresh_engine.conversations.get("alice", "c1")
    assert conversation is not None
    assert conversation.last_interaction_at == clock.now
    assert conversation.created_at == clock.now - timedelta(days=400)


@pytest.mark.parametrize(
    "settings",
    [
        {"memories_k": 0},
        {"history_messages": -1},
        {"expansion_messages": -1},
        {"summary_every": 0},
        {"budget": 100},
        {"memories_k": True},
    ],
)
def test_invalid_context_settings_name_the_problem(settings):  # type: ignore[no-untyped-def]
    name = next(iter(settings))
    with pytest.raises(ConfigurationError, match=f"ContextConfig.{name}"):
        ContextConfig(**settings)


def test_no_preferences_asked_for_means_none_in_the_prompt(fresh_engine, clock):
    fresh_engine.set_preference("alice", "I prefer metric units")
    config = replace(fresh_engine.context_config, resume=ResumeConfig(max_preferences=0))
    context = fresh_engine.build_context("alice", "units?", config=config)
    assert "Known preferences" not in context.messages[0].content


def test_a_summary_point_stays_one_point_when_folded_again():
    told = [Message("user", "I have a dog named Rex. He's a beagle.", datetime.now(timezone.utc))]
    once = extractive_summary(None, told)
    assert extractive_summary(once, told) == once
