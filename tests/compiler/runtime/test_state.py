"""Saving a dialog and restoring it — in this process and in another one."""

from __future__ import annotations

import datetime as dt
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from gb.compiler import Dialog, Limits, RuntimeLimitExceeded, StateError
from gb.compiler.runtime import state
from tests.compiler.codegen.support import REGISTRY, compile_text

DIALOG = """
TALK "What is your name?"
HEAR name
people = [name, {"name": name}]
same = people
TALK "How old are you, ${name}?"
HEAR age
FOR i = 1 TO 3
    TALK "${name} is ${VAL(age) + i} in ${i} year(s)"
NEXT
RETURN same[1].name & "/" & UBOUND(people)
"""


def drive(dialog: Dialog, answers: list[str]) -> list[str]:
    """Run to the end answering HEARs; the TALKs said."""
    said: list[str] = []
    while (s := dialog.step()).reason != "done":
        assert s.reason == "call", s
        if s.keyword == "TALK":
            said.append(s.args[0])
            dialog.resume()
        else:
            dialog.resume(answers.pop(0))
    return said


def test_save_while_waiting_for_hear_and_continue() -> None:
    unit = compile_text(DIALOG)
    dialog = Dialog.start(unit, REGISTRY)
    assert dialog.step().keyword == "TALK"
    dialog.resume()
    assert dialog.step().keyword == "HEAR"
    data = dialog.save()
    restored = Dialog.restore(unit, REGISTRY, data)
    assert restored.state == "waiting"
    assert restored.pending().keyword == "HEAR"
    restored.resume("Ana")
    said = drive(restored, ["40"])
    assert said[0] == "How old are you, Ana?"
    assert said[1:] == [
        "Ana is 41 in 1 year(s)",
        "Ana is 42 in 2 year(s)",
        "Ana is 43 in 3 year(s)",
    ]
    assert restored.result == "Ana/2"
    # the original goes on independently
    dialog.resume("Bia")
    assert drive(dialog, ["1"])[0] == "How old are you, Bia?"


def test_sharing_survives_a_restore() -> None:
    src = """
    a = [1]
    b = a
    m = {"self": NULL}
    m.self = m
    WAIT 0
    b[1] = 2
    RETURN UBOUND(a) & (m.self.self = m)
    """
    unit = compile_text(src)
    dialog = Dialog.start(unit, REGISTRY)
    assert dialog.step().keyword == "WAIT"
    restored = Dialog.restore(unit, REGISTRY, dialog.save())
    restored.resume()
    assert restored.step().value == "2true"


def test_save_mid_loop_at_a_breakpoint_and_when_finished() -> None:
    unit = compile_text("s = 0\nFOR i = 1 TO 100\ns = s + i\nNEXT\nRETURN s")
    dialog = Dialog.start(unit, REGISTRY)
    assert dialog.step(10).reason == "budget"
    budget_state = dialog.save()
    dialog.breakpoints.add(3)
    dialog.step_mode = False
    assert dialog.step().reason == "break"
    paused = dialog.save()
    restored = Dialog.restore(unit, REGISTRY, paused)
    assert (restored.state, list(restored.breakpoints)) == ("paused", [3])
    restored.breakpoints.discard(3)
    assert restored.step().value == 5050
    assert Dialog.restore(unit, REGISTRY, budget_state).step().value == 5050
    done = Dialog.restore(unit, REGISTRY, restored.save())
    assert (done.state, done.result) == ("done", 5050)


def test_a_failed_dialog_stays_failed() -> None:
    unit = compile_text('TALK "x"\ny = 1 / 0')
    dialog = Dialog.start(unit, REGISTRY)
    dialog.step()
    dialog.resume()
    dialog.step()
    restored = Dialog.restore(unit, REGISTRY, dialog.save())
    assert restored.state == "failed"
    assert str(restored.error) == "t.bas:2: runtime error: division by zero"
    limited = Dialog.start(compile_text("DO\nLOOP"), REGISTRY, limits=Limits(fuel=100_000))
    while limited.step(1_000_000).reason == "budget":
        pass
    again = Dialog.restore(limited.unit, REGISTRY, limited.save())
    assert isinstance(again.error, RuntimeLimitExceeded)


