"""The rules of memory-worthiness, as data: vocabularies, patterns and ordered rule tables.

:mod:`.worthiness` is the procedure that applies them. Keeping the two apart lets a reader
see what the filter knows without reading how it runs, and change a rule without touching
the control flow. The labelled set (``tests/core/data/worthiness_labelled.jsonl``) is the
specification: a change here is judged by its precision and recall there.

Conventions:

- Vocabularies are tuples of literal words or phrases; :func:`alternation` joins one into a
  regex group. Order matters where one entry is a prefix of another ("son" before
  "son-in-law" makes "my son-in-law" mention "my son"), so entries keep the order they were
  tuned in. Catch-alls that are not words (a suffix, a repeated letter) are written as
  patterns beside the word list. Word lists are laid out as paragraphs (``fmt: off``),
  not a word a line.
- A :class:`Rule` row keeps a statement, a :class:`Rejection` row turns a clause down. Each
  carries the reason its verdict reports. A table is tried top to bottom and the first row
  that matches decides.
- Patterns match a text's *match form*: lower case, with spelling variants folded ("im" ->
  "i'm", see :data:`VARIANTS`). A ``cased`` row matches the text as written instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from .._patterns import lazy_compile

KINDS = ("fact", "preference", "episode")
"""The kinds a worthy statement can have."""

FACT, PREFERENCE, EPISODE = KINDS


def alternation(words: Iterable[str]) -> str:
    """A regex group that matches any of ``words`` literally, trying them in order."""
    return "(?:" + "|".join(re.escape(word) for word in words) + ")"


class Rule(NamedTuple):
    """A row that keeps a statement: what it matches and the verdict it gives.

    Attributes:
        pattern: Searched in the match form (or in the text as written when ``cased``).
        kind: The kind of the memory.
        cue: The cue the verdict reports, e.g. ``"I live in"``.
        reason: The reason the verdict reports, e.g. ``"location"``.
        dated_kind: The kind instead when the statement carries a date.
        needs: A second pattern the match form must also hold.
        cased: Whether ``pattern`` matches the text as written, where case tells a name.
    """

    pattern: re.Pattern[str]
    kind: str
    cue: str
    reason: str
    dated_kind: str | None = None
    needs: re.Pattern[str] | None = None
    cased: bool = False


class Rejection(NamedTuple):
    """A row that turns a clause down, and the reason the verdict reports.

    Attributes:
        pattern: Searched in the match form.
        reason: Why the clause holds nothing lasting, e.g. ``"transient state: a passing
            feeling"``; the part before the colon names the group of rows.
        needs: A second pattern the match form must also hold.
    """

    pattern: re.Pattern[str]
    reason: str
    needs: re.Pattern[str] | None = None


def rule(
    pattern: str,
    kind: str,
    cue: str,
    reason: str,
    *,
    dated_kind: str | None = None,
    needs: re.Pattern[str] | None = None,
) -> Rule:
    """A :class:`Rule` row from a pattern's source."""
    return Rule(lazy_compile(pattern), kind, cue, reason, dated_kind, needs)


def reject(pattern: str, reason: str, *, needs: re.Pattern[str] | None = None) -> Rejection:
    """A :class:`Rejection` row from a pattern's source."""
    return Rejection(lazy_compile(pattern), reason, needs)


# --------------------------------------------------------------------------------------
# Normalisation

QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})
FENCED_CODE = lazy_compile(r"```.*?(?:```|\Z)", re.DOTALL)
QUOTED_LINE = lazy_compile(r"^\s*>.*$", re.MULTILINE)
HAS_WORD = lazy_compile(r"[^\W_]")
# Trailing punctuation, emoji and sign-offs are not part of a memory ("... fyi 😊").
KEPT_TRAILING = frozenset("'\"()[]%$€£#+/&*@")
TRAILING_SIGN_OFF = lazy_compile(
    r"\s(?:fyi|btw|lol|haha+|lmao|tbh|pls|please|thanks|thx|ty)$", re.IGNORECASE
)

# Spelling variants folded into one form before matching: "im" -> "i'm", "dont" -> "don't".
VARIANTS = {
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
VARIANT_PATTERN = lazy_compile(r"\b" + alternation(sorted(VARIANTS, key=len, reverse=True)) + r"\b")
# "My husband and I are ..." reads as "we're ...".
AND_I = lazy_compile(r"\b(?:my|our)\s+[\w-]+(?:\s+[\w-]+)?\s+and\s+(?:i|me)\b")


def clean(text: str) -> str:
    """Folds curly quotes into straight ones and collapses whitespace."""
    return " ".join(text.translate(QUOTES).split())


# --------------------------------------------------------------------------------------
# Sentence splitting

# The lookbehind starts a match only at the beginning of a run of "!!!", keeping it linear.
SENTENCE_END = lazy_compile(r"(?<![.!?…])[.!?…]+[\"')\]]*\s+")
ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "st", "vs", "etc", "e.g", "i.e", "eg", "ie", "approx"}
    | {"jr", "sr", "inc", "ltd", "co", "dept", "no", "mt", "ft", "a.m", "p.m", "u.s", "u.k"}
)
LAST_WORD = lazy_compile(r"([\w.]+)\.$")


# --------------------------------------------------------------------------------------
# Small talk peeled off the front of a statement. It is matched in the text as written
# (case-insensitive), before spelling variants are folded, hence the "i(?:'?m| am)".

SEPARATORS = r"[^\w']*"
_I_AM = r"i(?:'?m| am)"
_I_WILL = r"i(?:'?ll| will)"

