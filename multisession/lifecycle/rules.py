"""Offline rules: which personal slot a memory fills, for whom, with what value.

A fact replaces another only when both say something about the same slot of the same
subject ("where I live", "my sister's job", "the theme of my code editor") and say
different things, or the newer one retracts the older ("I no longer work at Acme").
Similar wording alone never decides: "I live in Porto" and "my sister lives in Porto"
are near in meaning and both stay true.

The rules read first-person chat as people write it: present and past tense, "I'm" and
"I am", "moved to", "switched to", "no longer", "quit", "not ... anymore", and a
leading ``"Speaker: "`` of a transcript line, which makes each speaker a subject of
their own. They are deliberately narrow: a slot they miss costs a stale fact kept
alongside the new one (the newer one still ranks first by recency), while a slot they
invent would hide a true fact.

Claims come in two shapes. A keyed slot (residence, employer, role, diet, partner, a
vehicle, a device of a type) holds one value per subject. An object slot (a preference
or schedule "of the same object") is named by its content words, and two claims are
about the same object when those words mostly agree; only an explicit change ("switched
to", "moved to", "now prefer", "favourite ... is") or a single-valued phrasing replaces
one there, since someone may like several things of a kind.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .._patterns import lazy_compile

__all__ = ["Claim", "claims", "conflict", "content_words", "normalise"]

# -- words -------------------------------------------------------------------------------

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "its",
        "this",
        "that",
        "these",
        "those",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "and",
        "or",
        "but",
        "so",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "i",
        "me",
        "we",
        "us",
        "you",
        "he",
        "she",
        "they",
        "it",
        "im",
        "ive",
        "id",
        "ill",
        "i'm",
        "i've",
        "i'd",
        "i'll",
        "we're",
        "we've",
        "it's",
        "that's",
        "there",
        "here",
        "now",
        "just",
        "really",
        "very",
        "also",
        "too",
        "still",
        "again",
        "then",
        "than",
        "not",
        "no",
        "never",
        "any",
        "some",
        "all",
        "new",
        "old",
        "like",
        "love",
        "prefer",
        "use",
        "using",
        "used",
        "switched",
        "switch",
        "changed",
        "change",
        "moved",
        "move",
        "went",
        "go",
        "going",
        "got",
        "get",
        "gets",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "done",
        "being",
        "into",
        "onto",
        "about",
        "up",
        "out",
        "over",
        "since",
        "because",
        "when",
        "while",
        "after",
        "before",
        "will",
        "would",
        "can",
        "could",
        "should",
        "one",
        "ones",
        "thing",
        "things",
        "kind",
        "lot",
        "bit",
        "much",
        "more",
        "most",
        "less",
        "least",
        "own",
        "well",
        "good",
        "great",
        "nice",
    ]
)
_WORD = lazy_compile(r"[a-z0-9]+(?:'[a-z]+)?")


def normalise(text: str) -> str:
    """Lower-case words only: what two wordings of the very same sentence share."""
    return " ".join(_WORD.findall(text.lower()))


def content_words(text: str) -> frozenset[str]:
    """The words of a text that carry its topic (no function words, crude plural fold)."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or len(word) < 2:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return frozenset(words)


