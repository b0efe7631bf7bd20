"""The conversation keywords with real behaviour: TALK, HEAR, WAIT, LOG, the per-dialog SET
options, GET CONFIG, and the date keywords FORMAT, DATEADD and DATEDIFF.

Each function takes the dialog's :class:`HostContext` and the keyword's positional arguments
in the order of its standard signature (``compiler.keywords.signatures``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..runtime.semantics import is_number, to_text
from .answers import TEXT_KINDS, check_answer, normalize_kind, unknown_kind
from .context import HostContext, HostError
from .dates import (
    add_interval,
    date_diff,
    format_date,
    format_number,
    parse_date,
    require_date,
)
from .tables import rows_of
from .yamltext import to_yaml

_ON = {"on": True, "true": True, "yes": True, "1": True,
       "off": False, "false": False, "no": False, "0": False}  # fmt: skip


def talk(ctx: HostContext, text: Any) -> None:
    """TALK / PRINT: one message to the user."""
    ctx.output(to_text(text))


async def hear(ctx: HostContext, kind: str | None = None, options: Any = None) -> Any:
    """HEAR [AS kind]: wait for the user's answer, say why and ask again until it fits.

    A menu (``HEAR x AS "a", "b"``) offers its options first; ``AS file.xlsx`` takes the
    options from column A of that table; ``AS FILE``/``QRCODE`` need an upload (the files
    service); after ``SET HEAR ON`` the answer comes from another user (the agents service).
    """
    rule = normalize_kind(kind)
    choices = rows_of(options) if isinstance(options, list | tuple) else []
    if rule == "sheet":
        table = ctx.tables.get(to_text(options))
        if not table.columns:
            raise HostError(f"HEAR AS {table.name}: the table has no columns to offer")
        first = table.columns[0]
        choices = [row[first] for row in table.rows if row.get(first) not in (None, "")]
        rule = "menu"
    elif rule == "text" and len(choices) > 1:
        rule = "menu"  # the original showed buttons whenever it had options
    if rule in ("file", "qrcode"):
        return await ctx.service("files", f"HEAR AS {rule.upper()}").call("HEAR", [rule])
    if ctx.options.get("hear on") is not None:
        agents = ctx.service("agents", "HEAR after SET HEAR ON")
        return await agents.call("HEAR", [ctx.options["hear on"], rule, choices])
    if rule not in TEXT_KINDS:
        raise HostError(unknown_kind(kind))
    if rule == "menu":
        ctx.choices(choices)
    while True:
        answer = await ctx.input()
        verdict = check_answer(rule, answer, choices, ctx.language)
        if verdict.accepted:
            return verdict.value
        ctx.output(str(verdict.retry))


def set_hear_on(ctx: HostContext, mobile: Any) -> None:
    """SET HEAR ON: the next HEARs wait on that user's answers (null turns it off)."""
    ctx.options["hear on"] = None if mobile is None else to_text(mobile)


def _switch(keyword: str, value: Any) -> bool:
    word = to_text(value).strip().lower()
    if word not in _ON:
        raise HostError(f"{keyword}: expected ON or OFF, got {to_text(value)!r}")
    return _ON[word]


def set_language(ctx: HostContext, language: str) -> None:
    """SET LANGUAGE: the dialog's content language (``pt``, ``en-US`` ...)."""
    code = language.strip()
    if not code:
        raise HostError("SET LANGUAGE: the language is empty")
    ctx.options["language"] = code


def set_translator(ctx: HostContext, on: str) -> None:
    """SET TRANSLATOR ON|OFF."""
    ctx.options["translator"] = _switch("SET TRANSLATOR", on)


def set_theme(ctx: HostContext, theme: str) -> None:
    """SET THEME: the user's theme option."""
    ctx.options["theme"] = theme


def set_whole_word(ctx: HostContext, on: str) -> None:
    """SET WHOLE WORD ON|OFF: whether FIND's ``in`` needs the whole value."""
    ctx.options["whole word"] = _switch("SET WHOLE WORD", on)


