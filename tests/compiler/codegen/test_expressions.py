"""Operators, conversions and built-in functions as compiled code computes them: the inline
number paths and the host paths must both follow compiler.runtime.semantics."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from gb.compiler import BasicRuntimeError

from .support import run, value_of


def ret(expr: str, **globals: object) -> object:
    return value_of(f"RETURN {expr}", globals=globals)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 \\ 2", 3),
        ("-7 \\ 2", -3),
        ("7 MOD 3", 1),
        ("-7 MOD 3", -1),
        ("7.5 MOD 2", 1.5),
        ("2 ^ 10", 1024),
        ("-2 ^ 2", -4),
        ("(-2) ^ 2", 4),
        ('1 + "2"', "12"),
        ('"3" * "4"', 12),
        ('"10" - 4', 6),
        ("1 & 2", "12"),
        ("TRUE + 1", 2),
        ("NULL + 1", 1),
        ('"a" + NULL', "a"),
        ("0.1 + 0.2", 0.30000000000000004),
        ('"x" + 0.1 + 0.2', "x0.10.2"),
        ('"n=" + 1e21', "n=1e+21"),
        ('"b=" + TRUE', "b=true"),
        ("-(3)", -3),
        ('+"4"', 4),
    ],
)
def test_arithmetic_and_concatenation(expr: str, expected: object) -> None:
    assert ret(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 = 1", True),
        ('1 = "1"', False),
        ('"a" = "a"', True),
        ("NULL = NULL", True),
        ("TRUE = 1", False),
        ("TRUE = TRUE", True),
        ("1 <> 2", True),
        ('"a" <> "a"', False),
        ("2 < 10", True),
        ('"2" < "10"', False),
        ('"2" < 10', True),
        ('"abc" < 10', False),
        ('"abc" >= 10', False),
        ("TRUE > FALSE", True),
        ("1 <= 1 AND 2 >= 3", False),
        ("1 > 2 OR NOT 0", True),
        ('NOT ""', True),
        ('NOT "x"', False),
        ("NOT NULL", True),
        ("NOT 0.0", True),
        ("NOT [1]", False),
    ],
)
def test_comparisons_and_truth(expr: str, expected: object) -> None:
    assert ret(expr) is expected


def test_dynamic_values_take_the_same_paths() -> None:
    assert ret("a + b", a=2, b=3) == 5
    assert ret("a + b", a="2", b=3) == "23"
    assert ret("a * b", a="2", b=3) == 6
    assert ret("a = b", a=2, b=2.0) is True
    assert ret("a = b", a="x", b="x") is True
    assert ret("a = b", a=[1], b=[1]) is False
    assert ret("a = a", a=[1]) is True
    assert ret("a < b", a="b", b="a") is False
    assert ret("a < b", a=1, b=2) is True
    assert ret("a MOD b", a=7, b=2.5) == 2.0
    assert ret("a MOD b", a=2**63, b=3) == math.fmod(2.0**63, 3)
    assert ret("IIF", IIF=None) is None
    day = dt.date(2024, 5, 31)
    assert ret("a = b", a=day, b=dt.datetime(2024, 5, 31)) is True
    assert ret("a < b", a=day, b=dt.date(2024, 6, 1)) is True


def test_truth_of_dynamic_values_in_conditions() -> None:
    src = """
    r = ""
    FOR EACH v IN values
        IF v THEN
            r = r & "T"
        ELSE
            r = r & "F"
        END IF
    NEXT
    RETURN r
    """
    values = [0, 1, float("nan"), "", "0", None, True, False, [], {}, dt.date(2024, 1, 1)]
    assert value_of(src, globals={"values": values}) == "FTFFTFTFTTT"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("1 / 0", "division by zero"),
        ("1 \\ 0", "division by zero"),
        ("1 MOD 0", "division by zero"),
        ('"a" * 2', 'the string "a" is not a number'),
        ('-"a"', 'the string "a" is not a number'),
        ("SQR(-1)", "SQR: square root of a negative number"),
        ("x.name", "cannot read field 'name' of null"),
        ("[1, 2][2]", "index 2 is out of range (the list has 2 item(s))"),
        ('VAL("x")', 'VAL: the string "x" is not a number'),
        ("[1] - 1", "a list cannot be used as a number"),
    ],
)
def test_runtime_errors_name_the_line(expr: str, message: str) -> None:
    with pytest.raises(BasicRuntimeError) as info:
        run(f'TALK "start"\nRETURN {expr}')
    assert info.value.line == 2
    assert info.value.message == message
    assert str(info.value) == f"t.bas:2: runtime error: {message}"


def test_division_by_a_dynamic_zero() -> None:
    with pytest.raises(BasicRuntimeError, match="division by zero"):
        run("RETURN 1 / z", globals={"z": 0})


def test_interpolation() -> None:
    assert ret('"${a}"', a=1.5) == "1.5"
    assert ret('"${a}-${b}!"', a=1, b="x") == "1-x!"
    assert ret('"plain"') == "plain"
    assert ret('""') == ""
    assert ret('"${a}"', a=None) == ""


def test_lists_maps_members_and_indexes() -> None:
    assert ret('[1, "a", [2]][2][0]') == 2
    assert ret("m.Name", m={"name": "Ana"}) == "Ana"
    assert ret("m.missing", m={"name": "Ana"}) is None
    assert ret('m["name"]', m={"name": "Ana"}) == "Ana"
    assert ret("l.length + s.length", l=[1, 2], s="abc") == 5
    assert ret("s[1]", s="abc") == "b"
    assert ret('{"a": 1, "b": [2]}.b[0]') == 2


def test_inline_numeric_builtins() -> None:
    assert ret("ABS(-2) + INT(-2.5) + FIX(-2.5) + SGN(-3) + SQR(16)") == 2 - 3 - 2 - 1 + 4
    assert ret("SGN(5) & SGN(0) & MIN(3, 1, 2) & MAX(1, 5)") == "10" + "15"
    assert ret("MIN(a, b)", a="4", b=2) == 2
    assert ret("SGN(x)", x=float("nan")) != ret("SGN(x)", x=float("nan"))


def test_host_builtins() -> None:
    assert ret('LEN("abc") + LEN(l) + LEN(NULL)', l=[1, 2]) == 5
    assert ret('UCASE("a") & LCASE("B") & TRIM("  c ") & LEFT("hello", 2) & RIGHT("hi!", 2)') == (
        "Abchei!"
    )
    assert ret('MID("hello", 1, 3) & MID("hello", 3) & INSTR("hello", "l")') == "elllo3"
    assert ret('REPLACE("a-b-c", "-", "+") & JOIN(SPLIT("x,y"), "|")') == "a+b+cx|y"
    assert ret("UBOUND(rows) & LBOUND(rows) & ISARRAY(rows)", rows=[{"gbarray": 1}, {}]) == "11true"
    assert ret('ROUND(2.675, 2) & "/" & ROUND(2.5)') == "2.68/3"
    assert ret("RANDOM(5, 5) + RANDOM(1)") == 5
    assert 0 <= ret("RND()") < 1  # type: ignore[operator]
    assert ret("LEN(UUID())") == 36
    assert ret('WEEKDAY("2024-05-31") & HOUR("2024-05-31 14:05")') == "Fri14:05"
    assert isinstance(ret("NOW()"), dt.datetime)
    assert isinstance(ret("TODAY()"), dt.date)
