"""The WAT printer: readable names, exact spellings, and wasmtime assembles it to the same bytes."""

from __future__ import annotations

from typing import Any

from gb.compiler.wasm import F32, F64, I32, I64, Module
from gb.compiler.wasm.wat import identifier, string


def test_strings_and_identifiers() -> None:
    assert string(b'a"b\\c\x00\x7f\xff ~') == '"a\\22b\\5cc\\00\\7f\\ff ~"'
    assert identifier("step") == "$step"
    assert identifier("a.b/c:d") == "$a.b/c:d"
    assert identifier("my var") == '$"my var"'
    assert identifier("ação") == '$"a\\c3\\a7\\c3\\a3o"'


def test_a_module_with_everything_named_and_unnamed(check: Any) -> None:
    m = Module(name="dialog main")
    m.import_func("env", "host call", [I32], [], name="host")
    m.import_memory("env", "memory", 2, 10)
    m.table(3, 3, export="table")
    named = m.global_(F32, 1.5, name="rate", export="rate")
    m.global_(I64, -3, mutable=False, export="plain")
    f = m.func(None, [I32, F64], [I32, I32], export="two")
    f.name_local(1, 'x "quoted"')
    f.add_local(F64)
    f.add_local(I32, "counter")
    assert f.locals == [F64, I32]
    c = f.code
    c.emit("local.get", 0)
    c.emit("local.get", 2)
    c.emit("f64.store", 0, 0)  # under-aligned: printed with align=
    c.emit("local.get", 0)
    c.emit("i64.load16_s", 1, 2**32 - 1)
    c.emit("i32.wrap_i64")
    c.emit("global.get", named)
    c.emit("global.get", 1)
    c.emit("drop")
    c.emit("drop")
    c.emit("local.get", 3)
    m.export("again", "global", 1)
    m.elem(1, [0, f.index])
    m.data(0, b"\x00bin\xff")
    data = check(m)
    text = m.wat()
    for line in (
        '(module $"dialog main"',
        '(import "env" "host call" (func $host (type 0) (param i32)))',
        '(import "env" "memory" (memory (;0;) 2 10))',
        "(table (;0;) 3 3 funcref)",
        "(global $rate (mut f32) (f32.const 0x1.8000000000000p+0))",
        "(global (;1;) i64 (i64.const -3))",
        '(export "table" (table 0))',
        '(export "rate" (global $rate))',
        '(export "two" (func 1))',
        '(export "again" (global 1))',
        "(elem (;0;) (i32.const 1) func $host 1)",
        '(func (;1;) (type 1) (param i32) (param $"x \\22quoted\\22" f64) (result i32 i32)',
        "(local f64)",
        "(local $counter i32)",
        "f64.store align=1",
        "i64.load16_s offset=4294967295",
        "local.get $counter",
        '(data (;0;) (i32.const 0) "\\00bin\\ff")',
    ):
        assert line in text, line
    assert b"dialog main" in data and b"counter" in data


def test_memory_without_export_and_start(check: Any) -> None:
    m = Module()
    m.memory(1, export=None)
    g = m.global_(I32, 0)
    init = m.func("init", [], [])
    init.code.emit("i32.const", 1)
    init.code.emit("global.set", g)
    m.start(init.index)
    check(m)
    text = m.wat()
    assert "(memory (;0;) 1)" in text and "export" not in text
    assert "(start $init)" in text
