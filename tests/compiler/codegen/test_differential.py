"""Differential test: random expression trees, evaluated by the compiled program (inline wasm
paths, native loops, host imports) and by a small tree-walking evaluator over
compiler.runtime.semantics — the same value or the same error, every time."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gb.compiler import BasicRuntimeError
from gb.compiler.builtins import SPECS
from gb.compiler.runtime import semantics as sem
from gb.compiler.syntax import ast

from .support import P, at, run_tree

NUMBERS = [0.0, -0.0, 1.0, -1.0, 2.5, -7.0, 3.0, 1e300, 0.1, float("inf"), float("nan")]
TEXTS = ["", "a", "5", " 3 ", "1e3", "abc", "0x10", "-2.5"]
VALUES: list[Any] = [*NUMBERS, *TEXTS, True, False, None, [1.0, "x"], dt.date(2024, 5, 31)]
VARIABLES = {f"v{i}": v for i, v in enumerate(VALUES)}
ENV = dict(VARIABLES)

OPS = ["+", "-", "*", "/", "\\", "mod", "^", "&", "=", "<>", "<", "<=", ">", ">=", "and", "or"]
INLINE = ["ABS", "INT", "FIX", "SGN", "SQR"]
HOST = ["LEN", "UCASE", "VAL", "STR", "ISNULL", "ISNUMERIC", "ROUND"]


def literal(v: Any) -> ast.Expr:
    if v is None:
        return ast.Null(P)
    if isinstance(v, bool):
        return ast.Bool(P, v)
    if isinstance(v, float):
        return ast.Number(P, v)
    return ast.String(P, [v])


leaves = st.one_of(
    st.sampled_from([n for n in NUMBERS if math.isfinite(n)]).map(literal),
    st.sampled_from(TEXTS).map(literal),
    st.sampled_from([True, False, None]).map(literal),
    st.sampled_from(sorted(VARIABLES)).map(lambda n: ast.Name(P, n)),
)


def extend(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        st.builds(
            lambda op, a, b: ast.Binary(P, op, a, b), st.sampled_from(OPS), children, children
        ),
        st.builds(lambda op, a: ast.Unary(P, op, a), st.sampled_from(["-", "+", "not"]), children),
        st.builds(lambda f, a: ast.Call(P, f, [a]), st.sampled_from(INLINE + HOST), children),
        st.builds(
            lambda f, a, b: ast.Call(P, f, [a, b]),
            st.sampled_from(["MIN", "MAX"]),
            children,
            children,
        ),
        st.builds(lambda a, b: ast.String(P, ["<", a, "|", b, ">"]), children, children),
    )


expressions = st.recursive(leaves, extend, max_leaves=8)


def evaluate(e: ast.Expr) -> Any:
    """The reference: a direct reading of the semantics module."""
    if isinstance(e, ast.Number):
        return e.value
    if isinstance(e, ast.Bool):
        return e.value
    if isinstance(e, ast.Null):
        return None
    if isinstance(e, ast.Name):
        return ENV[e.ident]
    if isinstance(e, ast.String):
        return "".join(p if isinstance(p, str) else sem.to_text(evaluate(p)) for p in e.parts)
    if isinstance(e, ast.Unary):
        value = evaluate(e.operand)
        if e.op == "-":
            return sem.negate(value)
        if e.op == "+":
            return sem.to_number(value)
        return not sem.truthy(value)
    if isinstance(e, ast.Binary):
        if e.op in ("and", "or"):
            left = sem.truthy(evaluate(e.left))
            if left == (e.op == "or"):
                return left
            return sem.truthy(evaluate(e.right))
        a, b = evaluate(e.left), evaluate(e.right)
        if e.op == "=":
            return sem.equals(a, b)
        if e.op == "<>":
            return not sem.equals(a, b)
        if e.op in ("<", "<=", ">", ">="):
            return sem.compare(e.op, a, b)
        return sem.BINARY[e.op](a, b)
    assert isinstance(e, ast.Call)
    return SPECS[e.name].fn(*(evaluate(a) for a in e.args))


def outcome_of(body: list[ast.Stmt]) -> tuple[str, Any]:
    try:
        return "value", run_tree(*body, globals=VARIABLES).value
    except BasicRuntimeError as exc:
        return "error", exc.message


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and a == b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_compiled_expressions_agree_with_the_semantics(e: ast.Expr) -> None:
    try:
        expected: tuple[str, Any] = ("value", evaluate(e))
    except sem.BasicError as exc:
        expected = ("error", exc.message)
    direct = outcome_of([ast.Return(at(1), e)])
    assert direct[0] == expected[0], (direct, expected)
    assert same(direct[1], expected[1]) if direct[0] == "value" else direct[1] == expected[1]
    # the same expression in a native loop (numbers kept in wasm locals when they can be)
    looped = outcome_of(
        [
            ast.Assign(at(1), ast.Name(P, "r"), ast.Number(P, 0.0)),
            ast.For(
                at(2),
                "k",
                ast.Number(P, 1.0),
                ast.Number(P, 2.0),
                None,
                [ast.Assign(at(3), ast.Name(P, "r"), e)],
            ),
            ast.Return(at(4), ast.Name(P, "r")),
        ]
    )
    assert looped[0] == expected[0], (looped, expected)
    assert same(looped[1], expected[1]) if looped[0] == "value" else looped[1] == expected[1]
