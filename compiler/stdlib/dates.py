"""Dates as the dialect sees them: locale strings in, locale strings or dates out.

In the original, dates were mostly *strings* (``TODAY`` is ``dd/mm/yyyy`` for content language
``pt``, ``mm/dd/yyyy`` for ``en``, ``yyyy/mm/dd`` otherwise; ``NOW`` is ``HH:MM``) parsed back
with a day-first or month-first rule when a keyword needed a date. These functions keep that
contract and accept real dates too (``datetime`` values from ``DATEADD``). Where the original's
code was broken (``FORMAT``'s ``HH``/``hh`` never matched, ``DATEADD`` with an unknown mode
returned nothing) they do what the keyword evidently means and fail clearly otherwise.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from ..runtime.semantics import BasicError

_DATE_TIME = re.compile(
    r"^([0-3]?[0-9])[^0-9]([0-3]?[0-9])[^0-9]((?:[0-9]{2})?[0-9]{2})"
    r"(?:\s+([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?)?$"
)
_ISO = re.compile(
    r"^([0-9]{4})[-/.]([01]?[0-9])[-/.]([0-3]?[0-9])"
    r"(?:[T\s]+([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?)?$"
)


class DateError(BasicError):
    """A value that is not a date, or a date operation that makes no sense."""


def parse_date(value: object, language: str = "en") -> dt.datetime | None:
    """A date from a ``datetime``/``date`` or a locale string; None if it is not one.

    Strings are ``d/m/yyyy[ hh:mm[:ss]]`` (any one-character separator), day-first unless the
    content language is ``en`` (month-first), or ISO ``yyyy-mm-dd[ hh:mm[:ss]]``. Two-digit
    years are taken as 20yy.
    """
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        return None
    text = value.strip()
    iso = _ISO.match(text)
    if iso:
        year, month, day = int(iso[1]), int(iso[2]), int(iso[3])
        hour, minute, second = (int(iso[i] or 0) for i in (4, 5, 6))
    else:
        local = _DATE_TIME.match(text)
        if not local:
            return None
        first, second_part, year = int(local[1]), int(local[2]), int(local[3])
        if len(local[3]) == 2:
            year += 2000
        month, day = (first, second_part) if language == "en" else (second_part, first)
        hour, minute, second = (int(local[i] or 0) for i in (4, 5, 6))
    try:
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def require_date(value: object, language: str, what: str) -> dt.datetime:
    """:func:`parse_date` or a :class:`DateError` naming the keyword (``what``)."""
    parsed = parse_date(value, language)
    if parsed is None:
        raise DateError(f"{what}: {value!r} is not a date")
    return parsed


def today_text(now: dt.datetime, language: str) -> str:
    """``TODAY`` as the original renders it for the content language."""
    day, month, year = f"{now.day:02d}", f"{now.month:02d}", str(now.year)
    if language == "pt":
        return f"{day}/{month}/{year}"
    if language == "en":
        return f"{month}/{day}/{year}"
    return f"{year}/{month}/{day}"


def now_text(now: dt.datetime) -> str:
    """``NOW``: the time of day as ``HH:MM``."""
    return f"{now.hour:02d}:{now.minute:02d}"


# FORMAT tokens, longest first so ``yyyy`` wins over ``yy``; ``MM`` is the month and ``mm`` the
# minutes (the only case-sensitive pair, as in .NET/VB format strings).
_FORMAT_TOKEN = re.compile(r"yyyy|YYYY|yy|YY|MM|dd|DD|HH|hh|mm|ss|SS|tt|TT|t")


def format_date(value: dt.datetime, pattern: str) -> str:
    """Render ``value`` with a VB-style pattern: ``yyyy yy MM dd HH hh mm ss tt``.

    ``HH`` is the 24-hour clock, ``hh`` the 12-hour one, ``tt`` (or ``t``) ``AM``/``PM``;
    any other character is copied.
    """

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        hour12 = value.hour % 12 or 12
        return {
            "yyyy": f"{value.year:04d}",
            "yy": f"{value.year % 100:02d}",
            "MM": f"{value.month:02d}",
            "dd": f"{value.day:02d}",
            "HH": f"{value.hour:02d}",
            "hh": f"{hour12:02d}",
            "mm": f"{value.minute:02d}",
            "ss": f"{value.second:02d}",
            "tt": "AM" if value.hour < 12 else "PM",
            "t": "A" if value.hour < 12 else "P",
        }[text if text in ("MM", "mm", "HH", "hh", "t") else text.lower()]

    return _FORMAT_TOKEN.sub(token, pattern)


_NUMBER_PATTERN = re.compile(r"^([^#0]*)([#,]*0*)(?:\.(0+|#+))?(%?)(.*)$")


def format_number(value: float, pattern: str) -> str:
    """Render a number with a pattern like ``0.00``, ``#,##0.00``, ``0%`` (prefix/suffix text
    is copied: ``R$ #,##0.00``)."""
    match = _NUMBER_PATTERN.match(pattern)
    if not match or not (match.group(2) or match.group(3)):
        raise DateError(f"FORMAT: {pattern!r} is not a number pattern (use 0, #, ',' and '.')")
    prefix, integer, decimals, percent, suffix = match.groups()
    if percent:
        value *= 100
    places = len(decimals or "")
    grouping = "," if "," in integer else ""
    body = f"{value:{grouping}.{places}f}"
    return f"{prefix}{body}{percent}{suffix}"


