"""Big programs are split into several wasm functions ("chunks"); jumps between them go
through ``step``. Here every block is a chunk of its own, and programs must behave the same."""

from __future__ import annotations

import pytest

from gb.compiler import Dialog
from gb.compiler.codegen import asm as asm_module

from .support import REGISTRY, compile_text, run
from .test_statements import test_functions_recursion_locals_and_globals
from .test_trees import NATIVE

PROGRAMS = [
    NATIVE,
    """
    out = ""
    FOR EACH x IN [1, 2, 3]
        IF x = 2 THEN
            out = out & "two"
        ELSE
            out = out & x
        END IF
    NEXT
    n = 0
    DO
        n = n + 1
        IF n > 3 THEN EXIT DO
    LOOP
    SELECT CASE n
        CASE 4
            out = out & "!"
        CASE ELSE
            out = out & "?"
    END SELECT
    RETURN out
    """,
]


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asm_module, "CHUNK_INSTRUCTIONS", 1)


@pytest.mark.parametrize("src", PROGRAMS)
def test_programs_behave_the_same_in_tiny_chunks(src: str, tiny_chunks: None) -> None:
    unit = compile_text(src)
    assert unit.wat().count("(func $chunk") >= 20
    expected = run(src).value
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asm_module, "CHUNK_INSTRUCTIONS", 20_000)
        assert run(src).value == expected


def test_functions_and_breakpoints_across_chunks(tiny_chunks: None) -> None:
    test_functions_recursion_locals_and_globals()
    dialog = Dialog.start(compile_text("a = 1\nb = 2\nRETURN a + b"), REGISTRY)
    dialog.breakpoints.add(2)
    assert dialog.step().line == 2
    assert dialog.step().value == 3
