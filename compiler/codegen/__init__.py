"""Code generation: a checked syntax tree -> one WebAssembly module with a ``step`` function.

:func:`generate` lays out memory (:mod:`.layout`), resolves names (:mod:`.scopes`), compiles the
main program and every FUNCTION/SUB into blocks of one state machine (:mod:`.stmt`,
:mod:`.expr`, :mod:`.asm`) and builds the module with :mod:`compiler.wasm`. The runtime
(:mod:`compiler.runtime`) instantiates it and drives ``step``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..syntax import ast
from ..wasm import I32, I64, Module
from .asm import Asm, BlockRef, Frame
from .debuginfo import DebugInfo, FunctionInfo, LineTable
from .expr import CodegenError, Env, Interned
from .layout import (
    BUDGET_LEFT,
    CONTINUE,
    DEBUG,
    DONE,
    FP,
    IMPORTS,
    LINE,
    PC,
    SKIP,
    SLOT,
    STEP_MODE,
    MemoryMap,
)
from .scopes import (
    Scopes,
    build_scopes,
    expressions_of,
    function_defs,
    walk_expressions,
    walk_statements,
)
from .stmt import FunctionCompiler, Program

__all__ = ["CodegenError", "Generated", "generate"]

PAGE = 65536


@dataclass(frozen=True)
class Generated:
    """A compiled program: the module and everything the runtime and debugger need."""

    wasm: bytes
    module: Module
    memory: MemoryMap
    strings: tuple[str, ...]  # heap handle i+1 holds strings[i]
    keywords: tuple[str, ...]  # keyword id -> registry name
    builtins: tuple[str, ...]  # host built-in id -> name
    lines: LineTable
    debug: DebugInfo
    memory_pages: int


def _locations(program: ast.Program) -> dict[tuple[str | None, int], int]:
    """A number for every statement position: its line for the program's own file, and
    numbers after the last line for lines of INCLUDEd files."""
    positions = [s.pos for s in walk_statements(program.body)]
    for fn in function_defs(program):
        positions.append(fn.pos)
        positions.extend(s.pos for s in walk_statements(fn.body))
    codes: dict[tuple[str | None, int], int] = {}
    main = [p.line for p in positions if p.file is None]
    for line in main:
        codes[(None, line)] = line
    after = max(main, default=0) + 1
    for file, line in sorted({(p.file, p.line) for p in positions if p.file is not None}):
        codes[(file, line)] = after
        after += 1
    return codes


def _kwarg_slots(program: ast.Program) -> int:
    bodies = [program.body, *(fn.body for fn in function_defs(program))]
    widest = 0
    for body in bodies:
        for s in walk_statements(body):
            for e in expressions_of(s):
                for sub in walk_expressions(e):
                    if isinstance(sub, ast.KeywordCall):
                        widest = max(widest, len(sub.args))
    return widest


def _enter(module: Module, memory: MemoryMap) -> int:
    """``enter(line, block) -> i32``, run as each statement begins: store the line; while a
    debugger is attached, stop (1, with the program counter at ``block``) in step mode or
    at a breakpoint — but not at the statement a break is resumed from."""
    f = module.func("enter", [I32, I32], [I32])
    c = f.code
    c.emit("i32.const", 0)
    c.emit("local.get", 0)
    c.emit("i32.store", 2, LINE)
    c.emit("i32.const", 0)
    c.emit("i32.load", 2, DEBUG)
    c.emit("i32.eqz")
    c.emit("if", None)
    c.emit("i32.const", 0)
    c.emit("return")
    c.emit("end")
    c.emit("i32.const", 0)
    c.emit("i32.load", 2, SKIP)
    c.emit("if", None)
    c.emit("i32.const", 0)
    c.emit("i32.const", 0)
    c.emit("i32.store", 2, SKIP)
    c.emit("i32.const", 0)
    c.emit("return")
    c.emit("end")
    c.emit("i32.const", 0)
    c.emit("i32.load", 2, STEP_MODE)
    c.emit("local.get", 0)
    c.emit("i32.load8_u", 0, memory.breakpoints)
    c.emit("i32.or")
    c.emit("if", None)
    c.emit("i32.const", 0)
    c.emit("local.get", 1)
    c.emit("i32.store", 2, PC)
    c.emit("i32.const", 1)
    c.emit("return")
    c.emit("end")
    c.emit("i32.const", 0)
    return f.index


def _step(module: Module, chunks: list[int], chunk_of: list[int]) -> None:
    """``step(budget) -> reason``: run the chunk holding the program counter until one
    returns something other than CONTINUE."""
    f = module.func("step", [I32], [I32], locals=[I32], export="step")
    module.names.set_local(f.index, 0, "budget")
    c = f.code
    c.emit("i32.const", 0)
    c.emit("local.get", 0)
    c.emit("i32.store", 2, BUDGET_LEFT)
    c.emit("loop", None)
    for _ in range(len(chunks) + 1):
        c.emit("block", None)
    c.emit("i32.const", 0)
    c.emit("i32.load", 2, PC)
    c.emit("br_table", chunk_of, len(chunks))
    for k, chunk in enumerate(chunks):
        c.emit("end")
        c.emit("call", chunk)
        c.emit("local.tee", 1)
        c.emit("i32.const", CONTINUE)
        c.emit("i32.ne")
        c.emit("if", None)
        c.emit("local.get", 1)
        c.emit("return")
        c.emit("end")
        c.emit("br", len(chunks) - k)
    c.emit("end")  # a program counter outside the program
    c.emit("unreachable")
    c.emit("end")
    c.emit("unreachable")


def _compile_functions(
    asm: Asm, env: Env, scopes: Scopes, shared: Program, program: ast.Program
) -> dict[int, int]:
    """The main program, then every FUNCTION/SUB, then the block that ends the dialog;
    returns each function's entry block."""
    entry_blocks = {0: 0}
    FunctionCompiler(asm, env, scopes.main, shared).compile(program.body)
    for scope in scopes.by_index()[1:]:
        assert scope.node is not None
        entry = asm.place(shared.entries[scope.index])
        entry.line = shared.locations[(scope.node.pos.file, scope.node.pos.line)]
        entry_blocks[scope.index] = entry.id
        FunctionCompiler(asm, env, scope, shared).compile(scope.node.body)
    done = asm.place(shared.done)
    asm.emit("i32.const", 0)
    asm.block_id(done)
    asm.emit("i32.store", 2, PC)
    asm.emit("i32.const", DONE)
    asm.emit("return")
    for scope in scopes.by_index():
        shared.frames[scope.index].size = scope.frame_size
    return entry_blocks


