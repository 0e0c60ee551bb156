"""Memory-worthiness: which parts of a chat message are worth remembering about the user.

After each exchange an assistant has to decide what, if anything, to keep. This module
answers that without a model: a deterministic filter made of precompiled patterns, about
0.1 ms per message, its cost linear in the message length. The patterns, vocabularies and
rule tables live in :mod:`._worthiness_rules`; this module is the procedure that applies
them.

A message is split into statements (sentences). Each statement is prepared first:

1. No words at all: not worthy.
2. Leading greetings, thanks, acknowledgements and fillers ("hey", "ok", "I think so",
   "my bad") are peeled off; if nothing is left the statement is small talk.
3. An explicit cue ("remember that", "don't forget", "important:", "note that") makes the
   rest worthy, even inside a question ("can you remember that I'm vegetarian?"). The
   stored text drops the cue.
4. Sarcasm markers anywhere in the message ("yeah right", "/s", "🙄") make the rest of it
   not worthy.

Then the stages of :data:`_STAGES` decide, in order; the first that gives a verdict wins:

5. Hypotheticals ("if I were ...", "imagine I ...") are not worthy.
6. Standing instructions ("from now on ...", "never use emojis", "keep your answers
   short") are preferences, and names ("call me Sam") facts, even when phrased as a
   request.
7. Questions and other requests to the assistant are not worthy, except a clause of them
   that states something about the user ("I'm vegan, what should I cook?" keeps "I'm
   vegan") or a named relation ("email my boss Karen" keeps "my boss is Karen").
8. The rest is taken clause by clause. A clause that is feedback on the current answer
   ("I like this version better"), task chatter ("I'm getting an error") or a passing
   state ("I'm tired today") holds nothing lasting; another clause of the same sentence
   still may ("I have an interview tomorrow and I'm nervous" is an episode).
9. First-person clauses with a stative or biographical verb are worthy: identity,
   relations, health, work, location and possessions are facts; likes, dislikes, habits
   and standing instructions are preferences; past events, decisions, goals, plans and
   ongoing projects are episodes. A date turns a relation or possession into an episode.

Anything else (other people's facts, chit-chat, first-person statements with no lasting
content such as "I think so") is not worthy. Every :class:`Assessment` carries a short
reason. Borderline cases are decided for precision: a stored wrong memory costs more
than a missed one, which the user can restate.

The optional model-based extraction, which falls back to these rules, is in
:mod:`.llm`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

from .._validation import check_role, check_string
from . import _worthiness_rules as rules
from ._worthiness_rules import EPISODE, FACT, KINDS, PREFERENCE, Rejection, Rule

__all__ = [
    "KINDS",
    "Assessment",
    "assess",
    "memories_from_exchange",
    "split_statements",
]


@dataclass(frozen=True)
class Assessment:
    """The verdict on one statement (or one message) and why.

    Example::

        from multisession.extraction.worthiness import assess

        verdict = assess("remember that my gate code is 4411")
        assert verdict.worthy and verdict.kind == "fact"
        assert verdict.text == "my gate code is 4411"
        assert assess("thanks!").reason == "thanks"

    Attributes:
        worthy: Whether the statement is worth storing as a memory.
        kind: ``"fact"``, ``"preference"`` or ``"episode"`` when worthy, else ``None``.
        reason: A short human-readable why, such as ``"explicit cue 'remember that'"``,
            ``"greeting"`` or ``"question"``. A clause turned down by a rejection row
            reports that row's reason, its group first: ``"transient state: a passing
            feeling"``.
        cue: The cue or pattern that decided it, if any.
        text: The memory text to store: the statement with whitespace normalised, cue
            words and leading small talk trimmed. Empty when not worthy.
    """

    worthy: bool
    kind: str | None
    reason: str
    cue: str | None = None
    text: str = ""


def _not_worthy(reason: str) -> Assessment:
    return Assessment(worthy=False, kind=None, reason=reason)


def _worthy(kind: str, reason: str, cue: str, text: str) -> Assessment:
    return Assessment(worthy=True, kind=kind, reason=reason, cue=cue, text=_tidy(text))


# --------------------------------------------------------------------------------------
# Normalisation


def _match_form(text: str) -> str:
    """Lower-cased text with spelling variants folded, the form every rule matches.

    "My husband and I are ..." becomes "we're ...".
    """
    lowered = rules.AND_I.sub("we", text.lower())
    return rules.VARIANT_PATTERN.sub(lambda m: rules.VARIANTS[m.group(0)], lowered)


def _tidy(text: str) -> str:
    """The text without trailing punctuation, emoji and sign-offs."""
    end = len(text)
    while True:
        while end and not (text[end - 1].isalnum() or text[end - 1] in rules.KEPT_TRAILING):
            end -= 1
        sign_off = rules.TRAILING_SIGN_OFF.search(text, max(0, end - 8), end)
        if sign_off is None:
            return text[:end].strip()
        end = sign_off.start()


# --------------------------------------------------------------------------------------
# Sentence splitting


def _split_line(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in rules.SENTENCE_END.finditer(line):
        head = line[max(start, match.start() - 16) : match.start() + 1]  # the word before it
        word = rules.LAST_WORD.search(head)
        if match.group(0).startswith(".") and word:
            token = word.group(1).lower()
            if token in rules.ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue
        pieces.append(line[start : match.end()])
        start = match.end()
    pieces.append(line[start:])
    return pieces


def split_statements(message: str) -> list[str]:
    """Splits a message into statements (sentences), whitespace normalised.

    Lines and sentence-ending punctuation separate statements; common abbreviations
    ("Dr.", "e.g.") and initials do not. Fenced code blocks and quoted lines (``> ...``)
    are dropped, and pieces without words (a trailing emoji, "!!") stay with the
    sentence before them.

    Example:
        >>> split_statements("Hi! I'm Alice and I work at Acme. Thanks")
        ['Hi!', "I'm Alice and I work at Acme.", 'Thanks']

    Raises:
        InvalidInputError: If ``message`` is not a string.
    """
    check_string(message, "message")
    text = rules.QUOTED_LINE.sub("", rules.FENCED_CODE.sub("\n", message))
    statements: list[str] = []
    for line in text.splitlines():
        for piece in _split_line(line):
            cleaned = rules.clean(piece)
            if not cleaned:
                continue
            if statements and not rules.HAS_WORD.search(cleaned):
                statements[-1] = f"{statements[-1]} {cleaned}"
            else:
                statements.append(cleaned)
    return statements


# --------------------------------------------------------------------------------------
# Small talk peeled off the front of a statement


def _peel_small_talk(text: str) -> tuple[str, list[str]]:
    """Removes leading small talk; returns the rest and the categories removed."""
    categories: list[str] = []
    peeled = True
    while peeled and text:
        peeled = False
        for category, pattern in rules.SMALL_TALK:
            match = pattern.match(text)
            if match and match.end() > 0:
                categories.append(category)
                text = text[match.end() :]
                peeled = True
                break
    return text, categories


def _social_reason(categories: list[str]) -> str:
    return min(categories, key=rules.SOCIAL_PRIORITY.index)


# --------------------------------------------------------------------------------------
# The stages


@dataclass
class _Context:
    """What one statement may need from the rest of its message."""

    sarcastic: bool = False
    relation: str | None = None


class _Text(NamedTuple):
    """A statement or a clause as written and in match form.

    ``asking`` tells whether a statement is a question or a request to the assistant;
    it is only worked out for whole statements and is ``None`` for a clause.
    """

    text: str
    form: str
    asking: Literal["question", "request"] | None = None


_Check = Callable[[_Text, _Context], Assessment | None]


@dataclass(frozen=True)
class _Stage:
    """One row of :data:`_STAGES`.

    Attributes:
        name: What the stage looks for.
        scope: ``"statement"`` stages see the whole statement; ``"clause"`` stages see
            each clause the statement stages let through, one at a time.
        check: Gives a verdict, or ``None`` to leave it to the next stage.
    """

    name: str
    scope: Literal["statement", "clause"]
    check: _Check


@dataclass(frozen=True)
class _Keep:
    """A check that keeps the text when a row of its table matches.

    Attributes:
        rows: The rule rows; the first that matches gives kind, cue and reason.
        skip_questions: Whether a question passes by these rows untouched. A polite
            request still counts: "can you stop using emojis?" sets a standing rule,
            while "what's my name?" names no one.
    """

    rows: tuple[Rule, ...]
    skip_questions: bool = False

    def __call__(self, piece: _Text, context: _Context) -> Assessment | None:
        if (
            self.skip_questions
            and piece.asking == "question"
            and not rules.POLITE_REQUEST.match(piece.form)
        ):
            return None
        for row in self.rows:
            if not row.pattern.search(piece.text if row.cased else piece.form):
                continue
            if row.needs is not None and not row.needs.search(piece.form):
                continue
            dated = row.dated_kind is not None and rules.DATED.search(piece.form)
            kind = row.dated_kind if dated and row.dated_kind else row.kind
            return _worthy(kind, row.reason, row.cue, piece.text)
        return None


class _Reject:
    """A check that turns the text down when a row of its table matches.

    Args:
        rows: The rejection rows; the first that matches gives the reason.
        unless: A text this matches is never turned down by these rows.
    """

    def __init__(
        self, rows: tuple[Rejection, ...], *, unless: re.Pattern[str] | None = None
    ) -> None:
        self.rows = rows
        self.unless = unless

    @functools.cached_property
    def _any_row(self) -> re.Pattern[str]:
        # Most clauses match no row: one scan over all of them says so. Built on the first
        # clause checked rather than at import, like the rows' own patterns (see _patterns).
        if any(row.pattern.flags != re.UNICODE for row in self.rows):
            raise ValueError("rejection rows are matched in the match form, without flags")
        return re.compile("|".join(f"(?:{row.pattern.pattern})" for row in self.rows))

    def __call__(self, piece: _Text, context: _Context) -> Assessment | None:
        if not self._any_row.search(piece.form):
            return None
        if self.unless is not None and self.unless.search(piece.form):
            return None
        for row in self.rows:
            if row.pattern.search(piece.form) and (
                row.needs is None or row.needs.search(piece.form)
            ):
                return _not_worthy(row.reason)
        return None


def _question_or_request(piece: _Text, context: _Context) -> Assessment | None:
    """Turns down a question or request, keeping a clause of it about the user."""
    if piece.asking is None:
        return None
    clauses = rules.CLAUSE_SPLIT.split(piece.text)
    inner = _statement_in_request(clauses, context) if len(clauses) > 1 else None
    if inner is not None:
        return inner
    mention = rules.RELATION_NAME.search(piece.text)
    if mention:
        phrase = f"my {mention.group('rel').lower()} is {mention.group('name')}"
        return _worthy(FACT, "relation named in a request", "my <relation> <Name>", phrase)
    return _not_worthy("question" if piece.asking == "question" else "request to the assistant")


def _statement_in_request(clauses: list[str], context: _Context) -> Assessment | None:
    """The first clause of a question or request that states something about the user."""
    context = replace(context)
    for clause in clauses:
        rest, _ = _peel_small_talk(clause)
        mentions = rules.RELATION_MENTION.findall(clause)
        if mentions:
            context.relation = mentions[-1]
        if not rules.HAS_WORD.search(rest):
            continue
        form = _match_form(rest)
        if (
            rules.QUESTION_START.search(form)
            or rest.endswith("?")
            or rules.COMMAND_START.search(form)
        ):
            continue
        verdict = _assess_plain(rest, context)
        if verdict.worthy:
            return verdict
    return None


def _relation_continuation(piece: _Text, context: _Context) -> Assessment | None:
    """Turns "he loves fishing" after "my husband" into "my husband loves fishing"."""
    if context.relation is None:
        return None
    match = rules.PRONOUN_START.match(piece.text)
    if not match or not rules.STATIVE_AFTER_PRONOUN.search(_match_form(match.group("rest"))):
        return None
    verb = match.group("verb")
    relation = context.relation
    plural = relation.lower().endswith(("kids", "children", "parents", "twins", "pets"))
    if verb is None:
        joined = f"{relation} {match.group('rest')}"
    elif verb.strip() in {"'s", "is", "'re", "are"}:
        joined = f"{relation} {'are' if plural else 'is'} {match.group('rest')}"
    else:
        joined = f"{relation}{verb} {match.group('rest')}"
    return _worthy(FACT, "relation (continued)", "my <relation> ... he/she", joined)


_STAGES: tuple[_Stage, ...] = (
    _Stage("hypothetical", "statement", _Reject(rules.HYPOTHETICAL)),
    _Stage(
        "standing instruction", "statement", _Keep(rules.STANDING_INSTRUCTION, skip_questions=True)
    ),
    _Stage("name", "statement", _Keep(rules.NAME_RULES, skip_questions=True)),
    _Stage("question or request", "statement", _question_or_request),
    _Stage("feedback", "clause", _Reject(rules.FEEDBACK)),
    _Stage(
        "task chatter or passing state",
        "clause",
        _Reject(rules.TASK_CHATTER + rules.TRANSIENT, unless=rules.LIFE_GOAL),
    ),
    _Stage("cased name", "clause", _Keep(rules.CASED_NAMES)),
    _Stage("rule table", "clause", _Keep(rules.RULES)),
    _Stage("life event", "clause", _Keep(rules.LIFE_EVENTS)),
    _Stage("trip", "clause", _Keep(rules.TRIPS)),
    _Stage("pronoun continuation", "clause", _relation_continuation),
)
"""The order in which a statement is judged; the first stage with a verdict decides.

