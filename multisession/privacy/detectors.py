"""Offline detectors of personal and sensitive data in chat text: patterns, checks, words.

Every write is classified, so a detector must be cheap and must not need a model or the
network. Each one is a function ``text -> detections`` built from regular expressions,
the check digits of :mod:`.checksums` and the word lists of :mod:`._wordlists`:

- numbers that carry a check digit (cards, IBANs, most national ids) must pass it, so
  an order number or a part number of the same shape is not taken for one;
- numbers without one (phones, US social security numbers) need a distinctive layout or
  a word that names them nearby ("SSN", "call me");
- special-category statements (health, religion, orientation, politics) need both a
  term of the list and a sign that it is said of a person ("I have", "my dad is",
  "as a"), so "the diabetes dataset" or "a conservative estimate" are not.

Each detection names its detector and its span in the text, never a copy of the value,
so that reports can count what was found without repeating it.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .._patterns import lazy_compile
from . import _wordlists as words
from .checksums import (
    IBAN_LENGTHS,
    bsn_valid,
    dni_valid,
    iban_valid,
    insee_valid,
    luhn_valid,
    nie_valid,
)

__all__ = ["DETECTORS", "Detection", "Detector", "screen"]


@dataclass(frozen=True)
class Detection:
    """One finding: which detector fired, where, and what it saw (never the value).

    Attributes:
        detector: The detector's name (``"payment_card"``, ``"health"``, ...).
        start: Where the finding starts in the text (a character offset).
        end: Where it ends (exclusive).
        kind: A finer label where the detector has one (``"es_dni"``, ``"jwt"``).
    """

    detector: str
    start: int
    end: int
    kind: str | None = None


#: A detector: the findings of one kind in a text.
Detector = Callable[[str], Iterable[Detection]]


def _alternation(terms: Sequence[str]) -> str:
    """A regex alternation of the terms, longest first, any whitespace between words."""
    ordered = sorted({term.lower() for term in terms}, key=len, reverse=True)
    return "|".join(r"\s+".join(re.escape(part) for part in term.split()) for term in ordered)


# Words with their inner hyphens and apostrophes ("pro-choice", "crohn's"), and numbers.
_WORD = lazy_compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*|\d+")


@functools.lru_cache(maxsize=16)
def _words(text: str) -> frozenset[str]:
    """The lower-case words of a text, for a cheap test before a long alternation."""
    if text.isascii():  # lowering the whole text splits it the same way, in one call
        return frozenset(_WORD.findall(text.lower()))
    return frozenset(word.lower() for word in _WORD.findall(text))


_ASCII_DIGIT = re.compile(r"[0-9]")


@functools.lru_cache(maxsize=16)
def _digit_count(text: str) -> int:
    """How many digits (``str.isdigit``) a text holds: most detectors need a few."""
    if text.isascii():
        return len(_ASCII_DIGIT.findall(text))
    return sum(char.isdigit() for char in text)


def _first_words(terms: Iterable[str]) -> frozenset[str]:
    """A word each term must contain (its longest, the rarest as a rule), and its plural.

    A text holding none of them cannot match any term: the long alternation is skipped.
    """
    keys = {max(_WORD.findall(term.lower()), key=len) for term in terms}
    return frozenset(keys | {word + "s" for word in keys})


# -- contact details -------------------------------------------------------------------

_EMAIL = lazy_compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w@-])"
)


def detect_email(text: str) -> Iterator[Detection]:
    """Email addresses: a local part, ``@`` and a domain with a top-level name."""
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield Detection("email", match.start(), match.end())


# A number that stands on its own: not glued to a word, a decimal point or another number.
_STANDALONE_BEFORE = r"(?<![\w.,/#+-])"
_STANDALONE_AFTER = r"(?![\w/-]|[.,]\d)"
_PHONE_PATTERNS: Final = (
    # International: +country code, then groups (a bracketed area code allowed).
    (
        "international",
        lazy_compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}" + _STANDALONE_AFTER),
    ),
    # North America: (415) 555-0132, 212-555-0198, 617.555.0123.
    (
        "nanp",
        lazy_compile(
            _STANDALONE_BEFORE
            + r"(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[.-])[2-9]\d{2}[.-]\d{4}"
            + _STANDALONE_AFTER
        ),
    ),
    # Trunk-prefixed national numbers (UK, FR, BE, DE, AU, JP, ...): 0 then groups.
    (
        "national",
        lazy_compile(_STANDALONE_BEFORE + r"0\d{1,4}(?:[ .-]\d{2,8}){1,4}" + _STANDALONE_AFTER),
    ),
)
# A part each layout above holds: a "+" and a digit; three digits, a dot or dash, four
# digits; a 0 and up to four digits, a separator, two digits.
_PHONE_PART = re.compile(r"\+\d|\d[.-]\d{4}|0\d{1,4}[ .-]\d\d")
_PHONE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
_DIGIT_WORD_BEFORE = re.compile(r"\w*\d\w*[ ]$")


def detect_phone(text: str) -> Iterator[Detection]:
    """Phone numbers in international form or in a national layout with separators."""
    if _digit_count(text) < 9 or not _PHONE_PART.search(text):
        return
    # A bank account or card number holds digit groups that look like a phone number.
    taken = [(found.start, found.end) for found in (*detect_iban(text), *detect_payment_card(text))]
    for kind, pattern in _PHONE_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            value = match.group()
            digits = sum(char.isdigit() for char in value)
            if kind == "international" and not 8 <= digits <= 15:
                continue
            if kind == "national" and (not 9 <= digits <= 11 or _PHONE_DATE.match(value)):
                continue
            # Part of a longer code (a tracking number, an id): the word before it is
            # made of digits too.
            if _DIGIT_WORD_BEFORE.search(text, max(0, start - 24), start):
                continue
            if any(start < other_end and other_start < end for other_start, other_end in taken):
                continue
            taken.append((start, end))
            yield Detection("phone", start, end, kind)


_ADDRESS_PATTERNS: Final = (
    # 221B Baker Street, 1600 Amphitheatre Parkway, 500 Market St
    lazy_compile(
        r"\b\d{1,5}[A-Za-z]?,?\s(?:[A-Z][a-z]+\s){1,3}"
        r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct"
        r"|Place|Pl|Terrace|Close|Crescent|Grove|Parkway|Pkwy|Square|Sq|Highway|Hwy|Row"
        r"|Gardens|Mews|Walk|Circle|Cir|Alley|Trail|Hill)\b\.?"
    ),
    # 14 rue des Lilas, 9 avenue Victor Hugo
    lazy_compile(
        r"(?i:\b\d{1,4}(?:\s?(?:bis|ter))?,?\s(?:rue|avenue|av\.|boulevard|bd|place|chemin"
        r"|allée|allee|impasse|quai|cours|route)\s)"
        r"(?:(?:de|du|des|la|le|l'|d')\s?){0,2}[A-ZÀ-Ý][\w'À-ÿ-]+(?:\s[A-ZÀ-Ý][\w'À-ÿ-]+){0,3}"
    ),
    # Calle de Alcalá 123, Via Roma 45, Rua Augusta 20
    lazy_compile(
        r"\b(?:Calle|C/|Avenida|Avda\.|Plaza|Paseo|Carrer|Via|Viale|Piazza|Corso|Rua|Largo)"
        r"\s(?:(?:de|del|de\sla|de\slos|de\slas|dei|della|do|da)\s)?"
        r"[A-ZÀ-Ý][\wÀ-ÿ'-]+(?:\s[A-ZÀ-Ý][\wÀ-ÿ'-]+){0,3},?\s\d{1,4}[a-zA-Z]?\b"
    ),
    # Hauptstraße 12, Keizersgracht 221, Lindenweg 4a
    lazy_compile(
        r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|allee|platz|ring|damm"
        r"|gracht|straat|laan|plein|kade|dijk|singel|vej|gatan|gata|veien)"
        r"\s\d{1,4}[a-z]?\b"
    ),
)


def detect_street_address(text: str) -> Iterator[Detection]:
    """Street addresses: a house number and a capitalised street name with its type."""
    if not _digit_count(text):
        return
    for pattern in _ADDRESS_PATTERNS:
        for match in pattern.finditer(text):
            yield Detection("street_address", match.start(), match.end())


# -- dates of birth --------------------------------------------------------------------

_MONTHS = (
    r"(?:jan(?:uary|vier|uar)?|feb(?:ruary|ruar)?|f[ée]v(?:rier)?|mar(?:ch|s|zo)?|märz"
    r"|apr(?:il)?|avr(?:il)?|abr(?:il)?|may|mai|mayo|jun(?:e|i|io)?|juin|jul(?:y|i|io)?"
    r"|juil(?:let)?|aug(?:ust)?|ao[uû]t|ago(?:sto)?|sep(?:t(?:ember|iembre)?)?"
    r"|oct(?:ober|obre|ubre)?|okt(?:ober)?|nov(?:ember|embre|iembre)?"
    r"|dec(?:ember)?|d[ée]c(?:embre)?|dez(?:ember)?|dic(?:iembre)?)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th|er)?"
_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}[./-]\d{1,2}(?:[./-](?:\d{4}|\d{2}))?"
    rf"|(?:the\s)?{_DAY}(?:\s(?:of|de))?\s{_MONTHS}(?:,?\s\d{{4}})?"
    rf"|{_MONTHS}\s{_DAY}(?:,?\s\d{{4}})?)"
)
_BIRTH_DATE = lazy_compile(
    r"(?i:\b(?:born|birthday|birthday's|birth\s?date|date\sof\sbirth|dob|d\.o\.b\.?"
    r"|n[ée]e?|fecha\sde\snacimiento|geburtsdatum|geboren|data\sdi\snascita)(?!\w))"
    r"(?:[^.!?\n\d]{0,24}?)"
    rf"(?P<date>(?i:{_DATE}))(?![\w/.-]*\d)"
)


def detect_date_of_birth(text: str) -> Iterator[Detection]:
    """A day and month (and maybe a year) said to be when someone was born."""
    if not _digit_count(text):
        return
    for match in _BIRTH_DATE.finditer(text):
        yield Detection("date_of_birth", match.start("date"), match.end("date"))


# -- numbers with check digits ----------------------------------------------------------

_CARD = lazy_compile(
    _STANDALONE_BEFORE
    + r"(?:\d{4}[ -]\d{6}[ -]\d{4,5}|\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}|\d{13,19})"
    + _STANDALONE_AFTER
)
# Issuer prefixes and lengths (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
# Maestro): a Luhn-valid number outside them is some other kind of number.
_CARD_ISSUERS: Final = (
    ("visa", lazy_compile(r"4\d{15}(?:\d{3})?$")),
    (
        "mastercard",
        lazy_compile(r"(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}$"),
    ),
    ("amex", lazy_compile(r"3[47]\d{13}$")),
    ("discover", lazy_compile(r"(?:6011|65\d{2}|64[4-9]\d)\d{12,15}$")),
    ("jcb", lazy_compile(r"35(?:2[89]|[3-8]\d)\d{12,15}$")),
    ("diners", lazy_compile(r"3(?:0[0-5]|[689]\d)\d{11,16}$")),
    ("unionpay", lazy_compile(r"62\d{14,17}$")),
    ("maestro", lazy_compile(r"(?:50|5[6-9]|6\d)\d{10,17}$")),
)


def detect_payment_card(text: str) -> Iterator[Detection]:
    """Payment card numbers of a known issuer whose Luhn check holds."""
    if _digit_count(text) < 13:
        return
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if not luhn_valid(digits):
            continue
        for issuer, pattern in _CARD_ISSUERS:
            if pattern.match(digits):
                yield Detection("payment_card", match.start(), match.end(), issuer)
                break


_IBAN = lazy_compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){3,8}\b")


def detect_iban(text: str) -> Iterator[Detection]:
    """IBANs of the registry's countries, of their length, passing the mod-97 check."""
    if _digit_count(text) < 2:  # the country's two check digits
        return
    for match in _IBAN.finditer(text):
        value = match.group()
        expected = IBAN_LENGTHS.get(value[:2])
        if expected is None:
            continue
        # The match may run into a following word: keep the country's length.
        kept, length = [], 0
        for position, char in enumerate(value):
            if char != " ":
                length += 1
            if length == expected:
                kept.append(position + 1)
                break
        if not kept or not iban_valid(value[: kept[0]]):
            continue
        yield Detection("iban", match.start(), match.start() + kept[0])


