"""What the code generator and runtime tests share: a small real registry, a scripted context
and helpers that compile and run a program."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gb.compiler import CompiledUnit, Dialog, Limits, Registry, compile_program, compile_source
from gb.compiler.runtime.semantics import to_text
from gb.compiler.syntax import ast


class NoMoreInputError(Exception):
    """The test gave no answer for a HEAR."""


@dataclass
class Ctx:
    """A conversation scripted up front: ``answers`` for HEAR, TALK collected in ``out``."""

    answers: list[Any] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    log: list[Any] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    dialog_id: str = "test"
    globals: dict[str, Any] = field(default_factory=dict)

    def output(self, text: str) -> None:
        self.out.append(text)

    async def input(self) -> Any:
        if not self.answers:
            raise NoMoreInputError("no more answers")
        return self.answers.pop(0)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)


def make_registry() -> Registry:
    """TALK, HEAR, WAIT, LOG, GET CONFIG (sync and async, with results and failures)."""
    reg = Registry()

    @reg.keyword("TALK")
    def talk(ctx: Ctx, text: Any) -> None:
        ctx.output(to_text(text))

    @reg.keyword("HEAR", suspends=True)
    async def hear(ctx: Ctx, kind: str | None = None, options: Any = None) -> Any:
        return await ctx.input()

    @reg.keyword("WAIT")
    async def wait(ctx: Ctx, seconds: float) -> None:
        await ctx.sleep(seconds)

    @reg.keyword("LOG")
    def log(ctx: Ctx, value: Any) -> None:
        ctx.log.append(value)

    @reg.keyword("GET CONFIG")
    def get_config(ctx: Ctx, name: str) -> Any:
        if name == "broken":
            raise RuntimeError("the configuration store is down")
        return ctx.config.get(name)

    return reg


REGISTRY = make_registry()


def compile_text(src: str, file: str = "t.bas", registry: Registry = REGISTRY) -> CompiledUnit:
    return compile_source(textwrap.dedent(src).strip("\n") + "\n", file, registry)


@dataclass
class Outcome:
    out: list[str]
    value: Any
    dialog: Dialog
    ctx: Ctx


def run_unit(
    unit: CompiledUnit,
    answers: Iterable[Any] = (),
    *,
    globals: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
    config: Mapping[str, Any] | None = None,
    budget: int = 10_000,
) -> Outcome:
    """Run to the end (raises the program's BasicRuntimeError)."""
    dialog = Dialog.start(unit, REGISTRY, limits=limits, globals=globals)
    ctx = Ctx(answers=list(answers), config=dict(config or {}))
    value = asyncio.run(dialog.run(ctx, budget=budget))
    return Outcome(ctx.out, value, dialog, ctx)


def run(src: str, answers: Iterable[Any] = (), **kwargs: Any) -> Outcome:
    return run_unit(compile_text(src), answers, **kwargs)


def value_of(src: str, **kwargs: Any) -> Any:
    """What ``RETURN`` gives at the end of ``src``."""
    return run(src, **kwargs).value


# ---- hand-built trees -----------------------------------------------------------------------

P = ast.Pos(1, 1)


def at(line: int) -> ast.Pos:
    return ast.Pos(line, 1)


def num(v: float) -> ast.Number:
    return ast.Number(P, float(v))


def name(ident: str) -> ast.Name:
    return ast.Name(P, ident)


def text(*parts: str | ast.Expr) -> ast.String:
    return ast.String(P, list(parts))


def binary(op: str, left: ast.Expr, right: ast.Expr) -> ast.Binary:
    return ast.Binary(P, op, left, right)


def tree(*body: ast.Stmt) -> CompiledUnit:
    return compile_program(ast.Program("tree.bas", list(body)))


def run_tree(*body: ast.Stmt, **kwargs: Any) -> Outcome:
    return run_unit(tree(*body), **kwargs)
