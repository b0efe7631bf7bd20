"""The built-in functions of the dialect: ``LEN(x)``, ``MID(s, 0, 3)``, ``UBOUND(rows)`` ...

They are not keywords (no registry, no suspension, no I/O): each is a pure function of BASIC
values. ``BUILTINS`` gives each name's arity for the checker; ``SPECS`` says how each is
implemented. The numeric ones marked ``inline`` compile to WebAssembly instructions (their
Python function is the definition the compiled code must agree with); every other one is a
host import that calls the Python function.

Where the original had the function (its wrapper helpers ``mid``, ``ubound``, ``isarray``,
``weekday``, ``hour``, ``base64``, ``tolist``, ``uuid``, ``random`` and JavaScript's
``parseInt``/``parseFloat``) it behaves as there: ``MID`` is JavaScript's 0-based ``slice``,
``UBOUND`` is the item count not counting the ``{gbarray}`` marker, ``HOUR`` is ``"HH:MM"``,
``WEEKDAY`` a three-letter day name. The classic BASIC ones the original lacked follow
VBScript (``INSTR`` is 1-based and 0 when not found, ``INT`` rounds down, ``FIX`` toward zero).
Names are matched without regard to case.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import random as _random
import re
import uuid as _uuid
from collections.abc import Callable
from dataclasses import dataclass

from .runtime.semantics import (
    BasicError,
    Value,
    describe,
    equals,
    ftrunc,
    has_marker,
    is_date,
    is_number,
    number_text,
    parse_number,
    to_json,
    to_number,
    to_text,
)
from .stdlib.dates import parse_date


@dataclass(frozen=True, slots=True)
class Builtin:
    """One built-in function: ``fn`` takes and returns BASIC values; ``inline`` ones are
    compiled to wasm instructions by the code generator (``fn`` then defines their meaning)."""

    name: str
    min_args: int
    max_args: int
    fn: Callable[..., Value]
    inline: bool = False
    doc: str = ""


SPECS: dict[str, Builtin] = {}


def _builtin(
    name: str, min_args: int, max_args: int, *, inline: bool = False, aliases: tuple[str, ...] = ()
) -> Callable[[Callable[..., Value]], Callable[..., Value]]:
    def register(fn: Callable[..., Value]) -> Callable[..., Value]:
        for key in (name, *aliases):
            SPECS[key] = Builtin(key, min_args, max_args, fn, inline, (fn.__doc__ or "").strip())
        return fn

    return register


def _num(name: str, v: Value) -> float:
    try:
        return to_number(v)
    except BasicError as exc:
        raise BasicError(f"{name}: {exc.message}") from None


def _whole(name: str, v: Value) -> int:
    x = _num(name, v)
    if not math.isfinite(x):
        raise BasicError(f"{name}: {number_text(x)} is not a whole number")
    return int(x)


def _text(name: str, v: Value) -> str:
    try:
        return to_text(v)
    except BasicError as exc:
        raise BasicError(f"{name}: {exc.message}") from None


def _parse_date(v: Value) -> dt.datetime | None:
    """A date from a date or a text: day first (the original's default language is
    Portuguese), else month first."""
    return parse_date(v, "pt") or parse_date(v, "en")


def _date(name: str, v: Value) -> dt.datetime:
    parsed = _parse_date(v)
    if parsed is None:
        raise BasicError(f"{name}: {describe(v)} is not a date")
    return parsed


# ---- numbers (inline: compiled to wasm; a bad argument fails as arithmetic does) -------------


@_builtin("ABS", 1, 1, inline=True)
def abs_(x: Value) -> float:
    """Absolute value."""
    return abs(to_number(x))


@_builtin("INT", 1, 1, inline=True)
def int_(x: Value) -> float:
    """The largest whole number not above ``x`` (``INT(-2.5)`` is -3)."""
    n = to_number(x)
    return float(math.floor(n)) if math.isfinite(n) and n != 0 else n  # keeps -0


@_builtin("FIX", 1, 1, inline=True)
def fix(x: Value) -> float:
    """``x`` without its fraction (``FIX(-2.5)`` is -2)."""
    return ftrunc(to_number(x))


@_builtin("SGN", 1, 1, inline=True)
def sgn(x: Value) -> float:
    """1, -1 or 0 by the sign of ``x``."""
    n = to_number(x)
    if n > 0:
        return 1.0
    if n < 0:
        return -1.0
    return n  # 0, -0 or NaN


@_builtin("SQR", 1, 1, inline=True)
def sqr(x: Value) -> float:
    """Square root; a negative number is an error."""
    n = to_number(x)
    if n < 0:
        raise BasicError("SQR: square root of a negative number")
    return math.sqrt(n)


def _extreme(args: tuple[Value, ...], smaller: bool) -> float:
    """wasm ``f64.min``/``f64.max``: NaN wins, and -0 is below 0."""
    numbers = [to_number(a) for a in args]
    best = numbers[0]
    for n in numbers[1:]:
        if math.isnan(n) or math.isnan(best):
            best = math.nan
        elif n == best == 0:
            negative = math.copysign(1, n) < 0
            best = n if negative == smaller else best
        elif (n < best) == smaller:
            best = n
    return best


@_builtin("MIN", 1, 16, inline=True)
def min_(*args: Value) -> float:
    """The smallest of the numbers (NaN if any is NaN)."""
    return _extreme(args, True)


@_builtin("MAX", 1, 16, inline=True)
def max_(*args: Value) -> float:
    """The largest of the numbers (NaN if any is NaN)."""
    return _extreme(args, False)


_DECIMALS = decimal.Context(prec=400)


@_builtin("ROUND", 1, 2)
def round_(x: Value, digits: Value = 0.0) -> float:
    """``x`` rounded to ``digits`` decimals (default 0), halves away from zero."""
    n = _num("ROUND", x)
    places = _whole("ROUND", digits)
    if not math.isfinite(n):
        return n
    if not -308 <= places <= 308:
        raise BasicError(f"ROUND: {places} decimal places is out of range")
    exact = decimal.Decimal(repr(n))
    step = decimal.Decimal(1).scaleb(-places)
    return float(exact.quantize(step, rounding=decimal.ROUND_HALF_UP, context=_DECIMALS))


@_builtin("RND", 0, 0)
def rnd() -> float:
    """A random number from 0 up to (not including) 1."""
    return _random.random()


@_builtin("RANDOM", 0, 2)
def random(low: Value = None, high: Value = None) -> float:
    """A random whole number: ``RANDOM()`` below 800,000,000 (the original's helper),
    ``RANDOM(n)`` from 0 to n-1, ``RANDOM(a, b)`` from a to b inclusive."""
    if low is None:
        return float(_random.randrange(800_000_000))
    if high is None:
        n = _whole("RANDOM", low)
        if n <= 0:
            raise BasicError(f"RANDOM: the upper bound {n} must be positive")
        return float(_random.randrange(n))
    a, b = _whole("RANDOM", low), _whole("RANDOM", high)
    if b < a:
        raise BasicError(f"RANDOM: the range {a} to {b} is empty")
    return float(_random.randint(a, b))


# ---- text ---------------------------------------------------------------------------------


@_builtin("LEN", 1, 1)
def len_(x: Value) -> float:
    """Characters of a text, items of a list (the marker counts, as JavaScript's
    ``length``), keys of a map; ``null`` is 0."""
    if isinstance(x, list | tuple | dict):
        return float(len(x))
    return float(len(_text("LEN", x)))


@_builtin("LEFT", 2, 2)
def left(s: Value, n: Value) -> str:
    """The first ``n`` characters."""
    count = _whole("LEFT", n)
    if count < 0:
        raise BasicError(f"LEFT: the length {count} is negative")
    return _text("LEFT", s)[:count]


@_builtin("RIGHT", 2, 2)
def right(s: Value, n: Value) -> str:
    """The last ``n`` characters."""
    count = _whole("RIGHT", n)
    if count < 0:
        raise BasicError(f"RIGHT: the length {count} is negative")
    text = _text("RIGHT", s)
    return text[len(text) - count :] if count else ""


@_builtin("MID", 2, 3)
def mid(x: Value, start: Value, length: Value = None) -> Value:
    """The original's ``mid``: JavaScript ``x.slice(start, start + length)`` on a text or a
    list (0-based; a negative start counts from the end)."""
    begin = _whole("MID", start)
    end = None if length is None else begin + _whole("MID", length)
    if isinstance(x, list | tuple):
        return list(x[begin:end])
    return _text("MID", x)[begin:end]


@_builtin("UCASE", 1, 1, aliases=("UPPER",))
def ucase(s: Value) -> str:
    """Upper case."""
    return _text("UCASE", s).upper()


@_builtin("LCASE", 1, 1, aliases=("LOWER",))
def lcase(s: Value) -> str:
    """Lower case."""
    return _text("LCASE", s).lower()


@_builtin("TRIM", 1, 1)
def trim(s: Value) -> str:
    """Without leading and trailing white space."""
    return _text("TRIM", s).strip()


@_builtin("LTRIM", 1, 1)
def ltrim(s: Value) -> str:
    """Without leading white space."""
    return _text("LTRIM", s).lstrip()


@_builtin("RTRIM", 1, 1)
def rtrim(s: Value) -> str:
    """Without trailing white space."""
    return _text("RTRIM", s).rstrip()


@_builtin("INSTR", 2, 3)
def instr(a: Value, b: Value, c: Value = None) -> float:
    """``INSTR(text, part)`` or ``INSTR(start, text, part)``: the 1-based position of
    ``part`` (searching from ``start``), 0 when absent."""
    if c is None:
        start, text, part = 1, _text("INSTR", a), _text("INSTR", b)
    else:
        start, text, part = _whole("INSTR", a), _text("INSTR", b), _text("INSTR", c)
        if start < 1:
            raise BasicError(f"INSTR: the start {start} must be 1 or more")
    return float(text.find(part, start - 1) + 1)


@_builtin("REPLACE", 3, 3)
def replace(s: Value, find: Value, replacement: Value) -> str:
    """Every occurrence of ``find`` replaced."""
    text, old = _text("REPLACE", s), _text("REPLACE", find)
    return text.replace(old, _text("REPLACE", replacement)) if old else text


@_builtin("SPLIT", 1, 2)
def split(s: Value, separator: Value = ",") -> list[Value]:
    """The parts of a text between separators (``""`` splits into characters)."""
    text, sep = _text("SPLIT", s), _text("SPLIT", separator)
    return list(text) if sep == "" else list(text.split(sep))


@_builtin("JOIN", 1, 2)
def join(items: Value, separator: Value = ",") -> str:
    """The items of a list as text with ``separator`` between them."""
    if not isinstance(items, list | tuple):
        raise BasicError(f"JOIN: expected a list, got {describe(items)}")
    sep = _text("JOIN", separator)
    return sep.join(_text("JOIN", item) for item in items)


@_builtin("VAL", 1, 1)
def val(x: Value) -> float:
    """The number a text spells (JavaScript ``Number``); anything else is an error."""
    return _num("VAL", x)


@_builtin("STR", 1, 1)
def str_(x: Value) -> str:
    """The value as text."""
    return _text("STR", x)


_INT_PREFIX = re.compile(r"\s*([+-]?)(0[xX])?([0-9a-zA-Z]*)")
_FLOAT_PREFIX = re.compile(r"\s*([+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))")


@_builtin("PARSEINT", 1, 2)
def parseint(x: Value, radix: Value = None) -> float:
    """JavaScript ``parseInt``: the whole number at the start of the text, NaN if none."""
    text = _text("PARSEINT", x)
    base = 0 if radix is None else _whole("PARSEINT", radix)
    match = _INT_PREFIX.match(text)
    assert match is not None  # every part of the pattern is optional
    sign, hex_prefix, body = match.groups()
    if base == 0:
        base = 16 if hex_prefix else 10
    elif hex_prefix and base != 16:
        body = "0"  # "0x1f" in base 10 reads the 0 before the x
    if not 2 <= base <= 36:
        return math.nan
    digits = ""
    for ch in body:
        if int(ch, 36) >= base:
            break
        digits += ch
    if not digits:
        return math.nan
    value = float(int(digits, base))
    return -value if sign == "-" else value


@_builtin("PARSEFLOAT", 1, 1)
def parsefloat(x: Value) -> float:
    """JavaScript ``parseFloat``: the number at the start of the text, NaN if none."""
    match = _FLOAT_PREFIX.match(_text("PARSEFLOAT", x))
    if not match:
        return math.nan
    number = parse_number(match.group(1))
    assert number is not None  # the pattern only matches what parse_number reads
    return number


@_builtin("CHR", 1, 1)
def chr_(n: Value) -> str:
    """The character with code ``n``."""
    code = _whole("CHR", n)
    if not 0 <= code <= 0x10FFFF:
        raise BasicError(f"CHR: {code} is not a character code")
    return chr(code)


@_builtin("ASC", 1, 1)
def asc(s: Value) -> float:
    """The code of the first character."""
    text = _text("ASC", s)
    if not text:
        raise BasicError("ASC: the text is empty")
    return float(ord(text[0]))


@_builtin("CONTAINS", 2, 2)
def contains(a: Value, b: Value) -> bool:
    """Whether a text contains a part, or a list an item."""
    if isinstance(a, list | tuple):
        return any(equals(item, b) for item in a)
    return _text("CONTAINS", b) in _text("CONTAINS", a)


@_builtin("STARTSWITH", 2, 2)
def startswith(a: Value, b: Value) -> bool:
    """Whether a text starts with a part."""
    return _text("STARTSWITH", a).startswith(_text("STARTSWITH", b))


@_builtin("ENDSWITH", 2, 2)
def endswith(a: Value, b: Value) -> bool:
    """Whether a text ends with a part."""
    return _text("ENDSWITH", a).endswith(_text("ENDSWITH", b))


@_builtin("BASE64", 1, 1)
def base64_(v: Value) -> str:
    """The text (UTF-8) in base64, as the original's ``base64`` helper."""
    return base64.b64encode(_text("BASE64", v).encode("utf-8")).decode("ascii")


@_builtin("TOJSON", 1, 1)
def tojson(v: Value) -> str:
    """The value as JSON text."""
    return to_json(v)


@_builtin("FROMJSON", 1, 1)
def fromjson(s: Value) -> Value:
    """The value a JSON text holds."""
    text = _text("FROMJSON", s)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BasicError(f"FROMJSON: not JSON ({exc.msg} at character {exc.pos})") from None


@_builtin("UUID", 0, 0)
def uuid() -> str:
    """A new random UUID."""
    return str(_uuid.uuid4())


# ---- lists --------------------------------------------------------------------------------


@_builtin("UBOUND", 1, 1)
def ubound(x: Value) -> float:
    """The original's ``ubound``: the number of items, not counting a ``{gbarray}`` marker
    (so ``FOR i = 1 TO UBOUND(rows)`` walks the rows of a table); ``null`` is 0."""
    if x is None:
        return 0.0
    if isinstance(x, list | tuple):
        return float(len(x) - 1 if has_marker(x) else len(x))
    if isinstance(x, str):
        return float(len(x))
    raise BasicError(f"UBOUND: expected a list, got {describe(x)}")


@_builtin("LBOUND", 1, 1)
def lbound(x: Value) -> float:
    """The index of the first item: 1 after a ``{gbarray}`` marker, else 0."""
    return 1.0 if has_marker(x) else 0.0


@_builtin("ISARRAY", 1, 1)
def isarray(x: Value) -> bool:
    """Whether the value is a list."""
    return isinstance(x, list | tuple)


@_builtin("ISNULL", 1, 1)
def isnull(x: Value) -> bool:
    """Whether the value is ``null``."""
    return x is None


@_builtin("ISEMPTY", 1, 1)
def isempty(x: Value) -> bool:
    """Whether the value is ``null``, ``""`` or an empty list or map."""
    return x is None or (isinstance(x, str | list | tuple | dict) and len(x) == 0)


@_builtin("ISNUMERIC", 1, 1)
def isnumeric(x: Value) -> bool:
    """Whether the value is a number or a text that spells one."""
    if is_number(x):
        return True
    return isinstance(x, str) and x.strip() != "" and parse_number(x) is not None


@_builtin("ISDATE", 1, 1)
def isdate(x: Value) -> bool:
    """Whether the value is a date or a text that spells one."""
    return is_date(x) or (isinstance(x, str) and _parse_date(x) is not None)


@_builtin("TOLIST", 2, 2)
def tolist(items: Value, member: Value) -> str:
    """The original's ``tolist``: the distinct values of field ``member`` of the rows,
    comma-separated (``<Empty>`` for no list)."""
    if not items:
        return "<Empty>"
    if not isinstance(items, list | tuple):
        raise BasicError(f"TOLIST: expected a list, got {describe(items)}")
    field = _text("TOLIST", member)
    rows = items[1:] if has_marker(items) else items
    seen: list[Value] = []
    for row in rows:
        value = row.get(field) if isinstance(row, dict) else None
        if not any(equals(value, s) for s in seen):
            seen.append(value)
    return ",".join(_text("TOLIST", v) for v in seen)


# ---- dates --------------------------------------------------------------------------------


@_builtin("NOW", 0, 0)
def now() -> dt.datetime:
    """The current date and time (to the second)."""
    return dt.datetime.now().replace(microsecond=0)


@_builtin("TODAY", 0, 0)
def today() -> dt.date:
    """The current date."""
    return dt.date.today()


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@_builtin("WEEKDAY", 1, 1)
def weekday(d: Value) -> str:
    """The three-letter day name (``Mon``), as the original's ``weekday``."""
    return _DAY_NAMES[_date("WEEKDAY", d).weekday()]


@_builtin("HOUR", 1, 1)
def hour(d: Value) -> str:
    """The time of day as ``HH:MM``, as the original's ``hour``."""
    moment = _date("HOUR", d)
    return f"{moment.hour:02d}:{moment.minute:02d}"


@_builtin("YEAR", 1, 1)
def year(d: Value) -> float:
    """The year of a date."""
    return float(_date("YEAR", d).year)


@_builtin("MONTH", 1, 1)
def month(d: Value) -> float:
    """The month of a date (1 to 12)."""
    return float(_date("MONTH", d).month)


@_builtin("DAY", 1, 1)
def day(d: Value) -> float:
    """The day of the month of a date."""
    return float(_date("DAY", d).day)


BUILTINS: dict[str, tuple[int, int]] = {
    name: (spec.min_args, spec.max_args) for name, spec in SPECS.items()
}
"""Upper-case name -> (least, most) arguments: what the checker validates calls against."""


def lookup(name: str) -> Builtin | None:
    """The built-in function called ``name`` in any case, or None."""
    return SPECS.get(name.upper())
