"""The sensitivity detectors and classifier: check digits, spans, classes, configuration."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from multisession.errors import ConfigurationError
from multisession.privacy import (
    DEFAULT_DETECTOR_CLASSES,
    DETECTORS,
    Detection,
    PrivacyConfig,
    SensitivityClassifier,
)
from multisession.privacy.checksums import (
    bsn_valid,
    dni_valid,
    iban_valid,
    insee_valid,
    luhn_valid,
    nie_valid,
)
from multisession.privacy.detectors import screen

DATA = Path(__file__).parent / "data" / "privacy_messages.jsonl"


def found(text: str) -> dict[str, list[str]]:
    """What each detector that fired saw, as the spans' text."""
    spans: dict[str, list[str]] = {}
    for detection in SensitivityClassifier().classify(text).detections:
        spans.setdefault(detection.detector, []).append(text[detection.start : detection.end])
    return spans


# -- check digits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "valid", "invalid"),
    [
        (luhn_valid, "4111 1111 1111 1111", "4111 1111 1111 1112"),
        (luhn_valid, "3782-822463-10005", "3782-822463-10006"),
        (iban_valid, "GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 33"),
        (iban_valid, "DE89370400440532013000", "DE89370400440532013001"),
        (iban_valid, "CH9300762011623852957", "CH930076201162385295"),  # one short
        (insee_valid, "1 85 03 75 112 048 03", "1 85 03 75 112 048 04"),
        (insee_valid, "2 69 05 2A 012 345 37", "2 69 05 2A 012 345 38"),
        (dni_valid, "12345678Z", "12345678A"),
        (nie_valid, "X1234567L", "X1234567T"),
        (bsn_valid, "111222333", "111222334"),
    ],
)
def test_check_digits_accept_the_valid_number_and_refuse_one_digit_off(
    check: object, valid: str, invalid: str
) -> None:
    assert callable(check)
    assert check(valid) is True
    assert check(invalid) is False


def test_check_digits_refuse_malformed_input_without_raising() -> None:
    for check in (luhn_valid, iban_valid, insee_valid, dni_valid, nie_valid, bsn_valid):
        for value in ("", "abc", "１２３４５６７８９", "ZZ00", "12-x-34"):
            assert check(value) is False


# -- each detector names itself and its span --------------------------------------------


@pytest.mark.parametrize(
    ("text", "detector", "span"),
    [
        ("write to ana.ruiz@example.es today", "email", "ana.ruiz@example.es"),
        ("call me on +44 7700 900123 tonight", "phone", "+44 7700 900123"),
        ("the office is (415) 555-0132", "phone", "(415) 555-0132"),
        ("mon portable: 06 12 34 56 78", "phone", "06 12 34 56 78"),
        ("card 4111 1111 1111 1111 exp 09/27", "payment_card", "4111 1111 1111 1111"),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("my SSN is 536-22-1847", "national_id", "536-22-1847"),
        ("NI number JG 10 37 52 A", "national_id", "JG 10 37 52 A"),
        ("mi DNI es 12345678Z", "national_id", "12345678Z"),
        ("NIE X1234567L", "national_id", "X1234567L"),
        ("my BSN is 111222333", "national_id", "111222333"),
        ("I live at 221B Baker Street now", "street_address", "221B Baker Street"),
        ("deliver to Hauptstraße 12, Berlin", "street_address", "Hauptstraße 12"),
        ("I was born on 14 March 1989", "date_of_birth", "14 March 1989"),
        ("key AKIAIOSFODNN7EXAMPLX in the vault", "credential", "AKIAIOSFODNN7EXAMPLX"),
        ("my password is Tr0ub4dor&3", "credential", "Tr0ub4dor&3"),
        ("I take 50mg of sertraline daily", "health", "sertraline"),
        ("Sam is gay and private about it", "sexual_orientation", "gay"),
        ("I'm Muslim, no pork please", "religion", "Muslim"),
        ("I'm a lifelong Democrat", "political_opinion", "Democrat"),
    ],
)
def test_a_detector_names_itself_and_the_span_it_found(text: str, detector: str, span: str) -> None:
    assert found(text) == {detector: [span]}


