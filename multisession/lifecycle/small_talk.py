"""Whether a message is small talk: a greeting, thanks, an acknowledgement, a goodbye.

Such a message asks for no memory, yet hybrid search always answers with the nearest
ones, and no single relevance floor separates them from real questions: "thanks" and
"hi" find memories that contain "thanks" and "hi", with as much keyword evidence as a
short real question. What separates them is that they hold no word about anything: every
word is a greeting, a thanks, an acknowledgement, a farewell, a filler, laughter, an
emoticon or a function word ("are you there?"). A message with one word outside those
("thanks, what's my sister called?") is not small talk.

The relevance floor of search and context (``min_relevance``) turns this rule on with
it: a message that is small talk retrieves nothing when the floor is above zero.
"""

from __future__ import annotations

import re

__all__ = ["is_small_talk"]

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

#: Laughter of any length: "hahaha", "hehehe", "lolol", "lmaooo".
_LAUGHTER = re.compile(r"^(?:(?:ha|he|hi|ja)+h?|l(?:ol)+|lmf?a+o+|x+d+)$")
_REPEATS = re.compile(r"(.)\1{2,}")


def is_small_talk(message: str) -> bool:
    """True when every word of ``message`` is social or a function word.

    A message without words (":)", "...") is small talk; one with a number or any
    other word is not.

    Example:
        >>> is_small_talk("Hey there, how's it going?")
        True
        >>> is_small_talk("thanks!! :)")
        True
        >>> is_small_talk("thanks, and where does my sister live?")
        False
    """
    text = _EMOTICON.sub(" ", message).lower().replace("\u2019", "'")
    for word in _WORD.findall(text):
        if word in _ALLOWED or _LAUGHTER.match(word):
            continue
        # Stretched words: "heyyy", "sooo", "hmmmm".
        shorter = _REPEATS.sub(r"\1\1", word)
        if shorter in _ALLOWED or _REPEATS.sub(r"\1", word) in _ALLOWED:
            continue
        return False
    return True
