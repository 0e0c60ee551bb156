"""Build the prompt for one model call within a token budget.

Pure functions over plain data: :func:`pack_context` takes a system prompt, the user's
preferences, a resumption note, the recent chat history and retrieved memories, and
returns the messages to send, how many tokens they cost and what was left out and why.

Every count follows the budget rule of :mod:`multisession.context.tokens`:
``sum(3 + count(role) + count(content)) + 3`` over the messages sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from ..errors import ConfigurationError, InvalidInputError
from ..records import ContextMessage
from .tokens import TokenCounter

__all__ = [
    "MEMORIES_HEADER",
    "PREFERENCES_HEADER",
    "RESUMPTION_HEADER",
    "ContextBudget",
    "DropReason",
    "Dropped",
    "MemorySnippet",
    "PackedContext",
    "Section",
    "pack_context",
]

PREFERENCES_HEADER = "Known preferences:"
RESUMPTION_HEADER = "Where we left off:"
MEMORIES_HEADER = "Relevant memories:"

Section = Literal["preferences", "resumption", "history", "memories"]
DropReason = Literal["over budget", "section share exhausted", "empty", "shown as a preference"]


@dataclass(frozen=True)
class MemorySnippet:
    """A retrieved memory, as :func:`pack_context` renders it.

    Example:
        >>> from datetime import datetime, timezone
        >>> MemorySnippet("I'm allergic to peanuts", datetime(2026, 3, 2, tzinfo=timezone.utc),
        ...               score=0.8).content
        "I'm allergic to peanuts"

    Attributes:
        content: The memory's text.
        created_at: When it was stored; rendered as its date (UTC when timezone-aware).
        score: Retrieval score; higher is packed first.
        kind: ``"fact"``, ``"preference"``, ``"episode"``, ... (not rendered).
        id: The memory's id, echoed in :class:`Dropped` and :attr:`PackedContext.memories`.
    """

    content: str
    created_at: datetime
    score: float = 0.0
    kind: str = "fact"
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            raise InvalidInputError(
                f"MemorySnippet.content must be a string, got {type(self.content).__name__}"
            )
        if not isinstance(self.created_at, datetime):
            raise InvalidInputError(
                f"MemorySnippet.created_at must be a datetime, got {self.created_at!r}"
            )
        if (
            isinstance(self.score, bool)
            or not isinstance(self.score, (int, float))
            or not (math.isfinite(self.score))
        ):
            raise InvalidInputError(
                f"MemorySnippet.score must be a finite number, got {self.score!r}"
            )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ContextBudget:
    """How many tokens a prompt may use, and how they are shared between sections.

    ``available = max_tokens - response_reserve`` is the hard limit. After the system
    prompt is paid for, each optional section may use at most its share of what is
    left, plus whatever the sections before it left unused (unused space flows on, in
    the order preferences, resumption, history, memories). Shares need not sum to 1:
    below 1 deliberately leaves room unused; above 1 the total limit still binds.

    The default fits a 4k-token model: 4096 tokens, 512 of them kept for the reply, so
    a prompt uses at most 3584. Set ``max_tokens`` to your model's context window (or
    the part of it memory may use); what did not fit is reported by
    :attr:`~multisession.context.builder.BuiltContext.trimmed_messages` and
    :attr:`PackedContext.dropped`.

    Example:
        >>> from dataclasses import replace
        >>> budget = replace(ContextBudget(), max_tokens=8192)
        >>> budget.available
        7680

    Attributes:
        max_tokens: The model's context window (or the part of it to use).
        response_reserve: Tokens kept free for the model's answer.
        preferences_share: Upper bound for the "Known preferences" block.
        resumption_share: Upper bound for the resumption block.
        history_share: Upper bound for the recent messages.
        memories_share: Upper bound for the "Relevant memories" block.

    Raises:
        ConfigurationError: A value is out of range.
    """

    max_tokens: int = 4096
    response_reserve: int = 512
    preferences_share: float = 0.10
    resumption_share: float = 0.15
    history_share: float = 0.45
    memories_share: float = 0.30

    def __post_init__(self) -> None:
        for name in ("max_tokens", "response_reserve"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(f"ContextBudget.{name} must be an int, got {value!r}")
        if self.max_tokens <= 0:
            raise ConfigurationError(
                f"ContextBudget.max_tokens must be positive, got {self.max_tokens}"
            )
        if not 0 <= self.response_reserve < self.max_tokens:
            raise ConfigurationError(
                "ContextBudget.response_reserve must be >= 0 and below max_tokens "
                f"({self.max_tokens}), got {self.response_reserve}"
            )
        for name in ("preferences_share", "resumption_share", "history_share", "memories_share"):
            value = getattr(self, name)
            if not (_is_number(value) and 0.0 <= value <= 1.0):
                raise ConfigurationError(
                    f"ContextBudget.{name} must be a number between 0 and 1, got {value!r}"
                )

    @property
    def available(self) -> int:
        """Tokens the prompt may use: ``max_tokens - response_reserve``."""
        return self.max_tokens - self.response_reserve


@dataclass(frozen=True)
class Dropped:
    """Something :func:`pack_context` left out, and why.

    Example:
        >>> from multisession.context.tokens import EstimatingCounter
        >>> packed = pack_context(
        ...     system_prompt="Be brief.",
        ...     history=[ContextMessage("user", "word " * 5000)],
        ...     counter=EstimatingCounter(),
        ... )
        >>> packed.dropped[0].section, packed.dropped[0].reason
        ('history', 'over budget')

    Attributes:
        section: ``"preferences"``, ``"resumption"``, ``"history"`` or ``"memories"``.
        content: The text left out (a preference, the resumption note, a message's
            content or a memory's content).
        reason: ``"section share exhausted"`` (it would have fit the total budget but
            not its section's share), ``"over budget"`` (it did not fit the total
            budget), or ``"empty"`` (blank text, never rendered).
        id: The memory's id, for memories that carry one.
    """

    section: Section
    content: str
    reason: DropReason
    id: str | None = None


@dataclass(frozen=True)
class PackedContext:
    """The prompt :func:`pack_context` built.

    Example:
        >>> from multisession.context.tokens import EstimatingCounter
        >>> packed = pack_context(system_prompt="Be brief.", counter=EstimatingCounter())
        >>> packed.as_dicts()
        [{'role': 'system', 'content': 'Be brief.'}]
        >>> packed.tokens, packed.budget
        (11, 3584)

    Attributes:
        messages: One system message (system prompt, then the preference, resumption
            and memory blocks that fit), followed by the included history messages in
            chronological order.
        tokens: ``counter.count_messages(messages)``; never more than ``budget``.
        budget: The tokens that were available (``max_tokens - response_reserve``).
        dropped: Everything left out, in the order it was considered.
        memories: The memories included, best first.
    """

    messages: list[ContextMessage]
    tokens: int
    budget: int
    dropped: list[Dropped]
    memories: list[MemorySnippet] = field(default_factory=list)

    def as_text(self) -> str:
        """Return the messages as one string: ``"role: content"`` blocks, blank-line separated."""
        return "\n\n".join(f"{message.role}: {message.content}" for message in self.messages)

    def as_dicts(self) -> list[dict[str, str]]:
        """Return the messages as ``{"role": ..., "content": ...}`` dicts (OpenAI's format)."""
        return [{"role": message.role, "content": message.content} for message in self.messages]


# -- packing ------------------------------------------------------------------------------


def _bullet(text: str) -> str:
    return "- " + text.replace("\n", "\n  ")


def _memory_line(memory: MemorySnippet) -> str:
    created = memory.created_at
    if created.tzinfo is not None:
        created = created.astimezone(timezone.utc)
    return _bullet(f"({created.date().isoformat()}) {memory.content}")


def _timestamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


@dataclass
class _Blocks:
    """The system message under construction: the prompt plus the rendered blocks."""

    system_prompt: str
    preferences: list[str] = field(default_factory=list)
    resumption: str | None = None
    memories: list[MemorySnippet] = field(default_factory=list)

    def content(self) -> str:
        parts = [self.system_prompt] if self.system_prompt else []
        if self.preferences:
            parts.append("\n".join([PREFERENCES_HEADER, *map(_bullet, self.preferences)]))
        if self.resumption is not None:
            parts.append(f"{RESUMPTION_HEADER}\n{self.resumption}")
        if self.memories:
            parts.append("\n".join([MEMORIES_HEADER, *map(_memory_line, self.memories)]))
        return "\n\n".join(parts)

    def is_empty(self) -> bool:
        return not (
            self.system_prompt or self.preferences or self.resumption is not None or self.memories
        )


class _Allowance:
    """Token accounting for one section: its cap (share plus carry) and the total left."""

    def __init__(self, cap: int, total_left: int) -> None:
        self.cap = cap
        self.total_left = total_left
        self.used = 0

    def fits(self, cost: int) -> DropReason | None:
        """Return None when ``cost`` fits, else the reason it does not."""
        if cost > self.total_left - self.used:
            return "over budget"
        if cost > self.cap - self.used:
            return "section share exhausted"
        return None

    def take(self, cost: int) -> None:
        self.used += cost


def pack_context(
    *,
    system_prompt: str,
    preferences: Sequence[str] = (),
    resumption: str | None = None,
    history: Sequence[ContextMessage] = (),
    memories: Sequence[MemorySnippet] = (),
    budget: ContextBudget = ContextBudget(),  # noqa: B008  (frozen, so sharing is safe)
    counter: TokenCounter,
) -> PackedContext:
    """Pack a prompt into ``budget``, most important material first.

    Sections are filled in priority order, each within its share (see
    :class:`ContextBudget`):

    1. the system prompt, always (it alone must fit);
    2. preferences, in the order given; one that does not fit is skipped and the next
       is tried;
    3. the resumption note, whole or not at all;
    4. history, a sliding window of whole messages from the most recent backwards,
       stopping at the first message that does not fit (so the included messages are
       always the most recent contiguous run);
    5. memories, best score first (ties: newer first, then input order); one that does
       not fit is skipped and the next, possibly smaller, one is tried.

    The system message holds the system prompt, then "Known preferences:",
    "Where we left off:" and "Relevant memories:" blocks (memories rendered as
    ``- (2026-03-02) I'm allergic to peanuts``); the history follows as its own
    messages, oldest first. Costs of lines inside the system message are measured one
    by one; the whole prompt is then counted exactly and, should joining the lines have
    cost more than the sum, the lowest-priority items are dropped until it fits.

    Example:
        >>> from multisession.context.tokens import token_counter
        >>> packed = pack_context(
        ...     system_prompt="You are a helpful travel assistant.",
        ...     preferences=["Prefers window seats"],
        ...     history=[ContextMessage("user", "Find me a flight to Lisbon")],
        ...     counter=token_counter("gpt-4o"),
        ... )
        >>> [message.role for message in packed.messages]
        ['system', 'user']
        >>> print(packed.messages[0].content)
        You are a helpful travel assistant.
        <BLANKLINE>
        Known preferences:
        - Prefers window seats
        >>> packed.tokens <= packed.budget
        True

    Args:
        system_prompt: Instructions for the model; always included.
        preferences: The user's standing preferences, most important first.
        resumption: A note on where the conversation left off (see the session tier).
        history: Recent messages, oldest first.
        memories: Retrieved memories, in any order.
        budget: Token limits and section shares.
        counter: Counts tokens for the target model (see
            :func:`~multisession.context.tokens.token_counter`).

    Returns:
        The :class:`PackedContext`. Deterministic for the same inputs and counter.

    Raises:
        InvalidInputError: The system prompt alone does not fit, or an argument has the
            wrong type.
    """
    _check_inputs(system_prompt, preferences, resumption, history, memories, budget)
    available = budget.available
    blocks = _Blocks(system_prompt)
    base_cost = counter.count_messages([ContextMessage("system", system_prompt)])
    if base_cost > available:
        raise InvalidInputError(
            f"the system prompt alone needs {base_cost} tokens (with message overhead) but "
            f"only {available} are available (max_tokens {budget.max_tokens} - "
            f"response_reserve {budget.response_reserve}); shorten the system prompt or "
            "raise ContextBudget.max_tokens"
        )
    room = available - base_cost
    dropped: list[Dropped] = []
    spent = 0  # tokens used on top of base_cost
    carry = 0  # share left unused by earlier sections
    system_tokens = base_cost  # the system message as last measured

    def open_section(share: float) -> _Allowance:
        return _Allowance(cap=math.floor(share * room) + carry, total_left=room - spent)

    def close_section(allowance: _Allowance, used: int) -> None:
        nonlocal spent, carry
        spent += used
        carry = max(0, allowance.cap - used)

    def system_growth() -> int:
        """Measure the system message again; return how much it grew."""
        nonlocal system_tokens
        previous = system_tokens
        system_tokens = counter.count_messages([ContextMessage("system", blocks.content())])
        return system_tokens - previous

    def separator() -> str:
        return "\n\n" if not blocks.is_empty() else ""

    # 1. preferences: skip one that does not fit, try the next.
    allowance = open_section(budget.preferences_share)
    header_cost = counter.count(separator() + PREFERENCES_HEADER)
    for preference in preferences:
        if not preference.strip():
            dropped.append(Dropped("preferences", preference, "empty"))
            continue
        cost = counter.count("\n" + _bullet(preference)) + (
            0 if blocks.preferences else header_cost
        )
        reason = allowance.fits(cost)
        if reason is None:
            allowance.take(cost)
            blocks.preferences.append(preference)
        else:
            dropped.append(Dropped("preferences", preference, reason))
    close_section(allowance, system_growth() if blocks.preferences else 0)

    # 2. resumption: whole or not at all.
    allowance = open_section(budget.resumption_share)
    if resumption is not None and not resumption.strip():
        dropped.append(Dropped("resumption", resumption, "empty"))
    elif resumption is not None:
        cost = counter.count(f"{separator()}{RESUMPTION_HEADER}\n{resumption}")
        reason = allowance.fits(cost)
        if reason is None:
            blocks.resumption = resumption
        else:
            dropped.append(Dropped("resumption", resumption, reason))
    close_section(allowance, system_growth() if blocks.resumption is not None else 0)

    # 3. history: whole messages from the most recent backwards, stop at the first miss.
    allowance = open_section(budget.history_share)
    # A message's cost is what it adds to a request (chat counters add up per message).
    priming = counter.count_messages([])
    first_included = len(history)
    costs: list[int] = []
    for position in range(len(history) - 1, -1, -1):
        message = history[position]
        cost = counter.count_messages([message]) - priming
        reason = allowance.fits(cost)
        if reason is not None:
            dropped.extend(
                Dropped("history", older.content, reason) for older in history[: position + 1]
            )
            break
        allowance.take(cost)
        costs.insert(0, cost)
        first_included = position
    included_history = list(history[first_included:])
    close_section(allowance, allowance.used)

    # 4. memories: best first; skip one that does not fit, try the next.
    allowance = open_section(budget.memories_share)
    header_cost = counter.count(separator() + MEMORIES_HEADER)
    ranked = sorted(memories, key=lambda memory: (-memory.score, -_timestamp(memory.created_at)))
    shown = set(blocks.preferences)
    for memory in ranked:
        if memory.content in shown:
            dropped.append(Dropped("memories", memory.content, "shown as a preference", memory.id))
            continue
        if not memory.content.strip():
            dropped.append(Dropped("memories", memory.content, "empty", memory.id))
            continue
        cost = counter.count("\n" + _memory_line(memory)) + (0 if blocks.memories else header_cost)
        reason = allowance.fits(cost)
        if reason is None:
            allowance.take(cost)
            blocks.memories.append(memory)
        else:
            dropped.append(Dropped("memories", memory.content, reason, memory.id))

    # The exact count of the system message decides (its line costs only approximate
    # it); the history adds what each of its messages was measured at.
    def measure() -> tuple[ContextMessage, int]:
        system = ContextMessage("system", blocks.content())
        return system, counter.count_messages([system]) + sum(costs)

    system, tokens = measure()
    while tokens > available:
        if _drop_lowest_priority(blocks, included_history, dropped) == "history":
            costs.pop(0)
        system, tokens = measure()
    messages = [system, *included_history]
    return PackedContext(
        messages=messages,
        tokens=tokens,
        budget=available,
        dropped=dropped,
        memories=list(blocks.memories),
    )


def _drop_lowest_priority(
    blocks: _Blocks, history: list[ContextMessage], dropped: list[Dropped]
) -> Section:
    """Leave out the least important item left; returns its section."""
    if blocks.memories:
        memory = blocks.memories.pop()
        dropped.append(Dropped("memories", memory.content, "over budget", memory.id))
        return "memories"
    if history:
        dropped.append(Dropped("history", history.pop(0).content, "over budget"))
        return "history"
    if blocks.resumption is not None:
        dropped.append(Dropped("resumption", blocks.resumption, "over budget"))
        blocks.resumption = None
        return "resumption"
    if blocks.preferences:
        dropped.append(Dropped("preferences", blocks.preferences.pop(), "over budget"))
        return "preferences"
    # Only the system prompt is left, and it was checked to fit.
    raise AssertionError("the system prompt alone exceeds the budget")


def _check_inputs(
    system_prompt: str,
    preferences: Sequence[str],
    resumption: str | None,
    history: Sequence[ContextMessage],
    memories: Sequence[MemorySnippet],
    budget: ContextBudget,
) -> None:
    # The annotations say what callers should pass; these checks catch those who do not.
    if not isinstance(system_prompt, str):
        raise InvalidInputError(f"system_prompt must be a string, got {system_prompt!r}")
    if isinstance(preferences, str) or not all(isinstance(item, str) for item in preferences):
        raise InvalidInputError("preferences must be a sequence of strings")
    if resumption is not None and not isinstance(resumption, str):
        raise InvalidInputError(f"resumption must be a string or None, got {resumption!r}")
    if not all(isinstance(item, ContextMessage) for item in history):
        raise InvalidInputError("history must be a sequence of ContextMessage")
    if not all(isinstance(item, MemorySnippet) for item in memories):
        raise InvalidInputError("memories must be a sequence of MemorySnippet")
    if not isinstance(budget, ContextBudget):
        raise InvalidInputError(f"budget must be a ContextBudget, got {budget!r}")
