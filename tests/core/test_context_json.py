"""A built context's messages as plain dicts: what chat APIs and JSON take."""

from __future__ import annotations

import json

from multisession import ContextMessage, MemoryEngine


def test_built_messages_serialise_to_json(engine: MemoryEngine) -> None:
    engine.add("alice", "I'm allergic to peanuts")
    engine.record_exchange("alice", "c1", "What should I cook?", "A coconut curry.")
    built = engine.build_context("alice", "Any dessert ideas?", conversation_id="c1")

    decoded = json.loads(json.dumps(built.message_dicts))

    assert decoded == [{"role": m.role, "content": m.content} for m in built.messages]
    assert decoded[0]["role"] == "system" and "allergic to peanuts" in decoded[0]["content"]
    assert {"role": "assistant", "content": "A coconut curry."} in decoded


def test_a_context_message_as_a_dict() -> None:
    assert ContextMessage("user", "Hi").to_dict() == {"role": "user", "content": "Hi"}
