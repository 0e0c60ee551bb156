"""Memory-worthiness: which parts of a chat message are worth remembering about the user.

After each exchange an assistant has to decide what, if anything, to keep. This module
answers that without a model: a deterministic filter made of precompiled patterns, about
0.1 ms per message, its cost linear in the message length.

A message is split into statements (sentences). Each statement is checked in this order:

1. No words at all: not worthy.
2. Leading greetings, thanks, acknowledgements and fillers ("hey", "ok", "I think so",
   "my bad") are peeled off; if nothing is left the statement is small talk.
3. An explicit cue ("remember that", "don't forget", "important:", "note that") makes the
   rest worthy, even inside a question ("can you remember that I'm vegetarian?"). The
   stored text drops the cue.
4. Sarcasm markers anywhere in the message ("yeah right", "/s", "🙄") make the rest of it
   not worthy; hypotheticals ("if I were ...", "imagine I ...") are not worthy either.
5. Standing instructions ("from now on ...", "never use emojis", "keep your answers
   short") are preferences, even when phrased as a request.
6. Questions and other requests to the assistant are not worthy, except a clause of them
   that states something about the user ("I'm vegan, what should I cook?" keeps "I'm
   vegan") or a named relation ("email my boss Karen" keeps "my boss is Karen").
7. A clause that is feedback on the current answer ("I like this version better"), task
   chatter ("I'm getting an error") or a passing state ("I'm tired today") holds nothing
   lasting; another clause of the same sentence still may ("I have an interview tomorrow
   and I'm nervous" is an episode).
8. First-person statements with a stative or biographical verb are worthy: identity,
   relations, health, work, location and possessions are facts; likes, dislikes, habits
   and standing instructions are preferences; past events, decisions, goals, plans and
   ongoing projects are episodes. A date turns a relation or possession into an episode.

Anything else (other people's facts, chit-chat, first-person statements with no lasting
content such as "I think so") is not worthy. Every :class:`Assessment` carries a short
reason. Borderline cases are decided for precision: a stored wrong memory costs more
than a missed one, which the user can restate.

An optional model-based extractor, :func:`extract_facts`, asks any text-in/text-out
callable for facts and falls back to these rules when the reply is unusable.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from .._validation import ROLES, check_role
from ..errors import InvalidInputError

__all__ = [
    "KINDS",
    "ROLES",
    "Assessment",
    "assess",
    "extract_facts",
    "llm_facts",
    "memories_from_exchange",
    "split_statements",
]

KINDS = ("fact", "preference", "episode")
"""The kinds a worthy statement can have."""

"""The message roles :func:`assess` accepts."""

_LOG = logging.getLogger(__name__)

FACT, PREFERENCE, EPISODE = KINDS


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
            ``"greeting"`` or ``"question"``.
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


# --------------------------------------------------------------------------------------
# Normalisation


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})
_FENCED_CODE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_QUOTED_LINE = re.compile(r"^\s*>.*$", re.MULTILINE)
_HAS_WORD = re.compile(r"[^\W_]")
# Trailing punctuation, emoji and sign-offs are not part of a memory ("... fyi 😊").
_KEPT_TRAILING = frozenset("'\"()[]%$€£#+/&*@")
_TRAILING_SIGN_OFF = re.compile(
    r"\s(?:fyi|btw|lol|haha+|lmao|tbh|pls|please|thanks|thx|ty)$", re.IGNORECASE
)

# Spelling variants folded into one form before matching: "im" -> "i'm", "dont" -> "don't".
_VARIANTS = {
    "im": "i'm",
    "i am": "i'm",
    "ive": "i've",
    "i have been": "i've been",
    "dont": "don't",
    "do not": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "cannot": "can't",
    "can not": "can't",
    "wont": "won't",
    "isnt": "isn't",
    "thats": "that's",
    "whats": "what's",
    "hes": "he's",
    "shes": "she's",
    "theyre": "they're",
    "we are": "we're",
    "i would": "i'd",
    "id rather": "i'd rather",
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "my names": "my name is",
    "my name's": "my name is",
    "wanna": "want to",
    "gonna": "going to",
    "favorite": "favourite",
    "fave": "favourite",
    "fav": "favourite",
}
_VARIANT_PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(v) for v in sorted(_VARIANTS, key=len, reverse=True)) + r")\b"
)


def _clean(text: str) -> str:
    """Folds curly quotes into straight ones and collapses whitespace."""
    return " ".join(text.translate(_QUOTES).split())


_AND_I = re.compile(r"\b(?:my|our)\s+[\w-]+(?:\s+[\w-]+)?\s+and\s+(?:i|me)\b")


def _match_form(text: str) -> str:
    """Lower-cased text with spelling variants folded, the form every rule matches.

    "My husband and I are ..." becomes "we're ...".
    """
    lowered = _AND_I.sub("we", text.lower())
    return _VARIANT_PATTERN.sub(lambda m: _VARIANTS[m.group(0)], lowered)


def _tidy(text: str) -> str:
    """The text without trailing punctuation, emoji and sign-offs."""
    end = len(text)
    while True:
        while end and not (text[end - 1].isalnum() or text[end - 1] in _KEPT_TRAILING):
            end -= 1
        sign_off = _TRAILING_SIGN_OFF.search(text, max(0, end - 8), end)
        if sign_off is None:
            return text[:end].strip()
        end = sign_off.start()


# --------------------------------------------------------------------------------------
# Sentence splitting

# The lookbehind starts a match only at the beginning of a run of "!!!", keeping it linear.
_SENTENCE_END = re.compile(r"(?<![.!?…])[.!?…]+[\"')\]]*\s+")
_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "st", "vs", "etc", "e.g", "i.e", "eg", "ie", "approx"}
    | {"jr", "sr", "inc", "ltd", "co", "dept", "no", "mt", "ft", "a.m", "p.m", "u.s", "u.k"}
)
_LAST_WORD = re.compile(r"([\w.]+)\.$")


def _split_line(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        head = line[max(start, match.start() - 16) : match.start() + 1]  # the word before it
        word = _LAST_WORD.search(head)
        if match.group(0).startswith(".") and word:
            token = word.group(1).lower()
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
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
    _check_text(message, "message")
    text = _QUOTED_LINE.sub("", _FENCED_CODE.sub("\n", message))
    statements: list[str] = []
    for line in text.splitlines():
        for piece in _split_line(line):
            cleaned = _clean(piece)
            if not cleaned:
                continue
            if statements and not _HAS_WORD.search(cleaned):
                statements[-1] = f"{statements[-1]} {cleaned}"
            else:
                statements.append(cleaned)
    return statements


# --------------------------------------------------------------------------------------
# Small talk peeled off the front of a statement

_SEPARATORS = r"[^\w']*"

# Always peeled off, even without punctuation after them ("hey I'm Alice", "btw I'm vegan").
_STRONG_PREFIXES: tuple[tuple[str, str], ...] = (
    ("greeting", r"hi+|hello+|hey+|heya|hiya|howdy|yo|good (?:morning|afternoon|evening)"),
    ("thanks", r"thanks+|thank (?:you|u)|thx|tysm|many thanks"),
    ("acknowledgement", r"ok(?:ay)?|kk?|yeah|yep|yup|alright|got it|gotcha"),
    (
        "chit-chat",
        r"lol+|lmao+|haha+|hehe+|omg|wow+|hmm+|um+|uh+|oh+|ah+|well|so|anyway|anyways"
        r"|btw|by the way|fyi|tbh|honestly|also|and|but|oh my god|oh my",
    ),
    (
        "filler",
        r"i think|i mean|i guess|i believe|(?:just )?so you know|jsyk|for the record"
        r"|for (?:future )?reference|for context|quick (?:one|question)|real quick",
    ),
)

# Peeled off only when punctuation or the end follows ("perfect, ...", not "no emojis").
_WEAK_PREFIXES: tuple[tuple[str, str], ...] = (
    ("greeting", r"morning|evening|afternoon|greetings|sup|what's up|hi there|hello there"),
    (
        "farewell",
        r"bye+(?: bye)?(?: for now)?|goodbye|good ?night|night|gn|see (?:you|ya|u)(?: later| soon)?"
        r"|cya|later|talk (?:to you )?(?:later|soon|tomorrow)|ttyl|gotta go|got to go"
        r"|take care|catch you later|have a (?:good|nice|great) (?:one|day|night|weekend)",
    ),
    (
        "thanks",
        r"ty|cheers(?: mate)?|much appreciated|(?:i )?appreciate (?:it|that|this)"
        r"|thanks (?:a lot|a bunch|a ton|so much)|thank you (?:so|very) much",
    ),
    (
        "acknowledgement",
        r"sure(?: thing)?|sounds (?:good|great|fine|perfect)|cool|yes|yea|no|nope|nah|right"
        r"|fine|great|perfect|awesome|nice(?: one)?|makes sense|fair enough|noted|understood"
        r"|agreed|exactly|indeed|true|correct|done|that works|works for me|will do"
        r"|let'?s do (?:it|that)|go ahead|deal|of course|absolutely|definitely|no problem"
        r"|no worries|np|same|me too",
    ),
    (
        "filler",
        r"i think so|i guess so|i suppose(?: so)?|i hope so|i doubt it|i(?:'?m| am) not sure"
        r"|not sure|my bad|my pleasure|my apologies|i see|i know(?: right)?|ikr|i agree"
        r"|i understand(?: now)?|i don'?t know|i dunno|idk|dunno|i was (?:just )?wondering"
        r"|i get it(?: now)?|i got it|i(?:'?m| am) (?:back|here)"
        r"|i(?:'?ll| will) try(?: that| it| this)?"
        r"|i was (?:just )?(?:joking|kidding)|i(?:'?m| am) (?:just )?(?:joking|kidding)|jk"
        r"|just kidding|i didn'?t mean (?:that|it)|i(?:'?m| am) sorry|sorry|i apologi[sz]e"
        r"|oops|i(?:'?m| am) (?:just )?curious|i(?:'?ll| will) be right back|brb"
        r"|we(?:'?ll| will) see"
        r"|you|and you|how about you|hbu|wbu|you too|maybe|perhaps|probably"
        r"|i(?:'?m| am) (?:fine|good|ok|okay|alright|great|well|doing (?:well|good|fine|ok|okay))"
        r"(?: thanks| thank you| thx)?",
    ),
    (
        "chit-chat",
        r"nice|interesting|huh|aha|oof|ugh+|meh|welp|whatever|damn|dang|wild|crazy|rofl|whoa"
        r"|lmfao|true|that'?s (?:so |really |pretty )?(?:wild|crazy|funny|hilarious|amazing|awesome"
        r"|great|cool|interesting|weird|fair|true|nice|good|bad|sad|helpful|useful|long|short"
        r"|right|wrong|it)|this is (?:so |really )?(?:fun|great|cool|nice|amazing|helpful"
        r"|interesting)|that was (?:so |really |very )?(?:helpful|useful|great|fun|funny|amazing"
        r"|perfect)|my god",
    ),
)

_PREFIX_PATTERNS = tuple(
    (category, re.compile(rf"(?:{body})\b{_SEPARATORS}", re.IGNORECASE))
    for category, body in _STRONG_PREFIXES
) + tuple(
    (category, re.compile(rf"(?:{body})(?=\s*(?:[^\w\s']|$)){_SEPARATORS}", re.IGNORECASE))
    for category, body in _WEAK_PREFIXES
)
_SOCIAL_PRIORITY = ("greeting", "farewell", "thanks", "acknowledgement", "filler", "chit-chat")


def _peel_small_talk(text: str) -> tuple[str, list[str]]:
    """Removes leading small talk; returns the rest and the categories removed."""
    categories: list[str] = []
    peeled = True
    while peeled and text:
        peeled = False
        for category, pattern in _PREFIX_PATTERNS:
            match = pattern.match(text)
            if match and match.end() > 0:
                categories.append(category)
                text = text[match.end() :]
                peeled = True
                break
    return text, categories


def _social_reason(categories: list[str]) -> str:
    return min(categories, key=_SOCIAL_PRIORITY.index)


# --------------------------------------------------------------------------------------
# Shared vocabulary

_ADVERBS = (
    r"(?:(?:really|just|also|still|actually|honestly|definitely|totally|absolutely|"
    r"generally|kinda|kind of|pretty much|sort of|do|truly|much|personally|genuinely|"
    r"so|very much|mostly|now|currently|seriously|strongly|only)\s+)*"
)
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
)
_WEEKDAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_TIME_MARKER = re.compile(
    r"\b(?:yesterday|today|tonight|this (?:morning|week|weekend|month|year|summer|spring|"
    r"fall|autumn|winter)|last (?:night|week|weekend|month|year|summer|spring|fall|autumn|"
    rf"winter|{_WEEKDAYS})|\d+ (?:days?|weeks?|months?|years?) ago|ago|recently|just|"
    rf"finally|since|next (?:week|month|year|summer|spring|fall|autumn|winter|{_WEEKDAYS})|"
    rf"{_MONTHS}|{_WEEKDAYS}|(?:19|20)\d\d)\b"
)
# An explicit date, as opposed to "just" or "recently".
_DATED = re.compile(
    rf"\b(?:yesterday|tomorrow|ago|last (?:\w+)|next (?:\w+)|in (?:{_MONTHS}|(?:19|20)\d\d)|"
    rf"on (?:{_WEEKDAYS})|this (?:week|weekend|month|year|summer|fall|autumn|winter|spring))\b"
)
_RELATIONS = (
    r"wife|husband|partner|spouse|son|daughter|kids?|child|children|baby|babies|toddler|"
    r"teenager|twins|mom|mum|mother|dad|father|parents|brother|sister|siblings|boss|"
    r"manager|coworker|co-worker|colleague|friend|boyfriend|girlfriend|fianc[eé]e?|"
    r"grandma|grandmother|grandpa|grandfather|grandparents|aunt|uncle|cousin|niece|"
    r"nephew|in-laws|(?:mother|father|sister|brother|son|daughter)-in-law|stepson|"
    r"stepdaughter|roommate|flatmate|dog|cat|puppy|kitten|pets?|family"
)
_ROLES = (
    r"nurse|doctor|teacher|engineer|developer|dev|designer|lawyer|chef|cook|writer|"
    r"artist|photographer|accountant|analyst|scientist|researcher|programmer|student|"
    r"freelancer|consultant|manager|founder|co-founder|ceo|cto|cfo|pm|musician|farmer|"
    r"pilot|vet|dentist|pharmacist|paramedic|firefighter|cop|police officer|soldier|"
    r"veteran|retiree|undergrad|intern|contractor|carpenter|electrician|plumber|"
    r"mechanic|barista|cashier|waiter|waitress|librarian|architect|therapist|"
    r"psychologist|professor|lecturer|tutor|coach|trainer|editor|journalist|translator|"
    r"sysadmin|homemaker|dad|mom|mum|mother|father|parent|grandparent|grandmother|"
    r"grandfather|widow|widower|caregiver|carer|vegetarian|vegan|runner|cyclist|"
    r"christian|muslim|jew|buddhist|hindu|catholic|atheist|citizen|immigrant|expat|"
    r"native speaker|beginner|lefty|twin|smoker|non-smoker|only child|"
    r"[a-z]{3,}(?:er|or|ist|ian|eer)"
)
_STABLE_STATES = (
    r"vegetarian|vegan|pescatarian|celiac|coeliac|diabetic|pre-diabetic|allergic|"
    r"(?:lactose |gluten )?intolerant|colou?r ?blind|colou?r-blind|left-handed|"
    r"right-handed|deaf|blind|hard of hearing|autistic|dyslexic|married|divorced|single|"
    r"engaged|widowed|pregnant|retired|unemployed|self-employed|bilingual|trilingual|"
    r"sober|introverted|extroverted|an introvert|an extrovert|disabled|"
    r"neurodivergent|epileptic|asthmatic|anemic|anaemic|immunocompromised|"
    r"(?:a )?native (?:english|spanish|french|german) speaker|fluent in"
)
# Objects that point at the conversation or the task rather than the user's life.
_TASK_OBJECT = (
    r"(?:it|this|that|these|those|them|your\b|yours|the (?:tests?|code|script|command|"
    r"program|query|function|app|build|example|snippet|answer|response|file|project|repo|"
    r"bug|error|fix|changes|steps?))\b"
)
_OBJECT_IS_CURRENT_OUTPUT = (
    r"(?:it|this|that|these|those|yours|your\b|both|neither|either|the (?:first|second|"
    r"third|last|other|previous|new|original|latter|former|above|shorter|longer)\b|"
    r"(?:this|that|the) (?:one|option|version|draft|answer|response)\b)"
)


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# --------------------------------------------------------------------------------------
# Rejections

_SARCASM = re.compile(
    r"🙄|😒|(?:^|\s)/s\b|\byeah,? right\b|\boh,? (?:great|joy|wonderful|perfect)\b"
    r"|\bsure,? because\b|\bas if\b",
    re.IGNORECASE,
)
_QUESTION_START = _compile(
    r"^(?:what|what's|whats|how|how's|why|when|where|who|whom|whose|which|is|are|am|was|"
    r"were|do|does|did|can|could|would|will|should|shall|may|might|any|anyone|anything|"
    r"remind me|tell me|wonder|wondering)\b|^(?:isn't|aren't|don't|doesn't|didn't|won't|"
    r"wouldn't|can't|couldn't|shouldn't)\s+(?:you|we|they|i|it|he|she|there|that|this)\b"
)
_COMMAND_START = _compile(
    r"^(?:(?:now|then|also|and|so|just|please|kindly|let's|lets)\s+)*(?:write|summari[sz]e|"
    r"translate|give|fix|make|rewrite|re-write|explain|list|generate|continue|try|show|"
    r"draft|tell|convert|proofread|pretend|create|compose|help|find|suggest|recommend|"
    r"check|edit|correct|describe|compare|calculate|plan|design|add|remove|change|redo|"
    r"format|shorten|expand|simplify|paraphrase|outline|brainstorm|do|go|send|turn|put|"
    r"use|keep|answer|reply|respond|look|read|review|debug|refactor|optimi[sz]e|"
    r"implement|build|code|name|pick|choose|sort|count|define|teach|walk|remind|search|"
    r"google|book|schedule|set|order|shorter|longer|simpler|more|less|again|"
    r"repeat|elaborate|clarify|proceed|skip|ignore|undo|print|run|test|draw|plot|sum)\b"
)
_HYPOTHETICAL = _compile(
    r"^(?:if|imagine|suppose|supposing|say|let's say|pretend|what if|assuming|assume|"
    r"hypothetically|in theory)\b|\bif i (?:were|was|had|lived|moved)\b|\bi'd be\b"
)
_FEEDBACK = _compile(
    rf"\bi(?:\s+|'d\s+){_ADVERBS}(?:love|like|prefer|hate|dislike|liked|loved|hated)\s+"
    rf"(?!it (?:when|if)\b){_OBJECT_IS_CURRENT_OUTPUT}|\bi\s+{_ADVERBS}(?:love|like|hate|"
    r"liked|loved|hated|appreciate)\s+(?:how|the way|what|that) you\b|\bmy (?:favourite|least "
    r"favourite) (?:answer|response|reply|version|one|part|option|idea|explanation|so far)\b|"
    r"\byou(?:'re| are) (?:wrong|right|correct|mistaken)\b|"
    r"\bi don't think (?:that's|it's|this is|that is|it is|so)\b|\bi (?:never|don't) know "
    r"(?:what|how|where|when|which|if|whether)\b|\bi'd (?:rather|prefer) not (?:talk|discuss|"
    r"say|go into|get into|answer|share|think)\b|\b(?:this|that|it) "
    r"(?:worked|works|didn't work|doesn't work)\b"
)
_TASK_CHATTER = _compile(
    r"\bi'm (?:still )?(?:trying to|looking for|struggling|stuck|confused|getting (?:an? |the )?"
    r"(?:error|warning|exception|message|result|output|issue|bug|weird))\b|"
    r"\bi (?:need|want|'d like|would like)\b|\bi'd like\b|\bi want\b|"
    r"\bi (?:meant|mean|pasted|typed|copied|clicked|asked|said) (?:it|this|that|the|a|an|in|"
    r"on|something)\b|\bi (?:\w+ )?(?:tried|ran|run|tested|installed|updated|restarted|"
    r"rebooted) (?:it|this|that|them|your|the (?:code|script|command|program|tests?|query|"
    r"function|app|snippet|example|suggestion|fix))\b|\bi forgot (?:what|to ask|how)\b|"
    r"\bi (?:have|'ve got|got) (?:a |an |another |one |some |no |a few |a couple of )?"
    r"(?:quick |small |simple |follow[- ]up |last |general )?(?:question|questions|problem|"
    r"issue|doubt|error|bug|idea|suggestion|request|thought|clue|minute|second|moment|"
    r"chance)s?\b|\bi (?:have|got|need) to (?:go|leave|run)\b|"
    r"^(?:(?:so|but|and|now|then|also|ok|okay)\s+)?my (?:question|problem|issue|point|bad|"
    r"pleasure|guess|answer|mistake|apologies|bet|concern|request|code|output|script|"
    r"program|function|query|test|build|file|screen|internet|wifi|connection)\b(?! code)|"
    r"\bmy [\w ]{1,30}?(?:throws|crashes|keeps crashing|won't|doesn't work|isn't working|"
    r"is broken|is slow|stopped working|fails|returns|is down)\b"
)
_TRANSIENT = _compile(
    r"\b(?:i'm|i feel|i'm feeling|feeling)\s+(?:(?:so|really|very|a bit|a little|kinda|"
    r"kind of|pretty|super|quite|totally|just|a tad|extremely|sooo+|too)\s+)*(?:tired|"
    r"hungry|thirsty|bored|sleepy|exhausted|sick|ill|unwell|stressed|anxious|nervous|"
    r"excited|happy|sad|upset|angry|annoyed|frustrated|confused|lost|busy|fine|good|ok|"
    r"okay|alright|great|cold|hot|done|ready|late|early|free|awake|drunk|hungover|lonely|"
    r"grumpy|sore|overwhelmed|in a (?:rush|hurry|meeting|bad mood|good mood)|on my way|"
    r"at work|at home|outside|online|offline|under the weather|burnt out|burned out)\b|"
    r"\bi (?:just )?(?:woke up|got up|got home|got back home|ate|had (?:lunch|dinner|"
    r"breakfast|coffee))\b|"
    r"\bi'm in \w+ (?:today|this week|right now|rn|for the weekend)\b"
)
# "I'm watching the game rn": doing something right now, unless it is a project.
_DOING = _compile(
    r"\bi'm (?!(?:learning|working|building|writing|training|preparing|studying|planning|"
    r"saving|moving|expecting|renovating|organi[sz]ing|applying|starting|launching|getting|"
    r"recovering|teaching|taking)\b)\w+ing\b"
)
_RIGHT_NOW = _compile(r"\b(?:right now|rn|atm|at the moment)\b")
# "I'm going to Japan in October": a trip, when a date or a duration says so.
_TRIP = _compile(r"\b(?:i'm|we're)\s+(?:going|flying|heading|travel?ling|driving|off)\s+to\s")
_DURATION = _compile(r"\bfor (?:a|two|three|\d+) (?:days?|weeks?|months?)\b")


# --------------------------------------------------------------------------------------
# Worthy patterns, tried in order; the first that matches decides kind, cue and reason


class _Rule(NamedTuple):
    pattern: re.Pattern[str]
    kind: str
    cue: str
    reason: str
    dated_kind: str | None  # the kind instead when the statement carries a date


def _rule(
    pattern: str, kind: str, cue: str, reason: str, *, dated_kind: str | None = None
) -> _Rule:
    return _Rule(re.compile(pattern), kind, cue, reason, dated_kind)


_REMEMBER_CUE = re.compile(
    r"^(?:(?:and|also|so|please|pls|plz|just|oh|ok|okay|can|could|would|will|you|u|"
    r"kindly|make sure to|make sure you)\s+)*(?P<cue>remember|keep in mind|never forget|"
    r"don'?t forget|do not forget|make a note|take note|note|important|nb|reminder|"
    r"please note)(?:\s+(?:that|this|this down|down))?\s*(?:[:,\-–—]\s*|\s+|$)",
    re.IGNORECASE,
)
_REMEMBER_SUFFIX = re.compile(
    r"[\s,;\-–—]+(?:(?:please|pls|and|so)\s+)?(?P<cue>remember|keep in mind|don'?t forget|"
    r"note)(?:\s+(?:that|this|it))?(?:\s+(?:please|pls|ok|okay))?\s*[.!?]*$",
    re.IGNORECASE,
)
# Bare "note"/"important"/"reminder" only count as a cue with a colon (or "that") after them.
_NEEDS_COLON = frozenset({"note", "important", "nb", "reminder", "please note"})
_COLON_OR_THAT = re.compile(r":|\bnote that\b", re.IGNORECASE)
_YOU_REMEMBER = re.compile(r"^(?:you|u)\s+(?!should|must|need to|have to)", re.IGNORECASE)

_STANDING_INSTRUCTION: tuple[_Rule, ...] = (
    _rule(
        r"\b(?:from now on|going forward|in (?:the )?future|for (?:all )?future|"
        r"from here on|moving forward|every time you|whenever you)\b",
        PREFERENCE,
        "from now on",
        "standing instruction",
    ),
    _rule(
        r"\b(?:always|never)\s+(?:answer|reply|respond|use|give|write|call|address|include|"
        r"format|show|explain|say|add|suggest|start|end)\b|^(?:please\s+)?(?:don't|do not|"
        r"never)\s+(?:ever\s+)?(?:call|use|say|add|give|write|mention|include|suggest|"
        r"recommend|send)\b|^(?:(?:please|can you|could you|would you|will you)\s+)*(?:stop|"
        r"quit)\s+\w+ing\b",
        PREFERENCE,
        "always/never ...",
        "standing instruction",
    ),
    _rule(
        r"\b(?:your|all|the|in)\s+(?:answers|responses|replies|explanations|messages|"
        r"suggestions|examples)\b|^(?:please\s+)?keep\s+(?:your\s+|the\s+)?(?:answers|"
        r"responses|replies|explanations)\b",
        PREFERENCE,
        "your answers",
        "standing instruction about answers",
    ),
)

# Trying to reach a life goal, which is worth remembering (not "trying to" fix the
# task at hand). One pattern for the rule that keeps them and the check that tells them
# from task chatter.
_TRYING_GOAL = (
    r"\b(?:i'm|we're|i've been|we've been) trying (?:to (?:lose|eat|quit|learn|get into|save|"
    r"exercise|sleep|cut|drink|be more|be less|get fit|get in shape|stop|read more|run|"
    r"conceive|get pregnant|buy|sell|move|find a (?:new )?(?:job|house|flat|apartment|"
    r"partner))|for (?:a baby|kids|a child))\b"
)


_NAME_RULES: tuple[_Rule, ...] = (
    _rule(r"\bmy name is\s+\S", FACT, "my name is", "name"),
    _rule(
        r"^(?:(?:please|just|you can|you may|everyone|people|friends)\s+)*call me\s+"
        r"(?!back|later|when|if|tomorrow|at|on|a\b|an\b|the\b|after|before|now|asap|"
        r"anytime|whenever|today|tonight)\w",
        FACT,
        "call me",
        "name",
    ),
    _rule(r"\b(?:people|everyone|friends|they) call me\s+\w", FACT, "call me", "name"),
    _rule(
        r"\b(?:we|i)\s+(?:just\s+)?(?:named|called)\s+(?:our|my)\s+(?!(?:function|variable|"
        r"file|class|method|project|repo|app|branch|model|script|folder|table|column|server|"
        r"database|channel|document|doc|account|playlist)s?\b)[\w-]+",
        FACT,
        "we named our ...",
        "name of a relation",
    ),
)
# Case matters here: "I'm Alice", "I'm Muslim", "my daughter Lily".
_NAME_CASED = re.compile(
    r"\b(?:I'm|Im|I am|i'm|im|i am) an? (?!(?:Lot|Bit|Little|Big|Huge)\b)[A-Z][a-z]+\b|"
    r"\b(?:I'm|Im|I am)\s+(?!Sorry|Fine|Good|Ok|OK|Okay|Not|Just|So|Back|Here|Done|"
    r"Ready|Tired|Glad|Sure|Going|Gonna|In|On|At|From|The|A|An|Very|Really)[A-Z][a-z]+"
)
_RELATION_NAME = re.compile(
    rf"\b(?:[Mm]y|[Oo]ur)\s+(?:(?:[a-z]+|\d+[- ]year[- ]old)\s+)?(?P<rel>{_RELATIONS})"
    r"(?:,)?\s+(?P<name>[A-Z][a-z]+)\b(?!')"
)
_RELATION_MENTION = re.compile(
    rf"\b(?:my|our)\s+(?:(?:older|younger|little|big|best|eldest|youngest|oldest|new|"
    rf"\d+[- ]year[- ]old)\s+)?(?:{_RELATIONS})\b",
    re.IGNORECASE,
)

_I_HAVE = (
    r"\b(?:(?:i|we)\s+(?:also\s+|still\s+|only\s+|both\s+)?have|"
    r"(?:i|we)'ve\s+(?:also\s+)?got)\s+"
)

_RULES: tuple[_Rule, ...] = (
    # explicit biography
    _rule(
        r"\b(?:my|our) (?:birthday|bday|birth date|date of birth|(?:wedding )?anniversary|"
        r"due date|name day)\b",
        FACT,
        "my birthday",
        "date",
    ),
    _rule(
        r"\b(?:my|our)\s+(?:[\w-]+\s+)?(?:team|company|startup|group|lab|family|office)\s+"
        r"(?:is|are|'s)\s+(?:\w+\s+)?\w+ing\b",
        EPISODE,
        "our team is ...ing",
        "ongoing project",
    ),
    _rule(
        rf"\b(?:my|our)\s+(?:(?:older|younger|little|big|best|eldest|youngest|oldest|new|"
        rf"\d+[- ]year[- ]old)\s+)?(?:{_RELATIONS})(?:'s|s)?\s+(?:name is|name's|is|are|was|"
        r"were|named|called|has|have|lives|live|works|work|just turned|turned|turns|is turning|"
        r"goes|go|loves|love|likes|like|hates|hate|studies|study|plays|play|attends|attend|"
        r"speaks|speak|got|gets|passed away|died|starts|started|is starting|moved|retired|"
        r"turn)\b",
        FACT,
        "my <relation> is",
        "relation",
        dated_kind=EPISODE,
    ),
    # preferences
    _rule(
        r"\bi'd (?:rather|prefer|much rather|always prefer)\b",
        PREFERENCE,
        "I'd rather",
        "preference",
    ),
    _rule(
        rf"\bi\s+{_ADVERBS}(?:prefer|like|love|adore|enjoy|hate|dislike|detest|loathe|"
        rf"can't stand|don't\s+{_ADVERBS}(?:like|love|enjoy|care for|mind))\b",
        PREFERENCE,
        "I like/love/prefer/hate",
        "preference",
    ),
    _rule(
        rf"\bi'm\s+(?:not\s+)?{_ADVERBS}(?:more of\s+)?(?:(?:an?|the)\s+)?(?:big\s+|huge\s+|"
        r"massive\s+|total\s+|real\s+)?(?:[\w-]+\s+)?(?:fan|person|lover|nerd|geek|"
        r"enthusiast|buff|addict|junkie|foodie|night owl|early bird|early riser|homebody)\b"
        rf"|\bi'm\s+(?:not\s+)?{_ADVERBS}(?:into|obsessed with|crazy about|passionate about|"
        r"keen on|mad about)\b",
        PREFERENCE,
        "I'm a fan of",
        "preference",
    ),
    _rule(
        r"\bi\s+(?:\w+\s+)?find\s+[\w\s-]{1,30}?\s+(?:boring|distracting|annoying|helpful|"
        r"useful|relaxing|stressful|fun|confusing|overwhelming|tedious|interesting|calming|"
        r"exhausting|irritating)\b",
        PREFERENCE,
        "I find ...",
        "preference",
    ),
    _rule(
        r"\bmy (?:favourite|go-to|preferred|least favourite)\b",
        PREFERENCE,
        "my favourite",
        "preference",
    ),
    # explicit cue words
    _rule(
        rf"\bi\s+{_ADVERBS}(?:switched|moved over|changed|converted)\s+(?:over\s+)?"
        r"(?:to|from)\b",
        PREFERENCE,
        "I switched to",
        "changed habit",
        dated_kind=EPISODE,
    ),
    _rule(
        r"\b(?:we|i)(?:\s+|'ve\s+)(?:just\s+|finally\s+|have\s+)?(?:decided|agreed|chose|"
        r"settled on|went with|opted)\b",
        EPISODE,
        "we decided",
        "decision",
    ),
    _rule(
        r"\bmy (?:goal|plan|dream|aim|resolution|new year's resolution|target|ambition|"
        r"mission)\b",
        EPISODE,
        "my goal is",
        "goal or plan",
    ),
    _rule(
        r"\b(?:i|we)(?:'m|'re)? (?:planning|plan|intend|intending|aim|aiming|hoping|hope) "
        r"(?:to|on|a|an|our|my)\b",
        EPISODE,
        "I'm planning to",
        "goal or plan",
    ),
    # ongoing projects and plans
    _rule(
        r"\b(?:i'm|we're|i've been|we've been)\s+(?:currently\s+|still\s+|now\s+|also\s+|"
        r"slowly\s+|finally\s+)?(?:learning|working on|building|writing|training for|"
        r"training|preparing for|studying for|saving (?:up )?for|moving|relocating|"
        r"expecting|renovating|organi[sz]ing|applying (?:to|for)|launching|getting married|"
        r"getting divorced|recovering from|teaching myself|practi[cs]ing|developing|hosting|"
        r"throwing|competing in|running (?:a|the|my|our) (?!late\b)|leaving (?:my|our) (?:job|"
        r"company|role|position|team|country|city|school)|quitting (?:my|our)|changing (?:jobs|"
        r"careers|my career)|"
        r"taking (?:an? |some )?(?:\w+ )?(?:course|class|classes|lessons)|doing (?:an? )?"
        rf"(?:course|degree|masters|phd|bootcamp))\b(?! {_TASK_OBJECT})",
        EPISODE,
        "I'm learning/working on",
        "ongoing project or plan",
    ),
    _rule(
        r"\b(?:i'm|we're)\s+(?:starting|beginning)\s+(?!to\b)\w|\b(?:i'm|we're)\s+(?:thinking|"
        r"considering)\s+(?:about\s+|of\s+)?(?:getting|buying|moving|starting|learning|"
        r"quitting|switching|changing|applying|adopting|going|doing|taking|becoming|having|"
        r"selling|leaving|retiring|opening)\b|" + _TRYING_GOAL,
        EPISODE,
        "I'm starting/thinking of/trying to",
        "goal or plan",
    ),
    # habits
    _rule(
        rf"\b(?:i|we)\s+{_ADVERBS}(?:always|never|usually|normally|often|typically|"
        r"generally|rarely|sometimes|tend to|mostly|mainly)\b",
        PREFERENCE,
        "I always/never/usually",
        "habit",
    ),
    # identity, health, work, location, possessions
    _rule(
        r"\bi'm\s+(?:severely\s+|very\s+|mildly\s+|deathly\s+|super\s+|really\s+)?"
        r"(?:allergic|intolerant)\b",
        FACT,
        "I'm allergic to",
        "health",
    ),
    _rule(
        r"\bi\s+(?:can't|don't|shouldn't|am not allowed to)\s+(?:eat|drink|have|tolerate|"
        r"digest|smoke|drive)\b",
        FACT,
        "I can't eat",
        "health or diet",
    ),
    _rule(
        rf"\bi\s+{_ADVERBS}(?:work|am working|'m working)\s+(?:at|for|as|in|with|from|"
        r"remotely|from home|nights|days|weekends|part[- ]time|full[- ]time|shifts|\d)",
        FACT,
        "I work at/for/as",
        "work",
    ),
    _rule(
        r"\b(?:i|we)(?:\s+|'ve\s+)(?:still\s+|currently\s+|now\s+|also\s+|only\s+)?(?:live|"
        r"lived|'re living|'m living|been living)\s+"
        r"(?:in|at|on|near|with|abroad|alone|downtown|outside|by)\b",
        FACT,
        "I live in",
        "location",
    ),
    _rule(
        r"\bi'm\s+(?:originally\s+)?from\b|\bi\s+(?:come|am originally|grew up|was raised)\b"
        r"|\bi was born\b|\bi'm\s+(?:based|located)\s+(?:in|out of)\b",
        FACT,
        "I'm from",
        "origin or location",
    ),
    _rule(
        r"\bi'm\s+in\s+(?:the\s+)?\w+\s+time\s?zone\b|\bmy time\s?zone\b",
        FACT,
        "timezone",
        "location",
    ),
    _rule(
        r"\b(?:i|we)'ve\s+(?:already\s+|also\s+|now\s+)?(?:run|done|climbed|visited|written|"
        r"published|won|completed|finished|travel?led|hiked|competed in|raised|built|founded|"
        rf"started|launched|adopted|survived|beaten|qualified)\s+(?!{_TASK_OBJECT})\w",
        EPISODE,
        "I've done ...",
        "past event",
    ),
    _rule(
        r"\bi've\s+(?:never\s+|not\s+|already\s+|also\s+|only\s+|even\s+)?been\s+to\b",
        FACT,
        "I've been to",
        "biography",
    ),
    _rule(
        r"\bi'm\s+(?:really\s+|pretty\s+|very\s+|quite\s+|not\s+|terribly\s+|super\s+|"
        r"kinda\s+|so\s+)*(?:good|bad|great|terrible|awful|decent|experienced|skilled|"
        r"hopeless|rubbish|useless|comfortable|proficient|fluent) (?:at|with|in)\s+"
        r"(?!(?:it|this|that|these|those)\b)\w|\bi'm\s+(?:really\s+|very\s+|terribly\s+|"
        r"so\s+|kinda\s+|a bit\s+)?(?:afraid|scared|terrified|frightened) of\s+"
        r"(?!(?:it|this|that)\b)\w",
        FACT,
        "I'm good at/afraid of",
        "stable attribute",
    ),
    _rule(
        r"\b(?:i've|we've)\s+(?:been|lived|worked|had|used|owned|known|played|studied|"
        r"practi[cs]ed|suffered)\s+(?:[\w-]+\s+){0,3}?(?:for|since)\b",
        FACT,
        "I've been ... for",
        "biography",
    ),
    _rule(
        rf"\bi'm\s+(?:(?:a|an|the)\s+)(?:(?:only|lead|main|head|sole|senior|junior|new|"
        rf"single|stay-at-home|full-time|part-time|freelance|professional|retired|former|"
        rf"[\w-]+)\s+){{0,3}}?(?:{_ROLES})s?\b(?=\s*$|\s*[,.;!(]|\s+(?:at|in|for|from|with|"
        r"and|so|who|by|of|on|working|living|myself|based|here|now|too|btw|fyi|by trade|"
        r"mostly|mainly|but|since|for))",
        FACT,
        "I'm a <profession>",
        "identity or work",
    ),
    _rule(
        rf"\bi'm\s+(?:(?:also|not|very|severely|mildly|type [12]|partially|fully|completely|"
        rf"legally|happily|recently|newly|currently)\s+)?(?:{_STABLE_STATES})\b",
        FACT,
        "I'm <attribute>",
        "stable attribute",
    ),
    _rule(
        r"\bi'm\s+(?:about\s+|almost\s+|nearly\s+|turning\s+)?\d+(?:\s*(?:years?|yrs?|y/?o)\b"
        r"|'|\s*(?:cm|kg|lbs?|ft|feet)\b|\s*$|\s*[,.;!]|\s+(?:and|but|so|with|now|this|next)\b)",
        FACT,
        "I'm <age>",
        "age or size",
    ),
    _rule(
        r"\b(?:i'm|we're)\s+(?:currently\s+|still\s+|now\s+)?on\s+(?:a|an|the)\s+[\w-]+(?:\s+[\w-]+)?"
        r"\s+diet\b|\b(?:i'm|we're)\s+on\s+(?:medication|meds|insulin|antidepressants|"
        r"blood thinners|the pill|dialysis|chemo)\b|\bi'm\s+the\s+(?:oldest|youngest|eldest|"
        r"middle|only)\s+(?:child|kid|one|of|daughter|son|sibling|girl|boy)\b|"
        r"\bi\s+(?:suffer from|live with|struggle with|deal with|have had)\s+(?!(?:it|this|that|"
        r"enough)\b)"
        r"\w|\bi\s+(?:often\s+|always\s+|sometimes\s+)?get\s+(?:really\s+|bad\s+)?(?:migraines|"
        r"headaches|panic attacks|seasick|carsick|motion sickness|nosebleeds|cold sores|"
        r"hay fever|eczema|heartburn|insomnia)\b",
        FACT,
        "I'm on a ... diet / I suffer from",
        "health or diet",
    ),
    _rule(
        r"\bi'm\s+(?:currently\s+|still\s+)?(?:studying|majoring in|doing a (?:degree|masters|"
        r"phd)|in (?:grad school|graduate school|college|university|uni|high school|"
        r"med school|law school|school|year \d+|(?:my )?(?:first|second|third|final|last) year))\b",
        FACT,
        "I'm studying",
        "education",
    ),
    _rule(
        rf"{_I_HAVE}(?:an?|my|our|the)\s+(?:[\w-]+\s+){{0,2}}?(?:appointment|meeting|interview|"
        r"exam|flight|trip|surgery|wedding|deadline|date|party|operation|concert|game|"
        r"presentation|recital|match|race|performance|ceremony|graduation|holiday|vacation)s?\b",
        EPISODE,
        "I have <event>",
        "upcoming event",
    ),
    _rule(
        rf"{_I_HAVE}(?!(?:to|been|never|no idea|it|this|that)\b)(?:a |an |two |three |\d+ |"
        r"one |no |some |type )?[\w-]+",
        FACT,
        "I have",
        "possession or attribute",
        dated_kind=EPISODE,
    ),
    _rule(
        rf"\b(?:i|we)\s+{_ADVERBS}(?:own|drive|ride|speak|use|teach|study|rent|run|manage|"
        r"play|volunteer|coach|write for|follow|eat|drink|keep|wear|take|code in|program in|"
        r"write in|cook|bake|practi[cs]e|support|vote)\s+"
        r"(?!(?:it|this|that|these|those|them)\b)\w",
        FACT,
        "I own/use/speak",
        "possession or attribute",
    ),
    _rule(
        r"\bi\s+(?:don't|never)\s+(?:drink|smoke|eat|drive|own|have|use|watch|celebrate|do|"
        r"wear|vote|fly|travel|cook)\b(?!\s+(?:it|this|that|know|think|understand|get|see|"
        r"care|mind)\b)",
        FACT,
        "I don't ...",
        "stable attribute",
    ),
    _rule(
        r"\bwe're\s+(?:a|an)\s+\w+|\b(?:our|my)\s+(?:house|home|flat|apartment|place|company|"
        r"team|office|kids|family|dog|cat|startup|business|stack|product)\s+(?:is|are|has|"
        r"have|uses|use|runs|run|lives|sells|makes|builds)\b",
        FACT,
        "we/our ...",
        "household or work",
    ),
    _rule(
        r"\bmy\s+(?!(?:guess|bad|god|gosh|goodness|pleasure|point|question|turn|fault|day|"
        r"week|morning|afternoon|evening|night|weekend|head|brain|mind|battery|coffee|lunch|"
        r"dinner|break|meeting|internet|connection|wifi|train|flight|bus|order|package|"
        r"answer|code|output|screen|computer|laptop battery)\b)"
        r"[\w-]+(?:\s+[\w-]+)?\s+(?:is|are)\s+(?!(?:not|broken|slow|down|weird|wrong|"
        r"acting|being|still|so|too)\b)\S",
        FACT,
        "my <thing> is",
        "possession or attribute",
    ),
)

# Past events: life-event verbs stand alone; common verbs need a date ("last summer I went").
_SUBJECT = r"\b(?:i|we|i've|we've|(?:my|our)\s+[\w-]+(?:\s+[\w-]+)?)\s+"
_PAST_ADVERBS = r"(?:(?:just|finally|recently|officially|already|also|actually|even)\s+)*"
_LIFE_EVENT = re.compile(
    rf"{_SUBJECT}{_PAST_ADVERBS}(?:finished|completed|started|began|quit|graduated|"
    r"got (?:married|engaged|divorced|promoted|hired|fired|laid off|accepted|into|my|our|"
    r"a new|back|diagnosed|certified|vaccinated|a puppy|a dog|a cat)|married|bought|sold|"
    r"adopted|moved|relocated|retired|passed|failed|broke|won|launched|released|raised|"
    r"signed up|signed|joined|switched|published|hired|founded|became|celebrated|welcomed|"
    r"recovered|survived|sprained|tore|enrolled|was diagnosed|were married|gave birth|"
    r"had (?:a baby|surgery|an operation|twins)|lost my|lost our|opened|closed|completed|"
    r"ran my first|ran a|climbed|hiked|visited|travel?led|flew|emigrated|immigrated|"
    r"defended|got back from|came back from|returned from|went back|got acquired|was acquired|"
    r"went public|went bankrupt|shut down|closed down)\b"
)
_PAST_VERB = re.compile(
    rf"{_SUBJECT}{_PAST_ADVERBS}(?:had|went|got|ran|lost|left|made|took|met|saw|did|"
    r"tried|learned|learnt|built|wrote|read|played|watched|visited|cooked|baked|spent|"
    r"found|bought|turned|spoke|gave|drove|rode|swam|walked|finished|started|"
    rf"[a-z]{{3,}}ed)\b(?! {_TASK_OBJECT})"
)

# Pronoun continuations of a relation ("... my husband? he loves fishing").
_PRONOUN_START = re.compile(
    r"^(?P<pronoun>he|she|they)(?P<verb>'s|'re| is| are| was| were)?\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_STATIVE_AFTER_PRONOUN = _compile(
    r"^(?:\w+\s+)?(?:loves?|likes?|hates?|has|have|works?|lives?|plays?|goes|go|studies|"
    r"study|speaks?|just turned|turned|turning|allergic|a |an |\d|named|called|into|"
    r"obsessed|scared|afraid|really into|big on|crazy about)"
)
_CONTINUATION_START = _compile(
    r"^(?:it|it's|its|he|she|they|he's|she's|they're|that|this|which|his|her|their|also|"
    r"and|but)\b"
)
_FIRST_PERSON = _compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself|we|we're|we've|our|us)\b")
_CLAUSE_SPLIT = re.compile(r"\s*[,;]\s*|\s+[-–—]\s+")
_GUARD_SPLIT = re.compile(
    r"\s*[,;]\s*|\s+[-–—]\s+|\s+(?:and|but|so|because|though|although|cuz|cause|while)\s+"
    r"(?=(?:i(?!\s+(?:are|were)\b)|i'm|im|i've|ive|i'd|my|we|we're|we've|our)\b)",
    re.IGNORECASE,
)
_POLITE_REQUEST = _compile(r"^(?:can|could|would|will) you (?:please )?(?:stop|always|never)\b")
# "trying to" is usually about the task at hand, except for these life goals.
_LIFE_GOAL = _compile(_TRYING_GOAL)
_ASSISTANT_WILL_REMEMBER = _compile(
    r"\b(?:i'll|i will|i'm going to|let me) (?:remember|keep (?:that|this|it) in mind|"
    r"make a note|note (?:that|this|it)|save (?:that|this|it))\b|\bnoted\b|"
    r"\bi've (?:saved|noted|remembered|stored)\b|\b(?:saved|stored) (?:to|in) (?:my |your )?"
    r"memory\b"
)


# --------------------------------------------------------------------------------------
# Statement assessment


@dataclass
class _Context:
    """What one statement may need from the rest of its message."""

    sarcastic: bool = False
    relation: str | None = None


def _match_rules(rules: tuple[_Rule, ...], form: str) -> _Rule | None:
    for rule in rules:
        if rule.pattern.search(form):
            return rule
    return None


def _worthy(kind: str, reason: str, cue: str, text: str) -> Assessment:
    return Assessment(worthy=True, kind=kind, reason=reason, cue=cue, text=_tidy(text))


_PREFERENCE_WORDS = _compile(
    r"\b(?:prefer|like|love|hate|favourite|rather|enjoy|always|never|usually)\b"
)
_EVENT_WORDS = _compile(
    r"\b(?:appointment|meeting|deadline|trip|flight|interview|exam|plan|goal|tomorrow)\b"
)


def _guess_kind(form: str) -> str:
    """The kind of an explicitly cued statement that matched no rule."""
    if _PREFERENCE_WORDS.search(form):
        return PREFERENCE
    if _TIME_MARKER.search(form) or _EVENT_WORDS.search(form):
        return EPISODE
    return FACT


def _assess_cued(original: str, context: _Context) -> Assessment | None:
    """An explicit "remember that ..." cue at the start or end of the statement."""
    match = _REMEMBER_CUE.match(original)
    if (
        match
        and match.group("cue").lower() in _NEEDS_COLON
        and not _COLON_OR_THAT.search(match.group(0))
    ):
        match = None  # "note the date" is not a cue; "note: ..." and "note that ..." are
    if match and _YOU_REMEMBER.match(original):
        match = None  # "you remember that guy?" is a question about memory, not a cue
    content = original[match.end() :] if match else ""
    cue = match.group("cue").lower() if match else ""
    if not match:
        suffix = _REMEMBER_SUFFIX.search(original)
        if not suffix:
            return None
        content = original[: suffix.start()]
        cue = suffix.group("cue").lower()
    content = _tidy(content)
    label = f"{cue} that" if cue in {"remember", "note"} else cue
    if not _HAS_WORD.search(content):
        return _not_worthy(f"explicit cue '{label}' with nothing to remember")
    inner = _assess_plain(content, context)
    kind = inner.kind if inner.worthy and inner.kind else _guess_kind(_match_form(content))
    text = inner.text if inner.worthy else content
    return _worthy(kind, f"explicit cue '{label}'", label, text)


_GENERIC_REASONS = frozenset({"not about the user", "no lasting information about the user"})


def _assess_statement(statement: str, context: _Context) -> Assessment:
    """Assesses one sentence of a user message."""
    original = _clean(statement)
    if not _HAS_WORD.search(original):
        return _not_worthy("empty")
    rest, categories = _peel_small_talk(original)
    if not _HAS_WORD.search(rest):
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


def _assess_clauses(clauses: list[str], context: _Context) -> Assessment | None:
    """The first clause of a question or request that states something about the user."""
    context = replace(context)
    for clause in clauses:
        rest, _ = _peel_small_talk(clause)
        mentions = _RELATION_MENTION.findall(clause)
        if mentions:
            context.relation = mentions[-1]
        if not _HAS_WORD.search(rest):
            continue
        form = _match_form(rest)
        if _QUESTION_START.search(form) or rest.endswith("?") or _COMMAND_START.search(form):
            continue
        verdict = _assess_plain(rest, context)
        if verdict.worthy:
            return verdict
    return None


def _assess_plain(text: str, context: _Context) -> Assessment:
    """Assesses text with small talk and cues already removed."""
    form = _match_form(text)
    question = text.rstrip().endswith("?") or bool(_QUESTION_START.search(form))
    command = not question and bool(_COMMAND_START.search(form))
    if _HYPOTHETICAL.search(form):
        return _not_worthy("hypothetical")
    if not question or _POLITE_REQUEST.match(form):
        standing = _match_rules(_STANDING_INSTRUCTION, form)
        if standing:
            return _worthy(standing.kind, standing.reason, standing.cue, text)
        name = _match_rules(_NAME_RULES, form)
        if name:
            return _worthy(name.kind, name.reason, name.cue, text)
    if question or command:
        clauses = _CLAUSE_SPLIT.split(text)
        inner = _assess_clauses(clauses, context) if len(clauses) > 1 else None
        if inner is not None:
            return inner
        mention = _RELATION_NAME.search(text)
        if mention:
            phrase = f"my {mention.group('rel').lower()} is {mention.group('name')}"
            return _worthy(FACT, "relation named in a request", "my <relation> <Name>", phrase)
        return _not_worthy("question" if question else "request to the assistant")
    # A clause about the task or a passing mood says nothing lasting, but another clause
    # of the same sentence still may: "I have an interview tomorrow and I'm nervous".
    guard_reason = None
    for clause in _GUARD_SPLIT.split(text):
        if not _HAS_WORD.search(clause):
            continue
        reason = _guard(_match_form(clause))
        if reason is not None:
            guard_reason = guard_reason or reason
            continue
        found = _positive(clause, context)
        if found is not None:
            rewritten = found.text != _tidy(clause)  # "he loves ..." -> "my husband loves ..."
            return found if rewritten else replace(found, text=_tidy(text))
    if guard_reason is not None:
        return _not_worthy(guard_reason)
    if _FIRST_PERSON.search(form):
        return _not_worthy("no lasting information about the user")
    return _not_worthy("not about the user")


def _guard(form: str) -> str | None:
    """Why a clause holds nothing lasting (feedback, task chatter, a passing state)."""
    if _FEEDBACK.search(form):
        return "feedback on the conversation"
    if _LIFE_GOAL.search(form):
        return None
    if _TASK_CHATTER.search(form):
        return "about the current task"
    if _TRANSIENT.search(form) or (_DOING.search(form) and _RIGHT_NOW.search(form)):
        return "transient state"
    return None


def _positive(text: str, context: _Context) -> Assessment | None:
    """The worthy pattern a clause matches, if any."""
    form = _match_form(text)
    if _NAME_CASED.search(text):
        return _worthy(FACT, "name or identity", "I'm <Name>", text)
    if _RELATION_NAME.search(text):
        return _worthy(FACT, "relation", "my <relation> <Name>", text)
    rule = _match_rules(_RULES, form)
    if rule:
        dated = rule.dated_kind is not None and _DATED.search(form)
        kind = rule.dated_kind if dated and rule.dated_kind else rule.kind
        return _worthy(kind, rule.reason, rule.cue, text)
    if _LIFE_EVENT.search(form) or (_PAST_VERB.search(form) and _DATED.search(form)):
        return _worthy(EPISODE, "past event", "past event", text)
    if _TRIP.search(form) and (_TIME_MARKER.search(form) or _DURATION.search(form)):
        return _worthy(EPISODE, "plan", "I'm going to <place>", text)
    return _relation_continuation(text, context)


def _relation_continuation(text: str, context: _Context) -> Assessment | None:
    """Turns "he loves fishing" after "my husband" into "my husband loves fishing"."""
    if context.relation is None:
        return None
    match = _PRONOUN_START.match(text)
    if not match or not _STATIVE_AFTER_PRONOUN.search(_match_form(match.group("rest"))):
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


# --------------------------------------------------------------------------------------
# Public functions


def _check_text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _statement_verdicts(message: str) -> list[tuple[str, Assessment]]:
    statements = split_statements(message)
    context = _Context(sarcastic=bool(_SARCASM.search(message)))
    verdicts: list[tuple[str, Assessment]] = []
    for statement in statements:
        verdicts.append((statement, _assess_statement(statement, context)))
        mentions = _RELATION_MENTION.findall(statement)
        if mentions:
            context.relation = mentions[-1]
    return verdicts


def _memories(verdicts: list[tuple[str, Assessment]]) -> list[Assessment]:
    """Worthy verdicts, with a sentence that continues the previous memory folded into it."""
    memories: list[Assessment] = []
    previous_worthy = False
    for statement, verdict in verdicts:
        rest = _match_form(_peel_small_talk(statement)[0])
        continues = previous_worthy and bool(_CONTINUATION_START.search(rest))
        if continues and (verdict.worthy or _STATIVE_AFTER_PRONOUN.search(rest.split(" ", 1)[-1])):
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
        'transient state'

    Args:
        message: The message text.
        role: Who wrote it: ``"user"``, ``"assistant"``, ``"system"`` or ``"tool"``.

    Raises:
        InvalidInputError: If ``message`` is not a string or ``role`` is not one of
            :data:`ROLES`.
    """
    _check_text(message, "message")
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
    _check_text(user_message, "user_message")
    if assistant_message is not None:
        _check_text(assistant_message, "assistant_message")
    verdicts = _statement_verdicts(user_message)
    if assistant_message is not None and _ASSISTANT_WILL_REMEMBER.search(
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


# --------------------------------------------------------------------------------------
# Optional model-based extraction

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
    facts = [_clean(item) for item in parsed]
    return list(dict.fromkeys(fact[:_MAX_FACT_CHARS] for fact in facts if fact))


def extract_facts(
    llm: Callable[[str], str],
    user_message: str,
    assistant_message: str | None = None,
) -> list[str]:
    """Asks a language model for short standalone facts about the user in one exchange.

    ``llm`` is any callable that takes a prompt and returns the model's text (wrap a chat
    model as ``lambda prompt: model.invoke(prompt).content``). The prompt asks for a
    JSON list of strings. A reply that is not such a list, or a call that raises, falls
    back to the rules: the texts of :func:`memories_from_exchange`. A bad reply never
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


def llm_facts(
    llm: Callable[[str], str],
    user_message: str,
    assistant_message: str | None = None,
) -> list[str] | None:
    """The model's part of :func:`extract_facts`: its list of facts, or None.

    None when the call raises or the reply is not a JSON list of strings; the caller
    then decides what the rules keep.
    """
    _check_text(user_message, "user_message")
    if assistant_message is not None:
        _check_text(assistant_message, "assistant_message")
    prompt = _EXTRACTION_PROMPT.format(user=user_message.strip())
    if assistant_message:
        prompt += _EXTRACTION_ASSISTANT.format(assistant=assistant_message.strip())
    try:
        facts = _parse_fact_list(llm(prompt))
    except Exception:  # the model is outside our control: any failure means "use the rules"
        _LOG.warning("fact extraction call failed; using the rule-based filter", exc_info=True)
        return None
    if facts is None:
        _LOG.debug("model reply was not a JSON list of strings; using the rule-based filter")
    return facts
