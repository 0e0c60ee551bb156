"""Whether a message is small talk: a greeting, thanks, an acknowledgement, a goodbye.

Such a message asks for no memory, yet hybrid search always answers with the nearest
ones, and no single relevance floor separates them from real questions: "thanks" and
"hi" find memories that contain "thanks" and "hi", with as much keyword evidence as a
short real question. What separates them is that they hold no word about anything: every
word is a greeting, a thanks, an acknowledgement, a farewell, a filler, laughter, an
emoticon or a function word ("are you there?"). A message with one word outside those
("thanks, what's my sister called?") is not small talk.

Nor is a follow-up, though its words are all function words: "And for me?", "What about
her?", "and today?", "Did I?" ask the question of the turn before again, about someone
or something else, and need memories as much as it did. A message is taken for a
follow-up when it opens with a linking word ("and", "or", "but", "what about", "how
about", "same for", "as for") or is a question made of function words only; greetings,
thanks, acknowledgements, laughter and goodbyes, asked or not ("how are you?",
"really?", "are you there?"), hold a social word and none of those openings.

The relevance floor of search and context (``min_relevance``) turns this rule on with
it: a message that is small talk retrieves nothing when the floor is above zero, and a
follow-up keeps its hits whatever their evidence, since its topic is in the turn before.
"""

from __future__ import annotations

import re

__all__ = ["is_follow_up", "is_small_talk"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
#: Emoticons, whose letters are no words: ":D", ":-P", "xD", ";)".
_EMOTICON = re.compile(r"(?<!\w)[:;=8xX][-^']?[()\[\]DPpOo3/\\|*]+(?!\w)")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Greetings, thanks, acknowledgements, agreement, farewells, fillers and chat
#: shorthand: words that carry no topic.
_SOCIAL = _words(
    # greetings
    "hi hello hey heya hiya howdy yo sup hallo hola greetings morning afternoon evening "
    "gm welcome again long time no see nice good great meet seeing "
    # how are you
    "how what's whats up going doing been things life everything alright fine well "
    "busy today tonight "
    # thanks
    "thanks thank thx ty tysm thankyou cheers appreciate appreciated much many lot "
    "help helps helped helpful kind kindly "
    # acknowledgement and agreement
    "ok okay okey dokey k kk sure yes yep yeah yup ya yah aye no nope nah maybe perhaps "
    "right true agreed agree exactly indeed absolutely definitely totally certainly "
    "course thing fair enough got it understood understand see makes sense noted gotcha cool "
    "nice neat awesome perfect wonderful brilliant excellent amazing lovely fantastic "
    "sounds works fine interesting wow whoa oh ooh ah aha uh huh mm mhm hmm hm um umm "
    "er erm oops whoops yikes omg gosh damn dang really seriously wait way "
    # laughter and shorthand
    "lol lmao rofl haha hehe hah heh xd ttyl brb bbl gtg g2g np nvm idk tbh btw "
    # farewells
    "bye goodbye byebye later ciao cya ya night goodnight take care soon catch talk "
    "have day one weekend rest same too "
    # fillers
    "anyway anyways so well never mind nevermind forget whatever hold on sec second "
    "moment minute let me think back am there here test testing ping hear"
)

#: Function words: a message of these and the words above is still small talk.
_FUNCTION = _words(
    "i me my mine you your yours u ur r ya we us our it its this that these those he she they "
    "him her them a an the and or but to of for in at with about is are was were be "
    "do does did can could will would should shall have has had am 's 're 've 'll 'd "
    "i'm i've i'll i'd you're you've you'll it's that's there's let's what's how's "
    "all then just very so too also still now again not"
)

_ALLOWED = _SOCIAL | _FUNCTION

#: Words that open a follow-up on their own ("and for me?", "but yesterday?").
_LINKING = _words("and or but plus also")
#: Two-word openings of a follow-up ("what about her?", "same for me?").
_LINKING_PAIRS = frozenset(
    (first, second)
    for first, seconds in (
        ("what", "about of if"),
        ("how", "about"),
        ("same", "for with"),
        ("as", "for"),
    )
    for second in seconds.split()
)

#: Laughter of any length: "hahaha", "hehehe", "lolol", "lmaooo".
_LAUGHTER = re.compile(r"^(?:(?:ha|he|hi|ja)+h?|l(?:ol)+|lmf?a+o+|x+d+)$")
_REPEATS = re.compile(r"(.)\1{2,}")


def is_small_talk(message: str) -> bool:
    """True when every word of ``message`` is social or a function word, and it is no
    follow-up.

    A message without words (":)", "...") is small talk; one with a number or any
    other word is not, nor is a follow-up: one that opens with a linking word ("and
    for me?", "what about her?") or a question of function words only ("Did I?").

    Example:
        >>> is_small_talk("Hey there, how's it going?")
        True
        >>> is_small_talk("thanks!! :)")
        True
        >>> is_small_talk("thanks, and where does my sister live?")
        False
        >>> is_small_talk("And for me?")
        False
    """
    text = _EMOTICON.sub(" ", message).lower().replace("\u2019", "'")
    words = _WORD.findall(text)
    if _follows_up(words, text):
        return False
    for word in words:
        if word in _ALLOWED or _LAUGHTER.match(word):
            continue
        # Stretched words: "heyyy", "sooo", "hmmmm".
        shorter = _REPEATS.sub(r"\1\1", word)
        if shorter in _ALLOWED or _REPEATS.sub(r"\1", word) in _ALLOWED:
            continue
        return False
    return True


def is_follow_up(message: str) -> bool:
    """True when ``message`` opens with a linking word or is a question of function
    words only: it asks the question of the turn before again, about something else.

    Its topic is in that turn, not in its own words, so no evidence of relevance can
    be weighed for it: the relevance floor lets its hits through.

    Example:
        >>> is_follow_up("What about her?"), is_follow_up("Did I?")
        (True, True)
        >>> is_follow_up("how are you?"), is_follow_up("Where do I live?")
        (False, False)
    """
    text = _EMOTICON.sub(" ", message).lower().replace("\u2019", "'")
    return _follows_up(_WORD.findall(text), text)


def _follows_up(words: list[str], text: str) -> bool:
    if len(words) >= 2 and (words[0] in _LINKING or (words[0], words[1]) in _LINKING_PAIRS):
        return True
    return "?" in text and bool(words) and all(word in _FUNCTION for word in words)
