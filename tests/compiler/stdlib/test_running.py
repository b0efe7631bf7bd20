"""Starting dialogs with the standard context: preset globals, TABLEs, ``ctx.globals`` bound
to the program's variables (REPORT after MERGE)."""

from __future__ import annotations

import datetime as dt

import pytest

from gb.compiler import Dialog, Suspension, compile_source
from gb.compiler.runtime.errors import BasicRuntimeError
from gb.compiler.stdlib import ScriptedContext, TableStore, stdlib_registry
from gb.compiler.stdlib.running import DialogGlobals, bind, run_restored, start_dialog

REGISTRY = stdlib_registry()
MOMENT = dt.datetime(2024, 3, 5, 9, 7)


async def test_sandbox_globals_are_preset() -> None:
    source = 'TALK "" + today + " " + now + " " + LEN(enter)\nTALK YEAR(date)\n'
    unit = compile_source(source, "t.bas", REGISTRY)
    ctx = ScriptedContext(options={"language": "pt"})
    dialog = start_dialog(unit, REGISTRY, ctx, now=MOMENT)
    await dialog.run(ctx)
    assert ctx.transcript() == ["05/03/2024 09:07 1", "2024"]
    ctx = ScriptedContext()
    dialog = start_dialog(unit, REGISTRY, ctx, globals={"today": "x"})
    await dialog.run(ctx)
    assert ctx.transcript()[0].startswith("x ")


async def test_tables_are_declared_once() -> None:
    source = "TABLE People\n    Name string(50)\n    Age integer\nEND TABLE\nTALK 1\n"
    unit = compile_source(source, "t.bas", REGISTRY)
    ctx = ScriptedContext()
    start_dialog(unit, REGISTRY, ctx)
    assert ctx.tables.get("people").columns == ["Name", "Age"]
    filled = ScriptedContext(tables=TableStore({"People": [{"Name": "Ana"}]}))
    start_dialog(unit, REGISTRY, filled)
    assert filled.tables.get("people").columns == ["Name"]  # an existing table is kept


async def test_globals_are_the_dialogs_variables() -> None:
    unit = compile_source("x = 1\nTALK x\nTALK REPORT\n", "t.bas", REGISTRY)
    ctx = ScriptedContext()
    dialog = start_dialog(unit, REGISTRY, ctx, globals={"host": "h"})
    globals_ = ctx.globals
    assert isinstance(globals_, DialogGlobals)
    globals_["X"] = 5.0
    assert globals_["x"] == 5.0 and globals_["host"] == "h"
    globals_["new"] = [1]
    assert dialog.extra_globals["new"] == [1]
    assert {"x", "report", "today", "host", "new"} <= set(globals_)
    assert len(globals_) == len(list(globals_))
    del globals_["new"]
    with pytest.raises(KeyError, match="x is a variable of the program"):
        del globals_["x"]
    with pytest.raises(KeyError):
        globals_["missing"]
    globals_["report"] = "custom"
    await dialog.run(ctx)
    assert ctx.transcript() == ["1", "custom"]  # the program set x = 1 after our write
    other = ScriptedContext()
    bind(other, dialog)
    assert other.globals["x"] == 1.0


async def test_merge_updates_report_in_the_program() -> None:
    source = 'MERGE "T" WITH [{"id": 1}] BY "id"\nTALK REPORT\nRESET REPORT\nTALK REPORT\n'
    unit = compile_source(source, "t.bas", REGISTRY)
    ctx = ScriptedContext()
    await start_dialog(unit, REGISTRY, ctx).run(ctx)
    first, after_reset = ctx.transcript()
    assert first == "T adds: 1, updates: 0 and skipped: 0."
    assert after_reset == "T adds: 0, updates: 0 and skipped: 0."


async def test_run_restored_continues_from_a_wait_or_a_pause() -> None:
    unit = compile_source('TALK "a"\nHEAR x\nTALK "got " + x\n', "t.bas", REGISTRY)
    ctx = ScriptedContext()
    dialog = start_dialog(unit, REGISTRY, ctx)
    await dialog.perform(ctx, "TALK", dialog.step().args)
    assert dialog.step().keyword == "HEAR"
    waiting = Dialog.restore(unit, REGISTRY, dialog.save())
    later = ScriptedContext(inputs=["yes"])
    await run_restored(waiting, later)
    assert later.transcript() == ["got yes"]
    paused = start_dialog(unit, REGISTRY, ScriptedContext())
    paused.breakpoints.add(3)
    first = ScriptedContext(inputs=["no"])
    with pytest.raises(BasicRuntimeError, match="stopped for the test"):
        await paused.run(first, on_break=_stop_here)
    resumed = Dialog.restore(unit, REGISTRY, _SAVED.pop())
    again = ScriptedContext()
    await run_restored(resumed, again)
    assert again.transcript() == ["got no"]


_SAVED: list[bytes] = []


async def _stop_here(dialog: Dialog, _: Suspension) -> None:
    """At the breakpoint: save the dialog (as a host shutting down would) and stop it."""
    _SAVED.append(dialog.save())
    dialog.fail("stopped for the test")
