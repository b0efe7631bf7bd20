"""In-memory tables for ``FIND``, ``SAVE``, ``DELETE`` and ``MERGE``.

The original read sheets, CSV files and database TABLEs; the bot runtime brings those later.
Here a table is a list of rows (dicts) with an ordered list of columns, looked up by name
without regard to case (``"Customers"``, ``"customers.csv"`` and ``"data.xlsx"`` are all just
names). The filter language is the original's: ``column <op> value`` with the operators
``<=  <>  >=  <  >  like  not in  in  =`` tried in that order, and for ``in``/``not in`` the
sides swapped (``"Rio in city"``: the value ``Rio`` in the column ``city``). The value is typed
as the original typed it — hour, date, number, else string — and rows are compared in that
type; strings ignore case and accents.

Results follow the original's ``{gbarray}`` convention: a list whose element 0 is the marker
``{"gbarray": "0"}`` and whose rows start at index 1, each row carrying ``ordinal`` (1-based
match count) and ``line`` (its 1-based position, the header being line 1); one match returns
the row itself unless the dialog asked for ``SET OUTPUT ARRAY``; no match returns null.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..runtime.semantics import BasicError, has_marker, truthy
from .answers import fold
from .dates import parse_date

#: Element 0 of every multi-row result (the original's ghost element for 1-based rows).
GBARRAY_MARKER: dict[str, Any] = {"gbarray": "0"}

_OPERATORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("<=", re.compile(r"<=")),
    ("<>", re.compile(r"<>")),
    (">=", re.compile(r">=")),
    ("<", re.compile(r"<")),
    (">", re.compile(r">")),
    ("like", re.compile(r"\blike\b", re.IGNORECASE)),
    ("not in", re.compile(r"\bnot in\b", re.IGNORECASE)),
    ("in", re.compile(r"\bin\b", re.IGNORECASE)),
    ("=", re.compile(r"=")),
)
_HOUR = re.compile(r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_TYPES = ("string", "number", "date", "hour")


class TableError(BasicError):
    """A bad filter, an unknown table or a row that does not fit."""


def rows_of(value: object) -> list[Any]:
    """The rows of a result or list value: the marker dropped, a single row made a list,
    null made empty."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list | tuple):
        return list(value[1:]) if has_marker(value) else list(value)
    raise TableError(f"expected a list of rows, got a {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Filter:
    """One parsed ``column op value`` condition, the value already typed."""

    column: str
    operator: str
    value: Any
    type: str


def parse_filter(text: str, forced_type: str | None = None, language: str = "en") -> Filter:
    """Parse ``"column op value"``; ``forced_type`` is ``SET FILTER TYPE``'s choice."""
    for operator, pattern in _OPERATORS:
        parts = pattern.split(text)
        if len(parts) == 2:
            column, raw = parts[0].strip(), parts[1].strip()
            if operator in ("in", "not in"):
                column, raw = raw, column
            if not column:
                raise TableError(f"FIND filter {text!r} names no column")
            return _typed(column, operator, raw, forced_type, language)
    raise TableError(
        f"FIND filter {text!r} has no operator (use column = value, <>, <, <=, >, >=, "
        "like, or value in column / value not in column)"
    )


def _typed(column: str, operator: str, raw: str, forced: str | None, language: str) -> Filter:
    kind = (forced or "").strip().lower() or None
    if kind is not None and kind not in _TYPES:
        raise TableError(f"SET FILTER TYPE: {forced!r} is not one of {', '.join(_TYPES)}")
    if kind == "hour" or (kind is None and _HOUR.match(raw)):
        return Filter(column, operator, raw, "hour")
    date = parse_date(raw, language) if kind in (None, "date") else None
    if date is not None:
        return Filter(column, operator, date, "date")
    if kind == "date":
        raise TableError(f"FIND filter value {raw!r} is not a date")
    if kind in (None, "number") and _NUMBER.match(raw):
        return Filter(column, operator, float(raw), "number")
    if kind == "number":
        raise TableError(f"FIND filter value {raw!r} is not a number")
    return Filter(column, operator, raw, "string")


def _compare(operator: str, left: Any, right: Any) -> bool:
    if operator == "=":
        return bool(left == right)
    if operator == "<>":
        return bool(left != right)
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    if operator == ">":
        return bool(left > right)
    return bool(left >= right)


def _like(pattern: str, text: str) -> bool:
    """SQL ``LIKE`` (``%`` any run, ``_`` one character); without wildcards, a substring."""
    if "%" not in pattern and "_" not in pattern:
        return pattern in text
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def matches(cell: Any, flt: Filter, *, whole_word: bool = True, language: str = "en") -> bool:
    """Whether a row's ``cell`` satisfies ``flt`` (an empty cell satisfies nothing)."""
    if cell is None or cell == "":
        return False
    if flt.type == "string":
        left, right = fold(str(cell).strip()), fold(str(flt.value).strip())
        if flt.operator == "like":
            return _like(right, left)
        if flt.operator == "in":
            return left == right if whole_word else right in left
        if flt.operator == "not in":
            return right not in left
        return _compare(flt.operator, left, right)
    if flt.type == "number":
        number = _as_number(cell)
        if number is None:
            return False
        if flt.operator in ("in", "not in", "like"):
            return (flt.operator != "not in") == (number == float(flt.value))
        return _compare(flt.operator, number, float(flt.value))
    if flt.type == "hour":
        return _match_hour(str(cell), flt)
    date = parse_date(str(cell).lstrip("'") if isinstance(cell, str) else cell, language)
    if date is None:
        return False
    wanted: dt.datetime = flt.value
    if wanted.time() == dt.time(0, 0):  # a date-only filter compares whole days
        date = date.replace(hour=0, minute=0, second=0, microsecond=0)
    if flt.operator in ("in", "not in", "like"):
        return (flt.operator != "not in") == (date == wanted)
    return _compare(flt.operator, date, wanted)


def _as_number(cell: Any) -> float | None:
    if isinstance(cell, bool):
        return float(cell)
    if isinstance(cell, int | float):
        return float(cell)
    text = str(cell).strip()
    return float(text) if _NUMBER.match(text) else None


def _match_hour(cell: str, flt: Filter) -> bool:
    """``in``: the cell is a ``;``-separated list of hours (``"8;12;14;18"``) and the filter's
    hour lies between two consecutive ones (the original's office-hours test); the other
    operators compare times of day."""
    if flt.operator in ("in", "not in"):
        hour = _minutes(flt.value) // 60
        hours = (part.strip().partition(":")[0] for part in cell.split(";"))
        bounds = [int(part) for part in hours if part.isdigit()]
        pairs = zip(bounds[:1] + bounds[:-1], bounds, strict=True)
        inside = any(low <= hour <= high for low, high in pairs)
        return inside == (flt.operator == "in")
    if not _HOUR.match(cell.strip()):
        return False
    operator = "=" if flt.operator == "like" else flt.operator
    return _compare(operator, _minutes(cell), _minutes(flt.value))


@dataclass
class Table:
    """A named in-memory table: ``columns`` in order (from a TABLE definition or the first
    rows saved) and ``rows``."""

    name: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def column(self, name: str) -> str | None:
        """The table's spelling of column ``name`` (case ignored), None if it has none."""
        wanted = name.strip().lower()
        for column in self.columns:
            if column.lower() == wanted:
                return column
        return None

    def _learn(self, names: Iterable[str]) -> None:
        for name in names:
            if self.column(name) is None:
                self.columns.append(name)

    def insert(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Add one row; its fields are matched to the columns case-insensitively."""
        self._learn(row)
        stored = {column: None for column in self.columns}
        for key, value in row.items():
            stored[self.column(key) or key] = value
        self.rows.append(stored)
        return stored

    def insert_values(self, values: Sequence[Any], names: Sequence[str] | None) -> dict[str, Any]:
        """Add one row from positional values, named by ``names`` or else by the columns."""
        if names is None:
            if len(values) > len(self.columns):
                raise TableError(
                    f"SAVE {self.name}: {len(values)} values but the table has "
                    f"{len(self.columns)} columns ({', '.join(self.columns) or 'none'})"
                )
            names = self.columns[: len(values)]
        elif len(names) != len(values):
            raise TableError(f"SAVE {self.name}: {len(values)} values for {len(names)} names")
        return self.insert(dict(zip(names, values, strict=True)))

    def select(
        self,
        filters: Sequence[Filter],
        *,
        whole_word: bool = True,
        max_lines: int | None = None,
        language: str = "en",
    ) -> list[tuple[int, dict[str, Any]]]:
        """(index, row) of the rows satisfying every filter, scanning at most ``max_lines``."""
        resolved: list[tuple[str, Filter]] = []
        for flt in filters:
            column = self.column(flt.column)
            if column is None:
                raise TableError(
                    f"FIND on {self.name}: no column {flt.column!r} "
                    f"(columns: {', '.join(self.columns) or 'none'})"
                )
            resolved.append((column, flt))
        limit = len(self.rows) if max_lines is None else max_lines
        return [
            (index, row)
            for index, row in enumerate(self.rows[:limit])
            if all(
                matches(row.get(column), flt, whole_word=whole_word, language=language)
                for column, flt in resolved
            )
        ]


def result_of(rows: Sequence[tuple[int, Mapping[str, Any]]], *, output_array: bool = False) -> Any:
    """The value FIND returns for the matched (index, row) pairs."""
    found = [
        {**row, "ordinal": ordinal, "line": index + 2}
        for ordinal, (index, row) in enumerate(rows, start=1)
    ]
    if not found:
        return None
    if len(found) == 1 and not output_array:
        return found[0]
    return [dict(GBARRAY_MARKER), *found]


def as_table(name: str, value: object) -> Table:
    """A throw-away table over a list value (FIND over a variable)."""
    rows = rows_of(value)
    table = Table(name)
    for row in rows:
        if not isinstance(row, dict):
            raise TableError(f"FIND over a list: element {row!r} is not a row (a map)")
        table.insert(row)
    return table


@dataclass
class MergeReport:
    """MERGE's counters, summed over a dialog until RESET REPORT (the original's REPORT)."""

    title: str | None = None
    adds: int = 0
    updates: int = 0
    skipped: int = 0

    def text(self) -> str:
        if self.title is None:
            return "No report yet"
        return (
            f"{self.title} adds: {self.adds}, updates: {self.updates} and skipped: {self.skipped}."
        )

    def reset(self) -> None:
        self.adds = self.updates = self.skipped = 0


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    return bool(left == right)


def merge_into(table: Table, data: object, key: str) -> dict[str, Any]:
    """Upsert every row of ``data`` into ``table`` by column ``key``: a row whose key value
    exists updates the differing fields (an update) or changes nothing (skipped); otherwise
    it is added. Returns ``{title, adds, updates, skipped}`` as the original."""
    adds = updates = skipped = 0
    for item in rows_of(data):
        if not isinstance(item, dict):
            raise TableError(f"MERGE {table.name}: element {item!r} is not a row (a map)")
        key_value = next((v for k, v in item.items() if k.lower() == key.lower()), None)
        column = table.column(key)
        found = None
        if column is not None and key_value is not None:
            found = next((row for row in table.rows if _same(row.get(column), key_value)), None)
        if found is None:
            table.insert(item)
            adds += 1
            continue
        changed = False
        for name, value in item.items():
            target = table.column(name) or name
            if target not in found or not _same(found[target], value):
                table._learn([name])
                found[target] = value
                changed = True
        if changed:
            updates += 1
        else:
            skipped += 1
    return {"title": table.name, "adds": adds, "updates": updates, "skipped": skipped}


def sort_rows(value: object, member: str, language: str = "en") -> list[Any]:
    """SORT … BY: rows ordered by ``member``, as dates if the first row's value is one, else
    numbers before strings (strings case-insensitive); the marker stays in front."""
    rows = rows_of(value)
    keep_marker = has_marker(value)
    name = member.strip()

    def field_of(row: Any) -> Any:
        if not isinstance(row, dict):
            raise TableError(f"SORT … BY {name}: element {row!r} is not a row (a map)")
        return next((v for k, v in row.items() if k.lower() == name.lower()), None)

    firsts = [field_of(row) for row in rows]
    by_date = bool(firsts) and parse_date(firsts[0], language) is not None

    def key(value: Any) -> tuple[int, Any]:
        if value is None:
            return (3, 0)
        if by_date:
            date = parse_date(value, language)
            return (0, date) if date is not None else (3, 0)
        number = _as_number(value)
        if number is not None:
            return (1, number)
        return (2, fold(str(value)))

    ordered = [row for _, row in sorted(zip(firsts, rows, strict=True), key=lambda p: key(p[0]))]
    return [dict(GBARRAY_MARKER), *ordered] if keep_marker else ordered


def append_values(*args: Any) -> list[Any]:
    """APPEND: the arguments flattened one level (lists spread, the marker dropped) without
    the falsy items (null, false, 0, "") — the original's ``[].concat(...args).filter(x => x)``."""
    flat: list[Any] = []
    for arg in args:
        flat.extend(rows_of(arg) if isinstance(arg, list | tuple) else [arg])
    return [item for item in flat if truthy(item)]
