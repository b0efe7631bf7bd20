"""The data keywords with real behaviour over the dialog's in-memory tables and store: FIND,
SAVE, DELETE, MERGE, RESET REPORT, SET/GET, SET HEADER, SET HTTP USERNAME/PASSWORD, SORT,
APPEND, OPEN … AS #n, PRINT #n, CLOSE.

What the original did against a drive, a web page or the network (GET of a URL, DELETE of a
file, SET on a page selector) goes to the matching service, so a host without it fails
clearly instead of pretending.
"""

from __future__ import annotations

from typing import Any

from ..runtime.semantics import is_number, to_text
from .context import HostContext, HostError
from .tables import (
    Table,
    append_values,
    as_table,
    merge_into,
    parse_filter,
    result_of,
    rows_of,
    sort_rows,
)

#: FIND's default read limit (the original's ``maxLines``).
DEFAULT_MAX_LINES = 5000


def is_selector(value: Any) -> bool:
    """A CSS selector, which in the original meant "on the open web page"."""
    return isinstance(value, str) and value[:1] in (".", "#", "[")


def _table(ctx: HostContext, source: Any) -> Table:
    if isinstance(source, list | tuple | dict):
        return as_table("the list", source)
    return ctx.tables.get(to_text(source))


async def find(ctx: HostContext, source: Any, *criteria: Any) -> Any:
    """FIND source, "col op value", …: the matching rows of a table (or of a list of rows);
    one row itself unless SET OUTPUT ARRAY, null when none match. A selector source scrapes
    a table of the open page (the web service)."""
    if is_selector(source):
        return await ctx.service("web", "FIND on a page").call("FIND", [source, *criteria])
    table = _table(ctx, source)
    filters = [parse_filter(to_text(text), language=ctx.language) for text in criteria]
    rows = table.select(
        filters,
        whole_word=ctx.options.get("whole word", True),
        max_lines=ctx.options.get("max lines", DEFAULT_MAX_LINES),
        language=ctx.language,
    )
    return result_of(rows, output_array=ctx.options.get("output array", False))


def save(ctx: HostContext, file: Any, values: list[Any], names: list[Any]) -> Any:
    """SAVE file, a, b, c: append a row. Fields are named after the argument expressions
    (``SAVE "Orders", item.id, name`` fills ``id`` and ``name``) when the table has those
    columns or is new; otherwise values fill the columns in order, as a sheet row.
    ``SAVE table, rows`` with one list (or map) argument inserts those rows."""
    table = ctx.tables.get_or_create(to_text(file))
    if len(values) == 1 and isinstance(values[0], list | tuple | dict):
        return [table.insert(_row(table.name, row)) for row in rows_of(values[0])]
    given = [to_text(name) if name else "" for name in names]
    named = len(given) == len(values) and all(given)
    if named and (not table.columns or all(table.column(n) for n in given)):
        return table.insert_values(values, given)
    columns = table.columns[: len(values)]
    columns += [_column_letter(i) for i in range(len(columns), len(values))]
    return table.insert_values(values, columns)


