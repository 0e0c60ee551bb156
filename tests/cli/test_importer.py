"""The importer pairs each user message with its reply by the core's rule, batch after batch."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from multisession import MemoryEngine
from multisession.cli.importer import JsonLinesImport

REMEMBER = "Noted, I'll remember that."

# Two conversations interleaved; in "lunch" a tool result stands between the user's
# message and the reply that agrees to remember it.
LINES = [
    {"role": "user", "content": "I had pasta for lunch", "conversation_id": "lunch"},
    {"role": "user", "content": "I had soup for dinner", "conversation_id": "dinner"},
    {"role": "tool", "content": "calendar: lunch at 12:30", "conversation_id": "lunch"},
    {"role": "assistant", "content": REMEMBER, "conversation_id": "lunch"},
    {"role": "assistant", "content": "Sounds cosy.", "conversation_id": "dinner"},
    {"role": "user", "content": "I had tea after it", "conversation_id": "lunch"},
]


@pytest.fixture
def keyword_engine(open_engine: Callable[..., MemoryEngine]) -> MemoryEngine:
    """An engine without vectors: pairing does not need them."""
    return open_engine(embedder=None)


def _import(engine: MemoryEngine, batch_size: int) -> dict[str, object]:
    lines = [json.dumps(line).encode() for line in LINES]
    return JsonLinesImport(engine, default_user="alice", batch_size=batch_size).run(lines).to_dict()


@pytest.mark.parametrize("batch_size", [1, 2, 256])
def test_a_reply_after_a_tool_result_counts_across_batches(
    keyword_engine: MemoryEngine, batch_size: int
) -> None:
    engine = keyword_engine
    report = _import(engine, batch_size)

    # Only the reply agreeing to remember keeps "pasta": it was paired with its question
    # although a tool result came between them and another conversation between batches.
    assert [memory.content for memory in engine.list("alice")] == ["I had pasta for lunch"]
    assert report["extracted"] == 1
    assert [(m.role, m.content) for m in engine.get_messages("alice", "lunch")] == [
        (line["role"], line["content"]) for line in LINES if line["conversation_id"] == "lunch"
    ]


def test_a_second_run_stores_nothing_twice(keyword_engine: MemoryEngine) -> None:
    engine = keyword_engine
    _import(engine, 2)

    again = _import(engine, 2)

    assert (again["skipped"], again["messages"], again["extracted"]) == (len(LINES), 0, 0)
    assert len(engine.list("alice")) == 1
