"""Dates named in queries: a table of expressions, and ones that must not parse."""

from __future__ import annotations

import doctest
from datetime import datetime, timedelta, timezone

import pytest

from multisession.retrieval import dates as dates_module
from multisession.retrieval.dates import named_periods

# A Wednesday.
NOW = datetime(2023, 7, 12, 15, 30, tzinfo=timezone.utc)


def day(year: int, month: int, date: int) -> datetime:
    return datetime(year, month, date, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("query", "period"),
    [
        ("What did we do in May 2023?", (day(2023, 5, 1), day(2023, 6, 1))),
        ("where was I on 9 November, 2022", (day(2022, 11, 9), day(2022, 11, 10))),
        ("the 9th of November 2022", (day(2022, 11, 9), day(2022, 11, 10))),
        ("on November 9th, 2022", (day(2022, 11, 9), day(2022, 11, 10))),
        ("what happened on 9 Nov", (day(2022, 11, 9), day(2022, 11, 10))),
        ("what happened on 3 July", (day(2023, 7, 3), day(2023, 7, 4))),
        ("since Jan. 2021", (day(2021, 1, 1), day(2021, 2, 1))),
        ("what did I read in 2022", (day(2022, 1, 1), day(2023, 1, 1))),
        ("what did I plant in March", (day(2023, 3, 1), day(2023, 4, 1))),
        ("trips in September", (day(2022, 9, 1), day(2022, 10, 1))),
        ("what did I cook yesterday", (day(2023, 7, 11), day(2023, 7, 12))),
        ("plans for today", (day(2023, 7, 12), day(2023, 7, 13))),
        ("the day before yesterday", (day(2023, 7, 10), day(2023, 7, 11))),
        ("what did I do last week", (day(2023, 7, 3), NOW)),
        ("anything this week?", (day(2023, 7, 10), NOW)),
        ("what did I buy last month", (day(2023, 6, 1), NOW)),
        ("books from last year", (day(2022, 1, 1), NOW)),
        (
            "the café two months ago",
            (
                day(
                    2023,
                    4,
                    12,
                )
                + timedelta(hours=15.5),
                day(2023, 6, 12) + timedelta(hours=15.5),
            ),
        ),
        ("what happened 3 days ago", (day(2023, 7, 8), day(2023, 7, 11))),
        ("a week ago", (NOW - timedelta(weeks=2), NOW)),
        ("a year ago", (NOW.replace(year=2021), NOW)),
    ],
)
def test_a_named_date_becomes_one_period(query: str, period: tuple[datetime, datetime]) -> None:
    assert named_periods(query, NOW) == [period]


@pytest.mark.parametrize(
    "query",
    [
        "May I ask what my sister's name is?",
        "I may go hiking, what shoes did I buy?",
        "What did I say about the march for climate?",
        "Which of my 2023 goals did I reach?",  # a bare number is no year
        "What is my PIN, 2022?",
        "How many days until my trip?",
        "What did I cook?",
        "the year 1850 in history",
    ],
)
def test_text_without_a_date_names_no_period(query: str) -> None:
    assert named_periods(query, NOW) == []


def test_several_dates_come_in_order_of_appearance() -> None:
    periods = named_periods("between 3 May 2023 and yesterday, or in 2021", NOW)
    assert periods == [
        (day(2023, 5, 3), day(2023, 5, 4)),
        (day(2023, 7, 11), day(2023, 7, 12)),
        (day(2021, 1, 1), day(2022, 1, 1)),
    ]


def test_an_impossible_day_is_skipped() -> None:
    assert named_periods("on 31 June 2023", NOW) == [(day(2023, 6, 1), day(2023, 7, 1))]


def test_periods_take_now_s_time_zone() -> None:
    paris = timezone(timedelta(hours=2))
    start, end = named_periods("yesterday", NOW.astimezone(paris))[0]
    assert start == datetime(2023, 7, 11, tzinfo=paris) and end - start == timedelta(days=1)


def test_module_docstring_examples_run() -> None:
    assert doctest.testmod(dates_module).failed == 0
