"""The checker: what the parser cannot see, against the keyword registry and the program.

* every keyword call names an entry of the registry, with an argument count it accepts and
  literal arguments of the kinds it takes (a variable is ANY: checked at run time);
* every call names a FUNCTION/SUB of the program (with its exact parameter count) or a
  built-in function (within its range); a SUB gives no value to an expression;
* FUNCTION/SUB names are unique and do not hide a built-in; parameter names are unique;
* ``EXIT FOR``/``EXIT DO`` sit inside such a loop, ``EXIT FUNCTION``/``EXIT SUB`` and a
  ``RETURN`` with a value inside that kind of definition;
* PARAM and TABLE names are unique.
"""

from __future__ import annotations

from collections.abc import Mapping

from .diagnostics import Diagnostic, source_line
from .host.registry import Registry
from .host.values import Kind
from .syntax import ast
from .syntax.walk import children, walk

_COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})
_LOOPS = {"for": (ast.For, ast.ForEach), "do": (ast.DoLoop,)}


def check(
    program: ast.Program,
    registry: Registry,
    *,
    builtins: Mapping[str, tuple[int, int]] | None = None,
) -> list[Diagnostic]:
    """Every problem found in ``program`` (empty: it may be compiled).

    ``builtins`` (upper-case name → least and most arguments) defaults to
    ``compiler.builtins.BUILTINS``.
    """
    if builtins is None:
        from .builtins import BUILTINS  # noqa: PLC0415 (built-ins import the runtime; load late)

        builtins = BUILTINS
    return _Checker(program, registry, builtins).run()