def _row(table: str, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise HostError(f"SAVE {table}: element {to_text(row)!r} is not a row (a map)")
    return row


def _column_letter(index: int) -> str:
    """Spreadsheet column names: A … Z, AA, AB …"""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


async def delete(ctx: HostContext, target: Any, criteria: Any = None) -> None:
    """DELETE table, "col op value": remove the matching rows; DELETE file: the drive's."""
    if criteria is None:
        await ctx.service("drive", "DELETE of a file").call("DELETE", [target])
        return
    table = ctx.tables.get(to_text(target))
    condition = parse_filter(to_text(criteria), language=ctx.language)
    doomed = {index for index, _ in table.select([condition], language=ctx.language)}
    table.rows[:] = [row for index, row in enumerate(table.rows) if index not in doomed]


def merge(ctx: HostContext, file: Any, data: Any, key: Any) -> dict[str, Any]:
    """MERGE table WITH rows BY key: upsert; the counters add up in REPORT."""
    result = merge_into(ctx.tables.get_or_create(to_text(file)), data, to_text(key))
    report = ctx.report
    report.title = result["title"]
    report.adds += result["adds"]
    report.updates += result["updates"]
    report.skipped += result["skipped"]
    ctx.globals["report"] = report.text()
    return result


def reset_report(ctx: HostContext) -> None:
    """RESET REPORT: zero MERGE's counters."""
    ctx.report.reset()
    ctx.globals["report"] = ctx.report.text()


async def set_value(ctx: HostContext, target: Any, address: Any, value: Any = None) -> None:
    """SET key, value / SET file, cell, value: write the dialog's store (a cell is kept
    under ``"file!cell"``, as a spreadsheet names it); SET "#field", text types on the open
    page (the web service)."""
    if is_selector(target):
        await ctx.service("web", "SET on a page").call("SET", [target, address])
        return
    if value is None:
        ctx.store[to_text(target)] = address
    else:
        ctx.store[f"{to_text(target)}!{to_text(address)}"] = value


async def get_value(ctx: HostContext, address: Any) -> Any:
    """GET key (or ``"file!cell"``): the store's value, null if unset. GET of a URL is HTTP
    (the http service), of a ``.pdf`` its text (the drive service), of a selector a page
    element (the web service)."""
    text = to_text(address)
    if text.lower().startswith(("http://", "https://")):
        http = ctx.service("http", "GET of a URL")
        return await http.call("GET", [text, dict(ctx.options.get("headers", {}))])
    if text.lower().endswith(".pdf"):
        return await ctx.service("drive", "GET of a PDF").call("GET", [text])
    if is_selector(text):
        return await ctx.service("web", "GET on a page").call("GET", [text])
    return ctx.store.get(text)


def set_header(ctx: HostContext, name: str, value: Any) -> None:
    """SET HEADER name AS value: sent with the next HTTP calls."""
    ctx.options.setdefault("headers", {})[name] = value


def set_http_username(ctx: HostContext, value: Any) -> None:
    """SET HTTP USERNAME = value: basic-auth user of the HTTP calls."""
    ctx.options["http username"] = value


def set_http_password(ctx: HostContext, value: Any) -> None:
    """SET HTTP PASSWORD = value: basic-auth password of the HTTP calls."""
    ctx.options["http password"] = value


def sort(ctx: HostContext, items: Any, member: str) -> list[Any]:
    """SORT rows BY member."""
    return sort_rows(items, member, ctx.language)


def append(ctx: HostContext, *items: Any) -> list[Any]:
    """APPEND a, b, …: one list of every item, without the empty ones."""
    return append_values(*items)


def _file_number(keyword: str, number: Any) -> int:
    if not is_number(number) or number != int(number) or number < 1:
        raise HostError(f"{keyword}: #{to_text(number)} is not a file number (1, 2, …)")
    return int(number)


def open_file(ctx: HostContext, file: Any, number: float, mode: str | None = None) -> None:
    """OPEN "data.txt" [FOR OUTPUT|APPEND|INPUT] AS #n: rows PRINTed to #n go to the table
    ``data.xlsx`` (the original's mapping of file numbers to sheets)."""
    if mode is not None and mode.lower() not in ("output", "append", "input"):
        raise HostError(f"OPEN: FOR {mode.upper()} is not a mode (OUTPUT, APPEND or INPUT)")
    name = to_text(file)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    table = f"{stem}.xlsx"
    ctx.tables.get_or_create(table)
    ctx.files[_file_number("OPEN", number)] = table


def print_file(ctx: HostContext, file: Any, values: list[Any]) -> None:
    """PRINT #n, a, b: a row in the table OPENed as #n."""
    number = _file_number("PRINT", file)
    if number not in ctx.files:
        raise HostError(f"PRINT #{number}: no file is open as #{number}")
    save(ctx, ctx.files[number], values, [])


def close(ctx: HostContext, file: Any = None) -> None:
    """CLOSE [#n]: forget file number n (or all)."""
    if file is None:
        ctx.files.clear()
    else:
        ctx.files.pop(_file_number("CLOSE", file), None)
