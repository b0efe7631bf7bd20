"""The conformance suite: BASIC programs in the style of the original's templates, each run
through the whole compiler (parse, check, wasm, VM) with the standard library, its
conversation compared line by line with the expected transcript (see ``transcript.py``).

``programs/name.bas`` runs once per ``programs/name[.variant].transcript``; ``errors/*.bas``
must fail to compile with the diagnostics of the matching ``.errors`` file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gb.compiler import CompileError, compile_source
from gb.compiler.keywords.signatures import SIGNATURES
from gb.compiler.runtime.errors import BasicRuntimeError
from gb.compiler.stdlib import Event, HostContext, ScriptedContext, TableStore, stdlib_registry
from gb.compiler.stdlib.running import start_dialog
from gb.compiler.syntax import ast
from gb.compiler.syntax.parser import parse
from gb.compiler.syntax.walk import walk

from .transcript import Transcript, canonical, read, render_event

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
ERRORS = HERE / "errors"
REGISTRY = stdlib_registry()


class RecordingService:
    """A service that records each call among the dialog's events and answers ``answer``."""

    def __init__(self, ctx: HostContext, name: str, answer: Any) -> None:
        self.ctx, self.name, self.answer = ctx, name, answer

    async def call(self, keyword: str, args: Sequence[Any]) -> Any:
        self.ctx.events.append(Event("call", (self.name, keyword, list(args))))
        return self.answer


def include_loader(name: str) -> str:
    return (PROGRAMS / "lib" / name).read_text(encoding="utf-8")


def program_of(transcript: Path) -> Path:
    return PROGRAMS / (transcript.name.split(".", 1)[0] + ".bas")


def context_for(expected: Transcript) -> ScriptedContext:
    ctx = ScriptedContext(
        inputs=list(expected.inputs),
        config=dict(expected.config),
        options=dict(expected.options),
        tables=TableStore(expected.tables),
        store=dict(expected.store),
    )
    ctx.services = {
        name: RecordingService(ctx, name, answer) for name, answer in expected.services.items()
    }
    return ctx


def checks_after(ctx: ScriptedContext, expected: Transcript) -> list[str]:
    out = []
    for line in expected.checks:
        if line.startswith("[store]"):
            out.append(f"[store] {canonical(dict(ctx.store))}")
        else:
            name = line[len("[table ") :].split("] ", 1)[0]
            out.append(f"[table {name}] {canonical(ctx.tables.get(name).rows)}")
    return out


async def run_transcript(path: Path) -> tuple[list[str], list[str]]:
    """(expected lines, actual lines) of one transcript."""
    expected = read(path)
    source = program_of(path)
    unit = compile_source(
        source.read_text(encoding="utf-8"), source.name, REGISTRY, include_loader=include_loader
    )
    ctx = context_for(expected)
    dialog = start_dialog(unit, REGISTRY, ctx, globals=dict(expected.globals))
    outcome: list[str] = []
    try:
        value = await dialog.run(ctx)
    except BasicRuntimeError as exc:
        outcome.append(f"!error {exc.line}: {exc.message}")
    else:
        if value is not None:
            outcome.append(f"=> {canonical(value)}")
    actual = [render_event(e.kind, e.value) for e in ctx.events] + outcome
    return expected.expected + expected.checks, actual + checks_after(ctx, expected)


TRANSCRIPTS = sorted(PROGRAMS.glob("*.transcript"))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.name for p in TRANSCRIPTS])
async def test_program_runs_as_its_transcript_says(path: Path) -> None:
    expected, actual = await run_transcript(path)
    assert actual == expected


ERROR_CASES = sorted(ERRORS.glob("*.bas"))


@pytest.mark.parametrize("path", ERROR_CASES, ids=[p.name for p in ERROR_CASES])
def test_program_fails_to_compile_with_these_diagnostics(path: Path) -> None:
    expected = [
        line
        for line in path.with_suffix(".errors").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    with pytest.raises(CompileError) as info:
        compile_source(path.read_text(encoding="utf-8"), path.name, REGISTRY)
    found = [f"{d.line}:{d.col}: {d.message}" for d in info.value.diagnostics]
    assert found == expected
    assert str(info.value).startswith(f"{path.name}:")


def _programs() -> list[ast.Program]:
    return [
        parse(path.read_text(encoding="utf-8"), path.name, include_loader=include_loader)
        for path in sorted(PROGRAMS.glob("*.bas"))
    ]


def test_every_keyword_of_the_catalog_is_exercised() -> None:
    called = {
        node.keyword
        for program in _programs()
        for node in walk(program)
        if isinstance(node, ast.KeywordCall)
    }
    assert set(SIGNATURES) - called == set()


def test_every_kind_of_statement_and_expression_is_exercised() -> None:
    every = {
        name
        for name, value in vars(ast).items()
        if isinstance(value, type) and value.__module__ == ast.__name__ and name != "Pos"
    }
    seen = {type(node).__name__ for program in _programs() for node in walk(program)}
    assert every - seen == set()


def test_every_program_has_a_transcript() -> None:
    with_transcripts = {program_of(path).name for path in TRANSCRIPTS}
    assert {p.name for p in PROGRAMS.glob("*.bas")} == with_transcripts
