"""The Dialog API: stepping, keyword calls, breakpoints, inspection, failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gb.compiler import BasicRuntimeError, Dialog, Limits, Registry, Suspension
from gb.compiler.host.registry import ParamSpec
from gb.compiler.host.values import Kind
from tests.compiler.codegen.support import REGISTRY, Ctx, compile_text, run

GREETING = """
TALK "Hello, what is your name?"
HEAR name
FOR i = 1 TO 3
    TALK "${name}${i}"
NEXT
RETURN "bye " + name
"""


def test_step_resume_by_hand() -> None:
    unit = compile_text(GREETING)
    dialog = Dialog.start(unit, REGISTRY)
    assert dialog.state == "running"
    s = dialog.step()
    assert (s.reason, s.keyword, s.args, s.line) == (
        "call",
        "TALK",
        ("Hello, what is your name?",),
        1,
    )
    assert dialog.state == "waiting"
    assert dialog.pending() == s
    with pytest.raises(RuntimeError, match="resume"):
        dialog.step()
    dialog.resume(None)
    s = dialog.step()
    assert (s.reason, s.keyword, s.args) == ("call", "HEAR", ())
    dialog.resume("Ana")
    talks = []
    while (s := dialog.step()).reason == "call":
        talks.append(s.args[0])
        dialog.resume()
    assert talks == ["Ana1", "Ana2", "Ana3"]
    assert s == Suspension("done", 6, value="bye Ana")
    assert dialog.state == "done"
    assert dialog.result == "bye Ana"
    assert dialog.step() is s  # done stays done
    with pytest.raises(RuntimeError, match="not waiting"):
        dialog.resume(1)
    with pytest.raises(RuntimeError, match="not waiting"):
        dialog.pending()


def test_bad_budget_and_unfinished_result() -> None:
    dialog = Dialog.start(compile_text(GREETING), REGISTRY)
    with pytest.raises(ValueError, match="budget"):
        dialog.step(0)
    with pytest.raises(RuntimeError, match="not done"):
        _ = dialog.result
    assert dialog.error is None


def test_budget_suspends_long_loops_and_resumes() -> None:
    unit = compile_text("s = 0\nFOR i = 1 TO 1000\ns = s + i\nNEXT\nRETURN s")
    dialog = Dialog.start(unit, REGISTRY)
    reasons = []
    while (s := dialog.step(100)).reason == "budget":
        reasons.append(s.line)
    assert s.value == 500500
    assert 9 <= len(reasons) <= 11


def test_budget_in_block_loops_and_recursion() -> None:
    src = """
    FUNCTION depth(n)
        IF n = 0 THEN
            RETURN 0
        END IF
        RETURN 1 + depth(n - 1)
    END FUNCTION
    total = 0
    FOR i = 1 TO 50
        total = total + depth(20)
    NEXT
    RETURN total
    """
    dialog = Dialog.start(compile_text(src), REGISTRY)
    budgets = 0
    while (s := dialog.step(10)).reason == "budget":
        budgets += 1
    assert s.value == 1000
    assert budgets > 50


def test_run_yields_to_the_event_loop() -> None:
    unit = compile_text("s = 0\nFOR i = 1 TO 100000\ns = s + 1\nNEXT\nRETURN s")

    async def main() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        result = await Dialog.start(unit, REGISTRY).run(Ctx(), budget=1000)
        task.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result == 100000
    assert ticks >= 50


def test_breakpoints_and_single_steps() -> None:
    unit = compile_text(GREETING)
    dialog = Dialog.start(unit, REGISTRY)
    dialog.breakpoints.add(4)
    assert 4 in dialog.breakpoints and list(dialog.breakpoints) == [4]
    assert repr(dialog.breakpoints) == "Breakpoints([4])"
    assert dialog.step().keyword == "TALK"
    dialog.resume()
    dialog.step()
    dialog.resume("Bo")
    s = dialog.step()
    assert (s.reason, s.line, dialog.state) == ("break", 4, "paused")
    s = dialog.step()
    assert (s.reason, s.args) == ("call", ("Bo1",))  # resumed past the breakpoint
    dialog.resume()
    assert dialog.step().reason == "break"  # the loop comes back to line 4
    dialog.breakpoints.discard(4)
    dialog.breakpoints.discard(99)
    dialog.step_mode = True
    assert dialog.step_mode
    lines = []
    while (s := dialog.step()).reason != "done":
        if s.reason == "break":
            lines.append(s.line)
        else:
            dialog.resume()
    assert lines == [4, 6]  # line 4 for i = 3, then the RETURN
    with pytest.raises(ValueError, match="positive integer"):
        dialog.breakpoints.add(0)


def test_turning_the_debugger_off_while_paused() -> None:
    dialog = Dialog.start(compile_text("a = 1\nb = 2\nc = 3\nRETURN a + b + c"), REGISTRY)
    dialog.step_mode = True
    assert dialog.step().line == 1
    dialog.step_mode = False
    assert dialog.step().value == 6


def test_breakpoint_stops_native_loops_too() -> None:
    unit = compile_text("s = 0\nFOR i = 1 TO 5\ns = s + i\nNEXT\nRETURN s")
    dialog = Dialog.start(unit, REGISTRY)
    dialog.step(2)  # in the native loop when the budget runs out
    dialog.breakpoints.add(3)
    s = dialog.step()
    assert (s.reason, s.line) == ("break", 3)
    dialog.breakpoints.clear()
    assert dialog.step().value == 15


def test_run_with_an_on_break_callback() -> None:
    unit = compile_text("a = 1\nb = 2\nRETURN a + b")
    dialog = Dialog.start(unit, REGISTRY)
    dialog.breakpoints.add(2)
    seen: list[dict[str, Any]] = []

    async def on_break(d: Dialog, s: Suspension) -> None:
        seen.append(d.variables())

    assert asyncio.run(dialog.run(Ctx(), on_break=on_break)) == 3
    assert seen == [{"a": 1.0, "b": None}]
    dialog = Dialog.start(unit, REGISTRY)
    dialog.breakpoints.add(2)
    assert asyncio.run(dialog.run(Ctx())) == 3  # without a callback breakpoints pass


def test_variables_and_call_stack_inside_functions() -> None:
    src = """
    g = "global"
    FUNCTION inner(x)
        y = x * 2
        inner = y
        WAIT 0
    END FUNCTION
    SUB outer(a)
        r = inner(a + 1)
    END SUB
    outer 5
    """
    dialog = Dialog.start(compile_text(src), REGISTRY)
    s = dialog.step()
    assert (s.keyword, s.line) == ("WAIT", 5)
    assert dialog.call_stack() == [
        Frame_("inner", 5),
        Frame_("outer", 8),
        Frame_("(main)", 10),
    ]
    variables = dialog.variables()
    assert variables["g"] == "global"
    assert variables["x"] == 6 and variables["y"] == 12 and variables["inner"] == 12
    assert "r" not in variables
    dialog.resume()
    assert dialog.step().reason == "done"


def Frame_(name: str, line: int) -> Any:
    from gb.compiler import Frame

    return Frame(name, line)


def test_runtime_error_ends_the_dialog_cleanly() -> None:
    dialog = Dialog.start(compile_text('TALK "a"\nx = 1 / 0\nTALK "never"'), REGISTRY)
    assert dialog.step().reason == "call"
    dialog.resume()
    s = dialog.step()
    assert s.reason == "error" and dialog.state == "failed"
    assert isinstance(s.value, BasicRuntimeError)
    assert str(s.value) == "t.bas:2: runtime error: division by zero"
    assert dialog.error is s.value
    assert dialog.step() is s
    dialog.fail("ignored once failed")
    assert dialog.error is s.value


def test_keyword_failures_become_runtime_errors() -> None:
    with pytest.raises(BasicRuntimeError) as info:
        run('TALK "x"\nv = GET CONFIG "broken"')
    assert (info.value.line, info.value.message) == (2, "the configuration store is down")
    with pytest.raises(BasicRuntimeError, match="WAIT: argument 'seconds' must be a number"):
        run('WAIT "soon"'.replace('"soon"', "s"), globals={"s": "soon"})
    with pytest.raises(BasicRuntimeError, match="no more answers"):
        run("HEAR x")


def test_keywords_missing_from_the_host() -> None:
    unit = compile_text('TALK "hi"\nLOG 1')
    host = Registry()
    host.declare("TALK", [ParamSpec("text", Kind.ANY)], Kind.NULL)
    with pytest.raises(BasicRuntimeError, match="TALK has no implementation"):
        asyncio.run(Dialog.start(unit, host).run(Ctx()))
    with pytest.raises(BasicRuntimeError, match="TALK is not available"):
        asyncio.run(Dialog.start(unit, Registry()).run(Ctx()))


def test_a_keyword_returning_something_that_is_not_a_value() -> None:
    reg = Registry()
    reg.add("GET CONFIG", lambda ctx, name: object())
    unit = compile_text('x = GET CONFIG "a"', registry=reg)
    with pytest.raises(
        BasicRuntimeError, match="GET CONFIG returned a object is not a BASIC value"
    ):
        asyncio.run(Dialog.start(unit, reg).run(Ctx()))


def test_globals_preset_and_extra_globals() -> None:
    unit = compile_text("RETURN UserName & flag & count")
    dialog = Dialog.start(
        unit, REGISTRY, globals={"username": "ana", "flag": True, "count": 2, "unused": [1]}
    )
    assert dialog.extra_globals == {"unused": [1]}
    assert dialog.step().value == "anatrue2"


def test_limits_that_do_not_fit() -> None:
    unit = compile_text("RETURN 1")
    with pytest.raises(ValueError, match="too small for this program"):
        Dialog.start(unit, REGISTRY, limits=Limits(memory_bytes=64))
    with pytest.raises(ValueError, match="cannot hold a stack"):
        Dialog.start(unit, REGISTRY, limits=Limits(memory_bytes=1 << 16, stack_bytes=1 << 20))
    with pytest.raises(ValueError, match="below the stack in use"):
        Dialog.start(unit, REGISTRY, limits=Limits(stack_bytes=0))
