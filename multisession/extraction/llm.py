"""The optional language model: what extraction asks it, and what it makes of the reply.

Every call to a model lives here, so the rest of the extraction layer stays deterministic.
A model is any callable that takes a prompt and returns text (:data:`LLM`); wrap a chat
model as ``lambda prompt: model.invoke(prompt).content``. The model is outside the
project's control, so a call never raises for it: :func:`llm_facts` and
:func:`llm_summary` return ``None`` when the call fails or the reply is unusable, and
their callers decide the fallback (the memory-worthiness rules, the extractive summary).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence

from .._validation import check_string
from ..records import Message
from ._worthiness_rules import clean
from .worthiness import memories_from_exchange

__all__ = ["LLM", "extract_facts", "llm_facts", "llm_summary"]

logger = logging.getLogger("multisession")

#: An LLM as the core sees it: a prompt in, the model's text out.
LLM = Callable[[str], str]

_EXTRACTION_PROMPT = """\
You maintain long-term memory about a user of a chat assistant.
From the exchange below, list what is worth remembering about the user across future
conversations: facts about them (identity, relations, health, work, location,
possessions), their preferences, and notable events or plans in their life.
Skip greetings, thanks, questions, requests about the current task, passing moods and
facts about other people that do not concern the user.
Write each item as a short standalone sentence about the user.
Reply with a JSON list of strings and nothing else, e.g. ["The user is vegetarian."].
Reply with [] if nothing is worth remembering.

User: {user}
"""
_EXTRACTION_ASSISTANT = "Assistant: {assistant}\n"
_SUMMARY_PROMPT = """\
Update the running summary of a conversation between a user and an assistant.
Keep facts about the user, decisions, open tasks and the current topic; at most 120 words; \
plain text.

Current summary:
{previous}

New messages:
{transcript}

Updated summary:"""
_JSON_LIST = re.compile(r"\[.*\]", re.DOTALL)
_MAX_FACT_CHARS = 500


def _parse_fact_list(reply: object) -> list[str] | None:
    """The list of strings in a model reply, or ``None`` if there is none."""
    if not isinstance(reply, str):
        return None
    found = _JSON_LIST.search(reply)
    if not found:
        return None
    try:
        parsed = json.loads(found.group(0))
    except ValueError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        return None
    facts = [clean(item) for item in parsed]
    return list(dict.fromkeys(fact[:_MAX_FACT_CHARS] for fact in facts if fact))


def llm_facts(
    llm: LLM,
    user_message: str,
    assistant_message: str | None = None,
) -> list[str] | None:
    """The model's part of :func:`extract_facts`: its list of facts, or None.

    None when the call raises or the reply is not a JSON list of strings; the caller
    then decides what the rules keep.

    Raises:
        InvalidInputError: If a message is not a string (``assistant_message`` may be
            ``None``).
    """
    check_string(user_message, "user_message")
    if assistant_message is not None:
        check_string(assistant_message, "assistant_message")
    prompt = _EXTRACTION_PROMPT.format(user=user_message.strip())
    if assistant_message:
        prompt += _EXTRACTION_ASSISTANT.format(assistant=assistant_message.strip())
    try:
        facts = _parse_fact_list(llm(prompt))
    except Exception:  # the model is outside our control: any failure means "use the rules"
        logger.warning("fact extraction call failed; using the rule-based filter", exc_info=True)
        return None
    if facts is None:
        logger.debug("model reply was not a JSON list of strings; using the rule-based filter")
    return facts


def extract_facts(
    llm: LLM,
    user_message: str,
    assistant_message: str | None = None,
) -> list[str]:
    """Asks a language model for short standalone facts about the user in one exchange.

    The prompt asks for a JSON list of strings. A reply that is not such a list, or a
    call that raises, falls back to the rules: the texts of
    :func:`~multisession.extraction.worthiness.memories_from_exchange`. A bad reply never
    raises.

    Example:
        >>> extract_facts(lambda prompt: '["The user lives in Oslo."]', "I live in Oslo")
        ['The user lives in Oslo.']
        >>> extract_facts(lambda prompt: "no idea", "I live in Oslo")
        ['I live in Oslo']

    Args:
        llm: The model, as a prompt-to-text callable.
        user_message: What the user wrote.
        assistant_message: The assistant's reply, if any, for context.

    Raises:
        InvalidInputError: If a message is not a string.
    """
    facts = llm_facts(llm, user_message, assistant_message)
    if facts is None:
        return [memory.text for memory in memories_from_exchange(user_message, assistant_message)]
    return facts


def llm_summary(llm: LLM, previous: str | None, messages: Sequence[Message]) -> str | None:
    """The model's update of a conversation summary with new messages, or None.

    None when the call raises or the reply is not a non-empty string; the caller then
    decides the fallback.

    Example:
        >>> llm_summary(lambda prompt: " The user plans a trip. ", None, [])
        'The user plans a trip.'
        >>> llm_summary(lambda prompt: "", None, []) is None
        True
    """
    transcript = "\n".join(f"{m.role}: {m.content}" for m in messages)
    prompt = _SUMMARY_PROMPT.format(previous=previous or "(none)", transcript=transcript)
    try:
        reply = llm(prompt)
    except Exception:  # the model is outside our control: any failure means "no summary"
        logger.warning("the LLM summary failed; using the extractive summary", exc_info=True)
        return None
    if not isinstance(reply, str) or not reply.strip():
        return None
    return reply.strip()
