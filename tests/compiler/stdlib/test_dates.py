"""Dates as the dialect reads and writes them (TODAY, NOW, FORMAT, DATEADD, DATEDIFF)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gb.compiler.stdlib.dates import (
    DateError,
    add_interval,
    date_diff,
    format_date,
    format_number,
    now_text,
    parse_date,
    require_date,
    today_text,
)

D = dt.datetime


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("25/12/2024", "pt", D(2024, 12, 25)),
        ("12/25/2024", "en", D(2024, 12, 25)),
        ("5.3.2024", "pt", D(2024, 3, 5)),
        ("5-3-24", "pt", D(2024, 3, 5)),
        ("5/3/2024 14:30", "pt", D(2024, 3, 5, 14, 30)),
        ("5/3/2024 9:05:07", "fr", D(2024, 3, 5, 9, 5, 7)),
        ("2024-03-05", "en", D(2024, 3, 5)),
        ("2024-03-05T10:11:12", "en", D(2024, 3, 5, 10, 11, 12)),
        (" 2024/3/5 10:11 ", "pt", D(2024, 3, 5, 10, 11)),
    ],
)
def test_parse_locale_strings(text: str, language: str, expected: D) -> None:
    assert parse_date(text, language) == expected


@pytest.mark.parametrize("text", ["31/02/2024", "hello", "", "1/2", "2024-13-01", "99/99/9999"])
def test_parse_rejects_non_dates(text: str) -> None:
    assert parse_date(text, "pt") is None


def test_parse_passes_dates_through_and_rejects_other_values() -> None:
    moment = D(2024, 1, 2, 3, 4)
    assert parse_date(moment) is moment
    assert parse_date(dt.date(2024, 1, 2)) == D(2024, 1, 2)
    assert parse_date(42) is None
    assert parse_date(None) is None


def test_require_date_names_the_keyword() -> None:
    assert require_date("1/2/2024", "pt", "X") == D(2024, 2, 1)
    with pytest.raises(DateError, match=r"DATEADD: 'soon' is not a date"):
        require_date("soon", "pt", "DATEADD")


def test_today_and_now_follow_the_content_language() -> None:
    moment = D(2024, 3, 5, 7, 8)
    assert today_text(moment, "pt") == "05/03/2024"
    assert today_text(moment, "en") == "03/05/2024"
    assert today_text(moment, "de") == "2024/03/05"
    assert now_text(moment) == "07:08"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("dd/MM/yyyy", "05/03/2024"),
        ("MM/dd/yy", "03/05/24"),
        ("YYYY-MM-DD", "2024-03-05"),
        ("HH:mm:ss", "15:07:09"),
        ("hh:mm tt", "03:07 PM"),
        ("h t", "h P"),
        ("yyyyMMdd", "20240305"),
    ],
)
def test_format_date(pattern: str, expected: str) -> None:
    assert format_date(D(2024, 3, 5, 15, 7, 9), pattern) == expected


def test_format_date_midnight_is_twelve_am() -> None:
    assert format_date(D(2024, 3, 5, 0, 1), "hh:mm tt") == "12:01 AM"


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        (1234.5, "0.00", "1234.50"),
        (1234567.891, "#,##0.00", "1,234,567.89"),
        (0.256, "0%", "26%"),
        (0.256, "0.0%", "25.6%"),
        (9.99, "R$ #,##0.00", "R$ 9.99"),
        (3.6, "0", "4"),
        (7, "0.00 kg", "7.00 kg"),
    ],
)
def test_format_number(value: float, pattern: str, expected: str) -> None:
    assert format_number(value, pattern) == expected


def test_format_number_rejects_a_pattern_without_digits() -> None:
    with pytest.raises(DateError, match="is not a number pattern"):
        format_number(5, "dd/MM/yyyy")


@pytest.mark.parametrize(
    ("mode", "units", "expected"),
    [
        ("day", 3, D(2024, 2, 2, 10)),
        ("days", -1, D(2024, 1, 29, 10)),
        ("d", 1.5, D(2024, 1, 31, 22)),
        ("week", 1, D(2024, 2, 6, 10)),
        ("hour", 20, D(2024, 1, 31, 6)),
        ("minute", 90, D(2024, 1, 30, 11, 30)),
        ("second", 61, D(2024, 1, 30, 10, 1, 1)),
        ("month", 1, D(2024, 2, 29, 10)),
        ("Month", 13, D(2025, 2, 28, 10)),
        ("quarter", 1, D(2024, 4, 30, 10)),
        ("year", -1, D(2023, 1, 30, 10)),
        ("month", -2, D(2023, 11, 30, 10)),
    ],
)
def test_add_interval(mode: str, units: float, expected: D) -> None:
    assert add_interval(D(2024, 1, 30, 10), mode, units) == expected


def test_add_interval_errors() -> None:
    with pytest.raises(DateError, match="unknown interval 'fortnight'"):
        add_interval(D(2024, 1, 1), "fortnight", 1)
    with pytest.raises(DateError, match="outside the years"):
        add_interval(D(9999, 12, 1), "year", 1)
    with pytest.raises(DateError, match="outside the years"):
        add_interval(D(9999, 12, 1), "day", 100)


@pytest.mark.parametrize(
    ("first", "second", "mode", "expected"),
    [
        (D(2024, 3, 10), D(2024, 3, 1), "day", 9),
        (D(2024, 3, 1), D(2024, 3, 10), "day", -9),
        (D(2024, 3, 10, 12), D(2024, 3, 10), "hour", 12),
        (D(2024, 3, 10, 0, 30), D(2024, 3, 10), "minute", 30),
        (D(2024, 3, 22), D(2024, 3, 1), "week", 3),
        (D(2024, 3, 10), D(2024, 1, 15), "month", 1),
        (D(2024, 3, 15), D(2024, 1, 15), "month", 2),
        (D(2024, 1, 15), D(2024, 3, 16), "month", -2),
        (D(2024, 1, 15), D(2024, 3, 15), "months", -2),
        (D(2024, 1, 20), D(2024, 3, 15), "month", -1),
        (D(2025, 3, 1), D(2024, 3, 2), "year", 0),
        (D(2025, 3, 2), D(2024, 3, 2), "year", 1),
        (D(2024, 12, 31), D(2024, 1, 1), "quarter", 3),
        (D(2024, 1, 1, 0, 0, 5), D(2024, 1, 1), "second", 5),
    ],
)
def test_date_diff(first: D, second: D, mode: str, expected: int) -> None:
    assert date_diff(first, second, mode) == expected


def test_date_diff_unknown_interval() -> None:
    with pytest.raises(DateError, match="DATEDIFF: unknown interval 'eon'"):
        date_diff(D(2024, 1, 1), D(2024, 1, 1), "eon")


@given(
    st.datetimes(min_value=D(1900, 1, 1), max_value=D(2100, 1, 1)),
    st.integers(min_value=-1000, max_value=1000),
)
def test_adding_days_then_diffing_gives_them_back(start: D, days: int) -> None:
    assert date_diff(add_interval(start, "day", days), start, "day") == days


@given(st.text(max_size=30), st.sampled_from(["pt", "en", "de"]))
def test_parse_never_raises(text: str, language: str) -> None:
    result = parse_date(text, language)
    assert result is None or isinstance(result, D)
