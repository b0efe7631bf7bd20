"""Hard limits: a runaway dialog ends with a clear error, never the process."""

from __future__ import annotations

import asyncio

import pytest

from gb.compiler import Dialog, Limits, RuntimeLimitExceeded
from tests.compiler.codegen.support import REGISTRY, Ctx, compile_text, run


def finish(src: str, limits: Limits) -> RuntimeLimitExceeded:
    dialog = Dialog.start(compile_text(src), REGISTRY, limits=limits)
    with pytest.raises(RuntimeLimitExceeded) as info:
        asyncio.run(dialog.run(Ctx(), budget=100_000))
    assert dialog.state == "failed"
    return info.value


def test_infinite_native_loop_runs_out_of_fuel() -> None:
    error = finish("x = 0\nDO\nx = x + 1\nLOOP", Limits(fuel=5_000_000))
    assert "fuel exhausted" in error.message
    assert error.line == 3


def test_infinite_block_loop_runs_out_of_time() -> None:
    error = finish(
        "DO\nWAIT 0\nLOOP".replace("WAIT 0", 'x = LEN("a")\nLOG x'), Limits(wall_seconds=0.05)
    )
    assert error.message.startswith("time limit exceeded")


def test_recursion_overflows_the_basic_stack() -> None:
    src = """
    FUNCTION down(n)
        RETURN down(n + 1)
    END FUNCTION
    RETURN down(1)
    """
    error = finish(src, Limits(stack_bytes=4096))
    assert error.message == "stack overflow: too many nested FUNCTION/SUB calls"
    assert error.line == 2


def test_string_growth_hits_the_text_limit() -> None:
    error = finish('s = "x"\nDO\ns = s & s\nLOOP', Limits(max_string=1 << 16))
    assert "a text of 131072 characters" in error.message


def test_many_live_values_hit_the_heap_limit() -> None:
    src = """
    l = NEW ARRAY
    DO
        l[UBOUND(l)] = [1]
    LOOP
    """
    error = finish(src, Limits(heap_bytes=200_000))
    assert error.message.startswith("heap limit exceeded")


def test_many_live_handles_hit_the_object_limit() -> None:
    src = """
    n = 0
    DO WHILE n < 20000
        n = n + 1
        WAIT 0
    LOOP
    """
    dialog = Dialog.start(compile_text(src), REGISTRY, limits=Limits(heap_objects=10))
    for i in range(20):
        dialog._write_slot(dialog.unit.debug.globals["n"], [i])
        dialog.collect()
    assert len(dialog.heap) <= dialog.heap.permanent + 1


def test_garbage_is_collected_while_a_loop_runs() -> None:
    src = """
    FOR i = 1 TO 30000
        s = "value " & i
    NEXT
    RETURN s
    """
    outcome = run(src, limits=Limits(heap_objects=5000))
    assert outcome.value == "value 30000"
    assert len(outcome.dialog.heap) - outcome.dialog.heap.permanent < 5000


def test_a_huge_result_from_a_keyword_is_refused() -> None:
    dialog = Dialog.start(
        compile_text('x = GET CONFIG "big"'), REGISTRY, limits=Limits(heap_bytes=1000)
    )
    dialog.step()
    dialog.resume(["x" * 600] * 4)
    s = dialog.step()
    assert s.reason == "error"
    assert isinstance(s.value, RuntimeLimitExceeded)
    assert s.value.message.startswith("GET CONFIG returned heap limit exceeded")