Statement stages run on the whole statement. If none decides, the statement is cut into
clauses and the clause stages run on each clause in turn: the first worthy clause makes
the statement worthy, and a clause turned down only gives the reason in case none is.
"""


def _first_verdict(piece: _Text, context: _Context, scope: str) -> Assessment | None:
    for stage in _STAGES:
        if stage.scope == scope:
            verdict = stage.check(piece, context)
            if verdict is not None:
                return verdict
    return None


def _asking(text: str, form: str) -> Literal["question", "request"] | None:
    if text.rstrip().endswith("?") or rules.QUESTION_START.search(form):
        return "question"
    if rules.COMMAND_START.search(form):
        return "request"
    return None


def _assess_plain(text: str, context: _Context) -> Assessment:
    """Runs the stages on text with small talk and cues already removed."""
    form = _match_form(text)
    verdict = _first_verdict(_Text(text, form, _asking(text, form)), context, "statement")
    if verdict is not None:
        return verdict
    turned_down = None
    for clause in rules.GUARD_SPLIT.split(text):
        if not rules.HAS_WORD.search(clause):
            continue
        verdict = _first_verdict(_Text(clause, _match_form(clause)), context, "clause")
        if verdict is None:
            continue
        if not verdict.worthy:
            turned_down = turned_down or verdict
            continue
        rewritten = verdict.text != _tidy(clause)  # "he loves ..." -> "my husband loves ..."
        return verdict if rewritten else replace(verdict, text=_tidy(text))
    if turned_down is not None:
        return turned_down
    if rules.FIRST_PERSON.search(form):
        return _not_worthy("no lasting information about the user")
    return _not_worthy("not about the user")


# --------------------------------------------------------------------------------------
# Statement assessment


def _guess_kind(form: str) -> str:
    """The kind of an explicitly cued statement that matched no rule."""
    if rules.SOUNDS_LIKE_PREFERENCE.search(form):
        return PREFERENCE
    if rules.TIME_MARKER.search(form) or rules.SOUNDS_LIKE_EVENT.search(form):
        return EPISODE
    return FACT


def _assess_cued(original: str, context: _Context) -> Assessment | None:
    """An explicit "remember that ..." cue at the start or end of the statement."""
    match = rules.REMEMBER_CUE.match(original)
    if (
        match
        and match.group("cue").lower() in rules.NEEDS_COLON
        and not rules.COLON_OR_THAT.search(match.group(0))
    ):
        match = None  # "note the date" is not a cue; "note: ..." and "note that ..." are
    if match and rules.YOU_REMEMBER.match(original):
        match = None
    content = original[match.end() :] if match else ""
    cue = match.group("cue").lower() if match else ""
    if not match:
        suffix = rules.REMEMBER_SUFFIX.search(original)
        if not suffix:
            return None
        content = original[: suffix.start()]
        cue = suffix.group("cue").lower()
    content = _tidy(content)
    label = f"{cue} that" if cue in {"remember", "note"} else cue
    if not rules.HAS_WORD.search(content):
        return _not_worthy(f"explicit cue '{label}' with nothing to remember")
    inner = _assess_plain(content, context)
    kind = inner.kind if inner.worthy and inner.kind else _guess_kind(_match_form(content))
    text = inner.text if inner.worthy else content
    return _worthy(kind, f"explicit cue '{label}'", label, text)


_GENERIC_REASONS = frozenset({"not about the user", "no lasting information about the user"})


def _assess_statement(statement: str, context: _Context) -> Assessment:
    """Assesses one sentence of a user message."""
    original = rules.clean(statement)
    if not rules.HAS_WORD.search(original):
        return _not_worthy("empty")
    rest, categories = _peel_small_talk(original)
    if not rules.HAS_WORD.search(rest):
        return _not_worthy(_social_reason(categories) if categories else "empty")
    cued = _assess_cued(rest, context)
    if cued is not None:
        return cued
    if context.sarcastic:
        return _not_worthy("sarcasm")
    verdict = _assess_plain(rest, context)
    if not verdict.worthy and categories and verdict.reason in _GENERIC_REASONS:
        return _not_worthy(_social_reason(categories))
    return verdict


# --------------------------------------------------------------------------------------
# Public functions


def _statement_verdicts(message: str) -> list[tuple[str, Assessment]]:
    statements = split_statements(message)
    context = _Context(sarcastic=bool(rules.SARCASM.search(message)))
    verdicts: list[tuple[str, Assessment]] = []
    for statement in statements:
        verdicts.append((statement, _assess_statement(statement, context)))
        mentions = rules.RELATION_MENTION.findall(statement)
        if mentions:
            context.relation = mentions[-1]
    return verdicts


def _memories(verdicts: list[tuple[str, Assessment]]) -> list[Assessment]:
    """Worthy verdicts, with a sentence that continues the previous memory folded into it."""
    memories: list[Assessment] = []
    previous_worthy = False
    for statement, verdict in verdicts:
        rest = _match_form(_peel_small_talk(statement)[0])
        continues = previous_worthy and bool(rules.CONTINUATION_START.search(rest))
        stative = rules.STATIVE_AFTER_PRONOUN.search(rest.split(" ", 1)[-1])
        if continues and (verdict.worthy or stative):
            extra = verdict.text if verdict.worthy else _tidy(_peel_small_talk(statement)[0])
            memories[-1] = replace(memories[-1], text=f"{memories[-1].text}; {extra}")
            continue
        if verdict.worthy:
            memories.append(verdict)
        previous_worthy = verdict.worthy
    return memories


def assess(message: str, *, role: str = "user") -> Assessment:
    """Decides whether a chat message holds something worth remembering about the user.

    Each sentence is assessed; the message is worthy when any sentence is. For a worthy
    message, ``kind``, ``reason`` and ``cue`` come from its first worthy sentence and
    ``text`` joins the worthy sentences. Messages from the assistant, the system or a tool
    are never worthy on their own.

    Example:
        >>> assess("Hi! I'm Alice and I work at Acme. Thanks").text
        "I'm Alice and I work at Acme"
        >>> assess("I'm tired today").reason
        'transient state: a passing feeling'

    Args:
        message: The message text.
        role: Who wrote it: ``"user"``, ``"assistant"``, ``"system"`` or ``"tool"``.

    Raises:
        InvalidInputError: If ``message`` is not a string or ``role`` is not one of
            those four.
    """
    check_string(message, "message")
    check_role(role)
    if role != "user":
        return _not_worthy(f"{role} messages are not memories on their own")
    verdicts = _statement_verdicts(message)
    memories = _memories(verdicts)
    if memories:
        first = memories[0]
        return replace(first, text=". ".join(memory.text for memory in memories))
    if not verdicts:
        return _not_worthy("empty")
    reasons = list(dict.fromkeys(verdict.reason for _, verdict in verdicts))
    return _not_worthy(", ".join(reasons))


def memories_from_exchange(
    user_message: str, assistant_message: str | None = None
) -> list[Assessment]:
    """The memories worth storing from one exchange: the user's worthy statements.

    Each sentence of the user message is assessed; a sentence that continues the previous
    memory ("I have a dog named Rex. He's a beagle.") stays with it. The assistant's reply
    never yields memories itself; when it says it will remember ("Noted, I'll remember
    that"), first-person statements the rules found no lasting information in are kept
    too, since the assistant judged them worth keeping.

    Example:
        >>> [m.text for m in memories_from_exchange("Hey! I live in Oslo. I love skiing.")]
        ['I live in Oslo', 'I love skiing']

    Args:
        user_message: What the user wrote.
        assistant_message: The assistant's reply to it, if any.

    Raises:
        InvalidInputError: If a message is not a string (``assistant_message`` may be
            ``None``).
    """
    check_string(user_message, "user_message")
    if assistant_message is not None:
        check_string(assistant_message, "assistant_message")
    verdicts = _statement_verdicts(user_message)
    if assistant_message is not None and rules.ASSISTANT_WILL_REMEMBER.search(
        _match_form(assistant_message)
    ):
        verdicts = [
            (
                statement,
                _worthy(
                    _guess_kind(_match_form(statement)),
                    "the assistant agreed to remember it",
                    "assistant acknowledgement",
                    _peel_small_talk(statement)[0],
                ),
            )
            if verdict.reason == "no lasting information about the user"
            else (statement, verdict)
            for statement, verdict in verdicts
        ]
    return _memories(verdicts)