# Always peeled off, even without punctuation after them ("hey I'm Alice", "btw I'm vegan").
STRONG_PREFIXES: tuple[tuple[str, str], ...] = (
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
WEAK_PREFIXES: tuple[tuple[str, str], ...] = (
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
        rf"i think so|i guess so|i suppose(?: so)?|i hope so|i doubt it|{_I_AM} not sure"
        r"|not sure|my bad|my pleasure|my apologies|i see|i know(?: right)?|ikr|i agree"
        r"|i understand(?: now)?|i don'?t know|i dunno|idk|dunno|i was (?:just )?wondering"
        rf"|i get it(?: now)?|i got it|{_I_AM} (?:back|here)"
        rf"|{_I_WILL} try(?: that| it| this)?"
        rf"|i was (?:just )?(?:joking|kidding)|{_I_AM} (?:just )?(?:joking|kidding)|jk"
        rf"|just kidding|i didn'?t mean (?:that|it)|{_I_AM} sorry|sorry|i apologi[sz]e"
        rf"|oops|{_I_AM} (?:just )?curious|{_I_WILL} be right back|brb"
        r"|we(?:'?ll| will) see"
        r"|you|and you|how about you|hbu|wbu|you too|maybe|perhaps|probably"
        rf"|{_I_AM} (?:fine|good|ok|okay|alright|great|well|doing (?:well|good|fine|ok|okay))"
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

SMALL_TALK: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, lazy_compile(rf"(?:{body})\b{SEPARATORS}", re.IGNORECASE))
    for category, body in STRONG_PREFIXES
) + tuple(
    (category, lazy_compile(rf"(?:{body})(?=\s*(?:[^\w\s']|$)){SEPARATORS}", re.IGNORECASE))
    for category, body in WEAK_PREFIXES
)
"""Each small-talk category with its pattern, tried in this order at the start of a text."""

SOCIAL_PRIORITY = ("greeting", "farewell", "thanks", "acknowledgement", "filler", "chit-chat")
"""Which category a statement of small talk only is reported as, when it holds several."""


# --------------------------------------------------------------------------------------
# Shared vocabulary

# fmt: off
ADVERBS = (
    "really", "just", "also", "still", "actually", "honestly", "definitely", "totally",
    "absolutely", "generally", "kinda", "kind of", "pretty much", "sort of", "do", "truly",
    "much", "personally", "genuinely", "so", "very much", "mostly", "now", "currently",
    "seriously", "strongly", "only",
)
# fmt: on
_ADVERBS = rf"(?:{alternation(ADVERBS)}\s+)*"  # any run of them: "I really just love ..."

# fmt: off
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sept",
    "sep", "oct", "nov", "dec",
)
# fmt: on
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = alternation(MONTHS)
_WEEKDAYS = alternation(WEEKDAYS)

TIME_MARKER = lazy_compile(
    r"\b(?:yesterday|today|tonight|this (?:morning|week|weekend|month|year|summer|spring|"
    r"fall|autumn|winter)|last (?:night|week|weekend|month|year|summer|spring|fall|autumn|"
    rf"winter|{_WEEKDAYS})|\d+ (?:days?|weeks?|months?|years?) ago|ago|recently|just|"
    rf"finally|since|next (?:week|month|year|summer|spring|fall|autumn|winter|{_WEEKDAYS})|"
    rf"{_MONTHS}|{_WEEKDAYS}|(?:19|20)\d\d)\b"
)
# An explicit date, as opposed to "just" or "recently".
DATED = lazy_compile(
    rf"\b(?:yesterday|tomorrow|ago|last (?:\w+)|next (?:\w+)|in (?:{_MONTHS}|(?:19|20)\d\d)|"
    rf"on (?:{_WEEKDAYS})|this (?:week|weekend|month|year|summer|fall|autumn|winter|spring))\b"
)

# fmt: off
RELATIONS = (
    "wife", "husband", "partner", "spouse", "son", "daughter", "kids", "kid", "child",
    "children", "baby", "babies", "toddler", "teenager", "twins", "mom", "mum", "mother", "dad",
    "father", "parents", "brother", "sister", "siblings", "boss", "manager", "coworker",
    "co-worker", "colleague", "friend", "boyfriend", "girlfriend", "fiancee", "fiance",
    "fiancée", "fiancé", "grandma", "grandmother", "grandpa", "grandfather", "grandparents",
    "aunt", "uncle", "cousin", "niece", "nephew", "in-laws", "mother-in-law", "father-in-law",
    "sister-in-law", "brother-in-law", "son-in-law", "daughter-in-law", "stepson",
    "stepdaughter", "roommate", "flatmate", "dog", "cat", "puppy", "kitten", "pets", "pet",
    "family",
)
# fmt: on
_RELATIONS = alternation(RELATIONS)
# "my older sister", "our 3-year-old son"
# fmt: off
RELATION_QUALIFIERS = (
    "older", "younger", "little", "big", "best", "eldest", "youngest", "oldest", "new",
)
# fmt: on
_RELATION_QUALIFIER = rf"(?:{alternation(RELATION_QUALIFIERS)}|\d+[- ]year[- ]old)"

# fmt: off
ROLES = (
    "nurse", "doctor", "teacher", "engineer", "developer", "dev", "designer", "lawyer", "chef",
    "cook", "writer", "artist", "photographer", "accountant", "analyst", "scientist",
    "researcher", "programmer", "student", "freelancer", "consultant", "manager", "founder",
    "co-founder", "ceo", "cto", "cfo", "pm", "musician", "farmer", "pilot", "vet", "dentist",
    "pharmacist", "paramedic", "firefighter", "cop", "police officer", "soldier", "veteran",
    "retiree", "undergrad", "intern", "contractor", "carpenter", "electrician", "plumber",
    "mechanic", "barista", "cashier", "waiter", "waitress", "librarian", "architect",
    "therapist", "psychologist", "professor", "lecturer", "tutor", "coach", "trainer", "editor",
    "journalist", "translator", "sysadmin", "homemaker", "dad", "mom", "mum", "mother",
    "father", "parent", "grandparent", "grandmother", "grandfather", "widow", "widower",
    "caregiver", "carer", "vegetarian", "vegan", "runner", "cyclist", "christian", "muslim",
    "jew", "buddhist", "hindu", "catholic", "atheist", "citizen", "immigrant", "expat",
    "native speaker", "beginner", "lefty", "twin", "smoker", "non-smoker", "only child",
)
# fmt: on
# Any other role-like noun: "welder", "sailor", "pianist", "librarian", "mountaineer".
ROLE_SUFFIX = r"[a-z]{3,}(?:er|or|ist|ian|eer)"

# fmt: off
STABLE_STATES = (
    "vegetarian", "vegan", "pescatarian", "celiac", "coeliac", "diabetic", "pre-diabetic",
    "allergic", "lactose intolerant", "gluten intolerant", "intolerant", "colour blind",
    "colourblind", "color blind", "colorblind", "colour-blind", "color-blind", "left-handed",
    "right-handed", "deaf", "blind", "hard of hearing", "autistic", "dyslexic", "married",
    "divorced", "single", "engaged", "widowed", "pregnant", "retired", "unemployed",
    "self-employed", "bilingual", "trilingual", "sober", "introverted", "extroverted",
    "an introvert", "an extrovert", "disabled", "neurodivergent", "epileptic", "asthmatic",
    "anemic", "anaemic", "immunocompromised", "a native english speaker",
    "a native spanish speaker", "a native french speaker", "a native german speaker",
    "native english speaker", "native spanish speaker", "native french speaker",
    "native german speaker", "fluent in",
)
# fmt: on

