"""gb's BASIC compiler and virtual machine.

``compile_source`` turns the text of a dialog into a :class:`CompiledUnit` (a WebAssembly
module plus its line table and debug info); :class:`Dialog` runs one conversation of it in
wasmtime, suspending at every keyword call so the host can await it, and can be saved and
restored as bytes::

    unit = compile_source(text, "hello.bas", registry)
    result = await Dialog.start(unit, registry).run(ctx)
"""

from __future__ import annotations

from collections.abc import Callable

from .check import check
from .codegen import CodegenError, generate
from .codegen.debuginfo import DebugInfo, FunctionInfo, LineTable
from .codegen.unit import CompiledUnit
from .diagnostics import CompileError, Diagnostic, source_line
from .host.registry import Context, Registry
from .runtime.dialog import Dialog, Frame, Limits, Suspension
from .runtime.errors import BasicRuntimeError, RuntimeLimitExceeded, StateError
from .syntax import ast, parse

Program = ast.Program

__all__ = [
    "BasicRuntimeError",
    "CompileError",
    "CompiledUnit",
    "Context",
    "DebugInfo",
    "Diagnostic",
    "Dialog",
    "Frame",
    "FunctionInfo",
    "Limits",
    "LineTable",
    "Program",
    "Registry",
    "RuntimeLimitExceeded",
    "StateError",
    "Suspension",
    "compile_program",
    "compile_source",
]


def compile_program(program: ast.Program) -> CompiledUnit:
    """Generate code for a parsed and checked program (what ``compile_source`` does after
    the front end); a construct the code generator cannot compile is a CompileError."""
    try:
        generated = generate(program)
    except CodegenError as exc:
        file = exc.pos.file or program.file
        text = program.sources.get(file, "")
        line = source_line(text, exc.pos.line)
        raise CompileError(
            [Diagnostic(file, exc.pos.line, exc.pos.col, exc.message, None, line)]
        ) from None
    return CompiledUnit(program.file, program, generated)


def compile_source(
    text: str,
    file: str = "<dialog>",
    registry: Registry | None = None,
    *,
    include_loader: Callable[[str], str] | None = None,
) -> CompiledUnit:
    """Parse, check and compile a dialog; raises CompileError with every problem found.

    ``registry`` is the keyword registry the program is checked against (an empty one when
    None: then any keyword is an error); ``include_loader(name)`` returns the text of a
    file named by ``INCLUDE``.
    """
    program = parse(text, file, include_loader)
    problems = check(program, registry if registry is not None else Registry())
    errors = [d for d in problems if d.severity == "error"]
    if errors:
        raise CompileError(errors)
    return compile_program(program)
