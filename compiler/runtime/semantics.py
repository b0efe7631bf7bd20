"""What BASIC operators do to values: the one definition of the dialect's value semantics.

The original translated BASIC expressions to JavaScript, so the rules are JavaScript's where
a program can notice (``+`` concatenates when either side is text, numbers print like
``Number.prototype.toString``, ``0``/``""``/``null``/``false`` are false, ``<`` compares two
strings by text and anything else by number). Where JavaScript would quietly produce ``NaN``
or ``Infinity`` from a mistake, this is BASIC: ``"a" * 2``, division by zero, an index out of
range and a field of ``null`` are runtime errors (:class:`BasicError`).

``=`` / ``<>`` are strict (JavaScript ``===``): a number never equals a string. An unassigned
variable is ``null``; in text it reads as ``""`` and in arithmetic as ``0``.

Python values: ``None``, ``bool``, ``float`` (``int`` accepted from hosts), ``str``,
``datetime.date``/``datetime.datetime``, ``list``, ``dict`` (keys are strings).
The generated code inlines the number-only cases; every other case lands here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

Value = Any
"""A BASIC value as Python holds it (see the module docstring)."""


class BasicError(Exception):
    """A runtime error of the BASIC program; the runtime adds the source line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---- kinds ------------------------------------------------------------------------------------


def is_number(v: Value) -> bool:
    """A number (``bool`` is not one, although Python makes it an ``int``)."""
    return isinstance(v, float | int) and not isinstance(v, bool)


def is_date(v: Value) -> bool:
    return isinstance(v, dt.date)


def describe(v: Value) -> str:
    """The value for an error message: its kind and, for scalars, the value itself."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return f"the number {number_text(float(v))}"
    if isinstance(v, str):
        shown = v if len(v) <= 40 else v[:37] + "..."
        return f"the string {json.dumps(shown, ensure_ascii=False)}"
    if is_date(v):
        return f"the date {to_text(v)}"
    if isinstance(v, list | tuple):
        return "a list"
    if isinstance(v, dict):
        return "a map"
    return f"a {type(v).__name__}"


# ---- numbers and text ---------------------------------------------------------------------------

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")
_RADIX_BASE = {"x": 16, "o": 8, "b": 2}
# JavaScript's StrWhiteSpaceChar: WhiteSpace and LineTerminator (str.strip() also drops
# \x1c-\x1f and \x85, which JavaScript keeps).
_JS_SPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def parse_number(text: str) -> float | None:
    """JavaScript ``Number(text)``: None where JavaScript gives ``NaN`` (``""`` is 0)."""
    s = text.strip(_JS_SPACE)
    if not s:
        return 0.0
    if _DECIMAL.fullmatch(s):
        return float(s)
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    radix = _RADIX.fullmatch(s)
    if radix:
        try:
            return float(int(radix.group(2), _RADIX_BASE[radix.group(1).lower()]))
        except ValueError:  # digits outside the radix, e.g. 0b12
            return None
    return None


def number_text(x: float) -> str:
    """JavaScript ``Number.prototype.toString()``: ``1``, ``0.5``, ``1e+21``, ``NaN``."""
    if math.isnan(x):
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 2**53:  # exact: the digits are the integer's
        return str(int(x))
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + int(exp or 0)  # the decimal point sits after `point` digits
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    s = stripped.rstrip("0")
    k, n = len(s), point
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + s
    else:
        e = n - 1
        head = s if k == 1 else s[0] + "." + s[1:]
        out = f"{head}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + out


def date_text(d: dt.date) -> str:
    """A date as text: ``2024-05-31`` or ``2024-05-31 14:05:00``."""
    if isinstance(d, dt.datetime):
        return d.isoformat(sep=" ", timespec="seconds" if not d.microsecond else "auto")
    return d.isoformat()


def _json_default(v: object) -> object:
    if is_date(v):
        return date_text(v)  # type: ignore[arg-type]
    raise TypeError(f"a {type(v).__name__} cannot be written as JSON")


def to_json(v: Value) -> str:
    """The value as JSON text (dates as their text, NaN/Infinity as null like JavaScript)."""
    return json.dumps(_json_ready(v), ensure_ascii=False, default=_json_default)


def _json_ready(v: Value) -> Value:
    if is_number(v) and not math.isfinite(v):
        return None
    if isinstance(v, list | tuple):
        return [_json_ready(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_ready(x) for k, x in v.items()}
    return v


def to_text(v: Value) -> str:
    """The value as text, as it prints and concatenates (``null`` is the empty string)."""
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return number_text(float(v))
    if is_date(v):
        return date_text(v)
    if isinstance(v, list | tuple):
        return ",".join(to_text(x) for x in v)
    if isinstance(v, dict):
        return to_json(v)
    raise BasicError(f"{describe(v)} cannot be shown as text")


def to_number(v: Value) -> float:
    """The value as a number for arithmetic; text that is not a number is an error."""
    if is_number(v):
        return float(v)
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, str):
        n = parse_number(v)
        if n is None:
            raise BasicError(f"{describe(v)} is not a number")
        return n
    raise BasicError(f"{describe(v)} cannot be used as a number")


def _epoch_ms(d: dt.date) -> float:
    moment = _comparable_date(d)
    return (moment - dt.datetime(1970, 1, 1)).total_seconds() * 1000.0


def loose_number(v: Value) -> float:
    """The value as a number for ``<``/``>``: JavaScript's conversion, NaN when there is none."""
    if is_date(v):
        return _epoch_ms(v)
    try:
        return to_number(v)
    except BasicError:
        return math.nan


