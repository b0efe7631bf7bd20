"""A conversation with the standard library survives a restart: the VM's saved state and the
host state of its context (language, SET OUTPUT, file numbers, MERGE counters) restored in
another process carry on where it stopped."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from gb.compiler import StateError, compile_source
from gb.compiler.runtime.state import encode_heap
from gb.compiler.stdlib import ScriptedContext, TableStore, stdlib_registry
from gb.compiler.stdlib.running import start_dialog

SOURCE = """\
SET LANGUAGE "pt"
SET OUTPUT ARRAY
SET PARAM color AS "blue"
OPEN "visits.txt" AS #1
MERGE "People" WITH [{"id": 1, "name": "Ana"}] BY "id"
TALK "Seu e-mail?"
HEAR mail AS EMAIL
PRINT #1, mail
rows = FIND "People", "id = 1"
TALK "${UBOUND(rows)} ${rows[1].name} / ${REPORT}"
"""

CONTINUE = """\
import asyncio, base64, json, sys
from gb.compiler import Dialog, compile_source
from gb.compiler.stdlib import ScriptedContext, TableStore, stdlib_registry
from gb.compiler.stdlib.running import run_restored

saved = json.loads(sys.stdin.read())
registry = stdlib_registry()
unit = compile_source(saved["source"], "visit.bas", registry)
tables = TableStore({"People": [{"id": 1, "name": "Ana"}], "visits.xlsx": []})
ctx = ScriptedContext(inputs=["not an e-mail", "ana@example.com"], tables=tables)
ctx.load_state(base64.b64decode(saved["host"]))
dialog = Dialog.restore(unit, registry, base64.b64decode(saved["vm"]))
asyncio.run(run_restored(dialog, ctx))
print(json.dumps({"talk": ctx.transcript(), "visits": ctx.tables.get("visits.xlsx").rows,
                  "params": dict(ctx.user_params)}))
"""


async def test_a_conversation_continues_in_another_process() -> None:
    registry = stdlib_registry()
    unit = compile_source(SOURCE, "visit.bas", registry)
    ctx = ScriptedContext(tables=TableStore({"People": []}))
    dialog = start_dialog(unit, registry, ctx)
    suspension = dialog.step()
    while suspension.keyword != "HEAR":
        assert suspension.reason == "call" and suspension.keyword is not None
        await dialog.perform(ctx, suspension.keyword, suspension.args)
        suspension = dialog.step()
    assert ctx.transcript() == ["Seu e-mail?"]
    saved = {
        "source": SOURCE,
        "vm": base64.b64encode(dialog.save()).decode(),
        "host": base64.b64encode(ctx.save_state()).decode(),
    }
    done = subprocess.run(
        [sys.executable, "-c", CONTINUE], input=json.dumps(saved), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["talk"] == [
        "Por favor, digite um e-mail válido.",  # the language survived
        "1 Ana / People adds: 1, updates: 0 and skipped: 0.",  # OUTPUT ARRAY and REPORT too
    ]
    assert result["visits"] == [{"A": "ana@example.com"}]  # and file number 1
    assert result["params"] == {"color": "blue"}


def test_corrupt_host_state_is_refused() -> None:
    ctx = ScriptedContext()
    with pytest.raises(StateError, match="saved host state is corrupt: it is not one map"):
        ctx.load_state(encode_heap([(0, [1.0])]))
    with pytest.raises(StateError, match="it is not one map"):
        ctx.load_state(encode_heap([(0, {}), (1, {})]))
    with pytest.raises(StateError, match="saved host state is corrupt: KeyError"):
        ctx.load_state(encode_heap([(0, {"options": {}})]))
    bad_files = {"options": {}, "params": {}, "report": [None, 0, 0, 0], "files": {"x": "a"}}
    with pytest.raises(StateError, match="ValueError"):
        ctx.load_state(encode_heap([(0, bad_files)]))
    with pytest.raises(StateError):
        ctx.load_state(b"\x00garbage")
