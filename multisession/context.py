"""Building what is sent to the model, and recording what comes back.

:func:`build_context` turns the three tiers into one budgeted prompt: the system prompt,
the user's preferences, the resumption context, the recent history of the conversation
and the memories retrieved for the current message, packed by
:func:`~multisession.packing.pack_context` so the result never exceeds the budget.
:func:`record_exchange` stores a turn and the memories worth keeping from it.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .conversations import Message
from .errors import ConfigurationError
from .packing import ContextBudget, ContextMessage, MemorySnippet, PackedContext, pack_context
from .records import Memory, MemoryInput, SearchHit
from .sessions import ResumeConfig, Resumption, build_resumption
from .summaries import (
    extract_action_items,
    extract_decisions,
    extractive_summary,
    llm_summary,
)
from .text import Tokenizer, TokenizerConfig
from .tokens import TokenCounter, token_counter
from .worthiness import llm_facts, memories_from_exchange

if TYPE_CHECKING:
    from .engine import MemoryEngine

__all__ = [
    "BuiltContext",
    "ContextConfig",
    "build_context",
    "exchange_memories",
    "expand_query",
    "record_exchange",
    "refresh_summary",
    "resumption_for",
    "track_decisions_and_actions",
]

logger = logging.getLogger("multisession")

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. You remember the user across conversations; use what "
    "you know about them when it helps, and never invent memories."
)

_KEYWORDS = Tokenizer(TokenizerConfig(stemmer=None))


@dataclass(frozen=True)
class ContextConfig:
    """How :func:`build_context` fills the prompt.

    Attributes:
        system_prompt: Always first in the prompt.
        budget: Token budget and section shares.
        model: Model name for token counting (picks the tiktoken encoding).
        history_messages: How many recent messages of the conversation are candidates.
        memories_k: How many memories are retrieved before packing.
        expand_query: Add the topics of the last few messages to the search query.
        expansion_messages: How many recent messages give topics.
        expansion_terms: How many topic words are added at most.
        resume: Session resumption thresholds and wording.
        summary_every: Refresh the rolling summary after this many new messages.
    """

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    budget: ContextBudget = field(default_factory=ContextBudget)
    model: str = "gpt-4o"
    history_messages: int = 50
    memories_k: int = 20
    expand_query: bool = False
    expansion_messages: int = 3
    expansion_terms: int = 6
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    summary_every: int = 6

    def __post_init__(self) -> None:
        if not isinstance(self.system_prompt, str):
            raise ConfigurationError("ContextConfig.system_prompt must be a string")
        if not isinstance(self.budget, ContextBudget):
            raise ConfigurationError("ContextConfig.budget must be a ContextBudget")
        if not isinstance(self.resume, ResumeConfig):
            raise ConfigurationError("ContextConfig.resume must be a ResumeConfig")
        counts = {
            "history_messages": (self.history_messages, 0),
            "memories_k": (self.memories_k, 1),
            "expansion_messages": (self.expansion_messages, 0),
            "expansion_terms": (self.expansion_terms, 0),
            "summary_every": (self.summary_every, 1),
        }
        for name, (value, lowest) in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise ConfigurationError(
                    f"ContextConfig.{name} must be an integer >= {lowest}, got {value!r}"
                )


@dataclass(frozen=True)
class BuiltContext:
    """A packed prompt and how it was made."""

    packed: PackedContext
    resumption: Resumption
    hits: list[SearchHit]
    query: str
    warnings: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[ContextMessage]:
        return self.packed.messages

    @property
    def tokens(self) -> int:
        return self.packed.tokens

    def as_text(self) -> str:
        return self.packed.as_text()


def expand_query(query: str, recent: Sequence[str], max_terms: int) -> str:
    """Append the most frequent topic words of recent messages not already in the query.

    Deterministic: words are lowercased, stopwords dropped, ties broken by recency.

    Example:
        >>> expand_query("what did she say?", ["We talked about the Lisbon trip"], 3)
        'what did she say? talked lisbon trip'
    """
    present = set(_KEYWORDS(query))
    counts: Counter[str] = Counter()
    last_seen: dict[str, int] = {}
    for position, text in enumerate(recent):
        for word in _KEYWORDS(text):
            if len(word) < 3 or word in present or word.isdigit():
                continue
            counts[word] += 1
            last_seen[word] = position
    ranked = sorted(counts, key=lambda word: (-counts[word], -last_seen[word], word))
    terms = ranked[:max_terms]
    return f"{query} {' '.join(terms)}" if terms else query


def resumption_for(
    engine: MemoryEngine,
    user_id: str,
    conversation_id: str | None,
    *,
    now: datetime,
    config: ResumeConfig,
    preferences: Sequence[str] | None = None,
) -> Resumption:
    """The resumption context of a user (and conversation) from stored state."""
    conversation = (
        engine.conversations.get(user_id, conversation_id) if conversation_id is not None else None
    )
    if preferences is None:
        preferences = engine.latest_texts(user_id, "preference", config.max_preferences)
    return build_resumption(
        now=now,
        conversation=conversation,
        recent=engine.conversations.list(user_id, limit=max(1, config.recent_summaries)),
        preferences=preferences,
        config=config,
    )


@functools.lru_cache(maxsize=16)
def _counter_for(model: str) -> TokenCounter:
    """One token counter per model for the process (finding the files costs each time)."""
    return token_counter(model)


def build_context(
    engine: MemoryEngine,
    user_id: str,
    query: str,
    *,
    conversation_id: str | None = None,
    now: datetime,
    config: ContextConfig,
    resumption: Resumption | None = None,
) -> BuiltContext:
    """The budgeted prompt for the user's next message (see the module docstring).

    The resumption mode is chosen by the gap since the last stored interaction, so call
    it before recording the new message, or pass the ``resumption`` captured when the
    session started (what the framework adapters do, since frameworks store the user's
    message before asking for the context).
    """
    warnings: list[str] = []
    preferences = engine.latest_texts(user_id, "preference", config.resume.max_preferences)
    if resumption is None:
        resumption = resumption_for(
            engine,
            user_id,
            conversation_id,
            now=now,
            config=config.resume,
            preferences=preferences,
        )
    history: list[Message] = (
        engine.conversations.messages(user_id, conversation_id, last=config.history_messages)
        if conversation_id is not None and config.history_messages > 0
        else []
    )
    search_query = query
    if config.expand_query and history:
        recent = history[-config.expansion_messages :] if config.expansion_messages else []
        recent_texts = [m.content for m in recent]
        search_query = expand_query(query, recent_texts, config.expansion_terms)

    hits: list[SearchHit] = []
    if query.strip():
        try:
            hits = engine.search(user_id, search_query, k=config.memories_k, now=now)
        except Exception as error:
            engine.events["context_retrieval_failed"] += 1
            message = f"memory retrieval failed ({type(error).__name__}); context built without it"
            warnings.append(message)
            logger.warning(message, exc_info=True)
    snippets = [
        MemorySnippet(
            content=hit.memory.content,
            created_at=hit.memory.created_at,
            score=hit.score,
            kind=hit.memory.kind,
            id=hit.memory.id,
        )
        for hit in hits
    ]
    packed = pack_context(
        system_prompt=config.system_prompt,
        preferences=preferences,
        resumption=resumption.render(),
        history=[ContextMessage(m.role, m.content) for m in history],
        memories=snippets,
        budget=config.budget,
        counter=_counter_for(config.model),
    )
    return BuiltContext(packed, resumption, hits, search_query, warnings)


def record_exchange(
    engine: MemoryEngine,
    user_id: str,
    conversation_id: str,
    user_message: str,
    assistant_message: str | None = None,
    *,
    now: datetime,
    config: ContextConfig,
) -> list[Memory]:
    """Store a turn, keep what is worth remembering, refresh the summary when due.

    Returns the memories added. With an LLM on the engine, it extracts short standalone
    facts; otherwise the deterministic memory-worthiness filter decides.
    """
    turn = [("user", user_message, None)]
    if assistant_message is not None:
        turn.append(("assistant", assistant_message, None))
    stored = engine.conversations.add_messages(user_id, conversation_id, turn, now)
    track_decisions_and_actions(engine, user_id, conversation_id, stored)

    items = exchange_memories(
        engine, user_message, assistant_message, conversation_id=conversation_id, created_at=now
    )
    added = engine.add_many(user_id, items, now=now) if items else []
    refresh_summary(engine, user_id, conversation_id, config)
    return added


def exchange_memories(
    engine: MemoryEngine,
    user_message: str,
    assistant_message: str | None,
    *,
    conversation_id: str,
    created_at: datetime,
) -> list[MemoryInput]:
    """What is worth remembering from one exchange, ready for ``add_many``.

    With an LLM on the engine, its standalone facts; when it has none to give (the call
    fails, the reply is not a list), or without an LLM, the memory-worthiness rules, which
    also tell a preference from a fact. Texts longer than the engine accepts are left out.
    """
    facts = (
        llm_facts(engine.llm, user_message, assistant_message) if engine.llm is not None else None
    )
    if facts is not None:
        items = [
            MemoryInput(
                text,
                kind="fact",
                conversation_id=conversation_id,
                metadata={"source": "llm_extraction"},
                created_at=created_at,
            )
            for text in facts
        ]
    else:
        items = [
            MemoryInput(
                assessment.text,
                kind=assessment.kind or "fact",
                conversation_id=conversation_id,
                metadata={"source": "exchange", "cue": assessment.cue, "reason": assessment.reason},
                created_at=created_at,
            )
            for assessment in memories_from_exchange(user_message, assistant_message)
        ]
    limit = engine.max_content_chars
    return [item for item in items if item.content.strip() and len(item.content) <= limit]


def refresh_summary(
    engine: MemoryEngine, user_id: str, conversation_id: str, config: ContextConfig
) -> None:
    """Rewrite the conversation's rolling summary when enough new messages came in."""
    conversation = engine.conversations.get(user_id, conversation_id)
    if conversation is None:
        return
    pending = conversation.message_count - conversation.summarized_count
    if pending < config.summary_every:
        return
    new = engine.conversations.messages(
        user_id, conversation_id, offset=conversation.summarized_count
    )
    summary = (
        llm_summary(engine.llm, conversation.summary, new)
        if engine.llm is not None
        else extractive_summary(conversation.summary, new)
    )
    engine.conversations.update_state(
        user_id,
        conversation_id,
        summary=summary,
        summarized_count=conversation.summarized_count + len(new),
    )


def track_decisions_and_actions(
    engine: MemoryEngine, user_id: str, conversation_id: str, messages: Sequence[Message]
) -> None:
    """Record the decisions and action items these messages state in the conversation."""
    decisions = extract_decisions(messages)
    actions = extract_action_items(messages)
    if not decisions and not actions:
        return
    conversation = engine.conversations.get(user_id, conversation_id)
    if conversation is None:
        return
    known = {item["text"] for item in conversation.action_items}
    engine.conversations.update_state(
        user_id,
        conversation_id,
        decisions=[
            *conversation.decisions,
            *(d for d in decisions if d not in conversation.decisions),
        ],
        action_items=[
            *conversation.action_items,
            *({"text": text, "done": False} for text in actions if text not in known),
        ],
    )