@pytest.mark.parametrize(
    "text",
    [
        "my order number is 4111 1111 1111 1112",  # fails Luhn
        "upgrade to Python 3.12.1 and numpy 1.26.4",
        "it costs 1,299.00 EUR",
        "the deadline is 03/07/2024",
        "I'm sick of this bug",
        "the diabetes dataset in sklearn",
        "make a conservative estimate",
        "let's get straight to the point",
        "I forgot my password again",
        "room 12345678Z is on floor 3",  # a valid DNI shape, but nothing names it
        "GB82 WEST 1234 5698 7654 33",  # fails mod 97
        "",
    ],
)
def test_hard_negatives_find_nothing(text: str) -> None:
    result = SensitivityClassifier().classify(text)
    assert (result.sensitivity, result.detections) == ("public", ())


# -- classes and configuration ----------------------------------------------------------


def test_the_class_is_the_highest_among_the_detectors_that_fired() -> None:
    classifier = SensitivityClassifier()
    assert classifier.classify("nothing to see").sensitivity == "public"
    assert classifier.classify("mail ann@example.org").sensitivity == "personal"
    mixed = classifier.classify("mail ann@example.org, I have asthma")
    assert (mixed.sensitivity, mixed.detectors) == ("sensitive", ["email", "health"])
    assert [d.start for d in mixed.detections] == sorted(d.start for d in mixed.detections)


def test_every_built_in_detector_has_a_default_class() -> None:
    assert set(DEFAULT_DETECTOR_CLASSES) == set(DETECTORS)


def test_the_mapping_moves_a_detector_to_another_class_or_turns_it_off() -> None:
    stricter = SensitivityClassifier(PrivacyConfig(detector_classes={"email": "sensitive"}))
    assert stricter.classify("ann@example.org").sensitivity == "sensitive"
    off = SensitivityClassifier(PrivacyConfig(detector_classes={"email": None}))
    assert off.classify("ann@example.org").detections == ()


def test_classes_can_be_renamed_and_extended() -> None:
    config = PrivacyConfig(
        classes=("open", "internal", "restricted", "secret"),
        detector_classes={
            **dict.fromkeys(DEFAULT_DETECTOR_CLASSES, "restricted"),
            "credential": "secret",
        },
    )
    classifier = SensitivityClassifier(config)
    assert classifier.classify("hello").sensitivity == "open"
    assert classifier.classify("I have asthma").sensitivity == "restricted"
    assert classifier.classify("password: Xk29!mPq#Lz8 and asthma").sensitivity == "secret"


def test_a_custom_classifier_adds_detections_mapped_like_the_built_in_ones() -> None:
    def project_names(text: str) -> Iterable[Detection]:
        start = text.find("Bluebird")
        return [Detection("project", start, start + 8)] if start >= 0 else []

    config = PrivacyConfig(detector_classes={"project": "personal"}, custom=project_names)
    result = SensitivityClassifier(config).classify("status of Bluebird?")
    assert (result.sensitivity, result.detectors) == ("personal", ["project"])


def test_a_custom_detector_without_a_class_counts_as_the_highest() -> None:
    config = PrivacyConfig(custom=lambda text: [Detection("unknown", 0, 1)])
    assert SensitivityClassifier(config).classify("x").sensitivity == "sensitive"


