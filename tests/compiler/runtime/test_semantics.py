"""The value semantics, function by function."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from gb.compiler.runtime import semantics as sem

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (2.0, "the number 2"),
        ("x" * 50, 'the string "' + "x" * 37 + '..."'),
        (dt.date(2024, 5, 31), "the date 2024-05-31"),
        ([1], "a list"),
        ({}, "a map"),
        (object(), "a object"),
    ],
)
def test_describe(value: object, text: str) -> None:
    assert sem.describe(value) == text


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("", 0.0),
        ("  12 ", 12.0),
        ("-1.5e3", -1500.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("Infinity", INF),
        ("+Infinity", INF),
        ("-Infinity", -INF),
        ("0x1F", 31.0),
        ("0b101", 5.0),
        ("0o17", 15.0),
        ("0b12", None),
        ("-0x1", None),
        ("1_000", None),
        ("inf", None),
        ("nan", None),
        ("abc", None),
    ],
)
def test_parse_number_follows_javascript(text: str, number: float | None) -> None:
    assert sem.parse_number(text) == number


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (NAN, "NaN"),
        (INF, "Infinity"),
        (-INF, "-Infinity"),
        (-0.0, "0"),
        (42.0, "42"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (2.0**70, "1.1805916207174113e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-7, "1e-7"),
        (1.25e-7, "1.25e-7"),
        (0.000001, "0.000001"),
        (-2.5, "-2.5"),
        (5e-324, "5e-324"),
    ],
)
def test_number_text_follows_javascript(number: float, text: str) -> None:
    assert sem.number_text(number) == text


def test_to_text() -> None:
    assert sem.to_text(None) == ""
    assert sem.to_text(False) == "false"
    assert sem.to_text(3) == "3"
    assert sem.to_text([1, None, "a", [2, 3]]) == "1,,a,2,3"
    assert sem.to_text(dt.datetime(2024, 5, 31, 14, 5)) == "2024-05-31 14:05:00"
    assert sem.to_text(dt.datetime(2024, 5, 31, 14, 5, 1, 500)) == "2024-05-31 14:05:01.000500"
    assert sem.to_text({"a": [1, NAN], "d": dt.date(2024, 1, 2)}) == (
        '{"a": [1, null], "d": "2024-01-02"}'
    )
    with pytest.raises(sem.BasicError, match="cannot be shown as text"):
        sem.to_text(object())
    with pytest.raises(TypeError, match="cannot be written as JSON"):
        sem.to_json({"x": object()})


def test_numbers_from_values() -> None:
    assert sem.to_number(None) == 0.0 and sem.to_number(True) == 1.0
    assert sem.to_number(False) == 0.0 and sem.to_number(" 7 ") == 7.0
    with pytest.raises(sem.BasicError, match='the string "x" is not a number'):
        sem.to_number("x")
    with pytest.raises(sem.BasicError, match="a map cannot be used as a number"):
        sem.to_number({})
    assert math.isnan(sem.loose_number("x"))
    assert sem.loose_number(dt.date(1970, 1, 2)) == 86_400_000.0


def test_truthiness() -> None:
    falsy = [None, False, 0, 0.0, -0.0, NAN, ""]
    truthy = [True, 1, -1, "0", " ", [], {}, dt.date(2024, 1, 1)]
    assert not any(sem.truthy(v) for v in falsy)
    assert all(sem.truthy(v) for v in truthy)


def test_arithmetic() -> None:
    assert sem.add(1, 2) == 3 and sem.add("a", 1) == "a1" and sem.add([1], 2) == "12"
    assert sem.add(dt.date(2024, 1, 1), "!") == "2024-01-01!"
    assert sem.concat(1, None) == "1"
    assert sem.sub("5", 2) == 3 and sem.mul("2", "3") == 6 and sem.div(1, 4) == 0.25
    assert sem.idiv(-7, 2) == -3.0 and math.copysign(1, sem.idiv(-1, 2)) == -1
    assert sem.idiv(INF, 1) == INF
    assert sem.mod(-7, 2) == -1.0 and math.isnan(sem.mod(INF, 2)) and math.isnan(sem.mod(1, NAN))
    with pytest.raises(sem.BasicError, match="division by zero"):
        sem.div(1, "0")
    assert sem.negate("3") == -3.0
    assert sem.ftrunc(NAN) != sem.ftrunc(NAN)


@pytest.mark.parametrize(
    ("x", "y", "result"),
    [
        (2, 10, 1024.0),
        (2, NAN, NAN),
        (NAN, 0, 1.0),
        (NAN, 2, NAN),
        (1, INF, NAN),
        (-1, -INF, NAN),
        (10, 400, INF),
        (-10, 401, -INF),
        (-10, 400, INF),
        (0.0, -1, INF),
        (-0.0, -1, -INF),
        (-0.0, -2, INF),
        (-8, 1 / 3, NAN),
    ],
)
def test_power_follows_javascript(x: float, y: float, result: float) -> None:
    got = sem.power(x, y)
    assert (math.isnan(got) and math.isnan(result)) or got == result


def test_equality_is_strict() -> None:
    assert sem.equals(1, 1.0) and not sem.equals(1, "1") and not sem.equals(1, True)
    assert sem.equals(True, True) and not sem.equals(True, 1)
    assert sem.equals(None, None) and not sem.equals(None, 0) and not sem.equals("", None)
    assert sem.equals("a", "a") and not sem.equals("a", 1)
    aware = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert sem.equals(aware, dt.datetime(2024, 1, 1, 10))
    assert sem.equals(dt.date(2024, 1, 1), dt.datetime(2024, 1, 1))
    assert not sem.equals(dt.date(2024, 1, 1), "2024-01-01")
    items: list[int] = []
    assert sem.equals(items, items) and not sem.equals(items, [])


def test_comparisons() -> None:
    assert sem.compare("<", "a", "b") and sem.compare("<=", "b", "b")
    assert sem.compare(">", 10, "9") and sem.compare(">=", "10", 10)
    assert not sem.compare("<", "x", 1) and not sem.compare(">=", "x", 1)
    assert sem.compare("<", dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 1))
    assert not sem.compare(">", NAN, 1)


def test_members_and_indexes() -> None:
    row = {"Name": "Ana"}
    assert sem.get_member(row, "name") == "Ana" and sem.get_member(row, "x") is None
    assert sem.get_member([1, 2], "Length") == 2.0 and sem.get_member("ab", "length") == 2.0
    assert sem.get_member([1], "other") is None and sem.get_member(5, "x") is None
    with pytest.raises(sem.BasicError, match="of null"):
        sem.get_member(None, "x")
    sem.set_member(row, "NAME", "Bia")
    sem.set_member(row, "age", 3)
    assert row == {"Name": "Bia", "age": 3}
    with pytest.raises(sem.BasicError, match="cannot set field 'x' of a list"):
        sem.set_member([], "x", 1)
    assert sem.get_index((1, 2), 1) == 2 and sem.get_index({"1": "one"}, 1) == "one"
    assert sem.get_index({"a": 1}, "b") is None
    with pytest.raises(sem.BasicError, match="list index must be a number, got the string"):
        sem.get_index([1], "0")
    with pytest.raises(sem.BasicError, match=r"index 0\.5 is not a whole number"):
        sem.get_index([1], 0.5)
    with pytest.raises(sem.BasicError, match="index -1 is out of range"):
        sem.get_index("ab", -1)
    with pytest.raises(sem.BasicError, match="cannot index the number 5"):
        sem.get_index(5, 0)
    items = [0]
    sem.set_index(items, 0, "a")
    sem.set_index(items, 1, "b")
    mapping = {"K": 1}
    sem.set_index(mapping, "k", 2)
    sem.set_index(mapping, 7, 3)
    assert items == ["a", "b"] and mapping == {"K": 2, "7": 3}
    with pytest.raises(sem.BasicError, match="out of range"):
        sem.set_index(items, 5, 1)
    with pytest.raises(sem.BasicError, match="cannot set an item of the string"):
        sem.set_index("abc", 0, "x")


def test_iteration_items() -> None:
    assert sem.iteration_items(None) == []
    assert sem.iteration_items((1, 2)) == [1, 2]
    assert sem.iteration_items([{"gbarray": "0"}, 1]) == [1]
    assert sem.iteration_items([{"gbarray": ""}, 1]) == [{"gbarray": ""}, 1]
    assert sem.iteration_items({"items": [{"gbarray": 1}, 5]}) == [5]
    assert sem.iteration_items({"a": 1}) == [1]
    with pytest.raises(sem.BasicError, match="FOR EACH needs a list or a map, got the number 1"):
        sem.iteration_items(1)
