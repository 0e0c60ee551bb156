"""Tokenization for BM25: words, apostrophes, Unicode, stopwords, stemming, config."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multisession.errors import ConfigurationError, InvalidInputError
from multisession.retrieval.terms import (
    DEFAULT_TOKENIZER_CONFIG,
    ENGLISH_STOPWORDS,
    PLAIN_TOKENIZER_CONFIG,
    Tokenizer,
    TokenizerConfig,
    tokenize,
)

PLAIN = PLAIN_TOKENIZER_CONFIG


def example_from_docstring(obj: object) -> str:
    doc = obj.__doc__ or ""
    block = re.search(r"Example::\n\n((?:        .*\n|\n)+)", doc)
    assert block, f"{obj!r} has no Example:: block"
    return "\n".join(line[8:] for line in block.group(1).splitlines())


@pytest.mark.parametrize("cls", [TokenizerConfig, Tokenizer])
def test_docstring_examples_run(cls: type) -> None:
    exec(example_from_docstring(cls), {})


def test_docstring_examples_say_what_they_return() -> None:
    assert tokenize("She's running the marathons") == ["run", "marathon"]
    assert Tokenizer()("Alice's cats don't like running!") == ["alic", "cat", "like", "run"]


def test_default_config_lowercases_drops_stopwords_and_stems() -> None:
    assert TokenizerConfig() == DEFAULT_TOKENIZER_CONFIG
    assert tokenize("The Cats were RUNNING and jumping over the fences") == [
        "cat",
        "run",
        "jump",
        "fenc",
    ]


def test_stemming() -> None:
    assert tokenize("running", PLAIN) == ["running"]
    assert tokenize("running runs ran", replace(PLAIN, stemmer="english")) == ["run", "run", "ran"]
    assert tokenize("chanteurs chantaient", replace(PLAIN, stemmer="french")) == [
        "chanteur",
        "chant",
    ]


def test_stopwords_are_matched_after_lowercasing_and_before_stemming() -> None:
    assert tokenize("The AND of it", replace(PLAIN, stopwords=ENGLISH_STOPWORDS)) == []
    # "having" is a stopword; its stem "have" would be too, "haves" is not a stopword.
    assert tokenize("having haves", replace(DEFAULT_TOKENIZER_CONFIG, stemmer="english")) == [
        "have"
    ]
    custom = replace(PLAIN, stopwords=frozenset({"tea"}))
    assert tokenize("Tea and TEA and coffee", custom) == ["and", "and", "coffee"]


def test_case_is_kept_when_lowercase_is_off_but_stopwords_still_match() -> None:
    config = TokenizerConfig(lowercase=False, stemmer=None)
    assert tokenize("The Paris Agreement", config) == ["Paris", "Agreement"]
    assert tokenize("ALICE'S cat", config) == ["ALICE", "cat"]


def test_apostrophes() -> None:
    assert tokenize("Alice's cat", PLAIN) == ["alice", "cat"]
    assert tokenize("Alice\u2019s cat", PLAIN) == ["alice", "cat"]  # typographic
    assert tokenize("don't DON\u2019T don\u02bct", PLAIN) == ["don't", "don't", "don't"]
    assert tokenize("O'Neil's rock'n'roll", PLAIN) == ["o'neil", "rock'n'roll"]
    assert tokenize("'quoted' the boys' toys '", PLAIN) == ["quoted", "the", "boys", "toys"]
    assert tokenize("Alice's don't", DEFAULT_TOKENIZER_CONFIG) == ["alic"]


def test_words_are_runs_of_letters_and_digits() -> None:
    assert tokenize("e-mail: bob@example.com, 2024-11-24; snake_case x2 (v1.5)", PLAIN) == [
        "e",
        "mail",
        "bob",
        "example",
        "com",
        "2024",
        "11",
        "24",
        "snake",
        "case",
        "x2",
        "v1",
        "5",
    ]
    assert tokenize("", PLAIN) == []
    assert tokenize("  ... !!! ", PLAIN) == []


def test_unicode_is_normalized_and_kept_whole() -> None:
    assert tokenize("Café cafe\u0301 CAFÉ", PLAIN) == ["café"] * 3
    assert tokenize("ＡＢＣ ﬁsh", PLAIN) == ["abc", "fish"]  # full-width, ligature
    assert tokenize("Straße ΣΊΣΥΦΟΣ Москва", PLAIN) == ["straße", "σίσυφος", "москва"]
    # Combining marks belong to the word (Devanagari, Tamil, the dot of a lowercased İ).
    assert tokenize("हिन्दी भाषा, தமிழ்", PLAIN) == ["हिन्दी", "भाषा", "தமிழ்"]
    assert tokenize("İstanbul", PLAIN) == ["i\u0307stanbul"]
    # Underscores separate words in non-ASCII text too.
    assert tokenize("café_au_lait x_\u2019y", PLAIN) == ["café", "au", "lait", "x", "y"]


def test_min_length_applies_before_stemming() -> None:
    config = replace(PLAIN, min_length=3)
    assert tokenize("a an ox tea cats", config) == ["tea", "cats"]


@given(
    st.lists(st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True), max_size=20),
    st.sampled_from([" ", "  ", "\n", "\t "]),
)
def test_plain_config_equals_lower_split_on_plain_words(words: list[str], space: str) -> None:
    text = space.join(words)
    assert tokenize(text, PLAIN) == text.lower().split()


def test_plain_config_drops_punctuation_that_split_keeps() -> None:
    assert tokenize("Tea, please.", PLAIN) == ["tea", "please"]


@given(st.text(max_size=200))
def test_any_text_gives_nonempty_words_without_separators(text: str) -> None:
    for config in (PLAIN, DEFAULT_TOKENIZER_CONFIG):
        for term in tokenize(text, config):
            assert term
            assert not any(ch.isspace() for ch in term)


def test_english_stopwords_are_in_tokenizer_form() -> None:
    assert 150 <= len(ENGLISH_STOPWORDS) <= 200
    assert {"the", "and", "i", "don't", "not"} <= ENGLISH_STOPWORDS
    for word in ENGLISH_STOPWORDS:
        assert tokenize(word, PLAIN) == [word]


def test_tokenizer_is_reusable_and_thread_safe() -> None:
    tokenizer = Tokenizer()
    texts = [f"the runner {i} was running {i % 7} marathons quickly" for i in range(2000)]
    expected = [tokenize(text) for text in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(tokenizer, texts)) == expected
    assert tokenizer.config == DEFAULT_TOKENIZER_CONFIG


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stemmer": "klingon"}, "english"),
        ({"stemmer": "English"}, "available|one of"),
        ({"stopwords": {"the"}}, "frozenset"),
        ({"stopwords": frozenset({"The"})}, "lowercase"),
        ({"stopwords": frozenset({1})}, "lowercase"),
        ({"min_length": 0}, "min_length"),
        ({"min_length": 1.5}, "min_length"),
        ({"lowercase": "yes"}, "lowercase"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        TokenizerConfig(**kwargs)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)


def test_config_is_frozen_and_hashable() -> None:
    config = TokenizerConfig()
    with pytest.raises(AttributeError):
        config.stemmer = None  # type: ignore[misc]
    assert hash(config) == hash(TokenizerConfig())


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError):
        tokenize(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Tokenizer()(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        tokenize("text", "english")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Tokenizer(PLAIN.stemmer)  # type: ignore[arg-type]