def _context(pattern: str) -> re.Pattern[str]:
    return lazy_compile(rf"(?i:\b(?:{pattern})\b)")


_NATIONAL_IDS: Final = (
    # US social security number: dashed, or any layout next to its name.
    (
        "us_ssn",
        lazy_compile(
            _STANDALONE_BEFORE
            + r"(?!000|666|9\d\d)\d{3}(?P<sep>[- ]?)(?!00)\d{2}(?P=sep)(?!0000)\d{4}"
            + _STANDALONE_AFTER
        ),
        None,
        _context(r"ssn|social\s+security(?:\s+number)?|social|ss\s?#|ss\s+number"),
    ),
    # UK National Insurance number: two letters, six digits, A-D.
    (
        "uk_nino",
        lazy_compile(
            r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
            r"(?P<sep> ?)\d{2}(?P=sep)\d{2}(?P=sep)\d{2}(?P=sep)[A-D]\b"
        ),
        None,
        _context(r"national\s+insurance(?:\s+number)?|ni\s+(?:number|no)|nino|nin"),
    ),
    # French NIR ("numéro de sécu"): sex, year, month, department, commune, order, key.
    (
        "fr_insee",
        lazy_compile(
            _STANDALONE_BEFORE
            + r"[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[ABab]) ?\d{3} ?\d{3} ?\d{2}"
            + _STANDALONE_AFTER
        ),
        insee_valid,
        None,
    ),
    # Spanish foreigner's number, with its check letter.
    (
        "es_nie",
        lazy_compile(r"\b[XYZ][- ]?\d{7}[- ]?[A-Z]\b"),
        nie_valid,
        None,
    ),
    # Spanish DNI, with its check letter, named nearby (8 digits and a letter are common).
    (
        "es_dni",
        lazy_compile(_STANDALONE_BEFORE + r"\d{8}[- ]?[A-Z]\b"),
        dni_valid,
        _context(r"dni|nif|documento|identidad|id(?:\s+(?:number|card))?|spanish\s+id"),
    ),
    # Dutch citizen service number: nine digits passing the eleven test, named nearby.
    (
        "nl_bsn",
        lazy_compile(_STANDALONE_BEFORE + r"\d{9}" + _STANDALONE_AFTER),
        bsn_valid,
        _context(r"bsn|burgerservicenummer|sofinummer|sofi"),
    ),
    # Canadian social insurance number: nine digits passing Luhn, named nearby.
    (
        "ca_sin",
        lazy_compile(_STANDALONE_BEFORE + r"\d{3}[ -]?\d{3}[ -]?\d{3}" + _STANDALONE_AFTER),
        luhn_valid,
        _context(r"sin|social\s+insurance(?:\s+number)?|nas"),
    ),
)
# How far before a number the word that names it may stand.
_CONTEXT_CHARS = 40
# Every layout above holds six digits in a row, or with single spaces or dashes between.
_SIX_DIGITS = re.compile(r"\d(?:[ -]?\d){5}")


