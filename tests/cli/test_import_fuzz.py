"""Generated JSON Lines: the importer stores every valid line and reports every bad one.

Whatever the batch size and wherever a bad line sits (a time at the end of the calendar
with an offset, JSON nested a thousand deep, NUL, lone surrogates, wrong types), the
import never aborts: each memory line is either stored or listed as rejected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multisession import MemoryEngine
from multisession.cli.importer import JsonLinesImport


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


GOOD = st.builds(
    lambda number, day: {
        "content": f"fact number {number}",
        "created_at": f"2026-03-{day:02d}T12:00:00+02:00",
    },
    st.integers(0, 10**9),
    st.integers(1, 28),
)
BAD = st.one_of(
    st.sampled_from(
        [
            {"content": "early", "created_at": "0001-01-01T00:00:00+14:00"},
            {"content": "late", "created_at": "9999-12-31T23:59:59-14:00"},
            {"content": "deep", "metadata": {"x": _nested(1_000)}},
            {"content": "nul \x00 inside"},
            {"content": "lone \ud800 surrogate"},
            {"content": 42},
            {"content": "x", "kind": "Not A Kind"},
            {"content": "x", "user_id": ""},
            {"content": "   "},
            {"content": "x", "created_at": "yesterday"},
            {"content": "x", "bogus": 1},
        ]
    ),
    st.just("[" * 1_000 + "]" * 1_000),
    st.just("{not json"),
    st.just('"a string"'),
)


def _encode(line: Any) -> bytes:
    text = line if isinstance(line, str) else json.dumps(line)
    return text.encode("utf-8", "surrogatepass")


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    lines=st.lists(st.tuples(st.booleans(), GOOD, BAD), min_size=1, max_size=12),
    batch_size=st.integers(1, 8),
)
def test_every_valid_line_is_stored_and_every_bad_one_reported(
    tmp_path_factory: Any, lines: list[tuple[bool, dict[str, str], Any]], batch_size: int
) -> None:
    chosen = [good if is_good else bad for is_good, good, bad in lines]
    valid = {json.dumps(line, sort_keys=True) for is_good, line, _ in lines if is_good}
    bad_lines = [number for number, (is_good, _, _) in enumerate(lines, 1) if not is_good]
    directory: Path = tmp_path_factory.mktemp("import")
    with MemoryEngine(directory, embedder=None) as engine:
        report = JsonLinesImport(engine, default_user="alice", batch_size=batch_size).run(
            [_encode(line) for line in chosen]
        )
        stored = (
            {memory.content for memory in engine.list("alice", limit=1_000)}
            if (engine.has_user("alice"))
            else set()
        )

    assert sorted(rejection.line for rejection in report.rejected) == bad_lines
    assert stored == {json.loads(line)["content"] for line in valid}
    assert report.memories + report.skipped == sum(1 for is_good, _, _ in lines if is_good)
