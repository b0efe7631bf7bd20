"""The standard keywords called as Python functions through the registry, with a scripted
conversation (the conformance suite runs them from BASIC)."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Sequence
from typing import Any

import pytest

from gb.compiler.keywords.signatures import SIGNATURES, standard_registry
from gb.compiler.stdlib import (
    IMPLEMENTATIONS,
    SERVICE_OF,
    Event,
    HostError,
    ScriptedContext,
    ServiceUnavailableError,
    TableStore,
    stdlib_registry,
)
from gb.compiler.stdlib import registry as registry_module
from gb.compiler.stdlib.dates import DateError
from gb.compiler.stdlib.tables import GBARRAY_MARKER, TableError

REGISTRY = stdlib_registry()


class Recorder:
    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.answer = answer

    async def call(self, keyword: str, args: Sequence[Any]) -> Any:
        self.calls.append((keyword, list(args)))
        return self.answer


async def run(ctx: ScriptedContext, keyword: str, *args: Any) -> Any:
    """Call a keyword as the runtime does: positional arguments after the context."""
    spec = REGISTRY.get(keyword)
    assert spec.fn is not None
    assert spec.argument_error(args) is None, spec.argument_error(args)
    result = spec.fn(ctx, *args)
    return await result if inspect.isawaitable(result) else result


def test_every_catalog_keyword_is_implemented_or_delegated() -> None:
    assert set(REGISTRY.names()) == set(SIGNATURES)
    assert not set(IMPLEMENTATIONS) & set(SERVICE_OF)
    assert set(IMPLEMENTATIONS) | set(SERVICE_OF) == set(SIGNATURES)
    declared = standard_registry()
    for spec in REGISTRY:
        assert spec.fn is not None
        assert REGISTRY.index_of(spec.name) == declared.index_of(spec.name)
        assert spec.params == declared.get(spec.name).params
        assert spec.is_async == inspect.iscoroutinefunction(spec.fn)
    assert REGISTRY.get("HEAR").suspends


def test_implementations_take_the_standard_arity() -> None:
    for name, fn in IMPLEMENTATIONS.items():
        spec = REGISTRY.get(name)
        params = list(inspect.signature(fn).parameters.values())[1:]
        variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
        required = sum(1 for p in params if p.default is inspect.Parameter.empty
                       and p.kind is not inspect.Parameter.VAR_POSITIONAL)  # fmt: skip
        assert required == spec.min_args, name
        assert (None if variadic else len(params)) == spec.max_args, name


def test_a_keyword_without_implementation_or_service_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(registry_module.IMPLEMENTATIONS, "TALK")
    with pytest.raises(LookupError, match="keyword TALK has no implementation and no service"):
        stdlib_registry()


async def test_talk_converts_values_to_text() -> None:
    ctx = ScriptedContext()
    await run(ctx, "TALK", "Hi")
    await run(ctx, "TALK", 3.0)
    await run(ctx, "TALK", None)
    await run(ctx, "TALK", [1.0, "a"])
    assert ctx.transcript() == ["Hi", "3", "", "1,a"]


async def test_hear_reasks_until_the_answer_fits() -> None:
    ctx = ScriptedContext(inputs=["nope", "ana@example.com"])
    assert await run(ctx, "HEAR", "email") == "ana@example.com"
    assert ctx.events == [
        Event("hear", "nope"),
        Event("talk", "Please, type a valid e-mail."),
        Event("hear", "ana@example.com"),
    ]


async def test_hear_in_portuguese() -> None:
    ctx = ScriptedContext(inputs=["x", "5"], options={"language": "pt"})
    assert await run(ctx, "HEAR", "integer") == 5.0
    assert ctx.transcript() == ["Por favor, digite um número válido."]


async def test_hear_plain_and_menus() -> None:
    ctx = ScriptedContext(inputs=["free text", "rio", "x", "No"])
    assert await run(ctx, "HEAR") == "free text"
    assert await run(ctx, "HEAR", "menu", ["São Paulo", "Rio de Janeiro"]) == "Rio de Janeiro"
    assert await run(ctx, "HEAR", None, ["Yes", "No"]) == "No"  # options alone make a menu
    assert [e for e in ctx.events if e.kind in ("menu", "talk")] == [
        Event("menu", ["São Paulo", "Rio de Janeiro"]),
        Event("menu", ["Yes", "No"]),
        Event("talk", "Please, choose one of the options (Yes, No)."),
    ]


async def test_hear_as_sheet_offers_column_a() -> None:
    tables = TableStore({"products.xlsx": [{"Item": "Fax"}, {"Item": ""}, {"Item": "Printer"}]})
    ctx = ScriptedContext(inputs=["print"], tables=tables)
    assert await run(ctx, "HEAR", "sheet", "products.xlsx") == "Printer"
    assert ctx.events[0] == Event("menu", ["Fax", "Printer"])
    ctx.tables.create("empty.xlsx")
    with pytest.raises(HostError, match="the table has no columns"):
        await run(ctx, "HEAR", "sheet", "empty.xlsx")


async def test_hear_kinds_that_need_services() -> None:
    ctx = ScriptedContext(inputs=["x"])
    with pytest.raises(ServiceUnavailableError, match="HEAR AS FILE needs the files service"):
        await run(ctx, "HEAR", "file")
    files = Recorder(answer=17.0)
    ctx = ScriptedContext(services={"files": files})
    assert await run(ctx, "HEAR", "qrcode") == 17.0
    assert files.calls == [("HEAR", ["qrcode"])]
    unanswered = ScriptedContext(inputs=["x"])
    with pytest.raises(HostError, match="HEAR AS COLOR: not a kind of answer"):
        await run(unanswered, "HEAR", "color")
    assert unanswered.inputs == ["x"]  # refused before waiting for the user


async def test_set_hear_on_routes_hear_to_the_agent() -> None:
    agents = Recorder(answer="from the agent")
    ctx = ScriptedContext(services={"agents": agents})
    await run(ctx, "SET HEAR ON", 5521999.0)
    assert await run(ctx, "HEAR", "text") == "from the agent"
    assert agents.calls == [("HEAR", ["5521999", "text", []])]
    await run(ctx, "SET HEAR ON", None)
    assert ctx.options["hear on"] is None
    with pytest.raises(ServiceUnavailableError, match="HEAR after SET HEAR ON needs the agents"):
        await run(ScriptedContext(options={"hear on": "1"}), "HEAR")


async def test_options() -> None:
    ctx = ScriptedContext()
    await run(ctx, "SET LANGUAGE", " pt ")
    await run(ctx, "SET TRANSLATOR", "off")
    await run(ctx, "SET THEME", "dark")
    await run(ctx, "SET WHOLE WORD", "ON")
    await run(ctx, "SET MAX LINES", 100.0)
    await run(ctx, "SET MAX COLUMNS", 10)
    await run(ctx, "SET OUTPUT", "ARRAY")
    await run(ctx, "SET FILTER", "age > 18")
    await run(ctx, "SET PAGE MODE", "Auto")
    await run(ctx, "SET PARAM", "color", "blue")
    await run(ctx, "SET HEADER", "X-Id", 7.0)
    await run(ctx, "SET HTTP USERNAME", "u")
    await run(ctx, "SET HTTP PASSWORD", "p")
    assert ctx.options == {
        "language": "pt", "translator": False, "theme": "dark", "whole word": True,
        "max lines": 100, "max columns": 10, "output array": True, "filter": "age > 18",
        "page mode": "auto", "headers": {"X-Id": 7.0}, "http username": "u",
        "http password": "p",
    }  # fmt: skip
    assert ctx.user_params == {"color": "blue"}
    await run(ctx, "SET OUTPUT", "single")
    assert ctx.options["output array"] is False


@pytest.mark.parametrize(
    ("keyword", "args", "message"),
    [
        ("SET LANGUAGE", (" ",), "SET LANGUAGE: the language is empty"),
        ("SET TRANSLATOR", ("maybe",), "SET TRANSLATOR: expected ON or OFF, got 'maybe'"),
        ("SET WHOLE WORD", ("2",), "SET WHOLE WORD: expected ON or OFF"),
        ("SET MAX LINES", (0.0,), "SET MAX LINES: expected a whole number from 1, got 0"),
        ("SET MAX COLUMNS", (1.5,), "SET MAX COLUMNS: expected a whole number from 1"),
        ("SET OUTPUT", ("LIST",), "SET OUTPUT: expected ARRAY or SINGLE, got 'LIST'"),
        ("SET PAGE MODE", ("all",), 'SET PAGE MODE: expected "auto" or "none"'),
    ],
)
async def test_bad_options_are_clear_errors(keyword: str, args: tuple[Any], message: str) -> None:
    with pytest.raises(HostError, match=message):
        await run(ScriptedContext(), keyword, *args)


async def test_config_token_wait_log_note() -> None:
    ctx = ScriptedContext(config={"Bot Admin Number": "5521"})
    assert await run(ctx, "GET CONFIG", "botadminnumber") == "5521"
    assert await run(ctx, "GET CONFIG", "Missing") is None
    assert await run(ctx, "CONTINUATION TOKEN") is None
    ctx.options["continuation token"] = "abc"
    assert await run(ctx, "CONTINUATION TOKEN") == "abc"
    await run(ctx, "WAIT", 1)
    await run(ctx, "LOG", "text")
    await run(ctx, "LOG", {"a": [1.0, None]})
    await run(ctx, "ADD NOTE", 42.0)
    assert ctx.events == [
        Event("wait", 1.0), Event("log", "text"), Event("log", "a:\n  - 1\n  - null")]  # fmt: skip
    assert ctx.tables.get("notes.xlsx").rows == [{"Note": "42"}]


async def test_format_dateadd_datediff() -> None:
    ctx = ScriptedContext(options={"language": "pt"})
    assert await run(ctx, "FORMAT", "05/03/2024", "yyyy-MM-dd") == "2024-03-05"
    assert await run(ctx, "FORMAT", dt.date(2024, 3, 5), "dd/MM") == "05/03"
    assert await run(ctx, "FORMAT", 1234.5, "#,##0.00") == "1,234.50"
    assert await run(ctx, "FORMAT", " 12.5 ", "0.0") == "12.5"
    with pytest.raises(HostError, match="FORMAT: 'soon' is neither a date nor a number"):
        await run(ctx, "FORMAT", "soon", "0")
    with pytest.raises(HostError, match="FORMAT: 'true' is neither"):
        await run(ctx, "FORMAT", True, "0")
    assert await run(ctx, "DATEADD", "30/01/2024", "month", 1) == dt.datetime(2024, 2, 29)
    assert await run(ctx, "DATEDIFF", "10/03/2024", dt.date(2024, 3, 1), "day") == 9.0
    with pytest.raises(DateError, match="DATEDIFF: 'x' is not a date"):
        await run(ctx, "DATEDIFF", "x", "1/1/2024", "day")


def customers() -> TableStore:
    return TableStore({"Customers": [
        {"Id": 1, "Name": "Ana", "City": "Rio"},
        {"Id": 2, "Name": "Bruno", "City": "São Paulo"},
        {"Id": 3, "Name": "Carla", "City": "Rio"},
    ]})  # fmt: skip


async def test_find_returns_rows_the_original_way() -> None:
    ctx = ScriptedContext(tables=customers())
    many = await run(ctx, "FIND", "customers", "city = rio")
    assert many[0] == GBARRAY_MARKER
    assert [row["Name"] for row in many[1:]] == ["Ana", "Carla"]
    assert many[2]["ordinal"] == 2 and many[2]["line"] == 4
    one = await run(ctx, "FIND", "Customers", "city=Rio", "id > 2")
    assert one == {"Id": 3, "Name": "Carla", "City": "Rio", "ordinal": 1, "line": 4}
    assert await run(ctx, "FIND", "Customers", "name = Zé") is None
    assert len(await run(ctx, "FIND", "Customers")) == 4
    await run(ctx, "SET OUTPUT", "array")
    assert (await run(ctx, "FIND", "Customers", "id = 2"))[1]["Name"] == "Bruno"
    await run(ctx, "SET MAX LINES", 1)
    assert (await run(ctx, "FIND", "Customers"))[1:] == [
        {"Id": 1, "Name": "Ana", "City": "Rio", "ordinal": 1, "line": 2}]  # fmt: skip


async def test_find_over_a_list_whole_word_and_errors() -> None:
    ctx = ScriptedContext(tables=customers())
    rows = [{"tag": "red apple"}, {"tag": "apple"}]
    assert await run(ctx, "FIND", rows, "apple in tag") == {
        "tag": "apple", "ordinal": 1, "line": 3}  # fmt: skip
    await run(ctx, "SET WHOLE WORD", "off")
    assert len(await run(ctx, "FIND", rows, "apple in tag")) == 3
    with pytest.raises(TableError, match="no table 'Orders'"):
        await run(ctx, "FIND", "Orders")
    with pytest.raises(TableError, match="has no operator"):
        await run(ctx, "FIND", "Customers", "Rio")
    web = Recorder(answer=[])
    ctx = ScriptedContext(services={"web": web})
    assert await run(ctx, "FIND", "#table", "a=1") == []
    assert web.calls == [("FIND", ["#table", "a=1"])]
    with pytest.raises(ServiceUnavailableError, match="FIND on a page needs the web service"):
        await run(ScriptedContext(), "FIND", ".grid")


async def test_save_names_fields_after_the_arguments() -> None:
    ctx = ScriptedContext()
    await run(ctx, "SAVE", "Orders", ["Ana", 2.0], ["name", "qty"])
    await run(ctx, "SAVE", "orders", [3.0, "Bruno"], ["QTY", "NAME"])
    assert ctx.tables.get("Orders").rows == [
        {"name": "Ana", "qty": 2.0}, {"name": "Bruno", "qty": 3.0}]  # fmt: skip
    # Names the table does not have: a sheet row, filling the columns in order.
    await run(ctx, "SAVE", "orders", ["Carla", 1.0, "late"], [None, "", "note"])
    assert ctx.tables.get("Orders").rows[-1] == {"name": "Carla", "qty": 1.0, "C": "late"}
    assert ctx.tables.get("Orders").columns == ["name", "qty", "C"]


async def test_save_rows_and_sheets() -> None:
    ctx = ScriptedContext()
    saved = await run(ctx, "SAVE", "Log.xlsx", [[GBARRAY_MARKER, {"a": 1}, {"b": 2}]], [None])
    assert saved == [{"a": 1}, {"a": None, "b": 2}]
    await run(ctx, "SAVE", "Sheet.xlsx", ["x", "y"], [])
    assert ctx.tables.get("Sheet.xlsx").rows == [{"A": "x", "B": "y"}]
    assert await run(ctx, "SAVE", "One", [{"k": 1}], ["row"]) == [{"k": 1}]
    with pytest.raises(HostError, match="SAVE Bad: element '3' is not a row"):
        await run(ctx, "SAVE", "Bad", [[3.0]], ["x"])


async def test_delete_rows_and_files() -> None:
    ctx = ScriptedContext(tables=customers())
    await run(ctx, "DELETE", "Customers", "city = rio")
    assert [row["Name"] for row in ctx.tables.get("Customers").rows] == ["Bruno"]
    with pytest.raises(ServiceUnavailableError, match="DELETE of a file needs the drive"):
        await run(ctx, "DELETE", "old.pdf")
    drive = Recorder()
    await run(ScriptedContext(services={"drive": drive}), "DELETE", {"name": "a.pdf"})
    assert drive.calls == [("DELETE", [{"name": "a.pdf"}])]


async def test_merge_and_report() -> None:
    ctx = ScriptedContext(tables=customers())
    data = [{"id": 1, "name": "Ana"}, {"id": 2, "name": "Bruna"}, {"id": 9, "name": "Zé"}]
    assert await run(ctx, "MERGE", "Customers", data, "Id") == {
        "title": "Customers", "adds": 1, "updates": 1, "skipped": 1}  # fmt: skip
    await run(ctx, "MERGE", "Customers", [{"id": 10}], "id")
    assert ctx.globals["report"] == "Customers adds: 2, updates: 1 and skipped: 1."
    await run(ctx, "RESET REPORT")
    assert ctx.globals["report"] == "Customers adds: 0, updates: 0 and skipped: 0."


async def test_set_and_get_the_store() -> None:
    ctx = ScriptedContext()
    await run(ctx, "SET", "color", "blue")
    await run(ctx, "SET", "data.xlsx", "A2", 10.0)
    assert await run(ctx, "GET", "color") == "blue"
    assert await run(ctx, "GET", "data.xlsx!A2") == 10.0
    assert await run(ctx, "GET", "nothing") is None
    assert ctx.store == {"color": "blue", "data.xlsx!A2": 10.0}


async def test_set_and_get_that_need_services() -> None:
    http, drive, web = Recorder({"ok": True}), Recorder("pdf text"), Recorder("element")
    ctx = ScriptedContext(services={"http": http, "drive": drive, "web": web})
    await run(ctx, "SET HEADER", "Authorization", "Bearer x")
    assert await run(ctx, "GET", "https://example.com/api") == {"ok": True}
    assert await run(ctx, "GET", "case-1.PDF") == "pdf text"
    assert await run(ctx, "GET", "#price") == "element"
    await run(ctx, "SET", "#name", "Ana")
    assert http.calls == [("GET", ["https://example.com/api", {"Authorization": "Bearer x"}])]
    assert drive.calls == [("GET", ["case-1.PDF"])]
    assert web.calls == [("GET", ["#price"]), ("SET", ["#name", "Ana"])]
    with pytest.raises(ServiceUnavailableError, match="GET of a URL needs the http service"):
        await run(ScriptedContext(), "GET", "http://x")
    with pytest.raises(ServiceUnavailableError, match="SET on a page needs the web service"):
        await run(ScriptedContext(), "SET", "[name=q]", "x")


async def test_sort_and_append() -> None:
    ctx = ScriptedContext()
    rows = [{"n": "b"}, {"n": "a"}]
    assert await run(ctx, "SORT", rows, "n") == [{"n": "a"}, {"n": "b"}]
    assert await run(ctx, "APPEND", [1.0, 0.0], None, "x") == [1.0, "x"]
    assert await run(ctx, "APPEND") == []


async def test_file_numbers() -> None:
    ctx = ScriptedContext()
    await run(ctx, "OPEN FILE", "data.txt", 1.0, "output")
    await run(ctx, "PRINT FILE", 1.0, ["Ana", 30.0])
    await run(ctx, "PRINT FILE", 1.0, ["Bruno"])
    await run(ctx, "OPEN FILE", "log", 2.0)
    assert ctx.files == {1: "data.xlsx", 2: "log.xlsx"}
    assert ctx.tables.get("data.xlsx").rows == [
        {"A": "Ana", "B": 30.0}, {"A": "Bruno", "B": None}]  # fmt: skip
    await run(ctx, "CLOSE", 1.0)
    assert ctx.files == {2: "log.xlsx"}
    with pytest.raises(HostError, match=r"PRINT #1: no file is open as #1"):
        await run(ctx, "PRINT FILE", 1.0, ["x"])
    await run(ctx, "CLOSE")
    assert ctx.files == {}
    with pytest.raises(HostError, match="OPEN: FOR RANDOM is not a mode"):
        await run(ctx, "OPEN FILE", "a.txt", 1.0, "random")
    with pytest.raises(HostError, match=r"OPEN: #0 is not a file number"):
        await run(ctx, "OPEN FILE", "a.txt", 0.0)
    with pytest.raises(HostError, match=r"CLOSE: #1.5 is not a file number"):
        await run(ctx, "CLOSE", 1.5)


@pytest.mark.parametrize("keyword", sorted(SERVICE_OF))
async def test_delegated_keywords_call_their_service(keyword: str) -> None:
    spec = REGISTRY.get(keyword)
    samples = {"number": 1.0, "boolean": True, "list": ["x"]}
    args = tuple(
        samples.get(p.kind.value, f"arg{i}")
        for i, p in enumerate(spec.params)
        if not p.optional and not p.variadic
    )
    service = SERVICE_OF[keyword]
    with pytest.raises(ServiceUnavailableError) as info:
        await run(ScriptedContext(), keyword, *args)
    assert str(info.value) == f"{keyword} needs the {service} service, not available in this host"
    recorder = Recorder(answer="done")
    assert await run(ScriptedContext(services={service: recorder}), keyword, *args) == "done"
    assert recorder.calls == [(keyword, list(args))]
    assert spec.fn is not None and keyword in (spec.fn.__doc__ or "")