# -- claims ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What one memory says about one slot.

    Attributes:
        slot: The slot: ``residence``, ``employer``, ``role``, ``diet``, ``partner``,
            ``vehicle``, ``device:<type>``, or ``object`` (a preference or schedule of
            the thing named by ``topic``).
        subject: Whose slot: ``self`` for the speaker, a relation (``sister``) or a
            name, prefixed with the transcript speaker if the line names one.
        value: The slot's value in content words (empty for "I'm single", "I quit").
        negated: The memory retracts the value ("no longer", "quit", "moved out of").
        changed: The wording says the value changed ("switched to", "now", "moved to").
        topic: For object slots, the content words naming the object.
        rule: The rule's name, recorded as the reason of a supersession.
    """

    slot: str
    subject: str
    value: frozenset[str]
    negated: bool = False
    changed: bool = False
    topic: frozenset[str] = frozenset()
    rule: str = ""

    @property
    def key(self) -> str:
        """The coarse key stored with the memory to find earlier claims of the slot."""
        return f"{self.slot}|{self.subject}"


_RELATIONS = (
    r"(?:wife|husband|partner|girlfriend|boyfriend|fianc[eé]e?|spouse|sister|brother|"
    r"mom|mum|mother|dad|father|son|daughter|kid|child|boss|manager|roommate|flatmate|"
    r"friend|best friend|cousin|aunt|uncle|grandma|grandmother|grandpa|grandfather|"
    r"niece|nephew|neighbou?r|colleague|coworker)"
)
# Who: I/we, "my <relation>" (optionally a name after it), or a capitalised name.
_SUBJECT = (
    rf"(?P<subj>\bi\b|\bwe\b|\bmy (?:(?:older|younger|little|big|oldest|youngest|best) )?"
    rf"{_RELATIONS}\b(?: (?-i:[A-Z][a-z]+))?|(?-i:\b[A-Z][a-z]+\b)(?= (?:now |still |"
    rf"currently |recently |just |finally )?(?:lives|works|moved|is|has|drives|joined|"
    rf"quit|left|relocated|got|became|switched)\b))"
)
# Whose thing: "my phone", "our flat", "my sister's job", "Sam's car".
_OWNER = rf"(?P<subj>\bmy {_RELATIONS}'s|\bmy|\bour|(?-i:\b[A-Z][a-z]+)'s)"
_ADVERBS = (
    r"(?:(?:now|still|currently|recently|just|finally|actually|officially|also|"
    r"have|has|had|am|is|are|was|been|'ve|'m|'s|'re) )*"
)
# A value: up to five words, ending before punctuation or a word that starts a new clause.
_VALUE = (
    r"(?P<value>(?:(?!(?:and|but|because|since|so|now|anymore|any|as|where|which|who|"
    r"with|for|from|last|this|next|after|before|when|while|though|although|until|if|"
    r"again|too|either|yet|instead|recently|lately|either|or|to|in|on|at)\b)"
    r"[\w'&-]+(?:\.[\w'&-]+)*(?: |(?=[,;:!?.)\]\"])|$)){1,5})"
)
_ARTICLE = r"(?:(?:the|a|an|my|our|some) )?"

_NOW = lazy_compile(r"\b(?:now|these days|nowadays|currently|anymore|any more|from now on)\b")

_VEHICLES = r"(?:car|truck|suv|van|motorbike|motorcycle|scooter|bike|bicycle|e-bike|ebike)"
_DEVICES = (
    r"(?:phone|smartphone|laptop|computer|pc|tablet|watch|smartwatch|headphones|earbuds|"
    r"camera|console|keyboard|monitor|e-reader|kindle|tv|router|mouse)"
)
_DIETS = (
    r"(?:vegetarian|vegan|pescatarian|pescetarian|keto|paleo|gluten[- ]free|dairy[- ]free|"
    r"lactose[- ]free|carnivore|flexitarian|omnivore|plant[- ]based|halal|kosher)"
)
_ROLES = (
    r"(?:engineer|developer|programmer|designer|teacher|nurse|doctor|manager|director|"
    r"lawyer|accountant|analyst|scientist|researcher|consultant|architect|writer|editor|"
    r"student|chef|cook|barista|waiter|waitress|pilot|driver|artist|musician|photographer|"
    r"professor|lecturer|intern|founder|cto|ceo|cfo|vp|lead|head|officer|specialist|"
    r"technician|mechanic|electrician|plumber|carpenter|pharmacist|therapist|dentist|"
    r"surgeon|paramedic|firefighter|police officer|cop|soldier|salesperson|recruiter|"
    r"coach|trainer|tutor|librarian|journalist|reporter|administrator|assistant|"
    r"clerk|cashier|freelancer|contractor|retiree|counsell?or|social worker|veterinarian|"
    r"vet|baker|farmer|scientist|economist|translator|marketer|product owner)"
)


@dataclass(frozen=True)
class _Rule:
    name: str
    slot: str
    pattern: re.Pattern[str]
    negated: bool = False
    changed: bool = False
    fixed_value: str | None = None


def _rule(
    name: str,
    slot: str,
    pattern: str,
    *,
    negated: bool = False,
    changed: bool = False,
    fixed_value: str | None = None,
) -> _Rule:
    return _Rule(name, slot, lazy_compile(pattern, re.IGNORECASE), negated, changed, fixed_value)


_RULES: tuple[_Rule, ...] = (
    # Where someone lives.
    _rule(
        "residence-no-longer",
        "residence",
        rf"{_SUBJECT} (?:no longer|don't|do not|doesn't|does not) (?:live|reside) in "
        rf"{_ARTICLE}{_VALUE}",
        negated=True,
    ),
    _rule(
        "residence-moved-away",
        "residence",
        rf"{_SUBJECT} {_ADVERBS}(?:moved|moving) (?:away from|out of) {_ARTICLE}{_VALUE}",
        negated=True,
    ),
    _rule(
        "residence-moved",
        "residence",
        rf"{_SUBJECT} {_ADVERBS}(?:moved|relocated|moving|relocating|move) "
        rf"(?:(?:back|over|all the way|here|there|house|from [\w ]{{1,30}}?) )?to "
        rf"{_ARTICLE}{_VALUE}",
        changed=True,
    ),
    _rule(
        "residence-lives",
        "residence",
        rf"{_SUBJECT} {_ADVERBS}(?:live|lives|living|reside|resides|residing|based) "
        rf"(?:in|out of) {_ARTICLE}{_VALUE}",
    ),
    _rule(
        "residence-home",
        "residence",
        rf"{_OWNER} (?:new )?(?:home|house|apartment|flat|place) (?:is|'s) "
        rf"(?:now )?(?:in|located in) {_ARTICLE}{_VALUE}",
    ),
    # Where someone works.
    _rule(
        "employer-no-longer",
        "employer",
        rf"{_SUBJECT} {_ADVERBS}(?:no longer|don't|do not|doesn't|does not|stopped) "
        rf"(?:work|works|working) (?:at|for) {_ARTICLE}{_VALUE}",
        negated=True,
    ),
    _rule(
        "employer-quit",
        "employer",
        rf"{_SUBJECT} {_ADVERBS}(?:quit|left|resigned from|was laid off from|got laid off "
        rf"from|got fired from|was fired from|retired from) (?:my |his |her |the )?"
        rf"(?:job|position|role|work)? ?(?:at|with)? ?{_ARTICLE}{_VALUE}",
        negated=True,
    ),
    _rule(
        "employer-joined",
        "employer",
        rf"{_SUBJECT} {_ADVERBS}(?:joined|started at|started working (?:at|for)|"
        rf"started (?:my |a |the )?(?:new )?(?:job|position|role) (?:at|with)|"
        rf"got (?:a|an|the) (?:new )?(?:job|position|role|offer) (?:at|with|from)|"
        rf"accepted (?:a|an|the) (?:job|position|role|offer) (?:at|with|from)|"
        rf"was hired (?:at|by)|got hired (?:at|by)|moved to work (?:at|for)) {_ARTICLE}{_VALUE}",
        changed=True,
    ),
    _rule(
        "employer-works",
        "employer",
        rf"{_SUBJECT} {_ADVERBS}(?:work|works|working|worked|employed) (?:at|for|by) "
        rf"{_ARTICLE}{_VALUE}",
    ),
    _rule(
        "employer-job",
        "employer",
        rf"{_OWNER} (?:new )?(?:job|employer|company|workplace) (?:is|'s) "
        rf"(?:now )?(?:at|with)? ?{_ARTICLE}{_VALUE}",
    ),
    # Someone's role.
    _rule(
        "role-works-as",
        "role",
        rf"{_SUBJECT} {_ADVERBS}(?:work|works|working|started|start) as {_ARTICLE}{_VALUE}",
    ),
    _rule(
        "role-promoted",
        "role",
        rf"{_SUBJECT} {_ADVERBS}(?:got |been |was )?(?:promoted|moved up) to {_ARTICLE}{_VALUE}",
        changed=True,
    ),
    _rule(
        "role-is",
        "role",
        rf"{_OWNER} (?:new )?(?:job title|title|role|position|job) (?:is|'s) "
        rf"(?:now )?{_ARTICLE}{_VALUE}",
    ),
    _rule(
        "role-am",
        "role",
        rf"{_SUBJECT} {_ADVERBS}(?:am|'m|is|'s|became|become|have become) (?:now )?(?:a|an) "
        rf"(?P<value>(?:[\w-]+ ){{0,2}}{_ROLES})\b",
    ),
    # Diet.
    _rule(
        "diet-no-longer",
        "diet",
        rf"{_SUBJECT} {_ADVERBS}(?:am|'m|is|'s|are|'re) (?:no longer|not) (?:a )?"
        rf"(?P<value>{_DIETS})",
        negated=True,
    ),
    _rule(
        "diet-is",
        "diet",
        rf"{_SUBJECT} {_ADVERBS}(?:am|'m|is|'s|are|'re|been|went|gone|going|became|eat|eats|"
        rf"follow|follows|on) (?:a |an |fully |strictly |now )?(?P<value>{_DIETS})\b",
    ),
    _rule(
        "diet-stopped-meat",
        "diet",
        rf"{_SUBJECT} {_ADVERBS}(?:stopped|quit|gave up|don't|do not) (?:eating )?"
        r"(?P<value>meat)\b",
        fixed_value="vegetarian",
    ),
    _rule(
        "diet-eats-meat",
        "diet",
        rf"{_SUBJECT} {_ADVERBS}(?:eat|eats|eating|started eating) (?P<value>meat) "
        r"(?:again|now)\b",
        fixed_value="omnivore",
        changed=True,
    ),
    # Partner.
    _rule(
        "partner-single",
        "partner",
        rf"{_SUBJECT} {_ADVERBS}(?:am|'m|is|'s|are|'re) (?:now )?(?P<value>single)\b",
        negated=True,
        fixed_value="",
    ),
    _rule(
        "partner-broke-up",
        "partner",
        rf"{_SUBJECT} {_ADVERBS}(?:broke up with|split up with|divorced|separated from|"
        rf"left|dumped) (?:my |his |her )?(?:wife|husband|partner|girlfriend|boyfriend)? ?"
        rf"{_VALUE}",
        negated=True,
    ),
    _rule(
        "partner-with",
        "partner",
        rf"{_SUBJECT} {_ADVERBS}(?:am|'m|is|'s|are|'re|got) (?:now )?(?:dating|married to|"
        rf"engaged to|seeing|in a relationship with|together with) {_VALUE}",
    ),
    _rule(
        "partner-is",
        "partner",
        rf"\b(?P<subj>my) (?:new )?(?:wife|husband|partner|girlfriend|boyfriend|"
        rf"fianc[eé]e?|spouse)(?:'s name)? (?:is|'s) (?:now )?{_VALUE}",
    ),
    # Vehicles and devices.
    _rule(
        "vehicle-sold",
        "vehicle",
        rf"{_SUBJECT} {_ADVERBS}(?:sold|got rid of|totaled|totalled|crashed) "
        rf"(?:my|our|his|her|the) (?:old )?(?P<value>(?:[\w-]+ ){{0,2}}){_VEHICLES}\b",
        negated=True,
    ),
    _rule(
        "vehicle-drives",
        "vehicle",
        rf"{_SUBJECT} {_ADVERBS}(?:drive|drives|driving|ride|rides) (?:a|an|my|the) "
        rf"(?:new )?{_VALUE}",
    ),
    _rule(
        "vehicle-bought",
        "vehicle",
        rf"{_SUBJECT} {_ADVERBS}(?:bought|got|purchased|leased|have|own|owns) (?:a|an|my|"
        rf"our) (?:new |used |second-hand )?(?P<value>(?:[\w-]+ ){{1,3}}){_VEHICLES}\b",
        changed=True,
    ),
    _rule(
        "vehicle-is",
        "vehicle",
        rf"{_OWNER} (?:new )?{_VEHICLES} (?:is|'s) (?:now )?(?:a|an)? ?{_VALUE}",
    ),
)

# Devices keep the device type in the slot: a new phone does not replace a laptop.
_DEVICE_RULES: tuple[_Rule, ...] = (
    _rule(
        "device-is",
        "device",
        rf"{_OWNER} (?:new |current )?(?P<type>{_DEVICES}) (?:is|'s) (?:now )?"
        rf"(?:a|an)? ?{_VALUE}",
    ),
    _rule(
        "device-got",
        "device",
        rf"{_SUBJECT} {_ADVERBS}(?:bought|got|purchased|use|uses|using|have|own|switched "
        rf"to|upgraded to|moved to) (?:a|an|the|my) (?:new )?"
        rf"(?P<value>(?:[\w-]+ ){{1,3}})(?P<type>{_DEVICES})\b",
        changed=True,
    ),
)

# Preferences and schedules of one object.
_OBJECT_RULES: tuple[_Rule, ...] = (
    _rule(
        "favourite",
        "object",
        rf"{_OWNER} (?:new |current |all-time )?(?:favou?rite|preferred|go-to) "
        rf"(?P<topic>[\w' -]{{2,40}}?) (?:is|are|'s) (?:now )?{_ARTICLE}{_VALUE}",
    ),
    _rule(
        "switched-to",
        "object",
        rf"{_SUBJECT} {_ADVERBS}(?:switched|changed|swapped|converted|upgraded|"
        rf"migrated|transitioned) (?:(?P<obj>(?:my|our|the) [\w' -]{{1,40}}?) )?(?:over )?"
        rf"(?:from (?P<old>[\w' -]{{1,40}}?) )?to "
        rf"(?P<rest>[^.!?;,]{{2,80}})",
        changed=True,
    ),
    _rule(
        "now-prefers",
        "object",
        rf"{_SUBJECT} (?:now|these days|nowadays) (?:prefer|prefers|use|uses|like|likes|"
        rf"love|loves|go with|stick with|drink|drinks|listen to|play|plays) "
        rf"(?P<rest>[^.!?;,]{{2,80}})",
        changed=True,
    ),
    _rule(
        "no-longer-likes",
        "object",
        rf"{_SUBJECT} {_ADVERBS}(?:no longer|don't|do not|doesn't|does not|stopped|quit|"
        rf"gave up) (?:like|likes|liking|use|uses|using|enjoy|enjoys|enjoying|prefer|drink|"
        rf"drinking|play|playing|go to|going to|listen to|listening to|eat|eating|watch|"
        rf"watching)? ?(?P<rest>[^.!?;]{{2,80}})",
        negated=True,
    ),
    _rule(
        "schedule-moved",
        "object",
        rf"(?P<subj>\bmy|\bour|\bthe)(?P<topic>(?: [\w'-]+){{1,4}}?) (?:has been |was |got |is )?"
        rf"(?:moved|changed|rescheduled|shifted|pushed|brought forward) (?:back )?to {_VALUE}",
        changed=True,
    ),
    _rule(
        "schedule-is",
        "object",
        rf"(?P<subj>\bmy|\bour)(?P<topic>(?: [\w'-]+){{0,3}} (?:class|classes|lesson|lessons|"
        rf"meeting|meetings|practice|training|shift|shifts|appointment|session|sessions|"
        rf"workout|workouts|commute|standup|stand-up|rehearsal|game|games|day off|days off|"
        rf"hours|schedule)) (?:is|are) (?:now )?(?:on|at|every|from) {_VALUE}",
    ),
)
# Preference phrasings an object-slot change can replace.
_PREFERENCE = lazy_compile(
    r"\b(?:like|likes|love|loves|prefer|prefers|enjoy|enjoys|use|uses|using|favou?rite|"
    r"go-to|always|usually|drink|drinks|play|plays|listen to|listens to|"
    r"is (?:on|at|every)|are (?:on|at|every)|fan of|into)\b",
    re.IGNORECASE,
)
_NEGATION_REST = lazy_compile(r"\b(?:anymore|any more|no longer)\b", re.IGNORECASE)


def _words(pattern: str) -> frozenset[str]:
    return frozenset(_WORD.findall(pattern.lower().replace("?", "")))


_RESIDENCE = _words(
    "live lives living reside resides residing based moved moving move relocated "
    "relocating home house apartment flat place"
)
_EMPLOYER = _words(
    "work works working worked employed joined started job hired quit left resigned laid "
    "fired retired employer company workplace offer position role"
)
_PARTNER = _words(
    "single broke split divorced separated left dumped dating married engaged seeing "
    "relationship together wife husband partner girlfriend boyfriend fiance fiancee "
    "fiancé fiancée spouse"
)
#: A rule runs only on a text holding one of its words: most text holds none, and a word
#: lookup costs far less than a regular expression tried at every position.
_TRIGGERS: dict[str, frozenset[str]] = {
    "residence-no-longer": _RESIDENCE,
    "residence-moved-away": _RESIDENCE,
    "residence-moved": _RESIDENCE,
    "residence-lives": _RESIDENCE,
    "residence-home": _RESIDENCE,
    "employer-no-longer": _EMPLOYER,
    "employer-quit": _EMPLOYER,
    "employer-joined": _EMPLOYER,
    "employer-works": _EMPLOYER,
    "employer-job": _EMPLOYER,
    "role-works-as": _words("work works working started start"),
    "role-promoted": _words("promoted moved"),
    "role-is": _words("title role position job"),
    "role-am": _words(_ROLES.replace("|", " ")),
    "diet-no-longer": _words(_DIETS.replace("|", " ").replace("[- ]", " ")),
    "diet-is": _words(_DIETS.replace("|", " ").replace("[- ]", " ")),
    "diet-stopped-meat": _words("meat"),
    "diet-eats-meat": _words("meat"),
    "partner-single": _words("single"),
    "partner-broke-up": _PARTNER,
    "partner-with": _PARTNER,
    "partner-is": _PARTNER,
    "vehicle-sold": _words(_VEHICLES.replace("|", " ")),
    "vehicle-drives": _words("drive drives driving ride rides"),
    "vehicle-bought": _words(_VEHICLES.replace("|", " ")),
    "vehicle-is": _words(_VEHICLES.replace("|", " ")),
    "device-is": _words(_DEVICES.replace("|", " ")),
    "device-got": _words(_DEVICES.replace("|", " ")),
    "favourite": _words("favourite favorite preferred go"),
    "switched-to": _words("switched changed swapped converted upgraded migrated transitioned"),
    "now-prefers": _words("now these nowadays"),
    "no-longer-likes": _words("longer stopped quit gave anymore"),
    "schedule-moved": _words("moved changed rescheduled shifted pushed brought"),
    "schedule-is": _words(
        "class classes lesson lessons meeting meetings practice training shift shifts "
        "appointment session sessions workout workouts commute standup stand rehearsal "
        "game games day days hours schedule"
    ),
}


#: Rules whose value must be a name (capitalised): their verb has other common uses.
_PROPER = frozenset({"employer-joined"})


def _runs(rule: _Rule, words: frozenset[str]) -> bool:
    triggers = _TRIGGERS.get(rule.name)
    return triggers is None or not triggers.isdisjoint(words)


_CONTRACTIONS = (
    (lazy_compile(r"\b([Ii])'m\b"), r"\1 am"),
    (lazy_compile(r"\b([Ww]e|[Tt]hey|[Yy]ou)'re\b"), r"\1 are"),
    (lazy_compile(r"\b(\w+)'ve\b"), r"\1 have"),
)
#: Values that name no place, employer or thing in particular ("a new place").
_VAGUE = frozenset(
    [
        "place",
        "home",
        "house",
        "apartment",
        "flat",
        "city",
        "town",
        "country",
        "area",
        "neighborhood",
        "neighbourhood",
        "job",
        "company",
        "school",
        "work",
        "there",
        "here",
        "park",
        "office",
        "one",
        "thing",
        "it",
        "them",
    ]
)
_SPEAKER = lazy_compile(r"^\s*(?P<speaker>[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}):\s+")
# A message that starts with its verb ("Started my new job at ...") speaks of its writer.
_IMPLICIT = lazy_compile(
    r"^(?=(?:started|moved|joined|switched|changed|got|bought|went|quit|left|relocated|"
    r"sold|accepted|living|working|just|finally|recently)\b)",
    re.IGNORECASE,
)


def _subject(raw: str | None, speaker: str) -> str:
    words = (raw or "i").lower().removesuffix("'s").split()
    if words[0] in ("i", "we", "user", "our"):
        name = "self"
    elif words[0] in ("my", "the"):
        name = " ".join(words[1:]) or "self"
    else:
        name = " ".join(words)
    return f"{speaker}/{name}" if speaker else name


@functools.lru_cache(maxsize=16_384)
def claims(text: str) -> list[Claim]:
    """What a memory says about personal slots, by the offline rules; often nothing.

    Example:
        >>> [(c.slot, c.subject, sorted(c.value)) for c in claims("I moved to Lisbon")]
        [('residence', 'self', ['lisbon'])]
    """
    match = _SPEAKER.match(text)
    speaker = match.group("speaker").strip().lower() if match else ""
    body = text[match.end() :] if match else text
    body = body.replace("\u2019", "'")
    for contraction, expanded in _CONTRACTIONS:
        body = contraction.sub(expanded, body)
    if _IMPLICIT.match(body):
        body = "I " + body[:1].lower() + body[1:]
    words = frozenset(_WORD.findall(body.lower()))
    found: list[Claim] = []
    taken: set[str] = set()
    for rule in _RULES:
        if rule.slot in taken or not _runs(rule, words):
            continue
        hit = rule.pattern.search(body)
        if hit is None:
            continue
        raw = rule.fixed_value if rule.fixed_value is not None else (hit.group("value") or "")
        if rule.name in _PROPER and not raw[:1].isupper():
            continue  # "joined a support group" is no employer; "joined Acme" is
        value = content_words(raw)
        if value <= _VAGUE and not rule.negated:
            continue
        taken.add(rule.slot)
        found.append(
            Claim(
                rule.slot,
                _subject(hit.group("subj"), speaker),
                value,
                negated=rule.negated,
                changed=rule.changed or bool(_NOW.search(body)),
                rule=rule.name,
            )
        )
    for rule in _DEVICE_RULES:
        if not _runs(rule, words):
            continue
        hit = rule.pattern.search(body)
        if hit is None:
            continue
        value = content_words(hit.group("value") or "")
        if value:
            found.append(
                Claim(
                    f"device:{hit.group('type').lower()}",
                    _subject(hit.group("subj"), speaker),
                    value,
                    changed=rule.changed,
                    rule=rule.name,
                )
            )
            break
    if not found:
        found.extend(_object_claims(body, speaker, words))
    return found


def _object_claims(body: str, speaker: str, words: frozenset[str]) -> list[Claim]:
    for rule in _OBJECT_RULES:
        if not _runs(rule, words):
            continue
        hit = rule.pattern.search(body)
        if hit is None:
            continue
        groups = hit.groupdict()
        subject = _subject(groups.get("subj"), speaker)
        if groups.get("topic") is not None:
            topic = content_words(groups["topic"])
            value = content_words(groups.get("value") or "")
        else:
            # "switched to the red theme in my editor": the object and the value are in
            # one phrase; which words are which is settled against the older claim.
            rest = groups.get("rest") or ""
            topic = content_words(f"{rest} {groups.get('obj') or ''}")
            value = frozenset()
            if groups.get("old"):
                value = content_words(groups["old"])
        if not topic:
            continue
        negated = rule.negated or bool(_NEGATION_REST.search(hit.group(0)))
        if (
            rule.name == "no-longer-likes"
            and not _NEGATION_REST.search(body)
            and not re.search(
                r"\b(?:no longer|stopped|quit|gave up)\b", hit.group(0), re.IGNORECASE
            )
        ):
            continue  # "I don't like X" is a preference of its own, not a retraction
        return [
            Claim(
                "object",
                subject,
                value,
                negated=negated,
                changed=rule.changed,
                topic=topic,
                rule=rule.name,
            )
        ]
    if _PREFERENCE.search(body):
        # A plain preference ("I like the blue theme in my editor"): it holds no rule
        # of its own, but a later explicit change of the same object replaces it.
        topic = content_words(body)
        if topic:
            return [
                Claim(
                    "object",
                    _subject(_first_subject(body), speaker),
                    frozenset(),
                    topic=topic,
                    rule="preference",
                )
            ]
    return []


def _first_subject(body: str) -> str:
    hit = re.search(_SUBJECT, body, re.IGNORECASE)
    return hit.group("subj") if hit else "i"


def conflict(new: Claim, old: Claim) -> bool:
    """Whether ``new`` (the later claim) replaces ``old`` (same slot, same subject)."""
    if new.slot != old.slot or new.subject != old.subject:
        return False
    if new.slot != "object":
        if old.negated and not new.negated:
            return True  # "I'm single" then "I'm dating Sam": the retraction is replaced
        if new.negated:
            # "I no longer work at Acme" retracts "I work at Acme"; "I quit" any employer.
            return not old.negated and (not new.value or bool(new.value & old.value))
        if not new.value or not old.value:
            return False
        return not (new.value & old.value)
    return _object_conflict(new, old)


def _object_conflict(new: Claim, old: Claim) -> bool:
    if not (new.changed or new.negated or new.rule in ("favourite", "schedule-is")):
        return False  # liking a second thing of a kind does not undo the first
    if new.rule in ("favourite", "schedule-is", "schedule-moved") and old.rule in (
        "favourite",
        "schedule-is",
        "schedule-moved",
    ):
        # Both name the object apart from the value: the objects must agree.
        if not _same_topic(new.topic, old.topic):
            return False
        return new.negated or not new.value or not old.value or not (new.value & old.value)
    if new.rule == "schedule-moved":
        # "The dentist appointment moved to Friday": the object's words must all be in
        # the older memory, which must not already say the new value.
        return new.topic <= old.topic and not (new.value and new.value <= old.topic)
    shared = new.topic & old.topic
    if new.negated:
        # "I no longer drink coffee": the older memory held the same thing.
        return len(shared) >= max(1, min(2, len(new.topic))) and len(shared) * 2 >= len(new.topic)
    new_only = new.topic - old.topic
    old_only = old.topic - new.topic
    if new.value and new.value <= old.topic:
        # "switched from vim to emacs": the older memory says the old value.
        return True
    # The same object (most of the new phrase's words), a different value on each side.
    return (
        len(shared) >= 2
        and len(shared) * 3 >= 2 * len(new.topic)
        and bool(new_only)
        and bool(old_only)
        and len(new_only) <= 3
    )


#: Names of one kind of favourite: "my favourite band" and "my favourite artist" agree.
_KINDS = {
    word: kind
    for kind, words in {
        "music": "band artist singer musician group rapper composer",
        "film": "movie film",
        "book": "book novel author writer",
        "food": "food dish meal cuisine snack",
        "show": "show series",
        "colour": "colour color",
        "drink": "drink beverage",
        "place": "place spot city destination",
    }.items()
    for word in words.split()
}


def _same_topic(first: frozenset[str], second: frozenset[str]) -> bool:
    first = frozenset(_KINDS.get(word, word) for word in first)
    second = frozenset(_KINDS.get(word, word) for word in second)
    if not first or not second:
        return False
    return len(first & second) * 2 >= max(len(first), len(second))
