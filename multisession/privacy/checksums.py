"""The check digits of numbers that identify a person or an account.

A pattern alone cannot tell a card number from an order number of the same length, nor
a national id from a part number: the check digit can. Each function takes the
characters of the number as written (separators allowed) and says whether its check
holds; none of them raises on malformed input, they return False.
"""

from __future__ import annotations

__all__ = [
    "IBAN_LENGTHS",
    "bsn_valid",
    "dni_valid",
    "iban_valid",
    "insee_valid",
    "luhn_valid",
    "nie_valid",
]

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"

#: The length of an IBAN in each country that issues them (ISO 13616 registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22,
    "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27,
    "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def _compact(value: str) -> str:
    return "".join(ch for ch in value if ch not in " -.")


def luhn_valid(number: str) -> bool:
    """The Luhn (mod 10) check of card numbers and Canadian social insurance numbers."""
    digits = _compact(number)
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: the country's length and the mod-97 check of the rearranged number."""
    compact = _compact(iban).upper()
    if not compact.isascii() or not compact.isalnum():
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def insee_valid(number: str) -> bool:
    """The French social security number (NIR): 13 characters and a key of 97 - n mod 97.

    Corsican departments write ``2A`` and ``2B``, counted as 19 and 18 for the key.
    """
    compact = _compact(number).upper()
    if len(compact) != 15 or not compact.isascii():
        return False
    body, key = compact[:13], compact[13:]
    body = body[:5] + body[5:7].replace("2A", "19").replace("2B", "18") + body[7:]
    if not body.isdigit() or not key.isdigit() or body[0] not in "12":
        return False
    return 97 - int(body) % 97 == int(key)


def dni_valid(number: str) -> bool:
    """The Spanish DNI: eight digits and the letter of their value mod 23."""
    compact = _compact(number).upper()
    if len(compact) != 9 or not compact[:8].isdigit() or not compact.isascii():
        return False
    return _DNI_LETTERS[int(compact[:8]) % 23] == compact[8]


def nie_valid(number: str) -> bool:
    """The Spanish foreigner's number: X, Y or Z (0, 1, 2), seven digits, a DNI letter."""
    compact = _compact(number).upper()
    if len(compact) != 9 or compact[0] not in "XYZ":
        return False
    return dni_valid(str("XYZ".index(compact[0])) + compact[1:])


def bsn_valid(number: str) -> bool:
    """The Dutch citizen service number: nine digits passing the "eleven test"."""
    digits = _compact(number)
    if len(digits) != 9 or not digits.isdigit() or not digits.isascii():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0 and (
        digits[0] != "0"
    )
