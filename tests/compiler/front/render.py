"""A compact text form of syntax trees, so parser tests read like the source they parse."""

from __future__ import annotations

from gb.compiler.diagnostics import CompileError
from gb.compiler.syntax import ast, parse


def expr(e: object) -> str:
    """``<TALK>("Hi ${name}")``, ``(a + b)``, ``f(x)``, ``row.name``, ``list[1]`` …"""
    if isinstance(e, ast.Number):
        return str(int(e.value)) if e.value.is_integer() else repr(e.value)
    if isinstance(e, ast.String):
        text = "".join(p if isinstance(p, str) else "${" + expr(p) + "}" for p in e.parts)
        return '"' + text + '"'
    if isinstance(e, ast.Bool):
        return "true" if e.value else "false"
    if isinstance(e, ast.Null):
        return "null"
    if isinstance(e, ast.Name):
        return e.ident
    if isinstance(e, ast.Member):
        return f"{expr(e.obj)}.{e.field}"
    if isinstance(e, ast.Index):
        return f"{expr(e.obj)}[{expr(e.index)}]"
    if isinstance(e, ast.Call):
        return f"{e.name}({', '.join(expr(a) for a in e.args)})"
    if isinstance(e, ast.KeywordCall):
        return f"<{e.keyword}>({', '.join(expr(a) for a in e.args)})"
    if isinstance(e, ast.Unary):
        return f"({e.op} {expr(e.operand)})"
    if isinstance(e, ast.Binary):
        return f"({expr(e.left)} {e.op} {expr(e.right)})"
    if isinstance(e, ast.ListLit):
        return "[" + ", ".join(expr(i) for i in e.items) + "]"
    if isinstance(e, ast.MapLit):
        return "{" + ", ".join(f"{k}: {expr(v)}" for k, v in e.items) + "}"
    raise TypeError(e)


def stmts(body: list[ast.Stmt]) -> list[object]:
    return [stmt(s) for s in body]


def case_value(v: object) -> str:
    if isinstance(v, tuple) and isinstance(v[0], str):
        return f"IS {v[0]} {expr(v[1])}"
    if isinstance(v, tuple):
        return f"{expr(v[0])} TO {expr(v[1])}"
    return expr(v)


def stmt(s: ast.Stmt) -> object:
    """One statement as a string, or (header, bodies…) for blocks."""
    if isinstance(s, ast.Assign):
        return f"{expr(s.target)} = {expr(s.value)}"
    if isinstance(s, ast.KeywordStmt):
        head = f"{expr(s.target)} = " if s.target is not None else ""
        return head + expr(s.call)
    if isinstance(s, ast.ExprStmt):
        return f"call {expr(s.expr)}"
    if isinstance(s, ast.If):
        out: list[object] = ["IF"]
        for cond, body in s.branches:
            out += [expr(cond), stmts(body)]
        if s.orelse:
            out += ["ELSE", stmts(s.orelse)]
        return tuple(out)
    if isinstance(s, ast.For):
        step = f" STEP {expr(s.step)}" if s.step is not None else ""
        return (f"FOR {s.var} = {expr(s.start)} TO {expr(s.stop)}{step}", stmts(s.body))
    if isinstance(s, ast.ForEach):
        return (f"FOR EACH {s.var} IN {expr(s.iterable)}", stmts(s.body))
    if isinstance(s, ast.DoLoop):
        cond = "" if s.cond is None else (" UNTIL " if s.until else " WHILE ") + expr(s.cond)
        head = "DO" + cond if s.test_first else "DO LOOP" + cond
        return (head, stmts(s.body))
    if isinstance(s, ast.Select):
        out = [f"SELECT {expr(s.subject)}"]
        for case in s.cases:
            out += ["CASE " + ", ".join(case_value(v) for v in case.values), stmts(case.body)]
        if s.orelse:
            out += ["CASE ELSE", stmts(s.orelse)]
        return tuple(out)
    if isinstance(s, ast.FunctionDef):
        kind = "SUB" if s.is_sub else "FUNCTION"
        return (f"{kind} {s.name}({', '.join(s.params)})", stmts(s.body))
    if isinstance(s, ast.Return):
        return "RETURN" + ("" if s.value is None else " " + expr(s.value))
    if isinstance(s, ast.Exit):
        return f"EXIT {s.what}"
    if isinstance(s, ast.TableDef):
        return f"TABLE {s.name}"
    raise TypeError(s)


def body(text: str, **kw: object) -> list[object]:
    """The rendered statements of a program."""
    return stmts(parse(text, "t.bas", **kw).body)  # type: ignore[arg-type]


def one(text: str) -> object:
    """The rendered single statement of a one-statement program."""
    (s,) = body(text)
    return s


def errors(text: str, **kw: object) -> list[str]:
    """``line:col: message`` of every diagnostic of a program that must not parse."""
    try:
        parse(text, "t.bas", **kw)  # type: ignore[arg-type]
    except CompileError as exc:
        return [f"{d.line}:{d.col}: {d.message}" for d in exc.diagnostics]
    raise AssertionError("the program parsed")
