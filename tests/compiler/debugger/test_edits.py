"""refactor's source change: line edits, their validation, and events as JSON."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gb.compiler.debugger import ChangeError, DebugEvent, DebugState, LineEdit, apply_edits
from gb.compiler.debugger import parse_change as parse
from gb.compiler.debugger.events import plain

CODE = "a\nb\nc\nd\n"


@pytest.mark.parametrize(
    ("change", "result"),
    [
        ([], CODE),
        ([{"line": 2, "delete": 1, "insert": ["B"]}], "a\nB\nc\nd\n"),
        ([{"line": 1, "insert": ["first"]}], "first\na\nb\nc\nd\n"),
        ([{"line": 5, "insert": "e\nf"}], "a\nb\nc\nd\ne\nf\n"),
        ([{"line": 2, "delete": 2}], "a\nd\n"),
        ([{"line": 4, "delete": 1}, {"line": 1, "delete": 1, "insert": ["A"]}], "A\nb\nc\n"),
        ([{"line": 2, "insert": ["x"]}, {"line": 2, "insert": ["y"]}], "a\nx\ny\nb\nc\nd\n"),
        ([{"line": 1, "delete": 4}], ""),
    ],
)
def test_apply_edits(change: list[dict[str, Any]], result: str) -> None:
    assert apply_edits(CODE, parse(change)) == result


def test_trailing_newline_is_kept_as_it_was() -> None:
    assert apply_edits("a\nb", parse([{"line": 3, "insert": ["c"]}])) == "a\nb\nc"
    assert apply_edits("", parse([{"line": 1, "insert": ["x"]}])) == "x\n"
    assert apply_edits("", []) == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("text", "change must be a list of edits"),
        ([3], "edit 1: expected an object"),
        ([{"line": 1, "color": 2}], "edit 1: unknown field\\(s\\) color"),
        ([{"delete": 1}], "edit 1: line must be a whole number from 1"),
        ([{"line": True}], "edit 1: line must be a whole number from 1"),
        ([{"line": 0}], "edit 1: line must be a whole number from 1"),
        ([{"line": 1, "delete": -1}], "edit 1: delete must be a whole number from 0"),
        ([{"line": 1, "insert": [1]}], "edit 1: insert must be a list of lines"),
        ([{"line": 1, "insert": 5}], "edit 1: insert must be a list of lines"),
        ([{"line": 1, "insert": ["a\nb"]}], "edit 1: an inserted line contains a line break"),
    ],
)
def test_malformed_changes(change: Any, message: str) -> None:
    with pytest.raises(ChangeError, match=message):
        parse(change)


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ([LineEdit(7)], "edit 1: line 7 is past the end \\(the code has 4\\)"),
        ([LineEdit(3, 3)], "edit 1: deleting 3 line\\(s\\) from line 3 goes past the end"),
        ([LineEdit(1, 2), LineEdit(2)], "edit 2: overlaps the lines another edit deletes"),
    ],
)
def test_edits_that_do_not_fit(edits: list[LineEdit], message: str) -> None:
    with pytest.raises(ChangeError, match=message):
        apply_edits(CODE, edits)


@given(st.lists(st.text(alphabet="ab ", max_size=5), max_size=6), st.data())
def test_replacing_a_line_keeps_the_others(lines: list[str], data: st.DataObject) -> None:
    code = "\n".join(lines) + "\n" if lines else ""
    if not lines:
        return
    line = data.draw(st.integers(min_value=1, max_value=len(lines)))
    result = apply_edits(code, [LineEdit(line, 1, ("new",))]).splitlines()
    assert result == [*lines[: line - 1], "new", *lines[line:]]


def test_events_as_json() -> None:
    moment = dt.datetime(2024, 3, 5, 10, 30)
    event = DebugEvent("output", "bot", DebugState.BREAK, 4, {"text": "hi", "at": moment})
    assert event.as_json() == {
        "kind": "output", "botId": "bot", "state": 2, "stateInfo": "Break", "line": 4,
        "text": "hi", "at": "2024-03-05T10:30:00"}  # fmt: skip
    assert plain([math.nan, math.inf, dt.date(2024, 1, 2), {"k": (1, "x")}]) == [
        "nan", "inf", "2024-01-02", {"k": [1, "x"]}]  # fmt: skip
    assert [state.info for state in DebugState] == ["Stopped", "Running (Debug)", "Break", "Fail"]
