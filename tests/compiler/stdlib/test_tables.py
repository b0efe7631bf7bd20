"""In-memory tables: the original's filter language, typed comparisons and result shapes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gb.compiler.stdlib.tables import (
    GBARRAY_MARKER,
    Filter,
    MergeReport,
    Table,
    TableError,
    append_values,
    as_table,
    matches,
    merge_into,
    parse_filter,
    result_of,
    rows_of,
    sort_rows,
)


def people() -> Table:
    table = Table("People", ["Name", "City", "Age", "Born", "Hours"])
    table.insert({"Name": "Ana", "City": "São Paulo", "Age": 30, "Born": "05/03/1994",
                  "Hours": "8;12;14;18"})  # fmt: skip
    table.insert({"name": "Bruno", "city": "Rio", "age": "41", "born": "1983-07-01",
                  "hours": "9;17"})  # fmt: skip
    table.insert({"Name": "Carla", "City": "Sao Paulo", "Age": 25, "Born": "'20/12/1999",
                  "Hours": ""})  # fmt: skip
    table.insert({"Name": "Davi", "City": "", "Age": None, "Born": "someday", "Hours": "10:30"})
    return table


def names(table: Table, *filters: str, whole_word: bool = True, language: str = "pt") -> list[str]:
    parsed = [parse_filter(f, language=language) for f in filters]
    rows = table.select(parsed, whole_word=whole_word, language=language)
    return [row["Name"] for _, row in rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name=Ana", Filter("name", "=", "Ana", "string")),
        (" age >= 30 ", Filter("age", ">=", 30.0, "number")),
        ("age<>5", Filter("age", "<>", 5.0, "number")),
        ("age<=5", Filter("age", "<=", 5.0, "number")),
        ("when = 10:30", Filter("when", "=", "10:30", "hour")),
        ("born < 1/2/2000", Filter("born", "<", dt.datetime(2000, 2, 1), "date")),
        ("name like A%", Filter("name", "like", "A%", "string")),
        ("Rio in city", Filter("city", "in", "Rio", "string")),
        ("Rio NOT IN city", Filter("city", "not in", "Rio", "string")),
        ("x > -1.5e3", Filter("x", ">", -1500.0, "number")),
    ],
)
def test_parse_filter(text: str, expected: Filter) -> None:
    assert parse_filter(text, language="pt") == expected


def test_parse_filter_errors() -> None:
    with pytest.raises(TableError, match="has no operator"):
        parse_filter("just text")
    with pytest.raises(TableError, match="names no column"):
        parse_filter("= 5")
    with pytest.raises(TableError, match="SET FILTER TYPE: 'color'"):
        parse_filter("a=1", "color")
    with pytest.raises(TableError, match="is not a date"):
        parse_filter("a=1", "date")
    with pytest.raises(TableError, match="is not a number"):
        parse_filter("a=x", "number")


def test_forced_types() -> None:
    assert parse_filter("code = 0123", "string") == Filter("code", "=", "0123", "string")
    assert parse_filter("a = 10:00", "hour").type == "hour"
    assert parse_filter("a = 1/2/2024", "date").value == dt.datetime(2024, 1, 2)  # en: m/d
    assert parse_filter("a = 7", "number").value == 7.0


def test_string_filters_ignore_case_and_accents() -> None:
    table = people()
    assert names(table, "city = sao paulo") == ["Ana", "Carla"]
    assert names(table, "city <> rio") == ["Ana", "Carla"]  # an empty cell matches nothing
    assert names(table, "name like %a") == ["Ana", "Carla"]
    assert names(table, "name like b_uno") == ["Bruno"]
    assert names(table, "name like run") == ["Bruno"]
    assert names(table, "Paulo in city") == []  # whole word: the cell must equal it
    assert names(table, "Paulo in city", whole_word=False) == ["Ana", "Carla"]
    assert names(table, "Paulo not in city") == ["Bruno"]
    assert names(table, "name > bruno") == ["Carla", "Davi"]
    assert names(table, "name <= bruno") == ["Ana", "Bruno"]


def test_number_filters() -> None:
    table = people()
    assert names(table, "age = 41") == ["Bruno"]  # a numeric string cell is a number
    assert names(table, "age > 26") == ["Ana", "Bruno"]
    assert names(table, "age < 30", "city = sao paulo") == ["Carla"]
    assert names(table, "41 in age") == ["Bruno"]
    assert names(table, "41 not in age") == ["Ana", "Carla"]
    table.insert({"Name": "Eva", "Age": "unknown"})
    table.insert({"Name": "Fabio", "Age": True})
    assert names(table, "age = 1") == ["Fabio"]
    assert names(table, "age >= 0") == ["Ana", "Bruno", "Carla", "Fabio"]


def test_date_filters() -> None:
    table = people()
    assert names(table, "born < 1/1/1990") == ["Bruno"]
    assert names(table, "born = 20/12/1999") == ["Carla"]  # the leading ' is dropped
    assert names(table, "born >= 5/3/1994") == ["Ana", "Carla"]
    assert names(table, "born > 5/3/1994 10:00") == ["Carla"]
    assert names(table, "1/7/1983 in born") == ["Bruno"]
    assert names(table, "1/7/1983 not in born") == ["Ana", "Carla"]
    stamped = Table("T", ["Name", "At"])
    stamped.insert({"Name": "x", "At": dt.datetime(2024, 1, 1, 15)})
    assert names(stamped, "at = 1/1/2024") == ["x"]


def test_hour_filters() -> None:
    table = people()
    assert names(table, "13:15 in hours") == ["Ana", "Bruno"]
    assert names(table, "13:15 not in hours") == ["Davi"]
    assert names(table, "hours = 10:30") == ["Davi"]
    assert names(table, "hours like 10:30") == ["Davi"]
    assert names(table, "hours > 09:00") == ["Davi"]
    assert names(table, "8:00 in hours") == ["Ana"]


def test_unknown_column_names_the_columns() -> None:
    with pytest.raises(TableError, match=r"no column 'colour' \(columns: Name, City"):
        people().select([parse_filter("colour = red")])


def test_max_lines_limits_the_scan() -> None:
    table = people()
    assert len(table.select([], max_lines=2)) == 2
    assert len(table.select([])) == 4


def test_insert_values() -> None:
    table = Table("Log", ["When", "What"])
    assert table.insert_values(["today", "x"], None) == {"When": "today", "What": "x"}
    assert table.insert_values(["y"], None) == {"When": "y", "What": None}
    assert table.insert_values(["a", "b"], ["what", "extra"]) == {
        "When": None, "What": "a", "extra": "b"}  # fmt: skip
    assert table.columns == ["When", "What", "extra"]
    with pytest.raises(TableError, match="4 values but the table has 3 columns"):
        table.insert_values([1, 2, 3, 4], None)
    with pytest.raises(TableError, match="2 values for 1 names"):
        table.insert_values([1, 2], ["a"])
    with pytest.raises(TableError, match=r"columns \(none\)"):
        Table("Empty").insert_values([1], None)


def test_results_follow_the_gbarray_convention() -> None:
    rows = [(0, {"a": 1}), (4, {"a": 2})]
    many = result_of(rows)
    assert many[0] == GBARRAY_MARKER
    assert many[1] == {"a": 1, "ordinal": 1, "line": 2}
    assert many[2] == {"a": 2, "ordinal": 2, "line": 6}
    assert result_of(rows[:1]) == {"a": 1, "ordinal": 1, "line": 2}
    assert result_of(rows[:1], output_array=True)[1]["a"] == 1
    assert result_of([]) is None


def test_rows_of() -> None:
    assert rows_of(None) == []
    assert rows_of({"a": 1}) == [{"a": 1}]
    assert rows_of([GBARRAY_MARKER, {"a": 1}]) == [{"a": 1}]
    assert rows_of(({"a": 1},)) == [{"a": 1}]
    with pytest.raises(TableError, match="expected a list of rows, got a str"):
        rows_of("x")
    assert rows_of([{"gbarray": ""}, {"a": 1}]) == [{"gbarray": ""}, {"a": 1}]


def test_as_table() -> None:
    table = as_table("list", [GBARRAY_MARKER, {"n": 1}, {"n": 2, "m": 3}])
    assert table.columns == ["n", "m"]
    assert len(table.rows) == 2
    with pytest.raises(TableError, match="element 5 is not a row"):
        as_table("list", [5])


def test_merge_upserts_by_key() -> None:
    table = Table("Customers", ["Id", "Name"])
    table.insert({"Id": 1, "Name": "Ana"})
    table.insert({"Id": 2, "Name": "Bruno"})
    data = [
        GBARRAY_MARKER,
        {"id": 1, "name": "ANA"},  # same but for case: skipped
        {"id": 2, "name": "Bruna", "city": "Rio"},  # changed: updated, new column learnt
        {"id": 3, "name": "Carla"},  # new: added
        {"name": "No key"},  # no key: added, as the original did
    ]
    assert merge_into(table, data, "ID") == {
        "title": "Customers", "adds": 2, "updates": 1, "skipped": 1}  # fmt: skip
    assert table.rows[1] == {"Id": 2, "Name": "Bruna", "city": "Rio"}
    assert [row["Name"] for row in table.rows] == ["Ana", "Bruna", "Carla", "No key"]
    with pytest.raises(TableError, match="element 7 is not a row"):
        merge_into(table, [7], "id")
    fresh = Table("Fresh")
    assert merge_into(fresh, {"k": 1}, "k")["adds"] == 1


def test_merge_report_text() -> None:
    report = MergeReport()
    assert report.text() == "No report yet"
    report.title, report.adds, report.updates, report.skipped = "T", 2, 1, 3
    assert report.text() == "T adds: 2, updates: 1 and skipped: 3."
    report.reset()
    assert (report.adds, report.updates, report.skipped) == (0, 0, 0)


def test_sort_rows() -> None:
    rows = [GBARRAY_MARKER, {"N": "b"}, {"N": 10}, {"N": "A"}, {"N": None}, {"N": "2"}]
    assert sort_rows(rows, " n ") == [
        GBARRAY_MARKER, {"N": "2"}, {"N": 10}, {"N": "A"}, {"N": "b"}, {"N": None}]  # fmt: skip
    dated = [{"d": "05/03/2024"}, {"d": "01/01/2024"}, {"d": "not a date"}, {"d": "2/1/2024"}]
    assert [r["d"] for r in sort_rows(dated, "d", "pt")] == [
        "01/01/2024", "2/1/2024", "05/03/2024", "not a date"]  # fmt: skip
    assert sort_rows([], "x") == []
    with pytest.raises(TableError, match="SORT … BY x: element 3 is not a row"):
        sort_rows([3], "x")


def test_append_flattens_and_drops_falsy() -> None:
    assert append_values([1, 0, "a"], None, "", [GBARRAY_MARKER, {"r": 1}], False, 2.5,
                         float("nan"), [[]]) == [1, "a", {"r": 1}, 2.5, []]  # fmt: skip


@given(st.text(max_size=30))
def test_parse_filter_never_crashes(text: str) -> None:
    try:
        flt = parse_filter(text)
    except TableError:
        return
    assert flt.column
    matches("x", flt)  # every parsed filter can be applied to a cell