# Interval names (the original's words plus VB's one-letter codes): calendar units in months,
# clock units in seconds.
_MONTHS = {"year": 12, "years": 12, "yyyy": 12, "quarter": 3, "q": 3, "month": 1, "months": 1,
           "m": 1}  # fmt: skip
_SECONDS = {"week": 604800, "weeks": 604800, "ww": 604800, "day": 86400, "days": 86400,
            "d": 86400, "hour": 3600, "hours": 3600, "h": 3600, "minute": 60, "minutes": 60,
            "n": 60, "second": 1, "seconds": 1, "s": 1}  # fmt: skip


def add_interval(value: dt.datetime, mode: str, units: float) -> dt.datetime:
    """``DATEADD``: add ``units`` of ``mode`` (year, quarter, month, week, day/days/d, hour,
    minute, second). Month arithmetic clamps to the end of the month (31 Jan + 1 month is
    28/29 Feb), as the original's roll-over check intended."""
    unit = mode.strip().lower()
    if unit in _MONTHS:
        months = int(units) * _MONTHS[unit]
        index = value.year * 12 + value.month - 1 + months
        year, month = divmod(index, 12)
        if not 1 <= year <= 9999:
            raise DateError(f"DATEADD: the result is outside the years 1 to 9999 ({year})")
        day = min(value.day, calendar.monthrange(year, month + 1)[1])
        return value.replace(year=year, month=month + 1, day=day)
    seconds = _SECONDS.get(unit)
    if seconds is None:
        raise DateError(
            f"DATEADD: unknown interval {mode!r} "
            "(use year, quarter, month, week, day, hour, minute or second)"
        )
    try:
        return value + dt.timedelta(seconds=seconds * units)
    except OverflowError:
        raise DateError("DATEADD: the result is outside the years 1 to 9999") from None


def date_diff(first: dt.datetime, second: dt.datetime, mode: str) -> int:
    """``DATEDIFF``: ``first - second`` in whole ``mode`` units (truncated toward zero), the
    order of the original's arguments (``DATEDIFF today, item.modified, "day"`` is the age)."""
    unit = mode.strip().lower()
    if unit in _MONTHS:
        months = (first.year - second.year) * 12 + first.month - second.month
        # A month is complete only when the day and time of day are reached too.
        rest_first = (first.day, first.time())
        rest_second = (second.day, second.time())
        if months > 0 and rest_first < rest_second:
            months -= 1
        elif months < 0 and rest_first > rest_second:
            months += 1
        return int(months / _MONTHS[unit])
    seconds = _SECONDS.get(unit)
    if seconds is None:
        raise DateError(
            f"DATEDIFF: unknown interval {mode!r} "
            "(use year, quarter, month, week, day, hour, minute or second)"
        )
    return int((first - second).total_seconds() / seconds)
