"""Tokenization for the keyword (BM25) index.

A text becomes a list of terms in four steps:

1. **Words.** The text is normalized to Unicode NFKC (so full-width letters, ligatures and
   composed accents compare equal), typographic apostrophes (``’``, ``ʼ``) become ``'``,
   and, if ``lowercase`` is set, the text is lowercased with :meth:`str.lower`. A word is
   then a maximal run of Unicode letters, digits and combining marks, which may contain
   single apostrophes between such characters: ``don't`` and ``rock'n'roll`` are one
   word each. A trailing possessive ``'s`` is dropped (``Alice's`` -> ``alice``).
   Everything else (spaces, punctuation, symbols, underscores, a lone or leading or
   trailing apostrophe) separates words. Scripts written without spaces (Chinese,
   Japanese, Thai) are not segmented.
2. **Stopwords.** Words whose lowercased form is in ``stopwords`` are dropped.
3. **Length.** Words shorter than ``min_length`` characters are dropped (measured before
   stemming).
4. **Stemming.** With a ``stemmer`` language set, each word is reduced to its Snowball
   stem (``running`` -> ``run``), through PyStemmer.

Stored terms: a memory's terms are computed once, when it is written, and kept in SQL
next to its text (:meth:`Tokenizer.stored`), so that loading a user's keyword index reads
them instead of tokenizing every memory again (tokenizing and stemming were a fifth of
a load). The stored value is the tokenizer's :attr:`~Tokenizer.key` followed by the
terms, separated by spaces (a term never holds whitespace): terms made by other rules
(another configuration, or an earlier version of these rules) do not carry this key and
are tokenized again, as are rows written before terms were stored.

:data:`PLAIN_TOKENIZER_CONFIG` keeps only step 1, with lowercasing. On text made of
letters, digits and whitespace it equals ``text.lower().split()``, the tokenization
that benchmarks built on ``rank_bm25`` usually use; elsewhere it differs in that
punctuation separates words and is dropped (``"tea, please."`` gives ``tea``, ``please``
where ``split()`` keeps ``tea,`` and ``please.``), and in the normalization and
possessive rules above.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
import threading
import unicodedata
from dataclasses import dataclass, field

import Stemmer

from multisession.errors import ConfigurationError, InvalidInputError

__all__ = [
    "DEFAULT_TOKENIZER_CONFIG",
    "ENGLISH_STOPWORDS",
    "PLAIN_TOKENIZER_CONFIG",
    "Tokenizer",
    "TokenizerConfig",
    "tokenize",
]

ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are aren't as at
    be because been before being below between both but by
    can can't cannot could couldn't
    did didn't do does doesn't doing don't down during
    each few for from further
    had hadn't has hasn't have haven't having he he'd he'll her here hers herself him
    himself his how
    i i'd i'll i'm i've if in into is isn't it it'll its itself
    just let me might mightn't more most must mustn't my myself
    needn't no nor not now
    of off on once only or other ought our ours ourselves out over own
    same shall shan't she she'd she'll should should've shouldn't so some such
    than that that'll the their theirs them themselves then there these they they'd
    they'll they're they've this those through to too
    under until up upon us
    very
    was wasn't we we'd we'll we're we've were weren't what when where which while who
    whom why will with won't would would've wouldn't
    you you'd you'll you're you've your yours yourself yourselves
    """.split()  # noqa: SIM905  (a word list reads better as text)
)
"""Common English function words (pronouns, articles, auxiliaries, prepositions,
conjunctions and their contractions), in the form the tokenizer produces them:
lowercase, ASCII apostrophe, possessive ``'s`` already removed (``it's`` is ``it``)."""

# A word: letters/digits, optionally joined by single apostrophes ("don't", "o'neil").
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*")
_TYPOGRAPHIC_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})
_STEM_CACHE_LIMIT = 200_000
# Part of every Tokenizer.key: bump it when a change to the rules above changes the terms
# of some text, so that terms stored by the earlier rules are made again.
_RULES_VERSION = 1


