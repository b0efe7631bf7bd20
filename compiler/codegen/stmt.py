"""Compiling statements into blocks of the state machine.

Every statement starts a block of its own (so a breakpoint or single step can stop there and
resume there): it stores its line and, only while a debugger is attached, asks whether to
stop. Keyword calls and FUNCTION calls end a block; control flow is jumps between blocks.

Loops whose body has no calls and no inner loops are also compiled a second time as native
wasm loops: numeric code then runs without the dispatcher, spending one unit of budget per
iteration and suspending at the loop head when the budget is spent. The loop head runs the
native version unless a debugger is attached, in which case it runs the block version
(which can stop at any statement).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..syntax import ast
from ..wasm import F64, I32
from .asm import Asm, BlockRef, Frame, Label
from .expr import CodegenError, Env, ExprCompiler
from .layout import (
    ARGC,
    BREAK,
    BUDGET,
    BUDGET_LEFT,
    CALL,
    DEBUG,
    ERR_STACK,
    FP,
    FRAME_CALLER,
    FRAME_FUNCTION,
    FRAME_HEADER,
    FRAME_RETURN,
    KEYWORD,
    KWARGS,
    LINE,
    LIST,
    NUMBER,
    PC,
    RET,
    SLOT,
    SP,
    STACK_END,
)
from .lower import (
    CallFunction,
    CallKeyword,
    Conditional,
    Lowered,
    Lowerer,
    SetTemp,
    Temp,
    truth,
)
from .scopes import FunctionScope, Slot, bodies_of, expressions_of, lower_name

LValue = ast.Name | ast.Member | ast.Index | Temp


@dataclass
class Loop:
    kind: str  # "for" or "do"
    exit: BlockRef | Label


@dataclass
class Program:
    """What every function's compiler shares: where functions start, their frame sizes,
    the block that ends the dialog and the helper that decides whether to stop."""

    entries: dict[int, BlockRef]
    frames: dict[int, Frame]
    done: BlockRef
    enter: int  # function index of the statement prologue (line, block) -> stop?
    locations: dict[tuple[str | None, int], int]  # (file, line) -> the number LINE holds


class ForLoop:
    """``FOR var = start TO stop STEP step``: the test and the increment, for the native
    version (bounds in locals) and the block version (bounds in frame temporaries)."""

    def __init__(self, c: FunctionCompiler, s: ast.For, var: ast.Name, stop: Temp, step: Temp):
        self.c, self.s, self.var, self.stop, self.step = c, s, var, stop, step
        self.bounds: list[int] = []  # native version: locals holding stop and (step >= 0)

    def test(self) -> None:
        """Push 1 while the loop goes on: step >= 0 ? var <= stop : var >= stop."""
        c, asm = self.c, self.c.asm
        x = asm.locals.take(F64)
        c.expr.number(self.var)
        asm.emit("local.set", x)
        for compare in ("f64.le", "f64.ge"):
            asm.emit("local.get", x)
            if self.bounds:
                asm.emit("local.get", self.bounds[0])
            else:
                c.load_number(self.stop)
            asm.emit(compare)
        if self.bounds:
            asm.emit("local.get", self.bounds[1])
        else:
            self.step_is_up()
        asm.emit("select")
        asm.locals.give(x)

    def step_is_up(self) -> None:
        self.c.load_number(self.step)
        self.c.asm.emit("f64.const", 0.0)
        self.c.asm.emit("f64.ge")

    def increment(self) -> None:
        """var = var + step (the body may have changed var: it is checked again)."""
        c, asm = self.c, self.c.asm
        cached = c.expr.cached_local(self.var)
        if cached is not None:
            asm.emit("local.get", cached)
            c.load_number(self.step)
            asm.emit("f64.add")
            asm.emit("local.set", cached)
            return
        slot = c.expr.slot(self.var)
        c.expr.base(slot)
        c.expr.number(self.var)
        c.load_number(self.step)
        asm.emit("f64.add")
        asm.emit("f64.store", 3, slot.offset + 8)
        c.expr.store_tag(slot, NUMBER)

    def native(self, head: BlockRef) -> None:
        c, asm = self.c, self.c.asm
        stop_local, up_local = asm.locals.take(F64), asm.locals.take(I32)
        c.load_number(self.stop)
        asm.emit("local.set", stop_local)
        self.step_is_up()
        asm.emit("local.set", up_local)
        self.bounds = [stop_local, up_local]
        with asm.structured("block") as exit_, asm.structured("loop") as top:
            self.test()
            asm.emit("i32.eqz")
            asm.br_if(exit_)
            c.loop_body("for", exit_, self.s.body)
            self.increment()
            c.budget_check(head)
            asm.br(top)
        self.bounds = []
        asm.locals.give(stop_local, up_local)

    def flat(self) -> None:
        c, asm = self.c, self.c.asm
        cond = asm.new_block()
        exit_ = BlockRef()
        self.test()
        asm.emit("i32.eqz")
        asm.goto_if(exit_)
        c.loop_body("for", exit_, self.s.body)
        self.increment()
        asm.goto(cond)
        asm.place(exit_)


class FunctionCompiler:
    """Compiles one FUNCTION/SUB body (or the main program) into ``asm``."""

    def __init__(self, asm: Asm, env: Env, scope: FunctionScope, program: Program) -> None:
        self.asm = asm
        self.env = env
        self.scope = scope
        self.program = program
        self.expr = ExprCompiler(asm, env, scope)
        self.lower = Lowerer(env.scopes.functions)
        self.loops: list[Loop] = []
        self.exit = BlockRef()
        self.native = False
        # statement -> the block its block version starts at (the target of leave_native)
        self.flat_starts: dict[int, BlockRef] = {}

    # -- the function as a whole -----------------------------------------------------------

    def compile(self, body: list[ast.Stmt]) -> None:
        self.statements(body)
        self.asm.goto(self.exit)
        self.asm.place(self.exit)
        if self.scope.index == 0:
            self.set_ret_null()
            self.asm.goto(self.program.done)
        else:
            self.epilogue()
        self.scope.temps = self.lower.temps.peak

    def set_ret_null(self) -> None:
        for offset in (RET, RET + 8):
            self.asm.emit("i32.const", 0)
            self.asm.emit("i64.const", 0)
            self.asm.emit("i64.store", 3, offset)

    def epilogue(self) -> None:
        """Leave the function: its result to RET, pop the frame, continue at the caller."""
        asm, fp = self.asm, self.env.fp
        if self.scope.result is None:
            self.set_ret_null()
        else:
            for part in (0, 8):
                asm.emit("i32.const", 0)
                asm.emit("local.get", fp)
                asm.emit("i64.load", 3, self.scope.result + part)
                asm.emit("i64.store", 3, RET + part)
        asm.emit("i32.const", 0)  # PC = return block
        asm.emit("local.get", fp)
        asm.emit("i32.load", 2, FRAME_RETURN)
        asm.emit("i32.store", 2, PC)
        asm.emit("i32.const", 0)  # SP = this frame's base
        asm.emit("local.get", fp)
        asm.emit("i32.store", 2, SP)
        asm.emit("local.get", fp)  # FP = the caller's frame
        asm.emit("i32.load", 2, FRAME_CALLER)
        asm.emit("local.set", fp)
        asm.emit("i32.const", 0)
        asm.emit("local.get", fp)
        asm.emit("i32.store", 2, FP)
        asm.emit("@dispatch")

    # -- statements ------------------------------------------------------------------------

    def statements(self, body: list[ast.Stmt]) -> None:
        for s in body:
            self.statement(s)

    def statement(self, s: ast.Stmt) -> None:
        if isinstance(s, ast.FunctionDef | ast.TableDef):
            return  # compiled on their own / declarations only
        mark = self.lower.temps.mark()
        outer, outer_deopt = self.asm.line, self.expr.deopt
        line = self.asm.line = self.program.locations[(s.pos.file, s.pos.line)]
        if self.native:
            self.asm.mark(line)
            self.store_line(line)
            self.expr.deopt = self.flat_starts.setdefault(id(s), BlockRef())
        else:
            start = self.asm.place(self.flat_starts.pop(id(s), BlockRef()))
            start.starts = True
            self.asm.mark(line)
            self.enter(start, line)
        handler = _HANDLERS[type(s)]
        handler(self, s)
        self.expr.deopt = outer_deopt
        self.lower.temps.release(mark)
        self.asm.line = outer

    def store_line(self, line: int) -> None:
        self.asm.emit("i32.const", 0)
        self.asm.emit("i32.const", line)
        self.asm.emit("i32.store", 2, LINE)

    def enter(self, start: BlockRef, line: int) -> None:
        """A statement begins: store its line; stop with BREAK if the debugger says so."""
        asm = self.asm
        asm.emit("i32.const", line)
        asm.block_id(start)
        asm.emit("call", self.program.enter)
        asm.emit("if", None)
        asm.emit("i32.const", BREAK)
        asm.emit("return")
        asm.emit("end")

    def run_pre(self, items: list[Lowered]) -> None:
        """Run the statements lowering hoisted out of an expression."""
        for item in items:
            if isinstance(item, SetTemp):
                self.expr.store(self.expr.slot(item.temp), item.value)
            elif isinstance(item, CallKeyword):
                self.keyword_call(item.keyword, item.args, item.dest)
            elif isinstance(item, CallFunction):
                self.function_call(item.pos, item.callee, item.args, item.dest)
            else:
                self.conditional(item)

    def lowered(self, e: ast.Expr) -> ast.Expr:
        """``e`` with its calls run first (their code is emitted now)."""
        pre: list[Lowered] = []
        out = self.lower.expr(e, pre)
        self.run_pre(pre)
        return out

    def lowered_all(self, exprs: list[ast.Expr]) -> list[ast.Expr]:
        pre: list[Lowered] = []
        out = self.lower.sequence(exprs, pre)
        self.run_pre(pre)
        return out

    def conditional(self, c: Conditional) -> None:
        skip = BlockRef()
        self.expr.boolean(c.temp)
        if c.op == "and":
            self.asm.emit("i32.eqz")
        self.asm.goto_if(skip)
        self.run_pre(c.pre)
        self.expr.store(self.expr.slot(c.temp), truth(c.right))
        self.asm.place(skip)

    # -- assignment ------------------------------------------------------------------------

    def lowered_target(self, target: LValue, value: ast.Expr) -> tuple[LValue, ast.Expr]:
        """Lower the parts of an assignment left to right: target object, index, value."""
        if isinstance(target, ast.Member):
            obj, value = self.lowered_all([target.obj, value])
            return ast.Member(target.pos, obj, target.field), value
        if isinstance(target, ast.Index):
            obj, index, value = self.lowered_all([target.obj, target.index, value])
            return ast.Index(target.pos, obj, index), value
        return target, self.lowered(value)

    def lowered_lvalue(self, target: LValue) -> LValue:
        if isinstance(target, ast.Member):
            return ast.Member(target.pos, self.lowered(target.obj), target.field)
        if isinstance(target, ast.Index):
            obj, index = self.lowered_all([target.obj, target.index])
            return ast.Index(target.pos, obj, index)
        return target

    def assign(self, target: LValue, value: ast.Expr) -> None:
        if isinstance(target, ast.Name | Temp):
            self.expr.store(self.expr.slot(target), value)
        else:
            self.assign_with(target, lambda: self.expr.value(value))

    def assign_with(self, target: LValue, push: Callable[[], None]) -> None:
        """Assign the value ``push`` leaves on the stack."""
        if isinstance(target, ast.Name | Temp):
            push()
            self.expr.store_pair(self.expr.slot(target))
        elif isinstance(target, ast.Member):
            self.expr.value(target.obj)
            self.asm.emit("i32.const", self.env.interned.string(target.field))
            push()
            self.expr.call("set_member")
        else:
            self.expr.value(target.obj)
            self.expr.value(target.index)
            push()
            self.expr.call("set_index")

    def push_ret(self) -> None:
        self.expr.load(Slot(RET, True))

    def do_assign(self, s: ast.Assign) -> None:
        target, value = self.lowered_target(s.target, s.value)
        self.assign(target, value)

    # -- calls -----------------------------------------------------------------------------

    def keyword_call(self, keyword: str, args: list[ast.Expr], dest: LValue | None) -> None:
        """Write the arguments, suspend with CALL, and on resume store the result."""
        asm = self.asm
        for i, a in enumerate(args):
            self.expr.store(Slot(KWARGS + SLOT * i, True), a)
        for field_, value in ((KEYWORD, self.env.interned.keyword(keyword)), (ARGC, len(args))):
            asm.emit("i32.const", 0)
            asm.emit("i32.const", value)
            asm.emit("i32.store", 2, field_)
        resume = BlockRef()
        asm.emit("i32.const", 0)
        asm.block_id(resume)
        asm.emit("i32.store", 2, PC)
        asm.emit("i32.const", CALL)
        asm.emit("return")
        asm.place(resume)
        if dest is not None:
            self.assign_with(dest, self.push_ret)

    def function_call(
        self, pos: ast.Pos, callee: FunctionScope, args: list[ast.Expr], dest: Temp | None
    ) -> None:
        """Push a frame for ``callee``, pass the arguments, jump to it; on return store
        its result."""
        asm, fp = self.asm, self.env.fp
        if len(args) > len(callee.params):
            raise CodegenError(
                pos, f"{callee.name} takes {len(callee.params)} argument(s), got {len(args)}"
            )
        frame = self.program.frames[callee.index]
        base = asm.locals.take(I32)
        resume = BlockRef()
        self.new_frame(base, frame, resume, callee.index)
        for i, a in enumerate(args):
            param = Slot(FRAME_HEADER + SLOT * i, False)
            self.expr.value(a)
            t, b = self.expr.spill()
            asm.emit("local.get", base)
            asm.emit("local.get", t)
            asm.emit("i32.store", 2, param.offset)
            asm.emit("local.get", base)
            asm.emit("local.get", b)
            asm.emit("i64.store", 3, param.offset + 8)
            asm.locals.give(t, b)
        asm.emit("i32.const", 0)  # SP = base + frame size
        asm.emit("local.get", base)
        asm.frame_size(frame)
        asm.emit("i32.add")
        asm.emit("i32.store", 2, SP)
        asm.emit("i32.const", 0)  # FP = base
        asm.emit("local.get", base)
        asm.emit("local.tee", fp)
        asm.emit("i32.store", 2, FP)
        asm.locals.give(base)
        asm.goto(self.program.entries[callee.index])
        asm.place(resume)
        if dest is not None:
            self.assign_with(dest, self.push_ret)

    def new_frame(self, base: int, frame: Frame, resume: BlockRef, function: int) -> None:
        """Set local ``base`` to the top of the stack and make a zeroed frame there (a
        stack overflow is a runtime error) whose header returns to ``resume``."""
        asm = self.asm
        asm.emit("i32.const", 0)
        asm.emit("i32.load", 2, SP)
        asm.emit("local.tee", base)
        asm.frame_size(frame)
        asm.emit("i32.add")
        asm.emit("i32.const", 0)
        asm.emit("i32.load", 2, STACK_END)
        asm.emit("i32.gt_u")
        asm.emit("if", None)
        self.expr.error_return(ERR_STACK)
        asm.emit("end")
        asm.emit("local.get", base)  # a fresh frame: every slot null
        asm.emit("i32.const", 0)
        asm.frame_size(frame)
        asm.emit("memory.fill")
        asm.emit("local.get", base)  # the header: where to return, the caller's frame, who
        asm.block_id(resume)
        asm.emit("i32.store", 2, FRAME_RETURN)
        asm.emit("local.get", base)
        asm.emit("local.get", self.env.fp)
        asm.emit("i32.store", 2, FRAME_CALLER)
        asm.emit("local.get", base)
        asm.emit("i32.const", function)
        asm.emit("i32.store", 2, FRAME_FUNCTION)

    def do_keyword(self, s: ast.KeywordStmt) -> None:
        args = self.lowered_all(s.call.args)
        target = None if s.target is None else self.lowered_lvalue(s.target)
        self.keyword_call(s.call.keyword, args, target)

    def do_expr(self, s: ast.ExprStmt) -> None:
        e = s.expr
        if isinstance(e, ast.Name) and lower_name(e.ident) in self.env.scopes.functions:
            e = ast.Call(e.pos, e.ident, [])  # a SUB called without parentheses
        if isinstance(e, ast.KeywordCall):
            self.keyword_call(e.keyword, self.lowered_all(e.args), None)
        elif isinstance(e, ast.Call) and self.lower.is_user_call(e):
            args = self.lowered_all(e.args)
            self.function_call(e.pos, self.env.scopes.functions[e.name.lower()], args, None)
        else:
            self.expr.value(self.lowered(e))
            self.asm.emit("drop")
            self.asm.emit("drop")

    # -- control flow ----------------------------------------------------------------------

    def do_if(self, s: ast.If) -> None:
        if self.native:
            self.native_if(s.branches, s.orelse)
            return
        end = BlockRef()
        for cond, body in s.branches:
            nxt = BlockRef()
            self.expr.boolean(self.lowered(cond))
            self.asm.emit("i32.eqz")
            self.asm.goto_if(nxt)
            self.statements(body)
            self.asm.goto(end)
            self.asm.place(nxt)
        self.statements(s.orelse)
        self.asm.place(end)

    def native_if(self, branches: list[tuple[ast.Expr, list[ast.Stmt]]],
                  orelse: list[ast.Stmt]) -> None:  # fmt: skip
        (cond, body), rest = branches[0], branches[1:]
        self.expr.boolean(cond)
        with self.asm.structured("if"):
            self.statements(body)
            if rest or orelse:
                self.asm.else_()
                if rest:
                    self.native_if(rest, orelse)
                else:
                    self.statements(orelse)

    def budget_check(self, head: BlockRef) -> None:
        """Spend one unit; when none is left, stop with BUDGET and resume at ``head``."""
        asm = self.asm
        left = asm.locals.take(I32)
        asm.emit("i32.const", 0)
        asm.emit("i32.const", 0)
        asm.emit("i32.load", 2, BUDGET_LEFT)
        asm.emit("i32.const", 1)
        asm.emit("i32.sub")
        asm.emit("local.tee", left)
        asm.emit("i32.store", 2, BUDGET_LEFT)
        asm.emit("local.get", left)
        asm.emit("i32.const", 0)
        asm.emit("i32.le_s")
        asm.emit("if", None)
        self.expr.flush()
        asm.emit("i32.const", 0)
        asm.block_id(head)
        asm.emit("i32.store", 2, PC)
        asm.emit("i32.const", BUDGET)
        asm.emit("return")
        asm.emit("end")
        asm.locals.give(left)

    def native_ok(self, body: list[ast.Stmt]) -> bool:
        """Whether a loop body can run as a native wasm loop: no calls, no inner loops."""
        for s in body:
            if isinstance(s, ast.For | ast.ForEach | ast.DoLoop | ast.KeywordStmt):
                return False
            if isinstance(s, ast.ExprStmt) and (
                isinstance(s.expr, ast.Name)
                and lower_name(s.expr.ident) in self.env.scopes.functions
            ):
                return False
            if any(self.lower.has_calls(e) for e in expressions_of(s)):
                return False
            if not all(self.native_ok(inner) for inner in bodies_of(s)):
                return False
        return True

    def dual_loop(self, body: list[ast.Stmt], native: Callable[[BlockRef], None],
                  flat: Callable[[], None], loop_var: ast.Name | None = None) -> None:  # fmt: skip
        """A loop head that runs ``native`` (a wasm loop) unless a debugger is attached or
        a variable it keeps in a local does not hold a number; then ``flat`` (the block
        version)."""
        if self.native or not self.native_ok(body):
            flat()
            return
        asm, expr = self.asm, self.expr
        head = asm.new_block()
        slow = BlockRef()
        after = BlockRef()
        asm.emit("i32.const", 0)
        asm.emit("i32.load", 2, DEBUG)
        asm.goto_if(slow)
        cached = {}
        for slot in expr.numeric_candidates(body, loop_var):
            expr.base(slot)
            asm.emit("i32.load", 2, slot.offset)
            asm.emit("i32.const", NUMBER)
            asm.emit("i32.ne")
            asm.goto_if(slow)
            local = asm.locals.take(F64)
            expr.base(slot)
            asm.emit("f64.load", 3, slot.offset + 8)
            asm.emit("local.set", local)
            cached[(slot.offset, slot.is_global)] = (slot, local)
        expr.cached = cached
        self.native = True
        native(head)
        self.native = False
        expr.flush()
        expr.cached = {}
        asm.locals.give(*(local for _, local in cached.values()))
        asm.goto(after)
        asm.place(slow)
        flat()
        asm.place(after)

    def do_for(self, s: ast.For) -> None:
        var = ast.Name(s.pos, s.var)
        step_expr = s.step if s.step is not None else ast.Number(s.pos, 1.0)
        start, stop, step = self.lowered_all([s.start, s.stop, step_expr])
        loop = ForLoop(self, s, var, self.lower.temps.take(s.pos), self.lower.temps.take(s.pos))
        self.assign(var, ast.Unary(s.pos, "+", start))
        self.expr.store(self.expr.slot(loop.stop), ast.Unary(s.pos, "+", stop))
        self.expr.store(self.expr.slot(loop.step), ast.Unary(s.pos, "+", step))
        self.dual_loop(s.body, loop.native, loop.flat, var)

    def load_number(self, temp: Temp) -> None:
        """Push a temporary known to hold a number."""
        self.asm.emit("local.get", self.env.fp)
        self.asm.emit("f64.load", 3, self.scope.temp_offset(temp.index) + 8)

    def loop_body(self, kind: str, exit_: BlockRef | Label, body: list[ast.Stmt]) -> None:
        self.loops.append(Loop(kind, exit_))
        self.statements(body)
        self.loops.pop()

    def do_loop(self, s: ast.DoLoop) -> None:
        def test(leave: Callable[[], None]) -> None:
            assert s.cond is not None
            self.expr.boolean(self.lowered(s.cond))
            if not s.until:
                self.asm.emit("i32.eqz")
            leave()

        def native(head: BlockRef) -> None:
            with self.asm.structured("block") as exit_, self.asm.structured("loop") as top:
                if s.cond is not None and s.test_first:
                    test(lambda: self.asm.br_if(exit_))
                self.loop_body("do", exit_, s.body)
                if s.cond is not None and not s.test_first:
                    test(lambda: self.asm.br_if(exit_))
                self.budget_check(head)
                self.asm.br(top)

        def flat() -> None:
            top = self.asm.new_block()
            exit_ = BlockRef()
            if s.cond is not None and s.test_first:
                test(lambda: self.asm.goto_if(exit_))
            self.loop_body("do", exit_, s.body)
            if s.cond is not None and not s.test_first:
                test(lambda: self.asm.goto_if(exit_))
            self.asm.goto(top)
            self.asm.place(exit_)

        self.dual_loop(s.body, native, flat)

    def do_for_each(self, s: ast.ForEach) -> None:
        asm, fp = self.asm, self.env.fp
        iterable = self.lowered(s.iterable)
        items = self.lower.temps.take(s.pos)
        position = self.lower.temps.take(s.pos)
        items_at = self.scope.temp_offset(items.index)
        pos_at = self.scope.temp_offset(position.index)  # +4 count, +8 next index (tag 0)
        self.expr.value(iterable)
        self.expr.call("iter_start")
        handle = asm.locals.take(I32)
        asm.emit("local.set", handle)
        for offset, value in ((items_at, LIST), (pos_at, 0), (pos_at + 8, 0)):  # pos: tag null
            asm.emit("local.get", fp)
            asm.emit("i32.const", value)
            asm.emit("i32.store", 2, offset)
        asm.emit("local.get", fp)  # the snapshot's handle, and its length
        asm.emit("local.get", handle)
        asm.emit("i32.store", 2, items_at + 8)
        asm.emit("local.get", fp)
        asm.emit("local.get", handle)
        self.expr.call("iter_len")
        asm.emit("i32.store", 2, pos_at + 4)
        asm.locals.give(handle)
        top = asm.new_block()
        exit_ = BlockRef()
        asm.emit("local.get", fp)  # next index >= count: done
        asm.emit("i32.load", 2, pos_at + 8)
        asm.emit("local.get", fp)
        asm.emit("i32.load", 2, pos_at + 4)
        asm.emit("i32.ge_u")
        asm.goto_if(exit_)

        def item() -> None:
            asm.emit("local.get", fp)
            asm.emit("i32.load", 2, items_at + 8)
            asm.emit("local.get", fp)
            asm.emit("i32.load", 2, pos_at + 8)
            self.expr.call("iter_get")

        self.assign_with(ast.Name(s.pos, s.var), item)
        asm.emit("local.get", fp)  # next index += 1
        asm.emit("local.get", fp)
        asm.emit("i32.load", 2, pos_at + 8)
        asm.emit("i32.const", 1)
        asm.emit("i32.add")
        asm.emit("i32.store", 2, pos_at + 8)
        self.loop_body("for", exit_, s.body)
        asm.goto(top)
        asm.place(exit_)

    def do_select(self, s: ast.Select) -> None:
        subject = self.lower.temps.take(s.pos)
        self.expr.store(self.expr.slot(subject), self.lowered(s.subject))

        def tests(case: ast.Case) -> list[ast.Expr]:
            out: list[ast.Expr] = []
            for v in case.values:
                if isinstance(v, tuple) and isinstance(v[0], str):
                    out.append(ast.Binary(case.pos, v[0], subject, v[1]))  # type: ignore[arg-type]
                elif isinstance(v, tuple):
                    low = ast.Binary(case.pos, ">=", subject, v[0])  # type: ignore[arg-type]
                    high = ast.Binary(case.pos, "<=", subject, v[1])  # type: ignore[arg-type]
                    out.append(ast.Binary(case.pos, "and", low, high))
                else:
                    out.append(ast.Binary(case.pos, "=", subject, v))  # type: ignore[arg-type]
            return out

        if self.native:
            with self.asm.structured("block") as end:
                for case in s.cases:
                    with self.asm.structured("block") as next_case:
                        with self.asm.structured("block") as match:
                            for test in tests(case):
                                self.expr.boolean(test)
                                self.asm.br_if(match)
                            self.asm.br(next_case)
                        self.statements(case.body)
                        self.asm.br(end)
                self.statements(s.orelse)
            return
        end_block = BlockRef()
        for case in s.cases:
            matched, next_block = BlockRef(), BlockRef()
            for test in tests(case):
                self.expr.boolean(self.lowered(test))
                self.asm.goto_if(matched)
            self.asm.goto(next_block)
            self.asm.place(matched)
            self.statements(case.body)
            self.asm.goto(end_block)
            self.asm.place(next_block)
        self.statements(s.orelse)
        self.asm.place(end_block)

    def do_exit(self, s: ast.Exit) -> None:
        what = s.what.lower()
        if what in ("function", "sub"):
            if self.scope.index == 0:
                raise CodegenError(s.pos, f"EXIT {what.upper()} outside a FUNCTION or SUB")
            self.expr.flush()
            self.asm.goto(self.exit)
        elif what in ("program", "end"):
            self.expr.flush()
            self.set_ret_null()
            self.asm.goto(self.program.done)
        else:
            kind = "do" if what == "while" else what
            for loop in reversed(self.loops):
                if loop.kind == kind:
                    if isinstance(loop.exit, Label):
                        self.asm.br(loop.exit)
                    else:
                        self.expr.flush()
                        self.asm.goto(loop.exit)
                    return
            raise CodegenError(s.pos, f"EXIT {what.upper()} outside a {kind.upper()} loop")

    def do_return(self, s: ast.Return) -> None:
        value = None if s.value is None else self.lowered(s.value)
        if self.scope.index == 0:
            if value is None:
                self.set_ret_null()
            else:
                self.expr.store(Slot(RET, True), value)
            self.expr.flush()
            self.asm.goto(self.program.done)
            return
        if value is not None:
            if self.scope.result is None:
                raise CodegenError(s.pos, f"SUB {self.scope.name} cannot return a value")
            self.expr.store(Slot(self.scope.result, False), value)
        self.expr.flush()
        self.asm.goto(self.exit)


_HANDLERS: dict[type, Callable[[FunctionCompiler, ast.Stmt], None]] = {
    ast.Assign: FunctionCompiler.do_assign,  # type: ignore[dict-item]
    ast.KeywordStmt: FunctionCompiler.do_keyword,  # type: ignore[dict-item]
    ast.ExprStmt: FunctionCompiler.do_expr,  # type: ignore[dict-item]
    ast.If: FunctionCompiler.do_if,  # type: ignore[dict-item]
    ast.For: FunctionCompiler.do_for,  # type: ignore[dict-item]
    ast.ForEach: FunctionCompiler.do_for_each,  # type: ignore[dict-item]
    ast.DoLoop: FunctionCompiler.do_loop,  # type: ignore[dict-item]
    ast.Select: FunctionCompiler.do_select,  # type: ignore[dict-item]
    ast.Exit: FunctionCompiler.do_exit,  # type: ignore[dict-item]
    ast.Return: FunctionCompiler.do_return,  # type: ignore[dict-item]
}
