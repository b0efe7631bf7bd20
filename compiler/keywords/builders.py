"""From a matched form's captures to the statements it stands for.

``arguments`` applies a form's ``args`` (see ``forms``); the builders handle the few forms
that mean more than one registry call with the captures in order.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..syntax import ast
from .forms import Form, slots

if TYPE_CHECKING:
    from ..syntax.parser import Parser

Builder = Callable[
    ["Parser", Form, dict[str, Any], "ast.LValue | None", ast.Pos], "list[ast.Stmt] | None"
]

_FROM = re.compile(r"\bFROM\s+([^\W\d][\w$]*)", re.IGNORECASE)


def arguments(form: Form, captures: dict[str, Any], pos: ast.Pos) -> list[ast.Expr]:
    """The positional arguments of a form's registry call."""
    spec = form.args
    if spec is None:
        spec = tuple(s.name for s in slots(form.elements) if s.kind != "target")
    out: list[ast.Expr] = []
    missing_tail = 0
    for arg in spec:
        if arg.startswith("'"):
            out.append(ast.String(pos, [arg.strip("'")]))
            missing_tail = 0
        elif arg.startswith("["):
            out.append(ast.ListLit(pos, list(captures.get(arg.strip("[]"), []))))
            missing_tail = 0
        elif arg not in captures:
            out.append(ast.Null(pos))
            missing_tail += 1
        elif isinstance(captures[arg], list):
            out.extend(captures[arg])
            missing_tail = 0
        else:
            out.append(captures[arg])
            missing_tail = 0
    return out[: len(out) - missing_tail]


def _stmt(
    pos: ast.Pos, keyword: str, args: list[ast.Expr], target: ast.LValue | None = None
) -> ast.KeywordStmt:
    return ast.KeywordStmt(pos, ast.KeywordCall(pos, keyword, args), target)


def build_input(
    parser: Parser,
    form: Form,
    captures: dict[str, Any],
    target: ast.LValue | None,
    pos: ast.Pos,
) -> list[ast.Stmt] | None:
    """``INPUT "prompt", x``: TALK the prompt, then HEAR into ``x``."""
    return [_stmt(pos, "TALK", [captures["prompt"]]), _stmt(pos, "HEAR", [], captures["var"])]


def build_find_or_talk(
    parser: Parser,
    form: Form,
    captures: dict[str, Any],
    target: ast.LValue | None,
    pos: ast.Pos,
) -> list[ast.Stmt] | None:
    """``x = FIND … OR TALK msg``: FIND into x; if nothing was found, TALK msg and end the
    dialog with -1 (what the original's rule meant to emit)."""
    if target is None:
        raise parser.error(
            "FIND … OR TALK needs a variable for the result: x = FIND … OR TALK …",
            "x =",
            parser.token_at(pos),
        )
    found = copy.deepcopy(target)
    return [
        _stmt(pos, "FIND", captures["criteria"], target),
        ast.If(
            pos,
            [(ast.Unary(pos, "not", found), [
                _stmt(pos, "TALK", [captures["message"]]),
                ast.Return(pos, ast.Number(pos, -1.0)),
            ])],
        ),
    ]  # fmt: skip


def build_select(
    parser: Parser,
    form: Form,
    captures: dict[str, Any],
    target: ast.LValue | None,
    pos: ast.Pos,
) -> list[ast.Stmt] | None:
    """``x = SELECT … FROM rows …``: the SQL runs over the list in variable ``rows``, which the
    query names ``?`` (as the original passed it to alasql)."""
    raw = captures["sql"]
    match = _FROM.search(raw.text)
    if match is None:
        raise parser.error("SELECT needs FROM and the variable holding the rows", "FROM", raw)
    table = match.group(1)
    table_pos = ast.Pos(raw.line, raw.col + match.start(1), pos.file)
    sql = "SELECT " + raw.text[: match.start(1)] + "?" + raw.text[match.end(1) :]
    args: list[ast.Expr] = [ast.Name(table_pos, table.lower()), ast.String(pos, [sql])]
    return [_stmt(pos, "SELECT", args, target)]


def build_save(
    parser: Parser,
    form: Form,
    captures: dict[str, Any],
    target: ast.LValue | None,
    pos: ast.Pos,
) -> list[ast.Stmt] | None:
    """``SAVE file, a, row.b``: the values, and the field names the original derived from
    the argument expressions (the last member name, or the variable's name as written)."""
    values: list[ast.Expr] = captures.get("values", [])
    names: list[ast.Expr] = []
    for value in values:
        if isinstance(value, ast.Member):
            names.append(ast.String(value.pos, [value.field]))
        elif isinstance(value, ast.Name):
            names.append(ast.String(value.pos, [parser.source_text(value.pos, len(value.ident))]))
        else:
            names.append(ast.Null(value.pos))
    args = [captures["file"], ast.ListLit(pos, values), ast.ListLit(pos, names)]
    return [_stmt(pos, "SAVE", args, target)]


def build_assign(
    parser: Parser,
    form: Form,
    captures: dict[str, Any],
    target: ast.LValue | None,
    pos: ast.Pos,
) -> list[ast.Stmt] | None:
    """VB's ``SET x = value`` is a plain assignment."""
    var = captures["var"]
    return [ast.Assign(var.pos, var, captures["value"])]


def build_open_file(
    parser: Parser,
    form: Form,
    captures: dict[str, Any],
    target: ast.LValue | None,
    pos: ast.Pos,
) -> list[ast.Stmt] | None:
    """``OPEN "data.txt" FOR OUTPUT AS #1`` opens a file number; ``AS #name`` is a browser
    session (the next form)."""
    if not isinstance(captures["number"], ast.Number):
        return None
    return [_stmt(pos, "OPEN FILE", arguments(form, captures, pos), target)]


BUILDERS: dict[str, Builder] = {
    "input": build_input,
    "find_or_talk": build_find_or_talk,
    "select": build_select,
    "save": build_save,
    "assign": build_assign,
    "open_file": build_open_file,
}