@functools.cache
def _unicode_word_re() -> re.Pattern[str]:
    """The word pattern for non-ASCII text: ``\\w`` plus the combining marks.

    ``re``'s ``\\w`` leaves out combining marks, which would cut Devanagari, Tamil, Thai or
    Hebrew words (and the ``i̇`` that lowercasing ``İ`` gives) into pieces. It includes the
    underscore, which the caller splits on afterwards (a positive character class is
    much faster than an alternation). Built on first use (about 20 ms).
    """
    code_points = itertools.chain(range(0x20000), range(0xE0000, 0xE1000))
    marks = [c for c in code_points if unicodedata.category(chr(c))[0] == "M"]
    ranges: list[str] = []
    start = previous = marks[0]
    for code in [*marks[1:], -1]:
        if code != previous + 1:
            ranges.append(f"\\U{start:08x}-\\U{previous:08x}")
            start = code
        previous = code
    char = rf"[\w{''.join(ranges)}]"
    return re.compile(rf"{char}+(?:'{char}+)*")


@dataclass(frozen=True)
class TokenizerConfig:
    """How texts are split into BM25 terms.

    Example::

        from dataclasses import replace
        from multisession.retrieval.terms import TokenizerConfig, tokenize

        config = TokenizerConfig()  # lowercase, English stopwords, English stemming
        tokenize("She's running the marathons", config)  # ['run', 'marathon']
        no_stemming = replace(config, stemmer=None)

    Attributes:
        lowercase: Lowercase the text before splitting it into words. Stopwords are
            matched case-insensitively either way; Snowball stemmers expect lowercase.
        stemmer: A Snowball language known to PyStemmer (``"english"``, ``"french"``,
            ``"porter"``, ...), or ``None`` to keep words as they are.
        stopwords: Lowercase words to drop; an empty frozenset keeps every word.
        min_length: Drop words shorter than this many characters (before stemming).

    Raises:
        ConfigurationError: If a value is of the wrong type or out of range, if a
            stopword is not lowercase, or if the stemmer language is unknown.
    """

    lowercase: bool = True
    stemmer: str | None = "english"
    stopwords: frozenset[str] = field(default=ENGLISH_STOPWORDS)
    min_length: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.lowercase, bool):
            raise ConfigurationError(f"lowercase must be a bool, got {self.lowercase!r}")
        if self.stemmer is not None:
            available = Stemmer.algorithms()
            if self.stemmer not in available:
                raise ConfigurationError(
                    f"unknown stemmer language {self.stemmer!r}; use None or one of: "
                    + ", ".join(sorted(available))
                )
        if not isinstance(self.stopwords, frozenset):
            raise ConfigurationError(
                f"stopwords must be a frozenset of str, got {type(self.stopwords).__name__}"
            )
        for word in self.stopwords:
            if not isinstance(word, str) or word != word.lower():
                raise ConfigurationError(
                    f"stopwords must be lowercase strings (words are compared in lowercase), "
                    f"got {word!r}"
                )
        if (
            not isinstance(self.min_length, int)
            or isinstance(self.min_length, bool)
            or self.min_length < 1
        ):
            raise ConfigurationError(f"min_length must be an int >= 1, got {self.min_length!r}")


DEFAULT_TOKENIZER_CONFIG = TokenizerConfig()
"""Lowercase, :data:`ENGLISH_STOPWORDS` removed, English Snowball stemming."""

PLAIN_TOKENIZER_CONFIG = TokenizerConfig(stemmer=None, stopwords=frozenset())
"""Lowercased words only: no stopwords, no stemming."""


