"""Building what is sent to the model, and recording what comes back.

:func:`build_context` turns the three tiers into one budgeted prompt: the system prompt,
the user's preferences, the resumption context, the recent history of the conversation
and the memories retrieved for the current message, packed by
:func:`~multisession.context.packing.pack_context` so the result never exceeds the budget.
Recording what comes back is :mod:`multisession.extraction.recording`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ..errors import ConfigurationError
from ..records import ContextMessage, Message, SearchHit
from ..retrieval.terms import Tokenizer, TokenizerConfig
from ..storage.conversations import ConversationStore
from .packing import ContextBudget, Dropped, MemorySnippet, PackedContext, pack_context
from .sessions import ResumeConfig, Resumption, build_resumption
from .tokens import token_counter

__all__ = [
    "BuiltContext",
    "ContextConfig",
    "build_context",
    "expand_query",
    "resumption_for",
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
        budget: Token budget and section shares; by default 4096 tokens with 512
            kept for the reply (a prompt of at most 3584 tokens, see
            :class:`~multisession.context.packing.ContextBudget`).
        model: Model name for token counting (picks the tiktoken encoding).
        history_messages: How many recent messages of the conversation are candidates.
        memories_k: How many memories are retrieved before packing.
        expand_query: Add the topics of the last few messages to the search query.
        expansion_messages: How many recent messages give topics.
        expansion_terms: How many topic words are added at most.
        resume: Session resumption thresholds and wording.
        summary_every: Refresh the rolling summary after this many new messages.
        changed_within_days: A retrieved memory that replaced another within this many
            days says so once, after its text: ``(changed on 30 Jun 2026; before: "I
            like the blue theme")``, so the model knows which version is current and
            that it is new. 0 turns the note off.
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
    changed_within_days: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.system_prompt, str):
            raise ConfigurationError("ContextConfig.system_prompt must be a string")
        if not isinstance(self.budget, ContextBudget):
            raise ConfigurationError("ContextConfig.budget must be a ContextBudget")
        if not isinstance(self.resume, ResumeConfig):
            raise ConfigurationError("ContextConfig.resume must be a ResumeConfig")
        days = self.changed_within_days
        if (
            isinstance(days, bool)
            or not isinstance(days, (int, float))
            or not math.isfinite(days)
            or days < 0
        ):
            raise ConfigurationError(
                f"ContextConfig.changed_within_days must be a number >= 0, got {days!r}"
            )
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
    """A packed prompt and how it was made.

    Attributes:
        packed: The prompt; ``packed.dropped`` lists everything left out, and why.
        resumption: How this session resumes the last one.
        hits: The memories retrieved for the query (before packing).
        query: The search query used (the message, expanded if configured).
        warnings: What went wrong without failing the call (a failed retrieval).
        trimmed_tokens: The tokens of the history messages left out to fit the
            budget (their contents, counted like the prompt); 0 when none were.
    """

    packed: PackedContext
    resumption: Resumption
    hits: list[SearchHit]
    query: str
    warnings: list[str] = field(default_factory=list)
    trimmed_tokens: int = 0

    @property
    def trimmed_messages(self) -> int:
        """How many of the conversation's recent messages were left out to fit the budget.

        The oldest go first; 0 when the whole recent history fit. Messages older than
        ``ContextConfig.history_messages`` are never candidates and do not count.
        """
        return sum(1 for item in self.packed.dropped if _trimmed(item))

    @property
    def trimmed(self) -> bool:
        """Whether history was left out to fit the budget."""
        return self.trimmed_messages > 0

    @property
    def messages(self) -> list[ContextMessage]:
        return self.packed.messages

    @property
    def tokens(self) -> int:
        return self.packed.tokens

    def as_text(self) -> str:
        return self.packed.as_text()

    @property
    def message_dicts(self) -> list[dict[str, str]]:
        """:attr:`messages` as plain ``{"role", "content"}`` dicts, ready for JSON."""
        return [message.to_dict() for message in self.packed.messages]


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
    conversations: ConversationStore,
    user_id: str,
    conversation_id: str | None,
    *,
    now: datetime,
    config: ResumeConfig,
    preferences: Sequence[str],
) -> Resumption:
    """The resumption context of a user (and conversation) from stored state."""
    conversation = (
        conversations.get(user_id, conversation_id) if conversation_id is not None else None
    )
    return build_resumption(
        now=now,
        conversation=conversation,
        recent=conversations.list(user_id, limit=max(1, config.recent_summaries)),
        preferences=preferences,
        config=config,
    )


def build_context(
    query: str,
    *,
    search: Callable[[str, int], list[SearchHit]],
    conversations: ConversationStore,
    user_id: str,
    conversation_id: str | None,
    preferences: Sequence[str],
    now: datetime,
    config: ContextConfig,
    resumption: Resumption | None = None,
    changes: Callable[[list[str], datetime], Mapping[str, tuple[str, datetime]]] | None = None,
) -> BuiltContext:
    """The budgeted prompt for the user's next message (see the module docstring).

    The resumption mode is chosen by the gap since the last stored interaction, so call
    it before recording the new message, or pass the ``resumption`` captured when the
    session started (what the framework adapters do, since frameworks store the user's
    message before asking for the context).

    Args:
        query: The user's next message.
        search: ``(query, k) -> hits`` over the user's memories.
        conversations: Where the conversation's history and state are read.
        user_id: Whose conversation.
        conversation_id: The conversation, or None for none (no history).
        preferences: The user's current preferences, newest first.
        now: The time the resumption gap is measured to.
        config: What goes in and how much of it.
        resumption: The resumption taken when the session started, if any.
        changes: ``(memory ids, since) -> {id: (content it replaced, when)}``: what
            retrieved memories replaced since then, for the "changed on" note (see
            :attr:`ContextConfig.changed_within_days`); None adds no note.

    A failing ``search`` does not fail the call: the context is built without memories
    and the failure is named in :attr:`BuiltContext.warnings`.
    """
    warnings: list[str] = []
    if resumption is None:
        resumption = resumption_for(
            conversations,
            user_id,
            conversation_id,
            now=now,
            config=config.resume,
            preferences=preferences,
        )
    history: list[Message] = (
        conversations.messages(user_id, conversation_id, last=config.history_messages)
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
            hits = search(search_query, config.memories_k)
        except Exception as error:
            message = f"memory retrieval failed ({type(error).__name__}); context built without it"
            warnings.append(message)
            logger.warning(message, exc_info=True)
    replaced: Mapping[str, tuple[str, datetime]] = {}
    if changes is not None and hits and config.changed_within_days > 0:
        since = now - timedelta(days=config.changed_within_days)
        try:
            replaced = changes([hit.memory.id for hit in hits], since)
        except Exception as error:
            message = f"reading what memories replaced failed ({type(error).__name__})"
            warnings.append(message)
            logger.warning(message, exc_info=True)
    snippets = [
        MemorySnippet(
            content=_with_change(hit.memory.content, replaced.get(hit.memory.id)),
            created_at=hit.memory.created_at,
            score=hit.score,
            kind=hit.memory.kind,
            id=hit.memory.id,
        )
        for hit in hits
    ]
    counter = token_counter(config.model)
    packed = pack_context(
        system_prompt=config.system_prompt,
        preferences=preferences,
        resumption=resumption.render(),
        history=[ContextMessage(m.role, m.content) for m in history],
        memories=snippets,
        budget=config.budget,
        counter=counter,
    )
    trimmed = [item for item in packed.dropped if _trimmed(item)]
    trimmed_tokens = sum(counter.count(item.content) for item in trimmed)
    if trimmed:
        logger.debug(
            "history trimmed to fit the budget of %d tokens: %d messages (%d tokens) left out",
            packed.budget,
            len(trimmed),
            trimmed_tokens,
        )
    return BuiltContext(packed, resumption, hits, search_query, warnings, trimmed_tokens)


def _trimmed(item: Dropped) -> bool:
    """Whether ``item`` is a history message the budget left out (not a blank one)."""
    return item.section == "history" and item.reason != "empty"


def _with_change(content: str, change: tuple[str, datetime] | None) -> str:
    """The memory's text, with what it replaced and when, if it replaced something.

    Example:
        >>> when = datetime(2026, 6, 30, tzinfo=timezone.utc)
        >>> _with_change("I like the red theme", ("I like the blue theme", when))
        'I like the red theme (changed on 30 Jun 2026; before: "I like the blue theme")'
    """
    if change is None:
        return content
    before, when = change
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return f'{content} (changed on {when.day} {when:%b %Y}; before: "{before}")'