class _Checker:
    def __init__(
        self, program: ast.Program, registry: Registry, builtins: Mapping[str, tuple[int, int]]
    ) -> None:
        self.program = program
        self.registry = registry
        self.builtins = {name.upper(): arity for name, arity in builtins.items()}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.out: list[Diagnostic] = []

    def error(self, pos: ast.Pos, message: str, expected: str | None = None) -> None:
        file = pos.file or self.program.file
        text = self.program.sources.get(file, "")
        self.out.append(
            Diagnostic(file, pos.line, pos.col, message, expected, source_line(text, pos.line))
        )

    def run(self) -> list[Diagnostic]:
        self.definitions()
        self.metadata()
        self.statements(self.program.body, loops=(), function=None)
        return self.out

    # ---- definitions ---------------------------------------------------------------------

    def definitions(self) -> None:
        for node in walk(self.program):
            if not isinstance(node, ast.FunctionDef):
                continue
            kind = "SUB" if node.is_sub else "FUNCTION"
            if node.name in self.functions:
                first = self.functions[node.name].pos
                self.error(
                    node.pos, f"{kind} {node.name.upper()} is already defined at line {first.line}"
                )
                continue
            if node.name.upper() in self.builtins:
                self.error(
                    node.pos,
                    f"{kind} {node.name.upper()} has the name of a built-in function",
                )
            self.functions[node.name] = node
            seen: set[str] = set()
            for param in node.params:
                if param in seen:
                    self.error(node.pos, f"parameter {param} appears twice in {node.name.upper()}")
                seen.add(param)

    def metadata(self) -> None:
        params: dict[str, ast.Param] = {}
        for param in self.program.params:
            if param.name.lower() in params:
                self.error(param.pos, f"PARAM {param.name} is declared twice")
            params[param.name.lower()] = param
        tables: set[str] = set()
        for table in self.program.tables:
            if table.name.lower() in tables:
                self.error(table.pos, f"TABLE {table.name} is declared twice")
            tables.add(table.name.lower())

    # ---- statements ----------------------------------------------------------------------

    def statements(
        self, body: list[ast.Stmt], loops: tuple[str, ...], function: ast.FunctionDef | None
    ) -> None:
        for stmt in body:
            self.statement(stmt, loops, function)

    def statement(
        self, stmt: ast.Stmt, loops: tuple[str, ...], function: ast.FunctionDef | None
    ) -> None:
        if isinstance(stmt, ast.FunctionDef):
            self.statements(stmt.body, (), stmt)
            return
        if isinstance(stmt, ast.Exit):
            self.exit(stmt, loops, function)
            return
        if (
            isinstance(stmt, ast.Return)
            and stmt.value is not None
            and function is not None
            and function.is_sub
        ):
            self.error(stmt.pos, f"SUB {function.name.upper()} cannot return a value")
        if isinstance(stmt, ast.ExprStmt) and isinstance(stmt.expr, ast.Call):
            self.call(stmt.expr, as_value=False)
            for arg in stmt.expr.args:
                self.expression(arg)
            return
        inner = loops
        for kind, types in _LOOPS.items():
            if isinstance(stmt, types):
                inner = (*loops, kind)
        for child in children(stmt):
            if isinstance(child, ast.Case):
                for value in children(child):
                    if _is_statement(value):
                        self.statement(value, inner, function)
                    else:
                        self.expression(value)
            elif _is_statement(child):
                self.statement(child, inner, function)
            else:
                self.expression(child)

    def exit(
        self, stmt: ast.Exit, loops: tuple[str, ...], function: ast.FunctionDef | None
    ) -> None:
        what = stmt.what
        if what in _LOOPS and what not in loops:
            self.error(stmt.pos, f"EXIT {what.upper()} outside a {what.upper()} loop")
        elif what in ("function", "sub"):
            kind = "SUB" if function is not None and function.is_sub else "FUNCTION"
            if function is None or kind.lower() != what:
                self.error(stmt.pos, f"EXIT {what.upper()} outside a {what.upper()}")

    # ---- expressions ---------------------------------------------------------------------

    def expression(self, expr: ast.Expr) -> None:
        for node in walk(expr):
            if isinstance(node, ast.KeywordCall):
                self.keyword(node)
            elif isinstance(node, ast.Call):
                self.call(node, as_value=True)

    def keyword(self, call: ast.KeywordCall) -> None:
        if call.keyword not in self.registry:
            self.error(call.pos, f"keyword {call.keyword} is not available (not in the registry)")
            return
        spec = self.registry.get(call.keyword)
        count = len(call.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            self.error(
                call.pos,
                f"{spec.name} takes {spec.arity_text()}, got {count}",
                spec.arity_text(),
            )
            return
        for position, arg in enumerate(call.args):
            param = spec.param_for(position)
            assert param is not None  # the arity check bounds position
            kind = literal_kind(arg)
            if not param.accepts(kind):
                self.error(
                    arg.pos,
                    f"{spec.name}: {param.name} must be a {param.kind.value}, not a {kind.value}",
                    param.kind.value,
                )

    def call(self, call: ast.Call, *, as_value: bool) -> None:
        count = len(call.args)
        name = call.name.upper()
        function = self.functions.get(call.name)
        if function is not None:
            kind = "SUB" if function.is_sub else "FUNCTION"
            if as_value and function.is_sub:
                self.error(call.pos, f"SUB {name} gives no value; use a FUNCTION")
            expected = len(function.params)
            if count != expected:
                self.error(
                    call.pos,
                    f"{kind} {name} takes {expected} argument{'s' * (expected != 1)}, got {count}",
                    str(expected),
                )
            return
        arity = self.builtins.get(name)
        if arity is not None:
            low, high = arity
            if not low <= count <= high:
                want = str(low) if low == high else f"{low} to {high}"
                self.error(
                    call.pos, f"{name} takes {want} argument{'s' * (high != 1)}, got {count}", want
                )
            return
        what = "statement, SUB" if not as_value else "function"
        self.error(
            call.pos,
            f"unknown {what} {name}: not a keyword, a FUNCTION/SUB of this program or a "
            "built-in function",
        )


def _is_statement(node: object) -> bool:
    return isinstance(
        node,
        ast.Assign
        | ast.KeywordStmt
        | ast.ExprStmt
        | ast.If
        | ast.For
        | ast.ForEach
        | ast.DoLoop
        | ast.Select
        | ast.FunctionDef
        | ast.Return
        | ast.Exit
        | ast.TableDef,
    )


def literal_kind(expr: ast.Expr) -> Kind:
    """The kind of a value the checker can tell at compile time (ANY when it cannot)."""
    if isinstance(expr, ast.Number):
        return Kind.NUMBER
    if isinstance(expr, ast.String):
        return Kind.STRING
    if isinstance(expr, ast.Bool):
        return Kind.BOOLEAN
    if isinstance(expr, ast.Null):
        return Kind.NULL
    if isinstance(expr, ast.ListLit):
        return Kind.LIST
    if isinstance(expr, ast.MapLit):
        return Kind.MAP
    if isinstance(expr, ast.Binary) and (expr.op in _COMPARISONS or expr.op == "&"):
        return Kind.STRING if expr.op == "&" else Kind.BOOLEAN
    if isinstance(expr, ast.Unary):
        if expr.op == "not":
            return Kind.BOOLEAN
        if literal_kind(expr.operand) is Kind.NUMBER:
            return Kind.NUMBER
    return Kind.ANY