def truthy(v: Value) -> bool:
    """JavaScript truthiness: ``0``, ``NaN``, ``""``, ``null`` and ``false`` are false."""
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if is_number(v):
        return not math.isnan(v) and v != 0
    if isinstance(v, str):
        return v != ""
    return True


# ---- operators --------------------------------------------------------------------------------


def _is_texty(v: Value) -> bool:
    return isinstance(v, str | list | tuple | dict) or is_date(v)


def add(a: Value, b: Value) -> Value:
    """``+``: concatenation when either side is text (or a date/list/map), else addition."""
    if _is_texty(a) or _is_texty(b):
        return to_text(a) + to_text(b)
    return to_number(a) + to_number(b)


def concat(a: Value, b: Value) -> str:
    """``&``: always text."""
    return to_text(a) + to_text(b)


def sub(a: Value, b: Value) -> float:
    return to_number(a) - to_number(b)


def mul(a: Value, b: Value) -> float:
    return to_number(a) * to_number(b)


def _divisor(b: Value) -> float:
    y = to_number(b)
    if y == 0:
        raise BasicError("division by zero")
    return y


def div(a: Value, b: Value) -> float:
    x, y = to_number(a), _divisor(b)
    return x / y


def ftrunc(x: float) -> float:
    """Truncate toward zero, keeping infinities and NaN (wasm ``f64.trunc``)."""
    if not math.isfinite(x):
        return x
    return math.copysign(float(math.trunc(x)), x)  # -0.5 -> -0.0, as wasm and JavaScript


def idiv(a: Value, b: Value) -> float:
    """``\\``: the quotient truncated toward zero."""
    x, y = to_number(a), _divisor(b)
    return ftrunc(x / y)


def mod(a: Value, b: Value) -> float:
    """``MOD``: JavaScript ``%`` (the sign of the dividend)."""
    x, y = to_number(a), _divisor(b)
    if not math.isfinite(x) or math.isnan(y):
        return math.nan
    return math.fmod(x, y)


def _odd_integer(y: float) -> bool:
    return math.isfinite(y) and y.is_integer() and int(y) % 2 == 1


def power(a: Value, b: Value) -> float:
    """``^``: JavaScript ``**`` (IEEE results, not Python's exceptions)."""
    x, y = to_number(a), to_number(b)
    if math.isnan(y):
        return math.nan
    if y == 0:
        return 1.0
    if math.isnan(x) or (abs(x) == 1 and math.isinf(y)):
        return math.nan
    try:
        return math.pow(x, y)
    except OverflowError:
        return -math.inf if x < 0 and _odd_integer(y) else math.inf
    except ValueError:
        if x == 0:  # zero to a negative power
            return -math.inf if math.copysign(1, x) < 0 and _odd_integer(y) else math.inf
        return math.nan  # a negative number to a fractional power


def negate(a: Value) -> float:
    return -to_number(a)


def _comparable_date(d: dt.date) -> dt.datetime:
    if isinstance(d, dt.datetime):
        if d.tzinfo is not None:
            return d.astimezone(dt.UTC).replace(tzinfo=None)
        return d
    return dt.datetime(d.year, d.month, d.day)