def test_fuel_spent_carries_over() -> None:
    unit = compile_text("s = 0\nDO\ns = s + 1\nWAIT 0\nLOOP")
    dialog = Dialog.start(unit, REGISTRY, limits=Limits(fuel=10_000_000))
    for _ in range(50):
        dialog.step()
        dialog.resume()
    spent = dialog.fuel_spent()
    assert spent > 0
    restored = Dialog.restore(unit, REGISTRY, dialog.save(), limits=Limits(fuel=spent + 10))
    assert restored.fuel_spent() == spent
    while (s := restored.step()).reason == "call":
        restored.resume()
    assert "fuel exhausted" in s.value.message
    unlimited = Dialog.restore(unit, REGISTRY, dialog.save(), limits=Limits(fuel=None))
    assert unlimited.step().reason == "call"


def test_restore_refuses_other_programs_and_damaged_states() -> None:
    unit = compile_text(DIALOG)
    dialog = Dialog.start(unit, REGISTRY)
    dialog.step()
    data = dialog.save()
    other = compile_text('TALK "something else"')
    with pytest.raises(StateError, match="another program"):
        Dialog.restore(other, REGISTRY, data)
    with pytest.raises(StateError, match="too short"):
        Dialog.restore(unit, REGISTRY, b"GB")
    with pytest.raises(StateError, match="bad magic"):
        Dialog.restore(unit, REGISTRY, b"XXXX" + data[4:])
    with pytest.raises(StateError, match="format 9"):
        Dialog.restore(unit, REGISTRY, data[:4] + struct.pack("<H", 9) + data[6:])
    with pytest.raises(StateError, match="truncated"):
        Dialog.restore(unit, REGISTRY, data[:-3])
    with pytest.raises(StateError, match="truncated"):
        Dialog.restore(unit, REGISTRY, data[:40])
    with pytest.raises(StateError, match="trailing"):
        Dialog.restore(unit, REGISTRY, data + b"!")


def repack(
    data: bytes,
    meta: object = None,
    memory: bytes | None = None,
    heap: bytes | None = None,
    raw_memory: bytes | None = None,
) -> bytes:
    """The state with sections replaced (raw ``meta`` bytes when given as bytes)."""
    header = data[:38]
    sections = []
    at = 38
    for _ in range(3):
        (size,) = struct.unpack_from("<I", data, at)
        sections.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    if meta is not None:
        sections[0] = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    if memory is not None:
        sections[1] = zlib.compress(memory)
    if heap is not None:
        sections[2] = heap
    if raw_memory is not None:
        sections[1] = raw_memory
    return header + b"".join(struct.pack("<I", len(s)) + s for s in sections)


def test_restore_refuses_damaged_sections() -> None:
    unit = compile_text(DIALOG)
    dialog = Dialog.start(unit, REGISTRY)
    dialog.step()
    data = dialog.save()
    meta, _, _ = state.unpack(data, unit.digest)
    with pytest.raises(StateError, match="corrupt"):
        Dialog.restore(unit, REGISTRY, repack(data, meta=b"{not json"))
    with pytest.raises(StateError, match="bad meta section"):
        Dialog.restore(unit, REGISTRY, repack(data, meta=[1]))
    with pytest.raises(StateError, match="bad meta section"):
        Dialog.restore(unit, REGISTRY, repack(data, meta={"state": "waiting"}))
    with pytest.raises(StateError, match="unknown state"):
        Dialog.restore(unit, REGISTRY, repack(data, meta={**meta, "state": "dancing"}))
    with pytest.raises(StateError, match="too short"):
        Dialog.restore(unit, REGISTRY, repack(data, memory=b"\0" * 16))
    with pytest.raises(StateError, match="overwrites a constant"):
        Dialog.restore(unit, REGISTRY, repack(data, heap=state.encode_heap([(1, "x")])))
    broken = repack(data)[:-1]
    with pytest.raises(StateError):
        Dialog.restore(unit, REGISTRY, broken)
    with pytest.raises(StateError, match="corrupt"):
        state.unpack(repack(data, raw_memory=b"not zlib"), unit.digest)


