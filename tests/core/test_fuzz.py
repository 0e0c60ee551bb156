"""Generated inputs over the public API: every call succeeds or raises a documented error.

Hypothesis draws calls of the engine's methods with adversarial arguments (NUL and lone
surrogates in text, ids of every shape, metadata nested thousands deep, datetimes at the
ends of the calendar with the widest offsets, arguments of the wrong type). A call may
succeed or raise a :class:`~multisession.errors.MultisessionError`; anything else is a
crash. A refused call must leave the store as it was. The run is derandomized, so CI
sees the same inputs every time.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multisession import MemoryEngine
from multisession.errors import MultisessionError

#: How many generated calls CI runs (benchmarks/fuzz.py runs 10,000).
FUZZ_EXAMPLES = 2_000

_OFFSETS = st.sampled_from([timedelta(hours=14), timedelta(hours=-14), timedelta(0)]) | (
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23))
)
_EDGE_TIMES = st.sampled_from(
    [
        datetime(1, 1, 1),
        datetime(1, 1, 1, 13, 59),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(9999, 12, 31, 10, 0),
        datetime(1970, 1, 1),
        datetime(2026, 3, 1, 12),
    ]
)
TIMES = st.one_of(
    st.builds(
        lambda moment, offset: moment.replace(tzinfo=timezone(offset)), _EDGE_TIMES, _OFFSETS
    ),
    st.builds(
        lambda moment, offset: moment.replace(tzinfo=timezone(offset)), st.datetimes(), _OFFSETS
    ),
    st.datetimes(),  # naive
    st.none(),
)
# Text with what databases and encoders trip on: NUL, lone surrogates, controls.
PLAIN = st.sampled_from(["hello world", "I like tea", "we decided to ship on Friday"])
TEXT = st.one_of(
    PLAIN,
    PLAIN,
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=40),
    st.text(alphabet=st.sampled_from(["\x00", "\ud800", "\udfff", "a", " ", "\n", "é", "🙂"])),
    st.sampled_from(["hello world", "I like tea", "   "]),
    st.sampled_from([32_000, 32_001, 100_000]).map(lambda length: "x" * length),
)
WRONG = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
MEMORY_IDS = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    st.text(alphabet=string.hexdigits, max_size=40),
    TEXT,
    WRONG,
)
VALID_USERS = st.sampled_from(["u", "v", "alice"])
USER_IDS = st.one_of(VALID_USERS, VALID_USERS, VALID_USERS, TEXT, WRONG)
VALID_CONVERSATIONS = st.sampled_from(["c", "c2"])
CONVERSATIONS = st.one_of(VALID_CONVERSATIONS, VALID_CONVERSATIONS, TEXT, WRONG)
VALID_KINDS = st.sampled_from(["fact", "preference"])
KINDS = st.one_of(VALID_KINDS, VALID_KINDS, st.sampled_from(["Fact", ""]), TEXT, WRONG)


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


METADATA = st.one_of(
    st.none(),
    st.builds(
        lambda depth, leaf: {"deep": _nested(depth, leaf)},
        st.sampled_from([1, 20, 65, 200, 1_000, 3_000]),
        st.one_of(TEXT, st.floats(), st.integers(min_value=-(2**70), max_value=2**70)),
    ),
    st.dictionaries(
        st.one_of(TEXT, st.integers(), st.none()), st.one_of(TEXT, st.floats(), WRONG), max_size=3
    ),
    WRONG,
)


def _items() -> st.SearchStrategy[Any]:
    item = st.one_of(
        TEXT,
        st.fixed_dictionaries(
            {"content": TEXT},
            optional={
                "kind": KINDS,
                "metadata": METADATA,
                "created_at": TIMES,
                "conversation_id": CONVERSATIONS,
                "id": MEMORY_IDS,
                "bogus": st.integers(),
            },
        ),
        WRONG,
    )
    return st.one_of(st.lists(item, max_size=4), WRONG, TEXT)


CALLS = st.one_of(
    st.tuples(
        st.just("add"),
        st.tuples(USER_IDS, TEXT),
        st.fixed_dictionaries(
            {},
            optional={
                "kind": KINDS,
                "metadata": METADATA,
                "created_at": TIMES,
                "conversation_id": CONVERSATIONS,
                "id": MEMORY_IDS,
                "now": TIMES,
            },
        ),
    ),
    st.tuples(st.just("add_many"), st.tuples(USER_IDS, _items()), st.just({})),
    st.tuples(
        st.just("update"),
        st.tuples(USER_IDS, MEMORY_IDS),
        st.fixed_dictionaries(
            {}, optional={"content": TEXT, "kind": KINDS, "metadata": METADATA, "now": TIMES}
        ),
    ),
    st.tuples(st.sampled_from(["delete", "get"]), st.tuples(USER_IDS, MEMORY_IDS), st.just({})),
    st.tuples(
        st.sampled_from(["list", "count"]),
        st.tuples(USER_IDS),
        st.fixed_dictionaries(
            {},
            optional={
                "kinds": st.one_of(st.lists(KINDS, max_size=2), WRONG, TEXT),
                "conversation_id": CONVERSATIONS,
                "since": TIMES,
                "until": TIMES,
            },
        ),
    ),
    st.tuples(
        st.just("search"),
        st.tuples(USER_IDS, TEXT),
        st.fixed_dictionaries(
            {},
            optional={
                "k": st.one_of(st.integers(), WRONG),
                "since": TIMES,
                "until": TIMES,
                "now": TIMES,
                "kinds": st.one_of(st.lists(KINDS, max_size=2), WRONG),
            },
        ),
    ),
    st.tuples(
        st.just("add_messages"),
        st.tuples(
            USER_IDS,
            CONVERSATIONS,
            st.one_of(
                st.lists(
                    st.one_of(
                        st.tuples(st.sampled_from(["user", "assistant", "bot"]), TEXT),
                        st.fixed_dictionaries(
                            {"role": st.sampled_from(["user", "tool"]), "content": TEXT},
                            optional={"metadata": METADATA},
                        ),
                        WRONG,
                    ),
                    max_size=3,
                ),
                WRONG,
            ),
        ),
        st.fixed_dictionaries({}, optional={"now": TIMES}),
    ),
    st.tuples(
        st.just("record_exchange"),
        st.tuples(USER_IDS, CONVERSATIONS, TEXT, st.one_of(TEXT, st.none(), WRONG)),
        st.fixed_dictionaries({}, optional={"now": TIMES}),
    ),
    st.tuples(
        st.just("get_messages"),
        st.tuples(USER_IDS, CONVERSATIONS),
        st.fixed_dictionaries({}, optional={"last": st.one_of(st.integers(), WRONG)}),
    ),
    st.tuples(
        st.sampled_from(["export_user", "has_user", "resume", "preferences"]),
        st.tuples(USER_IDS),
        st.just({}),
    ),
    st.tuples(
        st.just("build_context"),
        st.tuples(USER_IDS, TEXT),
        st.fixed_dictionaries({}, optional={"now": TIMES, "conversation_id": CONVERSATIONS}),
    ),
)


def call_outcome(
    engine: MemoryEngine, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """``ok``, ``refused`` (a MultisessionError), or the crash's exception type."""
    try:
        getattr(engine, name)(*args, **kwargs)
    except MultisessionError:
        return "refused"
    except Exception as error:  # anything else is a crash: report which
        return f"crash: {type(error).__name__}: {str(error)[:120]}"
    return "ok"