def equals(a: Value, b: Value) -> bool:
    """``=``: strict equality (JavaScript ``===``); lists and maps are equal only to
    themselves, dates by the moment they name."""
    if is_number(a):
        return is_number(b) and a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if a is None or b is None:
        return a is b
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    if is_date(a):
        return is_date(b) and _comparable_date(a) == _comparable_date(b)
    return a is b


def compare(op: str, a: Value, b: Value) -> bool:
    """``<``, ``<=``, ``>``, ``>=``: two strings by text, two dates by time, else by number
    (a comparison with something that is not a number is false, as in JavaScript)."""
    left: Any
    right: Any
    if isinstance(a, str) and isinstance(b, str):
        left, right = a, b
    elif is_date(a) and is_date(b):
        left, right = _comparable_date(a), _comparable_date(b)
    else:
        left, right = loose_number(a), loose_number(b)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


BINARY = {
    "+": add,
    "&": concat,
    "-": sub,
    "*": mul,
    "/": div,
    "\\": idiv,
    "mod": mod,
    "^": power,
}
"""The value-producing binary operators by their ``ast.Binary.op`` spelling."""


# ---- lists, maps, members ---------------------------------------------------------------------


def _position(index: Value, size: int, what: str) -> int:
    if not is_number(index):
        raise BasicError(f"{what} index must be a number, got {describe(index)}")
    if not float(index).is_integer():
        raise BasicError(f"{what} index {number_text(float(index))} is not a whole number")
    i = int(index)
    if not 0 <= i < size:
        raise BasicError(f"index {i} is out of range (the {what} has {size} item(s))")
    return i


def _map_key(m: dict[str, Value], key: str) -> str | None:
    """The key of ``m`` that ``key`` names: exact, else ignoring case (the original made
    rows from sheets and tables case-insensitive)."""
    if key in m:
        return key
    folded = key.casefold()
    for k in m:
        if isinstance(k, str) and k.casefold() == folded:
            return k
    return None


def get_member(obj: Value, field: str) -> Value:
    """``obj.field``."""
    if isinstance(obj, dict):
        key = _map_key(obj, field)
        return None if key is None else obj[key]
    if obj is None:
        raise BasicError(f"cannot read field {field!r} of null")
    if isinstance(obj, str | list | tuple) and field.lower() == "length":
        return float(len(obj))
    return None


def set_member(obj: Value, field: str, value: Value) -> None:
    """``obj.field = value``: only maps have fields to set."""
    if not isinstance(obj, dict):
        raise BasicError(f"cannot set field {field!r} of {describe(obj)}")
    key = _map_key(obj, field)
    obj[field if key is None else key] = value


def get_index(obj: Value, index: Value) -> Value:
    """``obj[index]``: lists and strings by 0-based position, maps by key."""
    if isinstance(obj, list | tuple):
        return obj[_position(index, len(obj), "list")]
    if isinstance(obj, str):
        return obj[_position(index, len(obj), "string")]
    if isinstance(obj, dict):
        key = _map_key(obj, to_text(index))
        return None if key is None else obj[key]
    raise BasicError(f"cannot index {describe(obj)}")


def set_index(obj: Value, index: Value, value: Value) -> None:
    """``obj[index] = value``: a list grows by one when ``index`` is its length."""
    if isinstance(obj, list):
        if is_number(index) and index == len(obj):
            obj.append(value)
        else:
            obj[_position(index, len(obj), "list")] = value
        return
    if isinstance(obj, dict):
        text = to_text(index)
        key = _map_key(obj, text)
        obj[text if key is None else key] = value
        return
    raise BasicError(f"cannot set an item of {describe(obj)}")


def has_marker(items: Value) -> bool:
    """Whether a list starts with the original's ``{gbarray}`` header element (tabular
    results: rows start at index 1)."""
    return (
        isinstance(items, list | tuple)
        and len(items) > 0
        and isinstance(items[0], dict)
        and truthy(items[0].get("gbarray"))
    )


def iteration_items(v: Value) -> list[Value]:
    """What ``FOR EACH`` walks: a list's items (after the ``{gbarray}`` marker), a paged
    result's ``items``, a map's values; ``null`` walks nothing. A snapshot: changing the list
    inside the loop does not change the walk."""
    if v is None:
        return []
    if isinstance(v, dict):
        items = v.get("items")
        if isinstance(items, list | tuple):
            v = items
        else:
            return list(v.values())
    if isinstance(v, list | tuple):
        return list(v[1:]) if has_marker(v) else list(v)
    raise BasicError(f"FOR EACH needs a list or a map, got {describe(v)}")