class Tokenizer:
    """Turns texts into BM25 terms for one :class:`TokenizerConfig`.

    Build it once and call it for every text; it remembers the stem of each word it has
    seen. Safe to call from several threads.

    Example::

        from multisession.retrieval.terms import Tokenizer

        tokenizer = Tokenizer()
        tokenizer("Alice's cats don't like running!")  # ['alic', 'cat', 'like', 'run']

    Args:
        config: The tokenization rules.
    """

    def __init__(self, config: TokenizerConfig = DEFAULT_TOKENIZER_CONFIG) -> None:
        if not isinstance(config, TokenizerConfig):
            raise InvalidInputError(
                f"config must be a TokenizerConfig, got {type(config).__name__}"
            )
        self.config = config
        self._stems: dict[str, str] = {}
        self._local = threading.local()  # PyStemmer objects are not thread-safe.
        rules = [
            _RULES_VERSION,
            config.lowercase,
            config.stemmer,
            sorted(config.stopwords),
            config.min_length,
        ]
        digest = hashlib.sha256(json.dumps(rules).encode()).hexdigest()
        self.key = f"t{digest[:11]}"
        """Names these rules in stored terms (see :meth:`stored`); equal configs, equal keys."""

    def __repr__(self) -> str:
        return f"Tokenizer({self.config!r})"

    def stored(self, text: str) -> str:
        """The terms of ``text`` as SQL keeps them: this tokenizer's key, then the terms.

        Example::

            tokenizer = Tokenizer()
            value = tokenizer.stored("Alice likes green tea")  # key, then 'alic like green tea'
            tokenizer.from_stored(value)  # ['alic', 'like', 'green', 'tea']

        Raises:
            InvalidInputError: If ``text`` is not a string.
        """
        return " ".join([self.key, *self(text)])

    def from_stored(self, value: str | None) -> list[str] | None:
        """The terms a stored value holds, or None if these rules did not make it."""
        if value is None:
            return None
        terms = value.split(" ")
        if terms[0] != self.key:
            return None
        del terms[0]
        return terms

    def __call__(self, text: str) -> list[str]:
        """Split ``text`` into terms.

        Args:
            text: Any string; an empty string gives an empty list.

        Returns:
            The terms, in the order their words appear in ``text``.

        Raises:
            InvalidInputError: If ``text`` is not a string.
        """
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
        config = self.config
        if text.isascii():
            word_re = _ASCII_WORD_RE
        else:
            word_re = _unicode_word_re()
            text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC_APOSTROPHES)
        if config.lowercase:
            text = text.lower()
        words: list[str] = word_re.findall(text)
        if word_re is not _ASCII_WORD_RE and "_" in text:
            words = [
                part.strip("'") for word in words for part in word.split("_") if part.strip("'")
            ]
        if "'" in text:
            words = [w[:-2] if w.endswith(("'s", "'S")) else w for w in words]
        if config.stopwords:
            stopwords = config.stopwords
            if config.lowercase:
                words = [w for w in words if w not in stopwords]
            else:
                words = [w for w in words if w.lower() not in stopwords]
        if config.min_length > 1:
            min_length = config.min_length
            words = [w for w in words if len(w) >= min_length]
        if config.stemmer is None or not words:
            return words
        return self._stem(words)

    def _stem(self, words: list[str]) -> list[str]:
        # Work on a local reference: another thread may swap in a fresh cache, never
        # shrink this one, so every word added below is still there for the lookup.
        stems = self._stems
        missing = set(words).difference(stems)
        if missing:
            if len(stems) > _STEM_CACHE_LIMIT:
                stems = self._stems = {}
                missing = set(words)
            new_words = list(missing)
            stems.update(zip(new_words, self._stemmer().stemWords(new_words), strict=True))
        return list(map(stems.__getitem__, words))

    def _stemmer(self) -> Stemmer.Stemmer:
        stemmer: Stemmer.Stemmer | None = getattr(self._local, "stemmer", None)
        if stemmer is None:
            # Our own cache sits in front, so PyStemmer's would only cost memory.
            stemmer = Stemmer.Stemmer(self.config.stemmer, 0)
            self._local.stemmer = stemmer
        return stemmer


@functools.lru_cache(maxsize=32)
def _tokenizer_for(config: TokenizerConfig) -> Tokenizer:
    return Tokenizer(config)


def tokenize(text: str, config: TokenizerConfig = DEFAULT_TOKENIZER_CONFIG) -> list[str]:
    """Split ``text`` into BM25 terms (see the module docstring for the rules).

    Repeated calls with equal configs share one cached :class:`Tokenizer`.

    Args:
        text: The text to split.
        config: The tokenization rules.

    Returns:
        The terms, in order.

    Raises:
        InvalidInputError: If ``text`` is not a string or ``config`` not a
            :class:`TokenizerConfig`.
    """
    if not isinstance(config, TokenizerConfig):
        raise InvalidInputError(f"config must be a TokenizerConfig, got {type(config).__name__}")
    return _tokenizer_for(config)(text)