def detect_national_id(text: str) -> Iterator[Detection]:
    """National identity numbers of several countries, each with its check where one exists.

    A number whose layout is distinctive (a dashed US SSN, a spaced UK NINO, a French
    NIR or Spanish NIE with a valid key) is taken on its own; one that any number might
    share (nine digits, eight digits and a letter) only next to a word naming it.
    """
    if _digit_count(text) < 6 or not _SIX_DIGITS.search(text):
        return
    taken: list[tuple[int, int]] = []
    for kind, pattern, check, context in _NATIONAL_IDS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < other_end and other_start < end for other_start, other_end in taken):
                continue
            if check is not None and not check(match.group()):
                continue
            if context is not None:
                distinctive = kind == "us_ssn" and match.group("sep") == "-"
                distinctive = distinctive or (kind == "uk_nino" and match.group("sep") == " ")
                if not distinctive and not context.search(
                    text, max(0, start - _CONTEXT_CHARS), start
                ):
                    continue
            taken.append((start, end))
            yield Detection("national_id", start, end, kind)


# -- credentials -----------------------------------------------------------------------

# (kind, literals one of which the key contains, pattern): the literal test is cheap.
_KEY_PATTERNS: Final = (
    (
        "aws_access_key",
        ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA"),
        lazy_compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),
    ),
    (
        "github_token",
        ("gho_", "ghp_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        lazy_compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})"),
    ),
    (
        "openai_anthropic_key",
        ("sk-",),
        lazy_compile(r"\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}"),
    ),
    ("slack_token", ("xox",), lazy_compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("google_api_key", ("AIza",), lazy_compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    (
        "stripe_key",
        ("_live_", "_test_"),
        lazy_compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ),
    ("gitlab_token", ("glpat-",), lazy_compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("npm_token", ("npm_",), lazy_compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    (
        "jwt",
        ("eyJ",),
        lazy_compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    ("private_key", ("PRIVATE KEY",), lazy_compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    (
        "bearer_token",
        ("bearer", "Bearer", "BEARER"),
        lazy_compile(r"(?i:\bbearer\s+)[A-Za-z0-9._~+/-]{20,}=*"),
    ),
)
# "<secret word> [up to four words] is|was|:|= <value>"
_SECRET_WORDS = lazy_compile(
    r"(?i:\b(?P<word>password|passwd|pwd|passphrase|passcode|pin(?:\s+code)?|secret(?:\s+key)?"
    r"|api[\s_-]?key|access\s+key|auth\s+token|access\s+token|token|login|credentials))"
    r"(?:\s+(?:for|of|to|on)\s+(?:the\s+|my\s+|our\s+)?[\w-]+(?:\s+[\w-]+)?)?"
    r"(?:\s*[:=]\s*|\s+(?:is|was)\s+(?:still\s+|now\s+)?(?:set\s+to\s+)?)"
    r"(?P<value>\S+(?:\s/\s\S+)?)"
)
# Words that follow "password is" and are not a password.
_NOT_SECRETS = frozenset(
    (
     "a", "an", "and", "at", "being", "blank", "broken", "but", "case", "changed", "correct",
     "different", "disabled", "empty", "enabled", "encrypted", "expired", "fine", "for",
     "hashed", "her", "here", "hidden", "his", "in", "incorrect", "invalid", "it", "locked",
     "long", "mandatory", "masked", "missing", "my", "needed", "new", "none", "not", "now",
     "null", "of", "ok", "okay", "old", "on", "optional", "or", "our", "required", "reset",
     "right", "same", "saved", "sensitive", "set", "short", "still", "stored", "strong",
     "that", "the", "their", "them", "there", "this", "too", "undefined", "unlocked",
     "updated", "valid", "visible", "weak", "what", "working", "wrong", "your",
    )
)  # fmt: skip
_PLACEHOLDER = lazy_compile(
    r"(?i)^(?:<.*>|\{.*\}|\$\{?\w+\}?|x{3,}|\*{3,}|\.{3,}|your[-_].*|my[-_].*|example.*"
    r"|changeme|placeholder|redacted|todo|tbd)$"
)
_WHITESPACE_SEPARATED = re.compile(r"\S{8,64}")
# Any literal of _KEY_PATTERNS: one search tells whether any of them is worth running.
_KEY_LITERALS = re.compile(
    "|".join(re.escape(literal) for _, literals, _ in _KEY_PATTERNS for literal in literals)
)
_SECRET_WORD_KEYS = frozenset(
    ("password", "passwd", "pwd", "passphrase", "passcode", "pin", "secret", "api",
     "apikey", "api_key", "key", "token", "login", "credentials")
)  # fmt: skip


def _strong_tokens(text: str) -> Iterator[tuple[int, int]]:
    """Spans of words mixing lower and upper case, digits and symbols (8-64 characters)."""
    if not _digit_count(text):
        return
    for match in _WHITESPACE_SEPARATED.finditer(text):
        word = match.group()
        if not any(char.isdigit() for char in word):
            continue
        if match.start() and not text[match.start() - 1].isspace():
            continue
        end = match.end()
        if end < len(text) and not text[end].isspace():
            continue
        if any(char in "/@.," for char in word):
            continue
        if (
            any(char.islower() for char in word)
            and any(char.isupper() for char in word)
            and any(char.isdigit() for char in word)
            and any(not char.isalnum() and char != "_" for char in word)
        ):
            yield match.start(), end


def _entropy(value: str) -> float:
    """Shannon entropy per character, in bits."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_secret(word: str, value: str) -> bool:
    value = value.strip(".,;!?)\"'`")
    if " / " in value:
        value = value.rsplit(" / ", 1)[1]
    if not value or value.lower() in _NOT_SECRETS or _PLACEHOLDER.match(value):
        return False
    word = word.lower()
    if word.startswith("pin") or word == "passcode":
        return sum(char.isdigit() for char in value) >= 4
    if word in ("password", "passwd", "pwd", "passphrase", "login", "credentials"):
        return len(value) >= 4 and (not value.isalpha() or not value.islower() or len(value) >= 8)
    # token, secret, api key: only a value that looks random.
    return len(value) >= 16 and _entropy(value) >= 3.0


def detect_credential(text: str) -> Iterator[Detection]:
    """API keys and tokens by their issuer's prefix, JWTs, private keys, passwords.

    A value after a secret word ("password is", "token:") counts when it looks like
    one: a password that is not an everyday word, a PIN with digits, a token of random
    characters. A word of mixed case, digits and symbols counts anywhere.
    """
    taken: list[tuple[int, int]] = []

    def fresh(start: int, end: int) -> bool:
        if any(start < other_end and other_start < end for other_start, other_end in taken):
            return False
        taken.append((start, end))
        return True

    for kind, literals, pattern in _KEY_PATTERNS if _KEY_LITERALS.search(text) else ():
        if not any(literal in text for literal in literals):
            continue
        for match in pattern.finditer(text):
            if fresh(*match.span()):
                yield Detection("credential", match.start(), match.end(), kind)
    secret_words = not _words(text).isdisjoint(_SECRET_WORD_KEYS)
    for match in _SECRET_WORDS.finditer(text) if secret_words else ():
        if _looks_secret(match.group("word"), match.group("value")) and fresh(
            match.start("value"), match.end("value")
        ):
            yield Detection("credential", match.start("value"), match.end("value"), "secret")
    for start, end in _strong_tokens(text):
        if fresh(start, end):
            yield Detection("credential", start, end, "password_like")


# -- special categories: said of a person -------------------------------------------------

# Who a statement is about: the speaker, someone of theirs, or a named person.
_PERSON = (
    r"(?:I|I'm|I’m|Im|I\s+am|I've|I’ve|I\s+have|I'd|me|my|myself|we|we're|our"
    r"|he|she|he's|she's|he\s+is|she\s+is|his|her|they|they're|their"
    r"|(?:my|our|his|her|their)\s+[a-z]+(?:'s)?"
    r"|[A-Z][a-z]+)"
)
_HEALTH_TERMS = lazy_compile(
    rf"(?i:\b(?P<term>{_alternation(words.CONDITIONS + words.MEDICATIONS)})\b)"
    # "a stroke of luck", "the cancer of this codebase": figures of speech.
    r"(?!\s+of\b)"
)
# A person who has, had, is treated for or takes the term, in the clause before it.
_HEALTH_CUE = lazy_compile(
    rf"\b{_PERSON}\b[^.!?;]{{0,30}}?(?i:\b(?:have|has|had|got|'ve\s+got|diagnosed|suffer"
    r"|suffers|suffered|suffering|dealing\s+with|living\s+with|lives\s+with|battling"
    r"|fighting|struggling\s+with|take|takes|taking|took|on|prescribed|recovering|treated"
    r"|use|uses|using|need|needs|starts|started|survived|relapsed|in\s+remission|for\s+my"
    r"|my|his|her|their))\b[^.!?;]{0,40}$"
)
_HEALTH_STATE = lazy_compile(
    rf"\b(?:I'm|I’m|I\s+am|I've\s+been|he's|she's|he\s+is|she\s+is|they're|(?:my|our|his|her)"
    rf"\s+[a-z]+\s+is|[A-Z][a-z]+\s+is|I\s+was|I\s+got)\s+(?:\w+\s+)?"
    rf"(?i:(?P<term>{_alternation(words.HEALTH_STATES)}))(?:\s+\w+)?"
)
_HEALTH_FIRST_WORDS = _first_words(words.CONDITIONS + words.MEDICATIONS + words.HEALTH_STATES)
# "my insulin", "her chemo": the term belongs to a person.
_POSSESSIVE = lazy_compile(r"(?i)\b(?:my|his|her|their|our)\s+(?:[a-z]+\s+)?$")
_DOSE = lazy_compile(r"(?i)\b\d+(?:\.\d+)?\s?(?:mg|mcg|µg|ml|iu|units)\b")


def detect_health(text: str) -> Iterator[Detection]:
    """Conditions and medicines a person has or takes, states ("I'm pregnant"), doses."""
    present = _words(text)
    if present.isdisjoint(_HEALTH_FIRST_WORDS):
        return
    for match in _HEALTH_STATE.finditer(text):
        yield Detection("health", match.start(), match.end(), "state")
    for match in _HEALTH_TERMS.finditer(text):
        start, end = match.span()
        before = text[max(0, start - 80) : start]
        if (
            _POSSESSIVE.search(before)
            or _HEALTH_CUE.search(before)
            or _DOSE.search(text, end, min(len(text), end + 12))
            or (_DOSE.search(text, max(0, start - 16), start))
        ):
            yield Detection("health", start, end, "condition_or_medication")


def _statement(cue: str, terms: str, after: str = "") -> re.Pattern[str]:
    return lazy_compile(rf"{cue}(?i:(?P<term>{terms}))\b{after}")


_MODIFIERS = (
    r"(?:(?i:a|an|not|also|openly|proudly|proud|married|happily|lifelong|practicing"
    r"|practising|devout|observant|registered|die-hard|diehard|hardcore|staunch"
    r"|card-carrying|committed|born-again|non-practicing|secular|closeted|out|fully"
    r"|very|pretty|definitely|MAGA)\s+){0,3}"
)
_IDENTITY_CUE = (
    r"\b(?:I'm|I’m|Im|I\s+am|I\s+was|I've\s+been|I\s+identify\s+as|identif(?:y|ies)\s+as"
    r"|came\s+out\s+as|out\s+as|as\s+an?|he's|she's|he\s+is|she\s+is|they're|they\s+are"
    r"|we're|we\s+are|(?:my|our|his|her|their)\s+(?:[a-z]+\s+)?[a-z]+\s+(?:is|are|was)"
    r"|[A-Z][a-z]+\s+(?:is|was))\s+"
    + _MODIFIERS
    # "I'm gay and Catholic", "a Republican and a Muslim": a second identity after a first.
    + r"(?:[\w-]+\s+(?:and|&)\s+"
    + _MODIFIERS
    + r")?"
)
_ORIENTATION = _statement(
    _IDENTITY_CUE,
    _alternation(words.ORIENTATIONS),
    r"(?!-)",
)
# "straight" is an orientation only when it is not an adverb: "straight to the point".
_NOT_ORIENTATION = lazy_compile(
    r"\s+(?:up|to|away|forward|ahead|out|line|lines|answer|face|A's|through|back|from|into)\b"
)


_SEXUAL_ORIENTATION_FIRST_WORDS = _first_words(words.ORIENTATIONS)


def detect_sexual_orientation(text: str) -> Iterator[Detection]:
    """A person said to be gay, lesbian, bisexual, straight, ... ("I'm bi", "Sam is gay")."""
    if _words(text).isdisjoint(_SEXUAL_ORIENTATION_FIRST_WORDS):
        return
    for match in _ORIENTATION.finditer(text):
        if match.group("term").lower() == "straight" and _NOT_ORIENTATION.match(text, match.end()):
            continue
        yield Detection("sexual_orientation", match.start("term"), match.end("term"))


# Plurals too: "my parents are Catholics".
_RELIGION_IDENTITY = _statement(_IDENTITY_CUE, rf"(?:{_alternation(words.RELIGIONS)})s?")
_PRACTICE_WORDS = (
    "fast", "fasts", "fasted", "keep", "keeps", "pray", "prays", "prayed", "converted",
    "celebrate", "celebrates", "observe", "observes",
)  # fmt: skip
_RELIGIOUS_PRACTICE = lazy_compile(
    r"(?i)\b(?:I|we|my\s+[a-z]+|he|she)\s+(?:\w+\s+)?"
    r"(?:(?:go(?:es)?|went|attend(?:s|ed)?)\s+(?:to\s+)?(?:the\s+|a\s+)?"
    rf"(?:{_alternation(words.WORSHIP_PLACES)})\b"
    r"|fast(?:s|ed)?\s+(?:during|for|on)\s+(?:ramadan|lent|yom\s+kippur|ekadashi)"
    r"|keeps?\s+(?:kosher|halal|the\s+sabbath|shabbat)"
    r"|pray(?:s|ed)?\s+(?:five\s+times|daily|every|to\s+(?:god|allah|jesus))"
    r"|converted\s+to\s+(?:islam|christianity|judaism|buddhism|hinduism|catholicism"
    r"|sikhism|orthodoxy)"
    r"|(?:celebrate|observe)s?\s+(?:ramadan|passover|shabbat|eid|lent))"
)


_RELIGION_FIRST_WORDS = _first_words(words.RELIGIONS + words.WORSHIP_PLACES + _PRACTICE_WORDS)


def detect_religion(text: str) -> Iterator[Detection]:
    """A person's religion or conviction ("I'm Muslim", "as a Jew", "I keep kosher")."""
    if _words(text).isdisjoint(_RELIGION_FIRST_WORDS):
        return
    for match in _RELIGION_IDENTITY.finditer(text):
        yield Detection("religion", match.start("term"), match.end("term"), "identity")
    for match in _RELIGIOUS_PRACTICE.finditer(text):
        yield Detection("religion", match.start(), match.end(), "practice")


_POLITICAL_IDENTITY = _statement(
    _IDENTITY_CUE,
    rf"(?:{_alternation(words.POLITICAL_IDENTITIES)})s?",
    r"(?!\s+(?:estimate|use|amount|approach|guess|reading|interpretation|build|light|day))",
)
_PARTIES = _alternation(words.PARTIES)
_POLITICAL_SUPPORT = lazy_compile(
    r"\b(?:I|we|my\s+[a-z]+|he|she|[A-Z][a-z]+)\s+(?:always\s+|usually\s+|never\s+|just\s+)?"
    r"(?:(?i:vote|votes|voted|voting|support|supports|supported|back|backed|campaign(?:ed)?"
    r"\s+for))\s+(?:(?i:for)\s+)?"
    rf"(?i:(?P<term>{_PARTIES}))\b"
    r"|\b(?:I|we|my\s+[a-z]+|he|she|[A-Z][a-z]+)\s+(?i:voted|vote|votes)\s+(?i:(?P<side>leave|remain))\b"
    r"|(?i:\b(?:member|supporter|voter)\s+of\s+(?:the\s+)?)"
    rf"(?i:(?P<party>{_PARTIES}))\b"
    r"|\b(?:I'm|I’m|I\s+am|he's|she's|[a-z]+\s+is)\s+(?:a\s+|an\s+)?[\w-]*\s*"
    rf"(?i:(?P<leader>{_PARTIES}))\s+(?i:supporter|voter|fan|member)\b"
)


_POLITICAL_OPINION_FIRST_WORDS = _first_words(words.POLITICAL_IDENTITIES + words.PARTIES)
# "the" is the word test's key of "the SNP" and "the GOP", so that test passes for most
# English text. There, a search of the lower-cased text for a word of any term (every
# match of a term contains each of its words) decides instead: a few substring tests,
# much cheaper than the patterns. "leave" and "remain" are the sides of a vote the
# support pattern names itself.
_COMMON_FIRST_WORDS = frozenset(("the", "thes"))
_POLITICAL_WORDS = tuple(
    sorted(
        {
            max((w for w in _WORD.findall(term.lower()) if w != "the"), key=len)
            for term in words.POLITICAL_IDENTITIES + words.PARTIES
        }
        | {"leave", "remain"}
    )
)


@functools.lru_cache(maxsize=16)
def _may_be_political(text: str) -> bool:
    """Whether a political term may be in the text (False: none can be)."""
    present = _words(text)
    if present.isdisjoint(_POLITICAL_OPINION_FIRST_WORDS):
        return False
    if not present.isdisjoint(_POLITICAL_OPINION_FIRST_WORDS - _COMMON_FIRST_WORDS):
        return True
    # Only "the": in ASCII text, case-insensitive matching is matching the lower case.
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in _POLITICAL_WORDS)


def detect_political_opinion(text: str) -> Iterator[Detection]:
    """A person's political leaning, party or vote ("I vote Labour", "a lifelong Democrat")."""
    if not _may_be_political(text):
        return
    for match in _POLITICAL_IDENTITY.finditer(text):
        yield Detection("political_opinion", match.start("term"), match.end("term"), "identity")
    for match in _POLITICAL_SUPPORT.finditer(text):
        yield Detection("political_opinion", match.start(), match.end(), "support")


#: Every built-in detector by name, in the order they run.
DETECTORS: Mapping[str, Detector] = {
    "email": detect_email,
    "phone": detect_phone,
    "payment_card": detect_payment_card,
    "iban": detect_iban,
    "national_id": detect_national_id,
    "street_address": detect_street_address,
    "date_of_birth": detect_date_of_birth,
    "credential": detect_credential,
    "health": detect_health,
    "sexual_orientation": detect_sexual_orientation,
    "religion": detect_religion,
    "political_opinion": detect_political_opinion,
}

_ANY_SPECIAL_WORD = (
    _HEALTH_FIRST_WORDS
    | _SEXUAL_ORIENTATION_FIRST_WORDS
    | _RELIGION_FIRST_WORDS
    | _POLITICAL_OPINION_FIRST_WORDS
)
_NOTHING: frozenset[str] = frozenset()


def screen(text: str) -> frozenset[str]:
    """The built-in detectors that may fire in a text; the others cannot.

    Most chat text holds nothing sensitive, and running twelve detectors to find that
    out costs more than the rest of a write. The screen takes the tests each detector
    starts with (how many digits, an ``@``, a key prefix, a listed word) from facts
    about the text computed once, so running only the detectors it names finds exactly
    what running them all would.

    Example:
        >>> sorted(screen("call me on 0612 345 678"))
        ['credential', 'date_of_birth', 'iban', 'national_id', 'phone', 'street_address']
    """
    digits = _digit_count(text)
    present = _words(text)
    names: set[str] = set()
    if "@" in text:
        names.add("email")
    if digits:
        names.update(("street_address", "date_of_birth", "credential"))
        if digits >= 2:
            names.add("iban")
        if digits >= 6 and _SIX_DIGITS.search(text):
            names.add("national_id")
        if digits >= 9 and _PHONE_PART.search(text):
            names.add("phone")
        if digits >= 13:
            names.add("payment_card")
    elif _KEY_LITERALS.search(text) or not present.isdisjoint(_SECRET_WORD_KEYS):
        names.add("credential")
    if not present.isdisjoint(_ANY_SPECIAL_WORD):
        for name, keys in (
            ("health", _HEALTH_FIRST_WORDS),
            ("sexual_orientation", _SEXUAL_ORIENTATION_FIRST_WORDS),
            ("religion", _RELIGION_FIRST_WORDS),
        ):
            if not present.isdisjoint(keys):
                names.add(name)
        if _may_be_political(text):
            names.add("political_opinion")
    return frozenset(names) if names else _NOTHING