def _count(keyword: str, count: Any) -> int:
    if not is_number(count) or count != int(count) or count < 1:
        raise HostError(f"{keyword}: expected a whole number from 1, got {to_text(count)}")
    return int(count)


def set_max_lines(ctx: HostContext, count: float) -> None:
    """SET MAX LINES: how many rows FIND reads at most (default 5000)."""
    ctx.options["max lines"] = _count("SET MAX LINES", count)


def set_max_columns(ctx: HostContext, count: float) -> None:
    """SET MAX COLUMNS: how many columns FIND/MERGE read at most."""
    ctx.options["max columns"] = _count("SET MAX COLUMNS", count)


def set_output(ctx: HostContext, value: str) -> None:
    """SET OUTPUT ARRAY: FIND always returns a list; SET OUTPUT SINGLE undoes it."""
    word = value.strip().lower()
    if word not in ("array", "single"):
        raise HostError(f"SET OUTPUT: expected ARRAY or SINGLE, got {value!r}")
    ctx.options["output array"] = word == "array"


def set_filter(ctx: HostContext, value: Any) -> None:
    """SET FILTER: the row filter of sheet writes (kept as an option)."""
    ctx.options["filter"] = value


def set_page_mode(ctx: HostContext, mode: str) -> None:
    """SET PAGE MODE "auto"|"none": whether HTTP results are paged through."""
    word = mode.strip().lower()
    if word not in ("auto", "none"):
        raise HostError(f'SET PAGE MODE: expected "auto" or "none", got {mode!r}')
    ctx.options["page mode"] = word


def set_param(ctx: HostContext, name: str, value: Any) -> None:
    """SET PARAM name AS value: a per-user parameter that outlives the dialog."""
    ctx.user_params[name] = value


def get_config(ctx: HostContext, name: str) -> Any:
    """GET CONFIG: a bot parameter by name (spaces and case ignored, as the original's
    globals had them removed); null when the bot has none."""
    wanted = "".join(name.split()).lower()
    for key, value in ctx.config.items():
        if "".join(key.split()).lower() == wanted:
            return value
    return None


def continuation_token(ctx: HostContext) -> Any:
    """CONTINUATION TOKEN: the paging token the last HTTP call stored (null if none)."""
    return ctx.options.get("continuation token")


async def wait(ctx: HostContext, seconds: float) -> None:
    """WAIT seconds."""
    await ctx.sleep(float(seconds))


def log(ctx: HostContext, value: Any) -> None:
    """LOG / DEBUG: record a value (text as is, anything else as YAML, as the original)."""
    ctx.log(value if isinstance(value, str) else to_yaml(value))


def add_note(ctx: HostContext, text: Any) -> None:
    """ADD NOTE: append a row to the ``Notes.xlsx`` table, as the original did."""
    ctx.tables.get_or_create("Notes.xlsx").insert({"Note": to_text(text)})


def _number_or_date(value: Any, language: str) -> float | dt.datetime:
    if is_number(value):
        return float(value)
    date = parse_date(value, language)
    if date is not None:
        return date
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise HostError(f"FORMAT: {to_text(value)!r} is neither a date nor a number")


def format_value(ctx: HostContext, value: Any, format: str) -> str:
    """FORMAT value, pattern: a date (``dd/MM/yyyy HH:mm``) or a number (``#,##0.00``)."""
    subject = _number_or_date(value, ctx.language)
    if isinstance(subject, dt.datetime):
        return format_date(subject, format)
    return format_number(subject, format)


def dateadd(ctx: HostContext, date: Any, mode: str, units: float) -> dt.datetime:
    """DATEADD date, mode, units."""
    return add_interval(require_date(date, ctx.language, "DATEADD"), mode, units)


def datediff(ctx: HostContext, date1: Any, date2: Any, mode: str) -> float:
    """DATEDIFF date1, date2, mode: ``date1 - date2`` in whole units."""
    first = require_date(date1, ctx.language, "DATEDIFF")
    second = require_date(date2, ctx.language, "DATEDIFF")
    return float(date_diff(first, second, mode))
