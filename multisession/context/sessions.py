"""Session resumption: what to tell the model when a user comes back.

The gap since the user's last interaction picks the mode:

- under ``continue_within`` (1 hour): ``continue``, with the conversation's latest summary;
- under ``recap_within`` (1 day): ``recap``, with preferences, the last conversation's
  summary and its open action items;
- otherwise, or for a user never seen: ``fresh_start``, with preferences and the
  summaries of recent conversations.

Each mode renders as a short system instruction; the wording is configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..errors import ConfigurationError
from ..records import Conversation

__all__ = ["RESUME_MODES", "ResumeConfig", "Resumption", "build_resumption", "resume_mode"]

RESUME_MODES = ("continue", "recap", "fresh_start")


@dataclass(frozen=True)
class ResumeConfig:
    """Thresholds and wording of session resumption.

    The instructions may use ``{gap}`` (e.g. "3 days") and ``{last}`` (the date of the
    last interaction).
    """

    continue_within: timedelta = timedelta(hours=1)
    recap_within: timedelta = timedelta(days=1)
    continue_instruction: str = "Continue the conversation naturally; the user was here {gap} ago."
    recap_instruction: str = (
        "The user is returning after {gap}. Briefly acknowledge the return and offer to "
        "pick up where you left off."
    )
    fresh_start_instruction: str = (
        "The user is back after {gap} (last seen {last}). Greet them without assuming "
        "what they need today; use what you know about them only where it helps."
    )
    first_visit_instruction: str = (
        "This is your first conversation with this user. Greet them and find out what they need."
    )
    recent_summaries: int = 3
    max_preferences: int = 20

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.continue_within <= self.recap_within:
            raise ConfigurationError(
                "ResumeConfig needs 0 <= continue_within <= recap_within, got "
                f"{self.continue_within} and {self.recap_within}"
            )
        if self.recent_summaries < 0 or self.max_preferences < 0:
            raise ConfigurationError("ResumeConfig counts must be >= 0")


@dataclass(frozen=True)
class Resumption:
    """The resumption context for one returning user."""

    mode: str
    instruction: str
    last_interaction: datetime | None
    gap: timedelta | None
    summary: str | None = None
    preferences: list[str] = field(default_factory=list)
    open_action_items: list[str] = field(default_factory=list)
    recent_summaries: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The context as a short text block for the prompt."""
        lines = [self.instruction]
        if self.summary:
            label = "Conversation so far" if self.mode == "continue" else "Last conversation"
            lines.append(f"{label}: {self.summary}")
        if self.open_action_items:
            lines.append("Open action items: " + "; ".join(self.open_action_items))
        for summary in self.recent_summaries:
            lines.append(f"Earlier conversation: {summary}")
        return "\n".join(lines)


def resume_mode(gap: timedelta | None, config: ResumeConfig) -> str:
    """``continue``, ``recap`` or ``fresh_start`` for a gap (None: never seen)."""
    if gap is None or gap >= config.recap_within:
        return "fresh_start"
    if gap < config.continue_within:
        return "continue"
    return "recap"


def _describe_gap(gap: timedelta) -> str:
    seconds = max(0, int(gap.total_seconds()))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "a moment"


def build_resumption(
    *,
    now: datetime,
    conversation: Conversation | None,
    recent: Sequence[Conversation],
    preferences: Sequence[str],
    config: ResumeConfig,
) -> Resumption:
    """Assemble the resumption context from stored state (a pure function).

    Args:
        now: The current time.
        conversation: The conversation being resumed, if it exists.
        recent: The user's conversations, most recently active first.
        preferences: The user's preferences, newest first.
        config: Thresholds and wording.
    """
    anchor = conversation or (recent[0] if recent else None)
    if anchor is None:
        return Resumption(
            mode="fresh_start",
            instruction=config.first_visit_instruction,
            last_interaction=None,
            gap=None,
            preferences=list(preferences[: config.max_preferences]),
        )
    last = max(c.last_interaction_at for c in ([anchor, *recent]))
    gap = now - last
    mode = resume_mode(gap, config)
    template = {
        "continue": config.continue_instruction,
        "recap": config.recap_instruction,
        "fresh_start": config.fresh_start_instruction,
    }[mode]
    instruction = template.format(gap=_describe_gap(gap), last=f"{last:%Y-%m-%d}")
    if mode == "continue":
        return Resumption(mode, instruction, last, gap, summary=anchor.summary)
    if mode == "recap":
        latest = recent[0] if recent else anchor
        return Resumption(
            mode,
            instruction,
            last,
            gap,
            summary=latest.summary,
            preferences=list(preferences[: config.max_preferences]),
            open_action_items=latest.open_action_items,
        )
    summaries = [c.summary for c in recent if c.summary][: config.recent_summaries]
    return Resumption(
        mode,
        instruction,
        last,
        gap,
        preferences=list(preferences[: config.max_preferences]),
        recent_summaries=summaries,
    )