# Objects that point at the conversation or the task rather than the user's life.
# fmt: off
TASK_NOUNS = (
    "tests", "test", "code", "script", "command", "program", "query", "function", "app",
    "build", "example", "snippet", "answer", "response", "file", "project", "repo", "bug",
    "error", "fix", "changes", "steps", "step",
)
# fmt: on
_TASK_OBJECT = rf"(?:it|this|that|these|those|them|your\b|yours|the {alternation(TASK_NOUNS)})\b"
# What "I like ..." points at when it is feedback on the assistant's answer.
_CURRENT_OUTPUT = (
    r"(?:it|this|that|these|those|yours|your\b|both|neither|either|the (?:first|second|"
    r"third|last|other|previous|new|original|latter|former|above|shorter|longer)\b|"
    r"(?:this|that|the) (?:one|option|version|draft|answer|response)\b)"
)


# --------------------------------------------------------------------------------------
# Questions, requests, sarcasm

# fmt: off
QUESTION_WORDS = (
    "what", "what's", "whats", "how", "how's", "why", "when", "where", "who", "whom", "whose",
    "which", "is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "would",
    "will", "should", "shall", "may", "might", "any", "anyone", "anything", "remind me",
    "tell me", "wonder", "wondering",
)
NEGATED_AUXILIARIES = (
    "isn't", "aren't", "don't", "doesn't", "didn't", "won't", "wouldn't", "can't", "couldn't",
    "shouldn't",
)
# fmt: on
QUESTION_START = lazy_compile(
    rf"^{alternation(QUESTION_WORDS)}\b|^{alternation(NEGATED_AUXILIARIES)}\s+"
    r"(?:you|we|they|i|it|he|she|there|that|this)\b"
)

# fmt: off
COMMAND_VERBS = (
    "write", "summarise", "summarize", "translate", "give", "fix", "make", "rewrite",
    "re-write", "explain", "list", "generate", "continue", "try", "show", "draft", "tell",
    "convert", "proofread", "pretend", "create", "compose", "help", "find", "suggest",
    "recommend", "check", "edit", "correct", "describe", "compare", "calculate", "plan",
    "design", "add", "remove", "change", "redo", "format", "shorten", "expand", "simplify",
    "paraphrase", "outline", "brainstorm", "do", "go", "send", "turn", "put", "use", "keep",
    "answer", "reply", "respond", "look", "read", "review", "debug", "refactor", "optimise",
    "optimize", "implement", "build", "code", "name", "pick", "choose", "sort", "count",
    "define", "teach", "walk", "remind", "search", "google", "book", "schedule", "set", "order",
    "shorter", "longer", "simpler", "more", "less", "again", "repeat", "elaborate", "clarify",
    "proceed", "skip", "ignore", "undo", "print", "run", "test", "draw", "plot", "sum",
)
# fmt: on
COMMAND_START = lazy_compile(
    r"^(?:(?:now|then|also|and|so|just|please|kindly|let's|lets)\s+)*"
    rf"{alternation(COMMAND_VERBS)}\b"
)
# "can you stop ...", "could you always ...": a request that still sets a standing rule.
POLITE_REQUEST = lazy_compile(r"^(?:can|could|would|will) you (?:please )?(?:stop|always|never)\b")
SARCASM = lazy_compile(
    r"🙄|😒|(?:^|\s)/s\b|\byeah,? right\b|\boh,? (?:great|joy|wonderful|perfect)\b"
    r"|\bsure,? because\b|\bas if\b",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------------------
# Explicit cues: "remember that ...", "... don't forget"

REMEMBER_CUE = lazy_compile(
    r"^(?:(?:and|also|so|please|pls|plz|just|oh|ok|okay|can|could|would|will|you|u|"
    r"kindly|make sure to|make sure you)\s+)*(?P<cue>remember|keep in mind|never forget|"
    r"don'?t forget|do not forget|make a note|take note|note|important|nb|reminder|"
    r"please note)(?:\s+(?:that|this|this down|down))?\s*(?:[:,\-–—]\s*|\s+|$)",
    re.IGNORECASE,
)
REMEMBER_SUFFIX = lazy_compile(
    r"[\s,;\-–—]+(?:(?:please|pls|and|so)\s+)?(?P<cue>remember|keep in mind|don'?t forget|"
    r"note)(?:\s+(?:that|this|it))?(?:\s+(?:please|pls|ok|okay))?\s*[.!?]*$",
    re.IGNORECASE,
)
# Bare "note"/"important"/"reminder" only count as a cue with a colon (or "that") after them.
NEEDS_COLON = frozenset({"note", "important", "nb", "reminder", "please note"})
COLON_OR_THAT = lazy_compile(r":|\bnote that\b", re.IGNORECASE)
# "you remember that guy?" is a question about memory, not a cue.
YOU_REMEMBER = lazy_compile(r"^(?:you|u)\s+(?!should|must|need to|have to)", re.IGNORECASE)

# The kind of a cued statement that matched no rule.
# fmt: off
PREFERENCE_WORDS = (
    "prefer", "like", "love", "hate", "favourite", "rather", "enjoy", "always", "never",
    "usually",
)
EVENT_WORDS = (
    "appointment", "meeting", "deadline", "trip", "flight", "interview", "exam", "plan", "goal",
    "tomorrow",
)
# fmt: on
SOUNDS_LIKE_PREFERENCE = lazy_compile(rf"\b{alternation(PREFERENCE_WORDS)}\b")
SOUNDS_LIKE_EVENT = lazy_compile(rf"\b{alternation(EVENT_WORDS)}\b")

# The assistant saying it will keep something: "Noted, I'll remember that."
ASSISTANT_WILL_REMEMBER = lazy_compile(
    r"\b(?:i'll|i will|i'm going to|let me) (?:remember|keep (?:that|this|it) in mind|"
    r"make a note|note (?:that|this|it)|save (?:that|this|it))\b|\bnoted\b|"
    r"\bi've (?:saved|noted|remembered|stored)\b|\b(?:saved|stored) (?:to|in) (?:my |your )?"
    r"memory\b"
)


# --------------------------------------------------------------------------------------
# Clauses, persons, relations mentioned

CLAUSE_SPLIT = lazy_compile(r"\s*[,;]\s*|\s+[-–—]\s+")
# Clause boundaries for the guards: punctuation, or a conjunction before a first-person
# subject ("I have an interview tomorrow | and I'm nervous").
GUARD_SPLIT = lazy_compile(
    r"\s*[,;]\s*|\s+[-–—]\s+|\s+(?:and|but|so|because|though|although|cuz|cause|while)\s+"
    r"(?=(?:i(?!\s+(?:are|were)\b)|i'm|im|i've|ive|i'd|my|we|we're|we've|our)\b)",
    re.IGNORECASE,
)
FIRST_PERSON = lazy_compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself|we|we're|we've|our|us)\b")
RELATION_MENTION = lazy_compile(
    rf"\b(?:my|our)\s+(?:{_RELATION_QUALIFIER}\s+)?{_RELATIONS}\b", re.IGNORECASE
)
# Case matters: "my daughter Lily".
RELATION_NAME = lazy_compile(
    rf"\b(?:[Mm]y|[Oo]ur)\s+(?:(?:[a-z]+|\d+[- ]year[- ]old)\s+)?(?P<rel>{_RELATIONS})"
    r"(?:,)?\s+(?P<name>[A-Z][a-z]+)\b(?!')"
)

