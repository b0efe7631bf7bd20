"""Hoisting calls out of expressions, so that every suspension happens between statements.

A keyword call (``x = 1 + FIND(...)``) suspends the program and a FUNCTION call jumps through
the BASIC call stack; neither can happen with values on the wasm operand stack. So before an
expression is compiled, each such call is moved into a statement of its own that leaves the
result in a frame temporary, and the expression reads the temporary::

    y = a + f(b) * 2      ->   t0 = a ; t1 = f(b) ; y = t0 + t1 * 2

Operands to the left of a hoisted call are saved first (``t0 = a``) so evaluation stays left to
right, as in JavaScript. ``AND``/``OR`` keep their short circuit: the calls of the right side
only run when the left side did not decide the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..syntax import ast
from .scopes import FunctionScope


@dataclass(slots=True)
class Temp:
    """A frame temporary holding a value (an expression node after lowering)."""

    pos: ast.Pos
    index: int


@dataclass(slots=True)
class SetTemp:
    """``temp = expr`` (``expr`` has no calls)."""

    pos: ast.Pos
    temp: Temp
    value: ast.Expr


@dataclass(slots=True)
class CallKeyword:
    """Call a keyword with call-free arguments; store the result in ``dest`` (if any)."""

    pos: ast.Pos
    keyword: str
    args: list[ast.Expr]
    dest: Temp | ast.Name | ast.Member | ast.Index | None


@dataclass(slots=True)
class CallFunction:
    """Call a user FUNCTION/SUB with call-free arguments."""

    pos: ast.Pos
    callee: FunctionScope
    args: list[ast.Expr]
    dest: Temp | None


@dataclass(slots=True)
class Conditional:
    """The right side of ``temp AND right`` / ``temp OR right`` when it has calls: run
    ``pre`` and set ``temp`` to the truth of ``right``, unless ``temp`` already decided."""

    pos: ast.Pos
    temp: Temp
    op: str
    pre: list[Lowered]
    right: ast.Expr


Lowered = SetTemp | CallKeyword | CallFunction | Conditional


@dataclass
class Temps:
    """Temporaries of one frame, allocated like a stack (statements release theirs)."""

    used: int = 0
    peak: int = 0

    def take(self, pos: ast.Pos) -> Temp:
        temp = Temp(pos, self.used)
        self.used += 1
        self.peak = max(self.peak, self.used)
        return temp

    def mark(self) -> int:
        return self.used

    def release(self, mark: int) -> None:
        self.used = mark


@dataclass
class Lowerer:
    """Lowers the expressions of one function (``functions``: the program's FUNCTIONs by
    lower-case name)."""

    functions: dict[str, FunctionScope]
    temps: Temps = field(default_factory=Temps)

    def is_user_call(self, e: ast.Expr) -> bool:
        return isinstance(e, ast.Call) and e.name.lower() in self.functions

    def has_calls(self, e: object) -> bool:
        """Whether an expression contains a keyword or FUNCTION call."""
        if isinstance(e, ast.KeywordCall) or (isinstance(e, ast.Call) and self.is_user_call(e)):
            return True
        if isinstance(e, ast.String):
            return any(self.has_calls(p) for p in e.parts if not isinstance(p, str))
        if isinstance(e, ast.Member):
            return self.has_calls(e.obj)
        if isinstance(e, ast.Index):
            return self.has_calls(e.obj) or self.has_calls(e.index)
        if isinstance(e, ast.Call):
            return any(self.has_calls(a) for a in e.args)
        if isinstance(e, ast.Unary):
            return self.has_calls(e.operand)
        if isinstance(e, ast.Binary):
            return self.has_calls(e.left) or self.has_calls(e.right)
        if isinstance(e, ast.ListLit):
            return any(self.has_calls(i) for i in e.items)
        if isinstance(e, ast.MapLit):
            return any(self.has_calls(v) for _, v in e.items)
        return False

    # -- expressions ------------------------------------------------------------------------

    def expr(self, e: ast.Expr, pre: list[Lowered]) -> ast.Expr:
        """``e`` without calls; the statements that compute the hoisted calls go to ``pre``."""
        if not self.has_calls(e):
            return e
        if isinstance(e, ast.KeywordCall):
            args = self.sequence(e.args, pre)
            temp = self.temps.take(e.pos)
            pre.append(CallKeyword(e.pos, e.keyword, args, temp))
            return temp  # type: ignore[return-value]
        if isinstance(e, ast.Call):
            args = self.sequence(e.args, pre)
            if self.is_user_call(e):
                temp = self.temps.take(e.pos)
                pre.append(CallFunction(e.pos, self.functions[e.name.lower()], args, temp))
                return temp  # type: ignore[return-value]
            return ast.Call(e.pos, e.name, args)
        if isinstance(e, ast.Binary) and e.op in ("and", "or"):
            return self._logical(e, pre)
        if isinstance(e, ast.Binary):
            left, right = self.sequence([e.left, e.right], pre)
            return ast.Binary(e.pos, e.op, left, right)
        if isinstance(e, ast.Unary):
            return ast.Unary(e.pos, e.op, self.expr(e.operand, pre))
        if isinstance(e, ast.Member):
            return ast.Member(e.pos, self.expr(e.obj, pre), e.field)
        if isinstance(e, ast.Index):
            obj, index = self.sequence([e.obj, e.index], pre)
            return ast.Index(e.pos, obj, index)
        if isinstance(e, ast.String):
            exprs = [p for p in e.parts if not isinstance(p, str)]
            lowered = iter(self.sequence(exprs, pre))
            parts = [p if isinstance(p, str) else next(lowered) for p in e.parts]
            return ast.String(e.pos, parts)
        if isinstance(e, ast.ListLit):
            return ast.ListLit(e.pos, self.sequence(e.items, pre))
        assert isinstance(e, ast.MapLit)  # every other node has no children
        values = self.sequence([v for _, v in e.items], pre)
        return ast.MapLit(e.pos, [(k, v) for (k, _), v in zip(e.items, values, strict=True)])

    def sequence(self, exprs: list[ast.Expr], pre: list[Lowered]) -> list[ast.Expr]:
        """Lower operands evaluated left to right: an operand before one with calls is saved
        in a temporary first (unless it is a constant)."""
        out: list[ast.Expr] = []
        for e in exprs:
            mine: list[Lowered] = []
            lowered = self.expr(e, mine)
            if mine:
                for position, earlier in enumerate(out):
                    if not _is_constant(earlier) and not isinstance(earlier, Temp):
                        temp = self.temps.take(earlier.pos)
                        pre.append(SetTemp(earlier.pos, temp, earlier))
                        out[position] = temp  # type: ignore[call-overload]
                pre.extend(mine)
            out.append(lowered)
        return out

    def _logical(self, e: ast.Binary, pre: list[Lowered]) -> ast.Expr:
        left = self.expr(e.left, pre)
        if not self.has_calls(e.right):
            return ast.Binary(e.pos, e.op, left, e.right)
        temp = self.temps.take(e.pos)
        pre.append(SetTemp(e.pos, temp, truth(left)))
        right_pre: list[Lowered] = []
        right = self.expr(e.right, right_pre)
        pre.append(Conditional(e.pos, temp, e.op, right_pre, right))
        return temp  # type: ignore[return-value]


def truth(e: ast.Expr) -> ast.Expr:
    """``e`` as a boolean (``NOT NOT e``)."""
    return ast.Unary(e.pos, "not", ast.Unary(e.pos, "not", e))


def _is_constant(e: ast.Expr) -> bool:
    return isinstance(e, ast.Number | ast.Bool | ast.Null) or (
        isinstance(e, ast.String) and all(isinstance(p, str) for p in e.parts)
    )