def test_a_failing_custom_classifier_is_reported_clearly() -> None:
    def broken(text: str) -> Iterable[Detection]:
        raise RuntimeError("model not loaded")

    with pytest.raises(ConfigurationError, match="custom privacy classifier failed"):
        SensitivityClassifier(PrivacyConfig(custom=broken)).classify("x")
    wrong = PrivacyConfig(custom=lambda text: ["email"])  # type: ignore[arg-type,list-item,return-value]
    with pytest.raises(ConfigurationError, match="must return Detection objects"):
        SensitivityClassifier(wrong).classify("x")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"classes": ()}, "non-empty tuple"),
        ({"classes": ("a", "a")}, "distinct"),
        ({"classes": ["public", "sensitive"]}, "tuple"),
        ({"detector_classes": {"email": "secret"}}, "not one of"),
        ({"detector_classes": ["email"]}, "must map"),
        ({"custom": "not callable"}, "callable"),
    ],
)
def test_a_bad_configuration_names_the_problem(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PrivacyConfig(**options)  # type: ignore[arg-type]


# -- the labelled set -----------------------------------------------------------------------


def _labelled() -> list[dict[str, object]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def test_the_labelled_set_is_large_split_and_covers_every_detector() -> None:
    rows = _labelled()
    assert len(rows) >= 300
    assert Counter(str(row["split"]) for row in rows).keys() == {"dev", "test", "holdout"}
    assert len({row["text"] for row in rows}) == len(rows)
    for split in ("dev", "test"):
        labels = Counter(
            name
            for row in rows
            if row["split"] == split
            for name in row["detectors"]  # type: ignore[attr-defined]
        )
        assert set(labels) == set(DETECTORS)
        assert min(labels.values()) >= 8
    assert sum(not row["detectors"] for row in rows) >= 100  # hard negatives


def test_each_detector_meets_its_targets_on_the_held_out_messages() -> None:
    classifier = SensitivityClassifier()
    counts = {name: Counter[str]() for name in DETECTORS}
    for row in _labelled():
        if row["split"] == "dev":
            continue
        fired = set(classifier.classify(str(row["text"])).detectors)
        expected = set(row["detectors"])  # type: ignore[call-overload]
        for name in DETECTORS:
            if name in fired:
                counts[name]["tp" if name in expected else "fp"] += 1
            elif name in expected:
                counts[name]["fn"] += 1
    for name, count in counts.items():
        precision = count["tp"] / (count["tp"] + count["fp"])
        recall = count["tp"] / (count["tp"] + count["fn"])
        assert precision >= 0.95 and recall >= 0.9, (name, dict(count))


def test_the_screen_names_every_detector_that_fires() -> None:
    # The classifier runs only the detectors the screen names: one it left out and
    # that would have fired is a finding lost. Varied texts: the labelled messages,
    # alone, upper-cased, with accents, and joined in pairs.
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    variants = [*texts, *(t.upper() for t in texts), *(t.replace("e", "é") for t in texts)]
    variants += [a + " " + b for a, b in zip(texts, reversed(texts), strict=True)]
    fired_somewhere = set()
    for text in variants:
        possible = screen(text)
        for name, detector in DETECTORS.items():
            if list(detector(text)):
                assert name in possible, (name, text)
                fired_somewhere.add(name)
    assert fired_somewhere == set(DETECTORS)
    assert screen("Let's meet for lunch tomorrow") == frozenset()


def test_each_quick_test_of_the_screen_holds_wherever_its_patterns_match() -> None:
    # A detector starts with the screen's quick test of it, so the test above cannot
    # see a quick test that is too strict: here each is checked against the patterns
    # it stands for, which must never match where it says nothing can.
    from multisession.privacy import detectors as d

    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    variants = [*texts, *(t.upper() for t in texts), *(t + " the" for t in texts)]
    checked = Counter()
    for text in variants:
        if any(pattern.search(text) for _, pattern, _, _ in d._NATIONAL_IDS):
            assert d._SIX_DIGITS.search(text), text
            checked["national_id"] += 1
        if any(pattern.search(text) for _, pattern in d._PHONE_PATTERNS):
            assert d._PHONE_PART.search(text), text
            checked["phone"] += 1
        if any(pattern.search(text) for _, _, pattern in d._KEY_PATTERNS):
            assert d._KEY_LITERALS.search(text), text
            checked["credential"] += 1
        political = d._POLITICAL_IDENTITY.search(text) or d._POLITICAL_SUPPORT.search(text)
        if political and not d._words(text).isdisjoint(d._POLITICAL_OPINION_FIRST_WORDS):
            assert d._may_be_political(text), text
            checked["political_opinion"] += 1
    assert min(checked.values()) >= 5 and len(checked) == 4
