"""The optional model: fact extraction and summaries, each None on failure, and the fallbacks.

The model is outside the project: a fake callable stands in for it.
"""

from __future__ import annotations

import doctest
import logging
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from multisession.errors import InvalidInputError
from multisession.extraction import llm as llm_module
from multisession.extraction.llm import extract_facts, llm_facts, llm_summary
from multisession.extraction.summaries import extractive_summary, rolling_summary
from multisession.records import Message

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeLLM:
    """Returns a canned reply (or raises) and records the prompts it was given."""

    def __init__(self, reply: object = None, error: Exception | None = None) -> None:
        self.reply = reply
        self.error = error
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self.error is not None:
            raise self.error
        return self.reply  # type: ignore[return-value]  # a bad model may return anything


BAD_MODELS = [
    FakeLLM("The user has two cats."),
    FakeLLM("[not json"),
    FakeLLM("[1, 2]"),
    FakeLLM('["ok", null]'),
    FakeLLM(None),
    FakeLLM(error=RuntimeError("rate limited")),
    FakeLLM(error=TimeoutError()),
]


# --------------------------------------------------------------------------------------
# Facts


def test_llm_facts_from_a_good_json_reply() -> None:
    llm = FakeLLM(
        '["The user is vegetarian.", "  The user lives in   Oslo. ", "", "The user is vegetarian."]'
    )
    facts = extract_facts(llm, "I'm vegetarian and live in Oslo", "Nice! Oslo is lovely.")
    assert facts == ["The user is vegetarian.", "The user lives in Oslo."]
    (prompt,) = llm.prompts
    assert "I'm vegetarian and live in Oslo" in prompt
    assert "Nice! Oslo is lovely." in prompt
    assert "JSON list" in prompt


def test_llm_reply_in_a_code_fence_and_an_empty_list() -> None:
    fenced = FakeLLM('Sure:\n```json\n["The user has two cats."]\n```')
    assert extract_facts(fenced, "I have two cats") == ["The user has two cats."]
    assert extract_facts(FakeLLM("[]"), "I have two cats") == []


def test_a_fact_is_cut_at_500_characters() -> None:
    assert llm_facts(FakeLLM(f'["{"a" * 600}"]'), "hi") == ["a" * 500]


@pytest.mark.parametrize("llm", BAD_MODELS)
def test_llm_bad_reply_or_failure_falls_back_to_the_rules(llm: Callable[[str], str]) -> None:
    assert llm_facts(llm, "Hi! I have two cats. Thanks") is None
    assert extract_facts(llm, "Hi! I have two cats. Thanks") == ["I have two cats"]
    assert extract_facts(llm, "thanks!") == []


def test_a_failing_call_is_logged_with_its_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="multisession"):
        assert llm_facts(FakeLLM(error=ConnectionError("model unreachable")), "I'm a nurse") is None
    [record] = caplog.records
    assert record.name == "multisession"
    assert record.exc_info is not None and isinstance(record.exc_info[1], ConnectionError)


@pytest.mark.parametrize("message", [None, 42, b"I'm a nurse", ["I'm a nurse"]])
def test_non_string_messages_are_rejected_before_the_model_is_called(message: object) -> None:
    llm = FakeLLM("[]")
    with pytest.raises(InvalidInputError, match="user_message must be a string"):
        extract_facts(llm, message)  # type: ignore[arg-type]
    if message is not None:  # no reply at all is fine
        with pytest.raises(InvalidInputError, match="assistant_message must be a string"):
            llm_facts(llm, "I'm a nurse", message)  # type: ignore[arg-type]
    assert llm.prompts == []


# --------------------------------------------------------------------------------------
# Summaries


def messages() -> list[Message]:
    return [
        Message("user", "I work at Acme Corp.", T0),
        Message("assistant", "Nice, what do you do there?", T0),
    ]


def test_llm_summary_asks_with_the_previous_summary_and_the_new_messages() -> None:
    llm = FakeLLM("  The user works at Acme.  ")
    assert llm_summary(llm, "Talked about work.", messages()) == "The user works at Acme."
    (prompt,) = llm.prompts
    assert prompt == (
        "Update the running summary of a conversation between a user and an assistant.\n"
        "Keep facts about the user, decisions, open tasks and the current topic; at most "
        "120 words; plain text.\n\n"
        "Current summary:\nTalked about work.\n\n"
        "New messages:\nuser: I work at Acme Corp.\nassistant: Nice, what do you do there?\n\n"
        "Updated summary:"
    )
    llm_summary(llm, None, messages())
    assert "Current summary:\n(none)\n" in llm.prompts[-1]


@pytest.mark.parametrize("llm", [FakeLLM(""), FakeLLM("  \n"), *BAD_MODELS[4:]])
def test_llm_summary_is_none_when_the_model_gives_none(llm: Callable[[str], str]) -> None:
    assert llm_summary(llm, "before", messages()) is None


@pytest.mark.parametrize("llm", [None, FakeLLM(""), FakeLLM(error=RuntimeError("down"))])
def test_rolling_summary_falls_back_to_the_extractive_one(
    llm: Callable[[str], str] | None,
) -> None:
    expected = extractive_summary("Talked about work.", messages())
    assert expected == "Talked about work.; I work at Acme Corp"
    assert rolling_summary(llm, "Talked about work.", messages()) == expected


def test_rolling_summary_keeps_the_model_summary() -> None:
    assert rolling_summary(FakeLLM("The user works at Acme."), None, messages()) == (
        "The user works at Acme."
    )


def test_docstring_examples_run() -> None:
    assert doctest.testmod(llm_module, raise_on_error=False).failed == 0
