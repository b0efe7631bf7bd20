"""Compiling call-free expressions to wasm instructions.

Each expression has a static kind: ``NUM`` (an ``f64`` on the stack — literals, arithmetic,
the inline numeric built-ins), ``BOOL`` (an ``i32`` 0/1 — comparisons, ``AND``/``OR``/``NOT``)
or ``DYN`` (the pair ``i32 tag, i64 bits`` — variables and everything else). Arithmetic on
dynamic values checks the tags inline and only calls the host when a value is not a number,
so numeric code never leaves wasm. The rules are those of :mod:`compiler.runtime.semantics`;
the inline paths compute exactly what those functions would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..builtins import lookup
from ..syntax import ast
from ..wasm import F64, I32, I64
from .asm import Asm, BlockRef
from .layout import (
    BOOL,
    CMP,
    ERR_DIV_ZERO,
    ERR_SQRT,
    ERROR,
    ERROR_CODE,
    LIST,
    MAP,
    NUMBER,
    OP2,
    STRING,
)
from .lower import Temp
from .scopes import FunctionScope, Scopes, Slot, walk_statements

NUM, BOOLEAN, DYN = "num", "bool", "dyn"

ARITHMETIC = ("-", "*", "/", "\\", "mod", "^")
COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
_F64_COMPARE = {"=": "f64.eq", "<>": "f64.ne", "<": "f64.lt", "<=": "f64.le", ">": "f64.gt",
                ">=": "f64.ge"}  # fmt: skip
TWO_POW_63 = 9223372036854775808.0


class CodegenError(Exception):
    """A tree the code generator cannot compile (the checker normally reports these)."""

    def __init__(self, pos: ast.Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


@dataclass
class Interned:
    """Values the generated code refers to by number: strings (heap handles 1..n, created
    when a dialog starts), keywords and host built-ins (ids into the unit's tables)."""

    strings: dict[str, int] = field(default_factory=dict)
    keywords: dict[str, int] = field(default_factory=dict)
    builtins: dict[str, int] = field(default_factory=dict)

    def string(self, text: str) -> int:
        return self.strings.setdefault(text, len(self.strings) + 1)

    def keyword(self, name: str) -> int:
        return self.keywords.setdefault(name, len(self.keywords))

    def builtin(self, name: str) -> int:
        return self.builtins.setdefault(name, len(self.builtins))


@dataclass
class Env:
    """What expression code needs to know about the module being built."""

    imports: dict[str, int]
    pair_type: int  # block type index () -> (i32, i64)
    fp: int  # the wasm local caching the frame pointer
    globals_base: int
    scopes: Scopes
    interned: Interned


def error_return(asm: Asm, code: int) -> None:
    """Stop with runtime error ``code`` (the line is already stored)."""
    asm.emit("i32.const", 0)
    asm.emit("i32.const", code)
    asm.emit("i32.store", 2, ERROR_CODE)
    asm.emit("i32.const", ERROR)
    asm.emit("return")


def _concat_chain(e: object) -> list[object]:
    """The operands of ``a & b & c`` (left-associated) in order."""
    if isinstance(e, ast.Binary) and e.op == "&":
        return [*_concat_chain(e.left), *_concat_chain(e.right)]
    return [e]


class ExprCompiler:
    """Emits expressions of one function into ``asm``."""

    def __init__(self, asm: Asm, env: Env, scope: FunctionScope) -> None:
        self.asm = asm
        self.env = env
        self.scope = scope
        # Inside a native loop: numeric variables kept in f64 locals (slot key -> local);
        # -1 while deciding which variables qualify.
        self.cached: dict[tuple[int, bool], tuple[Slot, int]] = {}
        # Inside a native loop's statement: where its block version starts (see leave_native).
        self.deopt: BlockRef | None = None

    def cached_local(self, e: object) -> int | None:
        """The f64 local holding variable ``e`` inside a native loop, if it is cached."""
        if isinstance(e, ast.Name):
            slot = self.slot(e)
            entry = self.cached.get((slot.offset, slot.is_global))
            if entry is not None:
                return entry[1]
        return None

    def numeric_candidates(self, body: list[ast.Stmt], loop_var: ast.Name | None) -> list[Slot]:
        """Variables a native loop may keep in locals: assigned in ``body`` (or the FOR
        variable) and only ever assigned numbers there."""
        assigned: dict[tuple[int, bool], tuple[Slot, list[object]]] = {}
        for s in walk_statements(body):
            if isinstance(s, ast.Assign) and isinstance(s.target, ast.Name):
                slot = self.slot(s.target)
                assigned.setdefault((slot.offset, slot.is_global), (slot, []))[1].append(s.value)
        if loop_var is not None:
            slot = self.slot(loop_var)
            assigned.setdefault((slot.offset, slot.is_global), (slot, []))
        candidates = set(assigned)
        while True:
            self.cached = {key: (assigned[key][0], -1) for key in candidates}
            bad = {k for k in candidates if any(self.kind(v) != NUM for v in assigned[k][1])}
            if not bad:
                break
            candidates -= bad
        self.cached = {}
        return [assigned[key][0] for key in sorted(candidates)]

    def flush(self) -> None:
        """Write the cached numeric variables back to memory (their tag is already number)."""
        for slot, local in self.cached.values():
            self.base(slot)
            self.asm.emit("local.get", local)
            self.asm.emit("f64.store", 3, slot.offset + 8)

    def error_return(self, code: int) -> None:
        self.flush()
        error_return(self.asm, code)

    # -- helpers ---------------------------------------------------------------------------

    def call(self, name: str) -> None:
        self.asm.emit("call", self.env.imports[name])

    def is_builtin(self, e: ast.Call) -> bool:
        return e.name.lower() not in self.env.scopes.functions and lookup(e.name) is not None

    def slot(self, e: ast.Name | Temp) -> Slot:
        if isinstance(e, Temp):
            return Slot(self.scope.temp_offset(e.index), False)
        return self.env.scopes.resolve(e.ident, self.scope, self.env.globals_base)

    def base(self, slot: Slot) -> None:
        """Push the address ``slot.offset`` is relative to."""
        if slot.is_global:
            self.asm.emit("i32.const", 0)
        else:
            self.asm.emit("local.get", self.env.fp)

    def load(self, slot: Slot) -> None:
        """Push the value in ``slot`` (tag, bits)."""
        self.base(slot)
        self.asm.emit("i32.load", 2, slot.offset)
        self.base(slot)
        self.asm.emit("i64.load", 3, slot.offset + 8)

    def store(self, slot: Slot, e: object) -> None:
        """Evaluate ``e`` into ``slot``."""
        kind = self.kind(e)
        cached = self.cached.get((slot.offset, slot.is_global))
        if cached is not None:  # only numbers are assigned to a cached variable
            self.number(e)
            self.asm.emit("local.set", cached[1])
        elif kind == NUM:
            self.base(slot)
            self.number(e)
            self.asm.emit("f64.store", 3, slot.offset + 8)
            self.store_tag(slot, NUMBER)
        elif kind == BOOLEAN:
            self.base(slot)
            self.boolean(e)
            self.asm.emit("i64.extend_i32_u")
            self.asm.emit("i64.store", 3, slot.offset + 8)
            self.store_tag(slot, BOOL)
        else:
            self.value(e)
            self.store_pair(slot)

    def store_tag(self, slot: Slot, tag: int) -> None:
        self.base(slot)
        self.asm.emit("i32.const", tag)
        self.asm.emit("i32.store", 2, slot.offset)

    def store_pair(self, slot: Slot) -> None:
        """Pop a value (tag, bits) into ``slot``."""
        t, b = self.spill()
        self.base(slot)
        self.asm.emit("local.get", t)
        self.asm.emit("i32.store", 2, slot.offset)
        self.base(slot)
        self.asm.emit("local.get", b)
        self.asm.emit("i64.store", 3, slot.offset + 8)
        self.asm.locals.give(t, b)

    def spill(self) -> tuple[int, int]:
        """Pop a value into two scratch locals (release them with ``locals.give``)."""
        t = self.asm.locals.take(I32)
        b = self.asm.locals.take(I64)
        self.asm.emit("local.set", b)
        self.asm.emit("local.set", t)
        return t, b

    def push(self, t: int, b: int) -> None:
        self.asm.emit("local.get", t)
        self.asm.emit("local.get", b)

    # -- kinds -----------------------------------------------------------------------------

    def kind(self, e: object) -> str:
        if isinstance(e, ast.Number):
            return NUM
        if self.cached and isinstance(e, ast.Name):
            slot = self.slot(e)
            return NUM if (slot.offset, slot.is_global) in self.cached else DYN
        if isinstance(e, ast.Bool):
            return BOOLEAN
        if isinstance(e, ast.Unary):
            return BOOLEAN if e.op == "not" else NUM
        if isinstance(e, ast.Binary):
            if e.op in ARITHMETIC:
                return NUM
            if e.op == "+":
                both = self.kind(e.left) == NUM and self.kind(e.right) == NUM
                return NUM if both else DYN
            if e.op == "&":
                return DYN
            return BOOLEAN
        if isinstance(e, ast.Call) and self.is_builtin(e):
            spec = lookup(e.name)
            assert spec is not None
            return NUM if spec.inline else DYN
        return DYN

    # -- values (tag, bits) ----------------------------------------------------------------

    def value(self, e: object) -> None:
        """Push ``e`` as (tag, bits)."""
        asm = self.asm
        kind = self.kind(e)
        if kind == NUM:
            asm.emit("i32.const", NUMBER)
            self.number(e)
            asm.emit("i64.reinterpret_f64")
        elif kind == BOOLEAN:
            asm.emit("i32.const", BOOL)
            self.boolean(e)
            asm.emit("i64.extend_i32_u")
        elif isinstance(e, ast.Null):
            asm.emit("i32.const", 0)
            asm.emit("i64.const", 0)
        elif isinstance(e, ast.String):
            self.string(e)
        elif isinstance(e, ast.Name | Temp):
            self.load(self.slot(e))
        elif isinstance(e, ast.Member):
            self.value(e.obj)
            asm.emit("i32.const", self.env.interned.string(e.field))
            self.call("member")
        elif isinstance(e, ast.Index):
            self.value(e.obj)
            self.value(e.index)
            self.call("index")
        elif isinstance(e, ast.Call) and self.is_builtin(e):
            self.host_builtin(e)
        elif isinstance(e, ast.Binary) and e.op == "&":
            self.concatenation(list(_concat_chain(e)))
        elif isinstance(e, ast.Binary):  # + with a side that may not be a number
            self.dynamic_binary(e)
        elif isinstance(e, ast.ListLit):
            self.list_literal(e)
        elif isinstance(e, ast.MapLit):
            self.map_literal(e)
        else:
            pos = getattr(e, "pos", ast.Pos(0, 0))
            what = e.name if isinstance(e, ast.Call) else type(e).__name__
            raise CodegenError(pos, f"cannot compile {what} here (an unknown function?)")

    def string_constant(self, text: str) -> None:
        self.asm.emit("i32.const", STRING)
        self.asm.emit("i64.const", self.env.interned.string(text))

    def string(self, e: ast.String) -> None:
        parts: list[object] = []
        for p in e.parts:  # merge neighbouring text
            if isinstance(p, str) and parts and isinstance(parts[-1], str):
                parts[-1] = parts[-1] + p
            elif not (isinstance(p, str) and p == ""):
                parts.append(p)
        if all(isinstance(p, str) for p in parts):
            self.string_constant("".join(p for p in parts if isinstance(p, str)))
        else:
            self.concatenation(parts)

    def concatenation(self, parts: list[object]) -> None:
        """Text of the parts joined (``null`` is ""): four parts per host call, the first
        part of each later call being the text so far."""
        for p in parts[:4]:
            self._text_part(p)
        for _ in range(4 - len(parts[:4])):
            self._null()
        self.call("concat")
        rest = parts[4:]
        while rest:
            group, rest = rest[:3], rest[3:]
            for p in group:
                self._text_part(p)
            for _ in range(3 - len(group)):
                self._null()
            self.call("concat")

    def _null(self) -> None:
        self.asm.emit("i32.const", 0)
        self.asm.emit("i64.const", 0)

    def _text_part(self, p: object) -> None:
        if isinstance(p, str):
            self.string_constant(p)
        else:
            self.value(p)

    def host_builtin(self, e: ast.Call) -> None:
        spec = lookup(e.name)
        assert spec is not None
        if not spec.min_args <= len(e.args) <= spec.max_args:
            raise CodegenError(
                e.pos, f"{spec.name} takes {spec.min_args} to {spec.max_args} arguments"
            )
        self.asm.emit("i32.const", self.env.interned.builtin(spec.name))
        for a in e.args:
            self.value(a)
        self.call(f"call{len(e.args)}")

    def list_literal(self, e: ast.ListLit) -> None:
        h = self.asm.locals.take(I32)
        self.call("list_new")
        self.asm.emit("local.set", h)
        for item in e.items:
            self.asm.emit("local.get", h)
            self.value(item)
            self.call("list_push")
        self.asm.emit("i32.const", LIST)
        self.asm.emit("local.get", h)
        self.asm.emit("i64.extend_i32_u")
        self.asm.locals.give(h)

    def map_literal(self, e: ast.MapLit) -> None:
        h = self.asm.locals.take(I32)
        self.call("map_new")
        self.asm.emit("local.set", h)
        for key, item in e.items:
            self.asm.emit("local.get", h)
            self.asm.emit("i32.const", self.env.interned.string(key))
            self.value(item)
            self.call("map_put")
        self.asm.emit("i32.const", MAP)
        self.asm.emit("local.get", h)
        self.asm.emit("i64.extend_i32_u")
        self.asm.locals.give(h)

    def dynamic_binary(self, e: ast.Binary) -> None:
        """``+`` with a side that may not be a number: inline addition when both tags say
        number, the host otherwise."""
        asm = self.asm
        self.value(e.left)
        lt, lb = self.spill()
        self.value(e.right)
        rt, rb = self.spill()
        self._both_numbers(lt, rt)
        asm.emit("if", self.env.pair_type)
        asm.emit("i32.const", NUMBER)
        asm.emit("local.get", lb)
        asm.emit("f64.reinterpret_i64")
        asm.emit("local.get", rb)
        asm.emit("f64.reinterpret_i64")
        asm.emit("f64.add")
        asm.emit("i64.reinterpret_f64")
        asm.else_()
        asm.emit("i32.const", OP2["+"])
        self.push(lt, lb)
        self.push(rt, rb)
        self.call("op2")
        asm.emit("end")
        asm.locals.give(lt, lb, rt, rb)

    def _both_numbers(self, lt: int, rt: int) -> None:
        self.asm.emit("local.get", lt)
        self.asm.emit("i32.const", NUMBER)
        self.asm.emit("i32.eq")
        self.asm.emit("local.get", rt)
        self.asm.emit("i32.const", NUMBER)
        self.asm.emit("i32.eq")
        self.asm.emit("i32.and")

    # -- numbers (f64) ---------------------------------------------------------------------

    def number(self, e: object) -> None:
        """Push ``e`` as an f64 (a value that is not a number is a runtime error)."""
        asm = self.asm
        kind = self.kind(e)
        cached = self.cached_local(e)
        if cached is not None:
            asm.emit("local.get", cached)
        elif isinstance(e, ast.Number):
            asm.emit("f64.const", float(e.value))
        elif isinstance(e, ast.Unary) and e.op != "not":
            self.number(e.operand)
            if e.op == "-":
                asm.emit("f64.neg")
        elif isinstance(e, ast.Binary) and kind == NUM:
            self.arithmetic(e)
        elif isinstance(e, ast.Call) and kind == NUM:
            self.inline_builtin(e)
        elif kind == BOOLEAN:
            self.boolean(e)
            asm.emit("f64.convert_i32_u")
        else:
            self.value(e)
            self.to_number()

    def to_number(self) -> None:
        """Pop (tag, bits), push the number (the host converts or fails for non-numbers)."""
        asm = self.asm
        t, b = self.spill()
        asm.emit("local.get", t)
        asm.emit("i32.const", NUMBER)
        asm.emit("i32.eq")
        asm.emit("if", F64)
        asm.emit("local.get", b)
        asm.emit("f64.reinterpret_i64")
        asm.else_()
        if self.deopt is not None:
            self.leave_native()
        else:
            self.push(t, b)
            self.call("to_num")
        asm.emit("end")
        asm.locals.give(t, b)

    def leave_native(self) -> None:
        """Inside a native loop: give up on the fast path — write the cached variables back
        and redo the statement in the block version of the loop (no call happens inside
        the native loop, so its numbers stay in registers)."""
        assert self.deopt is not None
        self.flush()
        self.asm.goto(self.deopt)

    def _nonzero_divisor(self, divisor: object) -> int:
        """Pop the divisor into a local, stopping with "division by zero" when it is 0."""
        y = self.asm.locals.take(F64)
        if isinstance(divisor, ast.Number) and divisor.value != 0:
            self.asm.emit("local.set", y)
            return y
        self.asm.emit("local.tee", y)
        self.asm.emit("f64.const", 0.0)
        self.asm.emit("f64.eq")
        self.asm.emit("if", None)
        self.error_return(ERR_DIV_ZERO)
        self.asm.emit("end")
        return y

    def numbers(self, operands: list[object]) -> None:
        """Push each operand as an f64, as JavaScript does it: every operand is evaluated
        before any is converted (so the first error is the one JavaScript would raise)."""
        if all(self.kind(o) != DYN for o in operands[:-1]):
            for o in operands:
                self.number(o)
            return
        held: list[tuple[int, ...]] = []
        for o in operands:
            if self.kind(o) == DYN:
                self.value(o)
                held.append(self.spill())
            else:
                local = self.asm.locals.take(F64)
                self.number(o)
                self.asm.emit("local.set", local)
                held.append((local,))
        for locals_ in held:
            if len(locals_) == 2:
                self.push(*locals_)
                self.to_number()
            else:
                self.asm.emit("local.get", locals_[0])
            self.asm.locals.give(*locals_)

    def arithmetic(self, e: ast.Binary) -> None:
        asm = self.asm
        if e.op in ("+", "-", "*"):
            self.numbers([e.left, e.right])
            asm.emit({"+": "f64.add", "-": "f64.sub", "*": "f64.mul"}[e.op])
        elif e.op in ("/", "\\"):
            self.numbers([e.left, e.right])
            y = self._nonzero_divisor(e.right)
            asm.emit("local.get", y)
            asm.emit("f64.div")
            if e.op == "\\":
                asm.emit("f64.trunc")
            asm.locals.give(y)
        elif e.op == "mod":
            self.modulo(e)
        else:  # ^
            self.numbers([e.left, e.right])
            self.call("pow")

    def modulo(self, e: ast.Binary) -> None:
        """JavaScript ``%``: exact integer remainder inline, ``fmod`` on the host otherwise."""
        asm = self.asm
        x = asm.locals.take(F64)
        self.numbers([e.left, e.right])
        y = self._nonzero_divisor(e.right)
        asm.emit("local.set", x)
        divisor = e.right.value if isinstance(e.right, ast.Number) else None
        whole = divisor is not None and divisor.is_integer() and abs(divisor) < TWO_POW_63
        for v in (x,) if whole else (x, y):  # whole and below 2**63 in magnitude
            asm.emit("local.get", v)
            asm.emit("f64.trunc")
            asm.emit("local.get", v)
            asm.emit("f64.eq")
            asm.emit("local.get", v)
            asm.emit("f64.abs")
            asm.emit("f64.const", TWO_POW_63)
            asm.emit("f64.lt")
            asm.emit("i32.and")
        if not whole:
            asm.emit("i32.and")
        asm.emit("if", F64)
        asm.emit("local.get", x)
        asm.emit("i64.trunc_sat_f64_s")  # in range: checked above
        if whole:  # a constant divisor: the engine turns the remainder into multiplications
            asm.emit("i64.const", int(divisor))  # type: ignore[arg-type]
        else:
            asm.emit("local.get", y)
            asm.emit("i64.trunc_sat_f64_s")
        asm.emit("i64.rem_s")
        asm.emit("f64.convert_i64_s")
        asm.emit("local.get", x)
        asm.emit("f64.copysign")  # the remainder has the dividend's sign, even when 0
        asm.else_()
        if self.deopt is not None:
            self.leave_native()
        else:
            asm.emit("local.get", x)
            asm.emit("local.get", y)
            self.call("fmod")
        asm.emit("end")
        asm.locals.give(x, y)

    def inline_builtin(self, e: ast.Call) -> None:
        asm = self.asm
        spec = lookup(e.name)
        assert spec is not None
        if not spec.min_args <= len(e.args) <= spec.max_args:
            raise CodegenError(
                e.pos, f"{spec.name} takes {spec.min_args} to {spec.max_args} arguments"
            )
        name = spec.name
        if name in ("MIN", "MAX"):
            self.numbers(list(e.args))
            for _ in e.args[1:]:
                asm.emit("f64.min" if name == "MIN" else "f64.max")
            return
        self.number(e.args[0])
        if name == "ABS":
            asm.emit("f64.abs")
        elif name == "INT":
            asm.emit("f64.floor")
        elif name == "FIX":
            asm.emit("f64.trunc")
        elif name == "SQR":
            x = asm.locals.take(F64)
            asm.emit("local.tee", x)
            asm.emit("f64.const", 0.0)
            asm.emit("f64.lt")
            asm.emit("if", None)
            self.error_return(ERR_SQRT)
            asm.emit("end")
            asm.emit("local.get", x)
            asm.emit("f64.sqrt")
            asm.locals.give(x)
        else:  # SGN: 1, -1, or the value itself (0, -0, NaN)
            x = asm.locals.take(F64)
            asm.emit("local.set", x)
            asm.emit("local.get", x)
            asm.emit("f64.const", 0.0)
            asm.emit("f64.gt")
            asm.emit("if", F64)
            asm.emit("f64.const", 1.0)
            asm.else_()
            asm.emit("f64.const", -1.0)
            asm.emit("local.get", x)
            asm.emit("local.get", x)
            asm.emit("f64.const", 0.0)
            asm.emit("f64.lt")
            asm.emit("select")
            asm.emit("end")
            asm.locals.give(x)

    # -- booleans (i32) --------------------------------------------------------------------

    def boolean(self, e: object) -> None:
        """Push the truth of ``e`` as an i32 0/1."""
        asm = self.asm
        kind = self.kind(e)
        if isinstance(e, ast.Bool):
            asm.emit("i32.const", int(e.value))
        elif isinstance(e, ast.Unary) and e.op == "not":
            self.boolean(e.operand)
            asm.emit("i32.eqz")
        elif isinstance(e, ast.Binary) and e.op in ("and", "or"):
            self.boolean(e.left)
            asm.emit("if", I32)
            if e.op == "and":
                self.boolean(e.right)
                asm.else_()
                asm.emit("i32.const", 0)
            else:
                asm.emit("i32.const", 1)
                asm.else_()
                self.boolean(e.right)
            asm.emit("end")
        elif isinstance(e, ast.Binary) and e.op in COMPARISONS:
            self.comparison(e)
        elif kind == NUM:
            self.number(e)
            asm.emit("f64.abs")
            asm.emit("f64.const", 0.0)
            asm.emit("f64.gt")
        else:
            self.value(e)
            self.truthy()

    def truthy(self) -> None:
        """Pop (tag, bits), push JavaScript truthiness."""
        asm = self.asm
        t, b = self.spill()
        asm.emit("local.get", t)
        asm.emit("i32.const", NUMBER)
        asm.emit("i32.eq")
        asm.emit("if", I32)
        asm.emit("local.get", b)
        asm.emit("f64.reinterpret_i64")
        asm.emit("f64.abs")
        asm.emit("f64.const", 0.0)
        asm.emit("f64.gt")
        asm.else_()
        asm.emit("local.get", t)
        asm.emit("i32.const", STRING)
        asm.emit("i32.lt_u")
        asm.emit("if", I32)  # null and booleans: the payload is 0 or 1
        asm.emit("local.get", b)
        asm.emit("i64.const", 0)
        asm.emit("i64.ne")
        asm.else_()
        self.push(t, b)
        self.call("truthy")
        asm.emit("end")
        asm.emit("end")
        asm.locals.give(t, b)

    def comparison(self, e: ast.Binary) -> None:
        asm = self.asm
        lk, rk = self.kind(e.left), self.kind(e.right)
        numeric = (NUM, BOOLEAN)
        if lk in numeric and rk in numeric and (lk == rk or e.op not in ("=", "<>")):
            if lk == BOOLEAN and rk == BOOLEAN and e.op in ("=", "<>"):
                self.boolean(e.left)
                self.boolean(e.right)
                asm.emit("i32.eq" if e.op == "=" else "i32.ne")
            else:
                self.number(e.left)
                self.number(e.right)
                asm.emit(_F64_COMPARE[e.op])
            return
        self.value(e.left)
        lt, lb = self.spill()
        self.value(e.right)
        rt, rb = self.spill()
        if e.op in ("=", "<>"):
            self._equality(lt, lb, rt, rb)
            if e.op == "<>":
                asm.emit("i32.eqz")
        else:
            self._both_numbers(lt, rt)
            asm.emit("if", I32)
            asm.emit("local.get", lb)
            asm.emit("f64.reinterpret_i64")
            asm.emit("local.get", rb)
            asm.emit("f64.reinterpret_i64")
            asm.emit(_F64_COMPARE[e.op])
            asm.else_()
            asm.emit("i32.const", CMP[e.op])
            self.push(lt, lb)
            self.push(rt, rb)
            self.call("cmp")
            asm.emit("end")
        asm.locals.give(lt, lb, rt, rb)

    def _equality(self, lt: int, lb: int, rt: int, rb: int) -> None:
        """Strict equality: different tags differ; numbers by value; null/booleans by
        payload; text, dates, lists and maps on the host."""
        asm = self.asm
        asm.emit("local.get", lt)
        asm.emit("local.get", rt)
        asm.emit("i32.ne")
        asm.emit("if", I32)
        asm.emit("i32.const", 0)
        asm.else_()
        asm.emit("local.get", lt)
        asm.emit("i32.const", NUMBER)
        asm.emit("i32.eq")
        asm.emit("if", I32)
        asm.emit("local.get", lb)
        asm.emit("f64.reinterpret_i64")
        asm.emit("local.get", rb)
        asm.emit("f64.reinterpret_i64")
        asm.emit("f64.eq")
        asm.else_()
        asm.emit("local.get", lt)
        asm.emit("i32.const", STRING)
        asm.emit("i32.lt_u")
        asm.emit("if", I32)
        asm.emit("local.get", lb)
        asm.emit("local.get", rb)
        asm.emit("i64.eq")
        asm.else_()
        asm.emit("i32.const", CMP["="])
        self.push(lt, lb)
        self.push(rt, rb)
        self.call("cmp")
        asm.emit("end")
        asm.emit("end")
        asm.emit("end")
