"""``gb basic``: compile, run and dump BASIC dialogs from the command line.

::

    gb basic compile FILE.bas [-o OUT.wasm]     write the module (default: FILE.wasm)
    gb basic run FILE.bas [--fuel N] [--memory MB] [--timeout S] [--config NAME=VALUE]…
    gb basic dump FILE.bas                      the module as WebAssembly text

``run`` is a conversation on the terminal: each TALK is one line on stdout and nothing else
goes there; prompts, menus, logs and errors go to stderr; each HEAR reads one line of stdin.
The exit status is 0 when the dialog ends, 1 on a compile error, a runtime error (limits
included) or the end of input while the dialog waits, 2 for a bad command line, 130 when
interrupted (Ctrl-C).
``main(argv)`` takes the arguments after ``basic``; ``python -m gb.compiler.cli`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from . import CompiledUnit, CompileError, Limits, Registry, compile_source
from .runtime.errors import BasicRuntimeError
from .stdlib.context import TerminalContext
from .stdlib.registry import stdlib_registry
from .stdlib.running import start_dialog


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be positive")
        return value

    return parse


def _config(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip(), value


def _parser() -> argparse.ArgumentParser:
    defaults = Limits()
    parser = argparse.ArgumentParser(
        prog="gb basic", description="Compile, run and dump BASIC dialogs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("compile", help="compile to a .wasm file")
    build.add_argument("file", type=Path)
    build.add_argument("-o", "--output", type=Path, help="where to write (default: FILE.wasm)")
    run = commands.add_parser("run", help="run a conversation on the terminal")
    run.add_argument("file", type=Path)
    run.add_argument(
        "--fuel",
        type=_positive(int),
        default=defaults.fuel,
        help=f"wasm instructions allowed (default {defaults.fuel:,})",
    )
    run.add_argument(
        "--memory",
        type=_positive(int),
        default=defaults.memory_bytes >> 20,
        metavar="MB",
        help=f"linear memory (default {defaults.memory_bytes >> 20})",
    )
    run.add_argument(
        "--timeout",
        type=_positive(float),
        default=defaults.wall_seconds,
        metavar="S",
        help="seconds of running time, not counting waits for input "
        f"(default {defaults.wall_seconds})",
    )
    run.add_argument(
        "--config",
        type=_config,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a bot parameter for GET CONFIG (repeatable)",
    )
    dump = commands.add_parser("dump", help="print the module as WebAssembly text")
    dump.add_argument("file", type=Path)
    return parser


def _compile(path: Path, registry: Registry, stderr: TextIO) -> CompiledUnit | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        stderr.write(f"gb basic: cannot read {path}: {exc}\n")
        return None
    folder = path.parent

    def include(name: str) -> str:
        return (folder / name).read_text(encoding="utf-8")

    try:
        return compile_source(text, path.name, registry, include_loader=include)
    except CompileError as exc:
        stderr.write(f"{exc}\n")
        return None


def _run(
    unit: CompiledUnit,
    registry: Registry,
    args: argparse.Namespace,
    streams: tuple[TextIO, TextIO, TextIO],
) -> int:
    stdin, stdout, stderr = streams
    limits = Limits(fuel=args.fuel, memory_bytes=args.memory << 20, wall_seconds=args.timeout)
    ctx = TerminalContext(stdin=stdin, stdout=stdout, stderr=stderr, config=dict(args.config))
    try:
        dialog = start_dialog(unit, registry, ctx, limits=limits)
    except ValueError as exc:  # limits too small for this program
        stderr.write(f"gb basic: {exc}\n")
        return 1
    try:
        asyncio.run(dialog.run(ctx))
    except BasicRuntimeError as exc:
        stderr.write(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        stderr.write("\ngb basic: interrupted\n")
        return 130
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``gb basic`` with ``argv`` (the arguments after ``basic``); the exit status."""
    streams = (stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    err = streams[2]
    try:
        with contextlib.redirect_stdout(streams[1]), contextlib.redirect_stderr(err):
            args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, or a bad command line (argparse said why)
        return int(exc.code or 0)
    registry = stdlib_registry()
    unit = _compile(args.file, registry, err)
    if unit is None:
        return 1
    if args.command == "compile":
        output = args.output or args.file.with_suffix(".wasm")
        try:
            output.write_bytes(unit.wasm)
        except OSError as exc:
            err.write(f"gb basic: cannot write {output}: {exc}\n")
            return 1
        err.write(f"{output}: {len(unit.wasm)} bytes\n")
        return 0
    if args.command == "dump":
        streams[1].write(unit.wat())
        return 0
    return _run(unit, registry, args, streams)


if __name__ == "__main__":
    sys.exit(main())
