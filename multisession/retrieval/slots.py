"""Which personal slot a question asks about, so that the memory filling it ranks first.

A write stores the personal slots a memory fills as keys such as ``residence|self`` or
``device:phone|anna/self`` (see :mod:`multisession.lifecycle.rules`), and a fact that
changed leaves one current memory per key. A question about that slot ("where am I
based these days?", "which company employs me?") is best answered by that memory, yet
the words of the two often differ ("We just moved to Leeds") while everyday memories
share a word or two with the question ("these days", "at work"). Search therefore
multiplies the score of the current memories holding the asked key by
``RetrievalConfig.slot_boost``, and brings them into the candidates if neither
retriever found them.

The question's slot is read from a small vocabulary per slot, the slots the write
rules know; its subject from the first person ("I", "my": ``self``) and from the names
it mentions (a transcript's ``"Anna: ..."`` lines make ``anna/self``), and a question
naming nobody ("which city is home these days?") is about its writer. A question that
names no slot is ranked as before.
"""

from __future__ import annotations

import re

__all__ = ["asked_slots"]

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that name a slot in a question, lowercase. Several slots may share none.
_SLOT_WORDS: dict[str, frozenset[str]] = {
    "residence": _words(
        "live lives living reside resides residing based home hometown city town "
        "address move moved moving relocate relocated"
    ),
    "employer": _words(
        "employer employers employs employed company firm workplace organisation organization"
    ),
    "role": _words("role title position profession occupation career promoted promotion"),
    "diet": _words(
        "diet diets dietary vegetarian vegan pescatarian pescetarian keto paleo meat "
        "carnivore flexitarian omnivore halal kosher"
    ),
    "partner": _words(
        "partner partners dating relationship girlfriend boyfriend wife husband spouse "
        "married engaged fiance fiancee fiancé fiancée"
    ),
    "vehicle": _words(
        "car cars vehicle vehicles drive drives driving truck suv van motorbike motorcycle scooter"
    ),
}

#: Device words in a question, and the device slots (by the write rules' type) they ask.
_DEVICES: dict[str, tuple[str, ...]] = {
    "phone": ("device:phone", "device:smartphone"),
    "phones": ("device:phone", "device:smartphone"),
    "smartphone": ("device:phone", "device:smartphone"),
    "mobile": ("device:phone", "device:smartphone"),
    "laptop": ("device:laptop", "device:computer"),
    "computer": ("device:computer", "device:laptop", "device:pc"),
    "pc": ("device:pc", "device:computer"),
    "tablet": ("device:tablet",),
    "watch": ("device:watch", "device:smartwatch"),
    "smartwatch": ("device:smartwatch", "device:watch"),
    "headphones": ("device:headphones", "device:earbuds"),
    "earbuds": ("device:earbuds", "device:headphones"),
    "camera": ("device:camera",),
    "console": ("device:console",),
    "kindle": ("device:kindle", "device:e-reader"),
    "e-reader": ("device:e-reader", "device:kindle"),
}

#: "Where do I work?" asks the employer; "what do I do for work?" or "my job title",
#: the role. A role word wins over the plain "work" and "job".
_WORK = _words("work works working job")

_FIRST_PERSON = _words("i me my mine myself i'm i've we us our")

#: A question with none of these, no first person and no name asks about its writer
#: ("which city is home these days?").
_THIRD_PERSON = _words("he she they him her them his hers their theirs he's she's they're")

#: Capitalised words that are no names (questions start with them).
_NOT_NAMES = _words(
    "what which who whom whose where when why how is are am was were do does did can "
    "could would should will have has had tell remind i i'm i've my the a an any"
)


def asked_slots(question: str) -> frozenset[str]:
    """The slot keys (``slot|subject``) a question asks about; empty for most questions.

    Example:
        >>> sorted(asked_slots("Which city am I based in these days?"))
        ['residence|self']
        >>> sorted(asked_slots("What car does Anna drive?"))
        ['vehicle|anna', 'vehicle|anna/self']
        >>> asked_slots("What did we talk about yesterday?")
        frozenset()
    """
    tokens = _WORD.findall(question.replace("\u2019", "'"))
    words = {token.lower() for token in tokens}
    slots = {slot for slot, vocabulary in _SLOT_WORDS.items() if words & vocabulary}
    if "role" not in slots and "employer" not in slots and words & _WORK:
        slots.add("employer")
    devices = {key for word in words for key in _DEVICES.get(word, ())}
    if not slots and not devices:
        return frozenset()
    subjects = set()
    if words & _FIRST_PERSON:
        subjects.add("self")
    for token in tokens:
        name = token.removesuffix("'s")
        if name[:1].isupper() and name.lower() not in _NOT_NAMES:
            subjects.update((name.lower(), f"{name.lower()}/self"))
    if not subjects and not words & _THIRD_PERSON:
        subjects.add("self")
    return frozenset(f"{slot}|{subject}" for slot in slots | devices for subject in subjects)