def test_value_format_round_trip() -> None:
    shared = [1.0, "two"]
    cyclic: dict[str, object] = {"name": "loop"}
    cyclic["me"] = cyclic
    entries = [
        (10, "text é \ud800"),
        (11, shared),
        (12, {"list": shared, "date": dt.date(2024, 5, 31), "cycle": cyclic}),
        (13, dt.datetime(2024, 5, 31, 14, 5, tzinfo=dt.UTC)),
        (14, [None, True, False, 3, (1, 2)]),
        (300, "long " * 100),
    ]
    back = dict(state.decode_heap(state.encode_heap(entries)))
    assert back[10] == "text é \ud800"
    assert back[11] == shared and back[12]["list"] is back[11]
    assert back[12]["cycle"]["me"] is back[12]["cycle"]
    assert back[12]["date"] == dt.date(2024, 5, 31)
    assert back[13] == dt.datetime(2024, 5, 31, 14, 5, tzinfo=dt.UTC)
    assert back[14] == [None, True, False, 3.0, [1.0, 2.0]]
    assert back[300] == "long " * 100
    with pytest.raises(StateError, match="cannot save a dialog holding a set"):
        state.encode_heap([(10, {1, 2})])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01Q", "unknown object kind"),
        (b"\x00\x01\x0aZ", "unknown value tag"),
        (b"\x00\x01\x0aR\x05", "missing object"),
        (b"\x00\x01\x0ad\x03abc", "bad date"),
        (b"\x00\x01\x0aS\x02\xff\xfe", "corrupt"),
        (b"\x00\x01\x0aD\x00", "truncated"),
        (b"\x00\x01", "truncated"),
        (b"\x00\x00!", "trailing bytes"),
    ],
)
def test_value_format_refuses_damage(data: bytes, message: str) -> None:
    with pytest.raises(StateError, match=message):
        state.decode_heap(data)


SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gb.compiler import Dialog, Registry, compile_source
    from gb.compiler.runtime.semantics import to_text

    SOURCE = '''
    TALK "What is your name?"
    HEAR name
    TALK "Where do you live, ${name}?"
    HEAR city
    FOR i = 1 TO 2
        TALK "${name} from ${city} #${i}"
    NEXT
    '''
    registry = Registry()
    registry.add("TALK", lambda ctx, text: None)
    registry.add("HEAR", lambda ctx, kind=None, options=None: None)
    unit = compile_source(SOURCE, "move.bas", registry)
    mode, path = sys.argv[1], Path(sys.argv[2])
    answers = sys.argv[3:]
    if mode == "start":
        dialog = Dialog.start(unit, registry)
    else:
        dialog = Dialog.restore(unit, registry, path.read_bytes())
        dialog.resume(answers.pop(0))
    while (s := dialog.step()).reason == "call":
        if s.keyword == "TALK":
            print(to_text(s.args[0]), flush=True)
            dialog.resume()
        elif answers:
            dialog.resume(answers.pop(0))
        else:
            path.write_bytes(dialog.save())
            print("SAVED", len(path.read_bytes()))
            break
    else:
        print("DONE", s.reason)
    """
)


def test_a_dialog_moves_between_processes(tmp_path: Path) -> None:
    script = tmp_path / "move.py"
    script.write_text(SCRIPT)
    saved = tmp_path / "dialog.state"

    def process(*args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=str(tmp_path),
        )
        return done.stdout.splitlines()

    first = process("start", str(saved), "Ana")
    assert first[:2] == ["What is your name?", "Where do you live, Ana?"]
    assert first[2].startswith("SAVED ")
    second = process("restore", str(saved), "Lisbon")
    assert second == ["Ana from Lisbon #1", "Ana from Lisbon #2", "DONE done"]
