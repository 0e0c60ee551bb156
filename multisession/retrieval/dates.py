"""Dates a query names ("in May 2023", "on 9 November, 2022", "last week"), as periods.

Questions about the past often say when: "What did I cook last week?", "Where did we
go in May 2023?". A memory written inside that period is more likely the answer, so
search multiplies its score by ``RetrievalConfig.date_boost``. It boosts and never
filters, because people misremember dates and a memory's ``created_at`` is when it was
written, not when what it tells happened.

The parser is offline and deliberately narrow: a month name counts only with a day, a
year or a preposition ("in May", "May 2023", "9 May"), so "May I ask..." or "I may go"
name no date, and a bare number is never a year unless "in", "during", "of" or "since"
precedes it. Relative expressions are resolved against ``now``:

=========================  ==================================================
expression                 period
=========================  ==================================================
today / yesterday          that calendar day
the day before yesterday   that calendar day
this week/month/year       from the start of the calendar unit to ``now``
last week/month/year       from the start of the previous calendar unit to ``now``
N days/weeks/... ago       ``now - (N + 1) units`` to ``now - (N - 1) units``
in May / 9 May             the latest such month or day not after ``now``
in 2022 / May 2023 / ...   that year, month or day
=========================  ==================================================

Weeks start on Monday; months and years are calendar ones; "N months ago" steps by
calendar months. Periods are ``[start, end)`` in ``now``'s time zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

__all__ = ["named_periods"]

_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a few": 3,
    "several": 3,
}

_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_AMOUNT = r"(?P<amount>\d{1,3}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + ")"

# Most specific first; a span matched by one pattern is not read again by a later one.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("day", re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE)),
    ("day", re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE)),
    ("month", re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE)),
    ("day", re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?![\w-])", re.IGNORECASE)),
    ("day", re.compile(rf"\b(?:on|since|by)\s+{_MONTH}\s+{_DAY}\b", re.IGNORECASE)),
    ("month", re.compile(rf"\b(?:in|during|since|of|early|late|mid)\s+{_MONTH}\b", re.IGNORECASE)),
    ("year", re.compile(rf"\b(?:in|during|since|of)\s+(?:the\s+year\s+)?{_YEAR}\b", re.IGNORECASE)),
    ("ago", re.compile(
        rf"\b{_AMOUNT}\s+(?P<unit>day|week|month|year)s?\s+ago\b", re.IGNORECASE
    )),
    ("relative", re.compile(
        r"\b(?P<which>the\s+day\s+before\s+yesterday|yesterday|today|tonight"
        r"|(?:this|last|past|previous)\s+(?:week|month|year))\b",
        re.IGNORECASE,
    )),
]  # fmt: skip


# Every pattern needs one of these; most queries have none and skip the patterns.
_MAYBE_DATE = re.compile(
    r"\d|today|tonight|yesterday|week|month|year|ago|"
    + "|".join(name for name in _MONTHS if len(name) == 3),
    re.IGNORECASE,
)


def named_periods(query: str, now: datetime) -> list[tuple[datetime, datetime]]:
    """The periods the query names, as ``[start, end)`` pairs, in order of appearance.

    Example:
        >>> from datetime import datetime, timezone
        >>> now = datetime(2023, 7, 10, 12, tzinfo=timezone.utc)
        >>> [(start.date().isoformat(), end.date().isoformat())
        ...  for start, end in named_periods("What did we do in May 2023?", now)]
        [('2023-05-01', '2023-06-01')]
        >>> named_periods("May I ask what I cooked?", now)
        []

    Args:
        query: The search query.
        now: What relative expressions are resolved against; its time zone is the
            periods' time zone.

    Returns:
        One period per date expression found (none when the query names no date).
    """
    if not _MAYBE_DATE.search(query):
        return []
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, tuple[datetime, datetime]]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(query):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue
            period = _period(kind, match, now)
            if period is None:
                continue
            taken.append((match.start(), match.end()))
            found.append((match.start(), period))
    found.sort(key=lambda item: item[0])
    return [period for _, period in found]


def _period(kind: str, match: re.Match[str], now: datetime) -> tuple[datetime, datetime] | None:
    groups = match.groupdict()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind in ("day", "month", "year"):
        year = int(groups["year"]) if groups.get("year") else None
        month = _MONTHS[groups["month"].lower()] if groups.get("month") else None
        day = int(groups["day"]) if groups.get("day") else None
        if kind == "year":
            assert year is not None
            return _start(now, year, 1, 1), _start(now, year + 1, 1, 1)
        assert month is not None
        if year is None:
            # The latest such month (or day) not after now.
            year = now.year
            if (month, day or 1) > (now.month, now.day if day else 1):
                year -= 1
        if kind == "month":
            return _start(now, year, month, 1), _add_months(_start(now, year, month, 1), 1)
        assert day is not None
        try:
            start = _start(now, year, month, day)
        except ValueError:  # 31 June
            return None
        return start, start + timedelta(days=1)
    if kind == "ago":
        amount_text = groups["amount"].lower()
        amount = int(amount_text) if amount_text.isdigit() else _NUMBERS[amount_text]
        unit = groups["unit"].lower()
        if unit == "day":
            return midnight - timedelta(days=amount + 1), midnight - timedelta(days=amount - 2)
        if unit == "week":
            return now - timedelta(weeks=amount + 1), now - timedelta(weeks=amount - 1)
        months = 12 * amount if unit == "year" else amount
        step = 12 if unit == "year" else 1
        return _add_months(now, -months - step), _add_months(now, -months + step)
    which = " ".join(groups["which"].lower().split())
    if which in ("today", "tonight"):
        return midnight, midnight + timedelta(days=1)
    if which == "yesterday":
        return midnight - timedelta(days=1), midnight
    if which == "the day before yesterday":
        return midnight - timedelta(days=2), midnight - timedelta(days=1)
    modifier, unit = which.split()
    if unit == "week":
        start = midnight - timedelta(days=midnight.weekday())
        previous = start - timedelta(weeks=1)
    elif unit == "month":
        start = midnight.replace(day=1)
        previous = _add_months(start, -1)
    else:
        start = midnight.replace(month=1, day=1)
        previous = start.replace(year=start.year - 1)
    return (start if modifier == "this" else previous), now


def _start(now: datetime, year: int, month: int, day: int) -> datetime:
    return now.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0)


def _add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by whole calendar months, the day clamped to the month's length."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    lengths = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return moment.replace(year=year, month=month, day=min(moment.day, lengths[month - 1]))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
