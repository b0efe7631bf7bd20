"""The kinds of values that cross the boundary between a BASIC program and its host.

BASIC expressions in the original were JavaScript, so a value is a number (always a double), a
string, a boolean, ``null``, a date, a list or a map. :class:`Kind` names them for the keyword
signatures the checker validates at compile time; ``ANY`` is what the checker knows of a
variable (its kind is only known at run time).
"""

from __future__ import annotations

import datetime
import enum
from typing import Any, TypeAlias

#: A Python value a keyword function receives or returns.
Value: TypeAlias = (
    float | int | str | bool | datetime.datetime | datetime.date | list[Any] | dict[str, Any] | None
)


class Kind(enum.Enum):
    """The kind of a BASIC value (``ANY``: not known until run time)."""

    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"
    LIST = "list"
    MAP = "map"
    NULL = "null"
    ANY = "any"

    def accepts(self, other: Kind) -> bool:
        """Whether a value of kind ``other`` may be passed where ``self`` is expected.

        ``ANY`` on either side is accepted: the parameter takes anything, or the argument's
        kind is only known at run time.
        """
        return self is Kind.ANY or other is Kind.ANY or self is other


def kind_of(value: object) -> Kind:
    """The kind of a Python value; raises TypeError for values BASIC cannot hold."""
    # bool before int (bool is an int subclass); datetime is a date subclass.
    if value is None:
        return Kind.NULL
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, int | float):
        return Kind.NUMBER
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, datetime.date):
        return Kind.DATE
    if isinstance(value, list | tuple):
        return Kind.LIST
    if isinstance(value, dict):
        return Kind.MAP
    raise TypeError(f"a {type(value).__name__} is not a BASIC value")