# Pronoun continuations of a relation ("... my husband? he loves fishing").
PRONOUN_START = lazy_compile(
    r"^(?P<pronoun>he|she|they)(?P<verb>'s|'re| is| are| was| were)?\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
STATIVE_AFTER_PRONOUN = lazy_compile(
    r"^(?:\w+\s+)?(?:loves?|likes?|hates?|has|have|works?|lives?|plays?|goes|go|studies|"
    r"study|speaks?|just turned|turned|turning|allergic|a |an |\d|named|called|into|"
    r"obsessed|scared|afraid|really into|big on|crazy about)"
)
# A sentence that goes on about the previous memory: "I have a dog. He's a beagle."
CONTINUATION_START = lazy_compile(
    r"^(?:it|it's|its|he|she|they|he's|she's|they're|that|this|which|his|her|their|also|"
    r"and|but)\b"
)


# --------------------------------------------------------------------------------------
# Rejections: a statement that is a hypothetical, a clause that is feedback, task chatter
# or a passing state. Each row reports its own reason.

HYPOTHETICAL: tuple[Rejection, ...] = (
    reject(
        r"^(?:if|imagine|suppose|supposing|say|let's say|pretend|what if|assuming|assume|"
        r"hypothetically|in theory)\b",
        "hypothetical: opens with if or imagine",
    ),
    reject(r"\bif i (?:were|was|had|lived|moved)\b", "hypothetical: if I were ..."),
    reject(r"\bi'd be\b", "hypothetical: I'd be ..."),
)

FEEDBACK: tuple[Rejection, ...] = (
    reject(
        rf"\bi(?:\s+|'d\s+){_ADVERBS}(?:love|like|prefer|hate|dislike|liked|loved|hated)\s+"
        rf"(?!it (?:when|if)\b){_CURRENT_OUTPUT}",
        "feedback on the conversation: likes or dislikes the answer",
    ),
    reject(
        rf"\bi\s+{_ADVERBS}(?:love|like|hate|liked|loved|hated|appreciate)\s+"
        r"(?:how|the way|what|that) you\b",
        "feedback on the conversation: how the assistant answers",
    ),
    reject(
        r"\bmy (?:favourite|least favourite) (?:answer|response|reply|version|one|part|option|"
        r"idea|explanation|so far)\b",
        "feedback on the conversation: a favourite answer",
    ),
    reject(
        r"\byou(?:'re| are) (?:wrong|right|correct|mistaken)\b",
        "feedback on the conversation: the assistant is right or wrong",
    ),
    reject(
        r"\bi don't think (?:that's|it's|this is|that is|it is|so)\b",
        "feedback on the conversation: disagreement",
    ),
    reject(
        r"\bi (?:never|don't) know (?:what|how|where|when|which|if|whether)\b",
        "feedback on the conversation: not knowing",
    ),
    reject(
        r"\bi'd (?:rather|prefer) not (?:talk|discuss|say|go into|get into|answer|share|think)\b",
        "feedback on the conversation: rather not say",
    ),
    reject(
        r"\b(?:this|that|it) (?:worked|works|didn't work|doesn't work)\b",
        "feedback on the conversation: whether it worked",
    ),
)

# Trying to reach a life goal, which is worth remembering (not "trying to" fix the task at
# hand). One pattern for the rule that keeps them and the check that tells them from task
# chatter.
_TRYING_GOAL = (
    r"\b(?:i'm|we're|i've been|we've been) trying (?:to (?:lose|eat|quit|learn|get into|save|"
    r"exercise|sleep|cut|drink|be more|be less|get fit|get in shape|stop|read more|run|"
    r"conceive|get pregnant|buy|sell|move|find a (?:new )?(?:job|house|flat|apartment|"
    r"partner))|for (?:a baby|kids|a child))\b"
)
LIFE_GOAL = lazy_compile(_TRYING_GOAL)
"""A clause holding a life goal is never task chatter nor a passing state."""

TASK_CHATTER: tuple[Rejection, ...] = (
    reject(
        r"\bi'm (?:still )?(?:trying to|looking for)\b",
        "about the current task: trying or looking for something",
    ),
    reject(r"\bi'm (?:still )?(?:struggling|stuck|confused)\b", "about the current task: stuck"),
    reject(
        r"\bi'm (?:still )?getting (?:an? |the )?(?:error|warning|exception|message|result|"
        r"output|issue|bug|weird)\b",
        "about the current task: an error or an output",
    ),
    reject(
        r"\bi (?:need|want|'d like|would like)\b|\bi'd like\b|\bi want\b",
        "about the current task: wants something",
    ),
    reject(
        r"\bi (?:meant|mean|pasted|typed|copied|clicked|asked|said) (?:it|this|that|the|a|an|in|"
        r"on|something)\b",
        "about the current task: what the user typed or meant",
    ),
    reject(
        r"\bi (?:\w+ )?(?:tried|ran|run|tested|installed|updated|restarted|rebooted) (?:it|this|"
        r"that|them|your|the (?:code|script|command|program|tests?|query|function|app|snippet|"
        r"example|suggestion|fix))\b",
        "about the current task: tried a suggestion",
    ),
    reject(r"\bi forgot (?:what|to ask|how)\b", "about the current task: forgot what to ask"),
    reject(
        r"\bi (?:have|'ve got|got) (?:a |an |another |one |some |no |a few |a couple of )?"
        r"(?:quick |small |simple |follow[- ]up |last |general )?(?:question|questions|problem|"
        r"issue|doubt|error|bug|idea|suggestion|request|thought|clue|minute|second|moment|"
        r"chance)s?\b",
        "about the current task: has a question or a problem",
    ),
    reject(r"\bi (?:have|got|need) to (?:go|leave|run)\b", "about the current task: has to go"),
    reject(
        r"^(?:(?:so|but|and|now|then|also|ok|okay)\s+)?my (?:question|problem|issue|point|bad|"
        r"pleasure|guess|answer|mistake|apologies|bet|concern|request|code|output|script|"
        r"program|function|query|test|build|file|screen|internet|wifi|connection)\b(?! code)",
        "about the current task: the user's question or setup",
    ),
    reject(
        r"\bmy [\w ]{1,30}?(?:throws|crashes|keeps crashing|won't|doesn't work|isn't working|"
        r"is broken|is slow|stopped working|fails|returns|is down)\b",
        "about the current task: something is broken",
    ),
)

_FEELING_NOW = (
    r"\b(?:i'm|i feel|i'm feeling|feeling)\s+(?:(?:so|really|very|a bit|a little|kinda|"
    r"kind of|pretty|super|quite|totally|just|a tad|extremely|sooo+|too)\s+)*"
)
# fmt: off
PASSING_FEELINGS = (
    "tired", "hungry", "thirsty", "bored", "sleepy", "exhausted", "sick", "ill", "unwell",
    "stressed", "anxious", "nervous", "excited", "happy", "sad", "upset", "angry", "annoyed",
    "frustrated", "confused", "lost", "fine", "good", "ok", "okay", "alright", "great", "cold",
    "hot", "awake", "drunk", "hungover", "lonely", "grumpy", "sore", "overwhelmed",
    "in a bad mood", "in a good mood", "under the weather", "burnt out", "burned out",
)
PASSING_SITUATIONS = (
    "busy", "done", "ready", "late", "early", "free", "in a rush", "in a hurry", "in a meeting",
    "on my way", "at work", "at home", "outside", "online", "offline",
)
# "I'm watching the game rn": doing something right now, unless it is a project.
PROJECT_VERBS = (
    "learning", "working", "building", "writing", "training", "preparing", "studying",
    "planning", "saving", "moving", "expecting", "renovating", "organising", "organizing",
    "applying", "starting", "launching", "getting", "recovering", "teaching", "taking",
)
# fmt: on
RIGHT_NOW = lazy_compile(r"\b(?:right now|rn|atm|at the moment)\b")

TRANSIENT: tuple[Rejection, ...] = (
    reject(
        rf"{_FEELING_NOW}{alternation(PASSING_FEELINGS)}\b", "transient state: a passing feeling"
    ),
    reject(
        rf"{_FEELING_NOW}{alternation(PASSING_SITUATIONS)}\b",
        "transient state: busy or somewhere for now",
    ),
    reject(
        r"\bi (?:just )?(?:woke up|got up|got home|got back home|ate|had (?:lunch|dinner|"
        r"breakfast|coffee))\b",
        "transient state: just did something",
    ),
    reject(
        r"\bi'm in \w+ (?:today|this week|right now|rn|for the weekend)\b",
        "transient state: somewhere for a few days",
    ),
    reject(
        rf"\bi'm (?!{alternation(PROJECT_VERBS)}\b)\w+ing\b",
        "transient state: doing something right now",
        needs=RIGHT_NOW,
    ),
)


# --------------------------------------------------------------------------------------
# Worthy rows. Standing instructions and names are checked on the whole statement, even a
# request ("never use emojis"); the others on each clause the guards let through.

STANDING_INSTRUCTION: tuple[Rule, ...] = (
    rule(
        r"\b(?:from now on|going forward|in (?:the )?future|for (?:all )?future|"
        r"from here on|moving forward|every time you|whenever you)\b",
        PREFERENCE,
        "from now on",
        "standing instruction",
    ),
    rule(
        r"\b(?:always|never)\s+(?:answer|reply|respond|use|give|write|call|address|include|"
        r"format|show|explain|say|add|suggest|start|end)\b|^(?:please\s+)?(?:don't|do not|"
        r"never)\s+(?:ever\s+)?(?:call|use|say|add|give|write|mention|include|suggest|"
        r"recommend|send)\b|^(?:(?:please|can you|could you|would you|will you)\s+)*(?:stop|"
        r"quit)\s+\w+ing\b",
        PREFERENCE,
        "always/never ...",
        "standing instruction",
    ),
    rule(
        r"\b(?:your|all|the|in)\s+(?:answers|responses|replies|explanations|messages|"
        r"suggestions|examples)\b|^(?:please\s+)?keep\s+(?:your\s+|the\s+)?(?:answers|"
        r"responses|replies|explanations)\b",
        PREFERENCE,
        "your answers",
        "standing instruction about answers",
    ),
)

# Things people name that are not relations: "we named our repo ...".
# fmt: off
NAMED_THINGS = (
    "function", "variable", "file", "class", "method", "project", "repo", "app", "branch",
    "model", "script", "folder", "table", "column", "server", "database", "channel", "document",
    "doc", "account", "playlist",
)
# fmt: on
NAME_RULES: tuple[Rule, ...] = (
    rule(r"\bmy name is\s+\S", FACT, "my name is", "name"),
    rule(
        r"^(?:(?:please|just|you can|you may|everyone|people|friends)\s+)*call me\s+"
        r"(?!back|later|when|if|tomorrow|at|on|a\b|an\b|the\b|after|before|now|asap|"
        r"anytime|whenever|today|tonight)\w",
        FACT,
        "call me",
        "name",
    ),
    rule(r"\b(?:people|everyone|friends|they) call me\s+\w", FACT, "call me", "name"),
    rule(
        r"\b(?:we|i)\s+(?:just\s+)?(?:named|called)\s+(?:our|my)\s+"
        rf"(?!{alternation(NAMED_THINGS)}s?\b)[\w-]+",
        FACT,
        "we named our ...",
        "name of a relation",
    ),
)

# Case matters here: "I'm Alice", "I'm Muslim", "my daughter Lily".
CASED_NAMES: tuple[Rule, ...] = (
    Rule(
        lazy_compile(
            r"\b(?:I'm|Im|I am|i'm|im|i am) an? (?!(?:Lot|Bit|Little|Big|Huge)\b)[A-Z][a-z]+\b|"
            r"\b(?:I'm|Im|I am)\s+(?!Sorry|Fine|Good|Ok|OK|Okay|Not|Just|So|Back|Here|Done|"
            r"Ready|Tired|Glad|Sure|Going|Gonna|In|On|At|From|The|A|An|Very|Really)[A-Z][a-z]+"
        ),
        FACT,
        "I'm <Name>",
        "name or identity",
        cased=True,
    ),
    Rule(RELATION_NAME, FACT, "my <relation> <Name>", "relation", cased=True),
)

# fmt: off
RELATION_VERBS = (
    "name is", "name's", "is", "are", "was", "were", "named", "called", "has", "have", "lives",
    "live", "works", "work", "just turned", "turned", "turns", "is turning", "goes", "go",
    "loves", "love", "likes", "like", "hates", "hate", "studies", "study", "plays", "play",
    "attends", "attend", "speaks", "speak", "got", "gets", "passed away", "died", "starts",
    "started", "is starting", "moved", "retired", "turn",
)
FAN_WORDS = (
    "fan", "person", "lover", "nerd", "geek", "enthusiast", "buff", "addict", "junkie",
    "foodie", "night owl", "early bird", "early riser", "homebody",
)
FOUND_QUALITIES = (
    "boring", "distracting", "annoying", "helpful", "useful", "relaxing", "stressful", "fun",
    "confusing", "overwhelming", "tedious", "interesting", "calming", "exhausting",
    "irritating",
)
ONGOING = (
    "learning", "working on", "building", "writing", "training for", "training",
    "preparing for", "studying for", "saving up for", "saving for", "moving", "relocating",
    "expecting", "renovating", "organising", "organizing", "applying to", "applying for",
    "launching", "getting married", "getting divorced", "recovering from", "teaching myself",
    "practising", "practicing", "developing", "hosting", "throwing", "competing in",
)
UPCOMING_EVENTS = (
    "appointment", "meeting", "interview", "exam", "flight", "trip", "surgery", "wedding",
    "deadline", "date", "party", "operation", "concert", "game", "presentation", "recital",
    "match", "race", "performance", "ceremony", "graduation", "holiday", "vacation",
)
AILMENTS = (
    "migraines", "headaches", "panic attacks", "seasick", "carsick", "motion sickness",
    "nosebleeds", "cold sores", "hay fever", "eczema", "heartburn", "insomnia",
)
POSSESSION_VERBS = (
    "own", "drive", "ride", "speak", "use", "teach", "study", "rent", "run", "manage", "play",
    "volunteer", "coach", "write for", "follow", "eat", "drink", "keep", "wear", "take",
    "code in", "program in", "write in", "cook", "bake", "practise", "practice", "support",
    "vote",
)
# "my ... is" about the moment or the task, not a possession: "my internet is down".
NOT_POSSESSIONS = (
    "guess", "bad", "god", "gosh", "goodness", "pleasure", "point", "question", "turn", "fault",
    "day", "week", "morning", "afternoon", "evening", "night", "weekend", "head", "brain",
    "mind", "battery", "coffee", "lunch", "dinner", "break", "meeting", "internet",
    "connection", "wifi", "train", "flight", "bus", "order", "package", "answer", "code",
    "output", "screen", "computer", "laptop battery",
)
# fmt: on

_I_HAVE = (
    r"\b(?:(?:i|we)\s+(?:also\s+|still\s+|only\s+|both\s+)?have|"
    r"(?:i|we)'ve\s+(?:also\s+)?got)\s+"
)

RULES: tuple[Rule, ...] = (
    # explicit biography
    rule(
        r"\b(?:my|our) (?:birthday|bday|birth date|date of birth|(?:wedding )?anniversary|"
        r"due date|name day)\b",
        FACT,
        "my birthday",
        "date",
    ),
    rule(
        r"\b(?:my|our)\s+(?:[\w-]+\s+)?(?:team|company|startup|group|lab|family|office)\s+"
        r"(?:is|are|'s)\s+(?:\w+\s+)?\w+ing\b",
        EPISODE,
        "our team is ...ing",
        "ongoing project",
    ),
    rule(
        rf"\b(?:my|our)\s+(?:{_RELATION_QUALIFIER}\s+)?{_RELATIONS}(?:'s|s)?\s+"
        rf"{alternation(RELATION_VERBS)}\b",
        FACT,
        "my <relation> is",
        "relation",
        dated_kind=EPISODE,
    ),
    # preferences
    rule(
        r"\bi'd (?:rather|prefer|much rather|always prefer)\b",
        PREFERENCE,
        "I'd rather",
        "preference",
    ),
    rule(
        rf"\bi\s+{_ADVERBS}(?:prefer|like|love|adore|enjoy|hate|dislike|detest|loathe|"
        rf"can't stand|don't\s+{_ADVERBS}(?:like|love|enjoy|care for|mind))\b",
        PREFERENCE,
        "I like/love/prefer/hate",
        "preference",
    ),
    rule(
        rf"\bi'm\s+(?:not\s+)?{_ADVERBS}(?:more of\s+)?(?:(?:an?|the)\s+)?(?:big\s+|huge\s+|"
        rf"massive\s+|total\s+|real\s+)?(?:[\w-]+\s+)?{alternation(FAN_WORDS)}\b"
        rf"|\bi'm\s+(?:not\s+)?{_ADVERBS}(?:into|obsessed with|crazy about|passionate about|"
        r"keen on|mad about)\b",
        PREFERENCE,
        "I'm a fan of",
        "preference",
    ),
    rule(
        rf"\bi\s+(?:\w+\s+)?find\s+[\w\s-]{{1,30}}?\s+{alternation(FOUND_QUALITIES)}\b",
        PREFERENCE,
        "I find ...",
        "preference",
    ),
    rule(
        r"\bmy (?:favourite|go-to|preferred|least favourite)\b",
        PREFERENCE,
        "my favourite",
        "preference",
    ),
    # explicit cue words
    rule(
        rf"\bi\s+{_ADVERBS}(?:switched|moved over|changed|converted)\s+(?:over\s+)?"
        r"(?:to|from)\b",
        PREFERENCE,
        "I switched to",
        "changed habit",
        dated_kind=EPISODE,
    ),
    rule(
        r"\b(?:we|i)(?:\s+|'ve\s+)(?:just\s+|finally\s+|have\s+)?(?:decided|agreed|chose|"
        r"settled on|went with|opted)\b",
        EPISODE,
        "we decided",
        "decision",
    ),
    rule(
        r"\bmy (?:goal|plan|dream|aim|resolution|new year's resolution|target|ambition|"
        r"mission)\b",
        EPISODE,
        "my goal is",
        "goal or plan",
    ),
    rule(
        r"\b(?:i|we)(?:'m|'re)? (?:planning|plan|intend|intending|aim|aiming|hoping|hope) "
        r"(?:to|on|a|an|our|my)\b",
        EPISODE,
        "I'm planning to",
        "goal or plan",
    ),
    # ongoing projects and plans
    rule(
        r"\b(?:i'm|we're|i've been|we've been)\s+(?:currently\s+|still\s+|now\s+|also\s+|"
        rf"slowly\s+|finally\s+)?(?:{alternation(ONGOING)}|"
        r"running (?:a|the|my|our) (?!late\b)|leaving (?:my|our) (?:job|"
        r"company|role|position|team|country|city|school)|quitting (?:my|our)|changing (?:jobs|"
        r"careers|my career)|"
        r"taking (?:an? |some )?(?:\w+ )?(?:course|class|classes|lessons)|doing (?:an? )?"
        rf"(?:course|degree|masters|phd|bootcamp))\b(?! {_TASK_OBJECT})",
        EPISODE,
        "I'm learning/working on",
        "ongoing project or plan",
    ),
    rule(
        r"\b(?:i'm|we're)\s+(?:starting|beginning)\s+(?!to\b)\w|\b(?:i'm|we're)\s+(?:thinking|"
        r"considering)\s+(?:about\s+|of\s+)?(?:getting|buying|moving|starting|learning|"
        r"quitting|switching|changing|applying|adopting|going|doing|taking|becoming|having|"
        r"selling|leaving|retiring|opening)\b|" + _TRYING_GOAL,
        EPISODE,
        "I'm starting/thinking of/trying to",
        "goal or plan",
    ),
    # habits
    rule(
        rf"\b(?:i|we)\s+{_ADVERBS}(?:always|never|usually|normally|often|typically|"
        r"generally|rarely|sometimes|tend to|mostly|mainly)\b",
        PREFERENCE,
        "I always/never/usually",
        "habit",
    ),
    # identity, health, work, location, possessions
    rule(
        r"\bi'm\s+(?:severely\s+|very\s+|mildly\s+|deathly\s+|super\s+|really\s+)?"
        r"(?:allergic|intolerant)\b",
        FACT,
        "I'm allergic to",
        "health",
    ),
    rule(
        r"\bi\s+(?:can't|don't|shouldn't|am not allowed to)\s+(?:eat|drink|have|tolerate|"
        r"digest|smoke|drive)\b",
        FACT,
        "I can't eat",
        "health or diet",
    ),
    rule(
        rf"\bi\s+{_ADVERBS}(?:work|am working|'m working)\s+(?:at|for|as|in|with|from|"
        r"remotely|from home|nights|days|weekends|part[- ]time|full[- ]time|shifts|\d)",
        FACT,
        "I work at/for/as",
        "work",
    ),
    rule(
        r"\b(?:i|we)(?:\s+|'ve\s+)(?:still\s+|currently\s+|now\s+|also\s+|only\s+)?(?:live|"
        r"lived|'re living|'m living|been living)\s+"
        r"(?:in|at|on|near|with|abroad|alone|downtown|outside|by)\b",
        FACT,
        "I live in",
        "location",
    ),
    rule(
        r"\bi'm\s+(?:originally\s+)?from\b|\bi\s+(?:come|am originally|grew up|was raised)\b"
        r"|\bi was born\b|\bi'm\s+(?:based|located)\s+(?:in|out of)\b",
        FACT,
        "I'm from",
        "origin or location",
    ),
    rule(
        r"\bi'm\s+in\s+(?:the\s+)?\w+\s+time\s?zone\b|\bmy time\s?zone\b",
        FACT,
        "timezone",
        "location",
    ),
    rule(
        r"\b(?:i|we)'ve\s+(?:already\s+|also\s+|now\s+)?(?:run|done|climbed|visited|written|"
        r"published|won|completed|finished|travel?led|hiked|competed in|raised|built|founded|"
        rf"started|launched|adopted|survived|beaten|qualified)\s+(?!{_TASK_OBJECT})\w",
        EPISODE,
        "I've done ...",
        "past event",
    ),
    rule(
        r"\bi've\s+(?:never\s+|not\s+|already\s+|also\s+|only\s+|even\s+)?been\s+to\b",
        FACT,
        "I've been to",
        "biography",
    ),
    rule(
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
    rule(
        r"\b(?:i've|we've)\s+(?:been|lived|worked|had|used|owned|known|played|studied|"
        r"practi[cs]ed|suffered)\s+(?:[\w-]+\s+){0,3}?(?:for|since)\b",
        FACT,
        "I've been ... for",
        "biography",
    ),
    rule(
        rf"\bi'm\s+(?:(?:a|an|the)\s+)(?:(?:only|lead|main|head|sole|senior|junior|new|"
        rf"single|stay-at-home|full-time|part-time|freelance|professional|retired|former|"
        rf"[\w-]+)\s+){{0,3}}?(?:{alternation(ROLES)}|{ROLE_SUFFIX})s?\b"
        r"(?=\s*$|\s*[,.;!(]|\s+(?:at|in|for|from|with|"
        r"and|so|who|by|of|on|working|living|myself|based|here|now|too|btw|fyi|by trade|"
        r"mostly|mainly|but|since|for))",
        FACT,
        "I'm a <profession>",
        "identity or work",
    ),
    rule(
        rf"\bi'm\s+(?:(?:also|not|very|severely|mildly|type [12]|partially|fully|completely|"
        rf"legally|happily|recently|newly|currently)\s+)?{alternation(STABLE_STATES)}\b",
        FACT,
        "I'm <attribute>",
        "stable attribute",
    ),
    rule(
        r"\bi'm\s+(?:about\s+|almost\s+|nearly\s+|turning\s+)?\d+(?:\s*(?:years?|yrs?|y/?o)\b"
        r"|'|\s*(?:cm|kg|lbs?|ft|feet)\b|\s*$|\s*[,.;!]|\s+(?:and|but|so|with|now|this|next)\b)",
        FACT,
        "I'm <age>",
        "age or size",
    ),
    rule(
        r"\b(?:i'm|we're)\s+(?:currently\s+|still\s+|now\s+)?on\s+(?:a|an|the)\s+[\w-]+(?:\s+[\w-]+)?"
        r"\s+diet\b|\b(?:i'm|we're)\s+on\s+(?:medication|meds|insulin|antidepressants|"
        r"blood thinners|the pill|dialysis|chemo)\b|\bi'm\s+the\s+(?:oldest|youngest|eldest|"
        r"middle|only)\s+(?:child|kid|one|of|daughter|son|sibling|girl|boy)\b|"
        r"\bi\s+(?:suffer from|live with|struggle with|deal with|have had)\s+(?!(?:it|this|that|"
        r"enough)\b)"
        r"\w|\bi\s+(?:often\s+|always\s+|sometimes\s+)?get\s+(?:really\s+|bad\s+)?"
        rf"{alternation(AILMENTS)}\b",
        FACT,
        "I'm on a ... diet / I suffer from",
        "health or diet",
    ),
    rule(
        r"\bi'm\s+(?:currently\s+|still\s+)?(?:studying|majoring in|doing a (?:degree|masters|"
        r"phd)|in (?:grad school|graduate school|college|university|uni|high school|"
        r"med school|law school|school|year \d+|(?:my )?(?:first|second|third|final|last) year))\b",
        FACT,
        "I'm studying",
        "education",
    ),
    rule(
        rf"{_I_HAVE}(?:an?|my|our|the)\s+(?:[\w-]+\s+){{0,2}}?{alternation(UPCOMING_EVENTS)}s?\b",
        EPISODE,
        "I have <event>",
        "upcoming event",
    ),
    rule(
        rf"{_I_HAVE}(?!(?:to|been|never|no idea|it|this|that)\b)(?:a |an |two |three |\d+ |"
        r"one |no |some |type )?[\w-]+",
        FACT,
        "I have",
        "possession or attribute",
        dated_kind=EPISODE,
    ),
    rule(
        rf"\b(?:i|we)\s+{_ADVERBS}{alternation(POSSESSION_VERBS)}\s+"
        r"(?!(?:it|this|that|these|those|them)\b)\w",
        FACT,
        "I own/use/speak",
        "possession or attribute",
    ),
    rule(
        r"\bi\s+(?:don't|never)\s+(?:drink|smoke|eat|drive|own|have|use|watch|celebrate|do|"
        r"wear|vote|fly|travel|cook)\b(?!\s+(?:it|this|that|know|think|understand|get|see|"
        r"care|mind)\b)",
        FACT,
        "I don't ...",
        "stable attribute",
    ),
    rule(
        r"\bwe're\s+(?:a|an)\s+\w+|\b(?:our|my)\s+(?:house|home|flat|apartment|place|company|"
        r"team|office|kids|family|dog|cat|startup|business|stack|product)\s+(?:is|are|has|"
        r"have|uses|use|runs|run|lives|sells|makes|builds)\b",
        FACT,
        "we/our ...",
        "household or work",
    ),
    rule(
        rf"\bmy\s+(?!{alternation(NOT_POSSESSIONS)}\b)"
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
# fmt: off
LIFE_EVENT_VERBS = (
    "finished", "completed", "started", "began", "quit", "graduated", "got married",
    "got engaged", "got divorced", "got promoted", "got hired", "got fired", "got laid off",
    "got accepted", "got into", "got my", "got our", "got a new", "got back", "got diagnosed",
    "got certified", "got vaccinated", "got a puppy", "got a dog", "got a cat", "married",
    "bought", "sold", "adopted", "moved", "relocated", "retired", "passed", "failed", "broke",
    "won", "launched", "released", "raised", "signed up", "signed", "joined", "switched",
    "published", "hired", "founded", "became", "celebrated", "welcomed", "recovered",
    "survived", "sprained", "tore", "enrolled", "was diagnosed", "were married", "gave birth",
    "had a baby", "had surgery", "had an operation", "had twins", "lost my", "lost our",
    "opened", "closed", "completed", "ran my first", "ran a", "climbed", "hiked", "visited",
    "travelled", "traveled", "flew", "emigrated", "immigrated", "defended", "got back from",
    "came back from", "returned from", "went back", "got acquired", "was acquired",
    "went public", "went bankrupt", "shut down", "closed down",
)
PAST_VERBS = (
    "had", "went", "got", "ran", "lost", "left", "made", "took", "met", "saw", "did", "tried",
    "learned", "learnt", "built", "wrote", "read", "played", "watched", "visited", "cooked",
    "baked", "spent", "found", "bought", "turned", "spoke", "gave", "drove", "rode", "swam",
    "walked", "finished", "started",
)
# fmt: on
_REGULAR_PAST = r"[a-z]{3,}ed"  # any other regular past tense: "painted", "camped"

LIFE_EVENTS: tuple[Rule, ...] = (
    rule(
        rf"{_SUBJECT}{_PAST_ADVERBS}{alternation(LIFE_EVENT_VERBS)}\b",
        EPISODE,
        "past event",
        "past event",
    ),
    rule(
        rf"{_SUBJECT}{_PAST_ADVERBS}(?:{alternation(PAST_VERBS)}|{_REGULAR_PAST})\b"
        rf"(?! {_TASK_OBJECT})",
        EPISODE,
        "past event",
        "past event",
        needs=DATED,
    ),
)

# "I'm going to Japan in October": a trip, when a date or a duration says so.
_DURATION = r"\bfor (?:a|two|three|\d+) (?:days?|weeks?|months?)\b"
TRIPS: tuple[Rule, ...] = (
    rule(
        r"\b(?:i'm|we're)\s+(?:going|flying|heading|travel?ling|driving|off)\s+to\s",
        EPISODE,
        "I'm going to <place>",
        "plan",
        needs=lazy_compile(rf"{TIME_MARKER.pattern}|{_DURATION}"),
    ),
)
