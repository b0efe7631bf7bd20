"""The built-in function table and each function's meaning."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest

from gb.compiler import builtins as b
from gb.compiler.runtime.semantics import BasicError


def test_table_is_what_the_checker_reads() -> None:
    assert b.BUILTINS["MID"] == (2, 3)
    assert b.BUILTINS["UPPER"] == b.BUILTINS["UCASE"] == (1, 1)
    assert all(name == name.upper() for name in b.BUILTINS)
    assert b.lookup("len") is b.SPECS["LEN"]
    assert b.lookup("nothing") is None
    assert b.SPECS["ABS"].inline and not b.SPECS["LEN"].inline
    assert b.SPECS["TRIM"].doc == "Without leading and trailing white space."


def test_numbers() -> None:
    assert b.abs_(-2) == 2 and b.int_(-2.5) == -3 and b.fix(-2.5) == -2
    assert math.isinf(b.int_(math.inf)) and math.copysign(1, b.int_(-0.0)) == -1
    assert b.sgn(3) == 1 and b.sgn(-3) == -1 and b.sgn(0) == 0
    assert b.sqr(9) == 3
    with pytest.raises(BasicError, match="negative"):
        b.sqr(-1)
    assert b.min_(3, 1, 2) == 1 and b.max_(3, 1, 2) == 3 and b.min_("2", 5) == 2
    assert math.isnan(b.min_(1, math.nan)) and math.isnan(b.max_(math.nan, 1))
    assert math.copysign(1, b.min_(0.0, -0.0)) == -1 and math.copysign(1, b.max_(-0.0, 0.0)) == 1


def test_round() -> None:
    assert b.round_(2.5) == 3 and b.round_(-2.5) == -3 and b.round_(2.675, 2) == 2.68
    assert b.round_(1234, -2) == 1200 and math.isnan(b.round_(math.nan, 1))
    with pytest.raises(BasicError, match="out of range"):
        b.round_(1, 400)
    with pytest.raises(BasicError, match="ROUND: Infinity is not a whole number"):
        b.round_(1, math.inf)
    with pytest.raises(BasicError, match="ROUND: the string"):
        b.round_("x")


def test_random() -> None:
    assert 0 <= b.rnd() < 1
    assert 0 <= b.random() < 800_000_000 and b.random().is_integer()
    assert b.random(1) == 0 and b.random(3, 3) == 3
    with pytest.raises(BasicError, match="must be positive"):
        b.random(0)
    with pytest.raises(BasicError, match="range 5 to 1 is empty"):
        b.random(5, 1)


def test_text() -> None:
    assert b.len_("abc") == 3 and b.len_([1, 2]) == 2 and b.len_({"a": 1}) == 1
    assert b.len_(None) == 0 and b.len_(123) == 3
    assert b.left("hello", 2) == "he" and b.right("hello", 3) == "llo" and b.right("hi", 0) == ""
    with pytest.raises(BasicError, match="LEFT: the length -1 is negative"):
        b.left("x", -1)
    with pytest.raises(BasicError, match="RIGHT: the length -1 is negative"):
        b.right("x", -1)
    assert b.mid("hello", 1, 3) == "ell" and b.mid("hello", -2) == "lo"
    assert b.mid([1, 2, 3], 1) == [2, 3] and b.mid((1, 2), 0, 1) == [1]
    assert b.ucase("a") == "A" and b.lcase("A") == "a"
    assert b.trim(" x ") == "x" and b.ltrim(" x ") == "x " and b.rtrim(" x ") == " x"
    assert (
        b.instr("hello", "l") == 3 and b.instr("hello", "z") == 0 and b.instr(4, "hello", "l") == 4
    )
    with pytest.raises(BasicError, match="start 0 must be 1 or more"):
        b.instr(0, "a", "a")
    assert b.replace("aXbX", "X", "-") == "a-b-" and b.replace("ab", "", "-") == "ab"
    assert b.split("a,b") == ["a", "b"] and b.split("ab", "") == ["a", "b"]
    assert b.join(["a", None, 1]) == "a,,1" and b.join(("a", "b"), "") == "ab"
    with pytest.raises(BasicError, match="JOIN: expected a list, got the string"):
        b.join("ab")
    assert b.val(" 12 ") == 12 and b.str_(1.5) == "1.5"
    with pytest.raises(BasicError, match="LEN: a object cannot be shown as text"):
        b.len_(object())
    assert b.chr_(65) == "A" and b.asc("AB") == 65
    with pytest.raises(BasicError, match="not a character code"):
        b.chr_(-1)
    with pytest.raises(BasicError, match="ASC: the text is empty"):
        b.asc("")
    assert b.contains("hello", "ell") and b.contains([1, "a"], "a") and not b.contains([1], "1")
    assert b.startswith("hello", "he") and b.endswith("hello", "lo")
    assert b.base64_("hi") == "aGk="
    assert b.tojson({"a": [1, None]}) == '{"a": [1, null]}'
    assert b.fromjson('{"a": [1, null]}') == {"a": [1, None]}
    with pytest.raises(BasicError, match="FROMJSON: not JSON"):
        b.fromjson("{")
    assert re.fullmatch(r"[0-9a-f-]{36}", b.uuid())


@pytest.mark.parametrize(
    ("args", "result"),
    [
        (("42",), 42.0),
        (("  -12abc",), -12.0),
        (("0x1f",), 31.0),
        (("0x1f", 16), 31.0),
        (("0x1f", 10), 0.0),
        (("ff", 16), 255.0),
        (("z", 36), 35.0),
        (("12", 1), math.nan),
        (("", None), math.nan),
        (("abc",), math.nan),
        (("19", 8), 1.0),
    ],
)
def test_parseint(args: tuple[object, ...], result: float) -> None:
    got = b.parseint(*args)
    assert (math.isnan(got) and math.isnan(result)) or got == result


def test_parsefloat() -> None:
    assert b.parsefloat("3.5e2xyz") == 350.0 and b.parsefloat(" -.5") == -0.5
    assert b.parsefloat("Infinityx") == math.inf and math.isnan(b.parsefloat("x1"))


def test_lists() -> None:
    rows = [{"gbarray": "0"}, {"a": 1}, {"a": 2}, {"a": 1}, {"b": 3}]
    assert b.ubound(rows) == 4 and b.ubound([1, 2]) == 2 and b.ubound(None) == 0
    assert b.ubound("abc") == 3
    with pytest.raises(BasicError, match="UBOUND: expected a list"):
        b.ubound(5)
    assert b.lbound(rows) == 1 and b.lbound([]) == 0
    assert b.isarray([]) and not b.isarray("x")
    assert b.isnull(None) and not b.isnull(0)
    assert b.isempty(None) and b.isempty("") and b.isempty({}) and not b.isempty(0)
    assert b.isnumeric(1) and b.isnumeric(" 2 ") and not b.isnumeric("") and not b.isnumeric(None)
    assert b.tolist(rows, "a") == "1,2," and b.tolist(None, "a") == "<Empty>"
    assert b.tolist([1, {"a": "x"}], "a") == ",x"
    with pytest.raises(BasicError, match="TOLIST: expected a list"):
        b.tolist("abc", "a")


def test_dates() -> None:
    assert isinstance(b.now(), dt.datetime) and b.now().microsecond == 0
    assert isinstance(b.today(), dt.date)
    day = dt.datetime(2024, 5, 31, 14, 5)
    assert b.weekday(day) == "Fri" and b.hour(day) == "14:05"
    assert b.year("2024-05-31") == 2024 and b.month(day) == 5 and b.day(dt.date(2024, 5, 31)) == 31
    assert b.isdate(day) and b.isdate("31/05/2024") and b.isdate("05/31/2024")
    assert b.month("05/06/2024") == 6 and not b.isdate("soon") and not b.isdate(5)
    with pytest.raises(BasicError, match='WEEKDAY: the string "soon" is not a date'):
        b.weekday("soon")