def _snapshot(engine: MemoryEngine) -> tuple[Any, ...]:
    return tuple(engine._store.stats().values()), tuple(engine.users())


def _fuzz(engine: MemoryEngine, examples: int) -> None:
    """Run generated calls on the engine; fail on a crash or a refused call that wrote."""
    engine.add("u", "I like green tea in the morning")

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(call=CALLS)
    def one_call(call: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
        name, args, kwargs = call
        before = _snapshot(engine)
        outcome = call_outcome(engine, name, args, kwargs)
        assert not outcome.startswith("crash"), (name, outcome)
        if outcome == "refused":
            assert _snapshot(engine) == before, f"a refused {name} changed the store"

    one_call()


def test_every_generated_call_succeeds_or_raises_a_documented_error(tmp_path: Path) -> None:
    engine = MemoryEngine(tmp_path / "store", embedder=None, track_access=False)
    try:
        _fuzz(engine, FUZZ_EXAMPLES)
    finally:
        engine.close()


@pytest.mark.server
def test_generated_calls_on_postgresql_end_in_success_or_a_documented_error(
    postgres_url: str,
) -> None:
    # PostgreSQL refuses what SQLite takes (NUL in text): the same calls, fewer of them.
    engine = MemoryEngine(sql_url=postgres_url, embedder=None, track_access=False)
    try:
        _fuzz(engine, 300)
    finally:
        engine.close()
