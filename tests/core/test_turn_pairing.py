"""pair_turns: which reply a user message is recorded with, for every caller."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multisession.extraction import recording
from multisession.extraction.recording import Turn, TurnPairing, pair_turns

U, A, T, S = "user", "assistant", "tool", "system"

CASES = {
    "nothing": ([], []),
    "a question alone": ([(U, "Hi")], [Turn("Hi", None, 0, 1)]),
    "a question and its answer": (
        [(U, "I moved to Oslo"), (A, "Noted!")],
        [Turn("I moved to Oslo", "Noted!", 0, 2, 1)],
    ),
    "an agent run: the final answer after the tool call is the reply": (
        [(U, "What can I cook?"), (A, ""), (T, "rice"), (A, "Rice pudding.")],
        [Turn("What can I cook?", "Rice pudding.", 0, 4, 3)],
    ),
    "the last assistant text before the next question wins": (
        [(U, "Weather?"), (A, "Let me look."), (T, "Sunny"), (A, "Sunny."), (U, "Thanks")],
        [Turn("Weather?", "Sunny.", 0, 4, 3), Turn("Thanks", None, 4, 5)],
    ),
    "two questions in a row: the first has no reply": (
        [(U, "One"), (U, "Two"), (A, "Both noted.")],
        [Turn("One", None, 0, 1), Turn("Two", "Both noted.", 1, 3, 2)],
    ),
    "messages before the first question form a turn without a user": (
        [(S, "Be brief."), (A, "Hello!"), (U, "Hi"), (A, "Hey.")],
        [Turn(None, None, 0, 2), Turn("Hi", "Hey.", 2, 4, 3)],
    ),
    "a blank user message starts no turn, a blank answer is no reply": (
        [(U, "I love tea"), (A, "Nice."), (U, "  "), (A, " ")],
        [Turn("I love tea", "Nice.", 0, 4, 1)],
    ),
    "tool results and system notes are no reply": (
        [(U, "Book it"), (T, "booked"), (S, "done")],
        [Turn("Book it", None, 0, 3)],
    ),
}


@pytest.mark.parametrize(("messages", "expected"), CASES.values(), ids=CASES.keys())
def test_pair_turns(messages: list[tuple[str, str]], expected: list[Turn]) -> None:
    assert pair_turns(messages) == expected


@pytest.mark.parametrize(("messages", "expected"), CASES.values(), ids=CASES.keys())
def test_one_message_at_a_time_gives_the_same_turns(
    messages: list[tuple[str, str]], expected: list[Turn]
) -> None:
    pairing = TurnPairing()
    turns = [turn for role, text in messages if (turn := pairing.add(role, text)) is not None]
    last = pairing.finish()

    assert [*turns, *([last] if last else [])] == expected
    assert pairing.finish() is None  # finishing started afresh


_MESSAGES = st.lists(
    st.tuples(st.sampled_from([U, A, T, S]), st.sampled_from(["", " ", "yes", "no"]))
)


@given(_MESSAGES)
def test_turns_cover_every_message_in_order(messages: list[tuple[str, str]]) -> None:
    turns = pair_turns(messages)

    bounds = [0, *(turn.end for turn in turns)]
    assert [turn.start for turn in turns] == bounds[:-1]
    assert bounds[-1] == len(messages)
    for position, turn in enumerate(turns):
        own = messages[turn.start : turn.end]
        assert own, turn
        if turn.user is None:
            assert position == 0 and (turn.reply, turn.reply_at) == (None, None)
            continue
        assert own[0] == (U, turn.user) and turn.user.strip()
        assert not any(role == U and text.strip() for role, text in own[1:])
        answers = [
            turn.start + i for i, (role, text) in enumerate(own) if role == A and text.strip()
        ]
        assert turn.reply_at == (answers[-1] if answers else None)
        assert turn.reply == (messages[answers[-1]][1] if answers else None)


def test_examples_hold() -> None:
    assert doctest.testmod(recording).failed == 0
