"""Which variable a name means, and where it lives.

Every name used by the main program is global (the original's variables were JavaScript
globals). Inside a FUNCTION or SUB a name is local when it is a parameter, or when the
function assigns it and the main program never mentions it; a FUNCTION's own name is its
result. Any other name a function reads is global, so host-provided globals (``username``,
``mobile``, bot settings) are visible everywhere.

Globals are slots at fixed addresses; locals are slots in the function's frame (addressed from
the frame pointer), so recursion gets fresh locals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..syntax import ast
from .layout import FRAME_HEADER, SLOT


def lower_name(name: str) -> str:
    return name.lower()


# ---- walking the tree ---------------------------------------------------------------------------


def sub_expressions(e: ast.Expr) -> Iterator[ast.Expr]:
    """The direct children of an expression."""
    if isinstance(e, ast.String):
        yield from (p for p in e.parts if not isinstance(p, str))
    elif isinstance(e, ast.Member):
        yield e.obj
    elif isinstance(e, ast.Index):
        yield e.obj
        yield e.index
    elif isinstance(e, ast.Call | ast.KeywordCall | ast.ListLit):
        yield from e.args if not isinstance(e, ast.ListLit) else e.items
    elif isinstance(e, ast.Unary):
        yield e.operand
    elif isinstance(e, ast.Binary):
        yield e.left
        yield e.right
    elif isinstance(e, ast.MapLit):
        yield from (v for _, v in e.items)


def expressions_of(s: ast.Stmt) -> Iterator[ast.Expr]:
    """The expressions a statement evaluates itself (not those of nested statements)."""
    if isinstance(s, ast.Assign):
        yield s.target
        yield s.value
    elif isinstance(s, ast.KeywordStmt):
        yield s.call
        if s.target is not None:
            yield s.target
    elif isinstance(s, ast.ExprStmt):
        yield s.expr
    elif isinstance(s, ast.If):
        yield from (cond for cond, _ in s.branches)
    elif isinstance(s, ast.For):
        yield s.start
        yield s.stop
        if s.step is not None:
            yield s.step
    elif isinstance(s, ast.ForEach):
        yield s.iterable
    elif isinstance(s, ast.DoLoop):
        if s.cond is not None:
            yield s.cond
    elif isinstance(s, ast.Select):
        yield s.subject
        for case in s.cases:
            for value in case.values:
                if isinstance(value, tuple):
                    yield from (v for v in value if not isinstance(v, str))
                else:
                    yield value
    elif isinstance(s, ast.Return) and s.value is not None:
        yield s.value


def bodies_of(s: ast.Stmt) -> Iterator[list[ast.Stmt]]:
    """The statement lists nested in a statement (FUNCTION bodies excluded)."""
    if isinstance(s, ast.If):
        yield from (body for _, body in s.branches)
        yield s.orelse
    elif isinstance(s, ast.For | ast.ForEach | ast.DoLoop):
        yield s.body
    elif isinstance(s, ast.Select):
        yield from (case.body for case in s.cases)
        yield s.orelse


def walk_statements(body: list[ast.Stmt]) -> Iterator[ast.Stmt]:
    """Every statement of ``body`` and of the statements nested in it, FUNCTIONs excluded."""
    for s in body:
        if isinstance(s, ast.FunctionDef):
            continue
        yield s
        for inner in bodies_of(s):
            yield from walk_statements(inner)


def walk_expressions(e: ast.Expr) -> Iterator[ast.Expr]:
    yield e
    for child in sub_expressions(e):
        yield from walk_expressions(child)


def names_in(body: list[ast.Stmt]) -> Iterator[str]:
    """Every variable name mentioned in ``body``, in order of appearance."""
    for s in walk_statements(body):
        if isinstance(s, ast.For | ast.ForEach):
            yield lower_name(s.var)
        for e in expressions_of(s):
            for sub in walk_expressions(e):
                if isinstance(sub, ast.Name):
                    yield lower_name(sub.ident)


def assigned_in(body: list[ast.Stmt]) -> Iterator[str]:
    """The names ``body`` assigns (plain variables, FOR variables, keyword results)."""
    for s in walk_statements(body):
        if isinstance(s, ast.For | ast.ForEach):
            yield lower_name(s.var)
        target = s.target if isinstance(s, ast.Assign | ast.KeywordStmt) else None
        if isinstance(target, ast.Name):
            yield lower_name(target.ident)


# ---- slots --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a variable lives: ``offset`` from address 0 (global) or from the frame base."""

    offset: int
    is_global: bool


@dataclass
class FunctionScope:
    """One FUNCTION/SUB (or the main program, index 0): its frame and its names."""

    name: str
    index: int
    params: list[str]
    locals: dict[str, int]  # name -> frame offset (parameters first)
    result: int | None  # frame offset of a FUNCTION's result
    is_sub: bool
    node: ast.FunctionDef | None
    temps: int = 0  # temporaries needed (known once the body is compiled)
    fixed_slots: int = 0  # parameters + locals + result

    @property
    def frame_size(self) -> int:
        return FRAME_HEADER + SLOT * (self.fixed_slots + self.temps)

    def temp_offset(self, index: int) -> int:
        return FRAME_HEADER + SLOT * (self.fixed_slots + index)


@dataclass
class Scopes:
    """The names of a whole program."""

    globals: dict[str, int] = field(default_factory=dict)  # name -> slot index
    functions: dict[str, FunctionScope] = field(default_factory=dict)
    main: FunctionScope = field(
        default_factory=lambda: FunctionScope("(main)", 0, [], {}, None, True, None)
    )

    def global_slot(self, name: str) -> int:
        return self.globals.setdefault(name, len(self.globals))

    def resolve(self, name: str, scope: FunctionScope, globals_base: int) -> Slot:
        """The slot ``name`` denotes inside ``scope``."""
        key = lower_name(name)
        if key in scope.locals:
            return Slot(scope.locals[key], False)
        if scope.result is not None and key == lower_name(scope.name):
            return Slot(scope.result, False)
        return Slot(globals_base + SLOT * self.global_slot(key), True)

    def by_index(self) -> list[FunctionScope]:
        return [self.main, *sorted(self.functions.values(), key=lambda f: f.index)]


def function_defs(program: ast.Program) -> list[ast.FunctionDef]:
    """The FUNCTION/SUB definitions of the program (at the top level of its body)."""
    return [s for s in program.body if isinstance(s, ast.FunctionDef)]


def build_scopes(program: ast.Program) -> Scopes:
    """Resolve every name of the program (see the module docstring)."""
    scopes = Scopes()
    main_names = list(dict.fromkeys(names_in(program.body)))
    for name in main_names:
        scopes.global_slot(name)
    main_set = set(main_names)
    for position, fn in enumerate(function_defs(program), start=1):
        key = lower_name(fn.name)
        params = [lower_name(p) for p in fn.params]
        slots: dict[str, int] = {}
        for p in params:
            slots.setdefault(p, FRAME_HEADER + SLOT * len(slots))
        for name in assigned_in(fn.body):
            if name not in main_set and name not in slots and name != key:
                slots[name] = FRAME_HEADER + SLOT * len(slots)
        result = None
        if not fn.is_sub:
            result = FRAME_HEADER + SLOT * len(slots)
        scope = FunctionScope(fn.name, position, params, slots, result, fn.is_sub, fn)
        scope.fixed_slots = len(slots) + (result is not None)
        scopes.functions[key] = scope
    for scope in scopes.functions.values():
        assert scope.node is not None
        for name in names_in(scope.node.body):
            scopes.resolve(name, scope, 0)  # registers the globals it reads
    return scopes