def _debug_info(
    scopes: Scopes, memory: MemoryMap, entry_blocks: dict[int, int], lines: LineTable
) -> DebugInfo:
    infos = tuple(
        FunctionInfo(
            name=f.name,
            index=f.index,
            params=tuple(f.params),
            locals=dict(f.locals),
            result=f.result,
            frame_size=f.frame_size,
            entry_block=entry_blocks[f.index],
            is_sub=f.is_sub,
        )
        for f in scopes.by_index()
    )
    return DebugInfo(
        globals={name: memory.globals + SLOT * i for name, i in scopes.globals.items()},
        functions=infos,
        statement_lines=frozenset(
            line for line in lines.starts.values() if line not in lines.included
        ),
    )


def generate(program: ast.Program) -> Generated:
    """Compile ``program``; raises :class:`CodegenError` for what cannot be compiled."""
    scopes = build_scopes(program)
    locations = _locations(program)
    max_code = max(locations.values(), default=0)
    memory = MemoryMap.plan(_kwarg_slots(program), max_code, len(scopes.globals), 0)
    module = Module("basic")
    imports = {name: module.import_func("env", name, *sig) for name, sig in IMPORTS.items()}
    pair_type = module.type([], [I32, I64])
    enter = _enter(module, memory)
    fp_local, budget_local = 0, 1
    asm = Asm(first_local=2)
    interned = Interned()
    env = Env(imports, pair_type, fp_local, memory.globals, scopes, interned)
    shared = Program(
        entries={f.index: BlockRef() for f in scopes.by_index()[1:]},
        frames={f.index: Frame() for f in scopes.by_index()},
        done=BlockRef(),
        enter=enter,
        locations=locations,
    )
    entry_blocks = _compile_functions(asm, env, scopes, shared, program)
    memory = replace(memory, main_frame_size=scopes.main.frame_size)
    ranges = asm.chunks()
    chunks: list[int] = []
    chunk_marks: list[tuple[int, list[tuple[int, int]]]] = []
    for number, (lo, hi) in enumerate(ranges):
        f = module.func(f"chunk{number}", [], [I32], locals=[I32, I32, *asm.locals.types])
        module.names.set_local(f.index, fp_local, "fp")
        f.code.emit("i32.const", 0)  # the frame pointer, cached in a local
        f.code.emit("i32.load", 2, FP)
        f.code.emit("local.set", fp_local)
        chunk_marks.append((f.index, asm.encode_chunk(f.code, lo, hi, budget_local)))
        chunks.append(f.index)
    _step(module, chunks, [k for k, (lo, hi) in enumerate(ranges) for _ in range(lo, hi)])
    pages = max(1, math.ceil((memory.static_end + memory.main_frame_size) / PAGE))
    module.memory(pages, export="memory")
    wasm = module.encode()
    offsets = module.function_offsets()
    lines = LineTable(
        tuple(
            (offsets[index] + offset, line)
            for index, marks in chunk_marks
            for offset, line in marks
        ),
        {b.id: b.line for b in asm.blocks if b.starts},
        {b.id: b.line for b in asm.blocks if b.line},
        {code: (file, line) for (file, line), code in locations.items() if file is not None},
    )
    return Generated(
        wasm=wasm,
        module=module,
        memory=memory,
        strings=tuple(interned.strings),
        keywords=tuple(interned.keywords),
        builtins=tuple(interned.builtins),
        lines=lines,
        debug=_debug_info(scopes, memory, entry_blocks, lines),
        memory_pages=pages,
    )
