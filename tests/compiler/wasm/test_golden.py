"""Byte-exact encodings of small modules, worked out by hand from the binary format spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gb.compiler.wasm import F32, F64, I32, I64, Module


def hexes(*parts: str) -> bytes:
    return bytes.fromhex("".join(parts))


HEADER = "0061736d 01000000"


def test_empty_module_is_the_header(check: Callable[[Module], bytes]) -> None:
    assert check(Module()) == hexes(HEADER)


def test_add(check: Callable[[Module], bytes]) -> None:
    m = Module()
    f = m.func(None, [I32, I32], [I32], export="add")
    for op, *imms in (("local.get", 0), ("local.get", 1), ("i32.add",)):
        f.code.emit(op, *imms)
    assert check(m) == hexes(
        HEADER,
        "01 07 01 60 02 7f 7f 01 7f",  # type section: (i32 i32) -> i32
        "03 02 01 00",  # function section: type 0
        "07 07 01 03 616464 00 00",  # export "add" func 0
        "0a 09 01 07 00 20 00 20 01 6a 0b",  # code: no locals, get 0, get 1, add, end
    )


def test_names_section(check: Callable[[Module], bytes]) -> None:
    m = Module(name="m")
    f = m.func("f", [], [], locals=[I32])
    f.name_local(0, "x")
    m.global_(I32, init=-1, mutable=False, name="g")
    assert check(m) == hexes(
        HEADER,
        "01 04 01 60 00 00",
        "03 02 01 00",
        "06 06 01 7f 00 41 7f 0b",  # global: i32, immutable, i32.const -1
        "0a 06 01 04 01 01 7f 0b",  # body: one run of one i32 local
        "00 1d 04 6e616d65",  # custom section "name"
        "00 02 01 6d",  # module name "m"
        "01 04 01 00 01 66",  # function 0 "f"
        "02 06 01 00 01 00 01 78",  # function 0: local 0 "x"
        "07 04 01 00 01 67",  # global 0 "g"
    )


def test_memory_export_and_data(check: Callable[[Module], bytes]) -> None:
    m = Module()
    m.memory(1, 2, export="mem")
    m.data(8, b"hi")
    assert check(m) == hexes(
        HEADER,
        "05 04 01 01 01 02",  # memory: limits with maximum, 1..2 pages
        "07 07 01 03 6d656d 02 00",  # export "mem" memory 0
        "0b 08 01 00 41 08 0b 02 6869",  # active data at i32.const 8
    )


def test_imports_table_elem_start(check: Callable[[Module], bytes]) -> None:
    m = Module()
    m.import_memory("env", "memory", 1)
    f = m.import_func("env", "f", [I32], [])
    m.table(2)
    g = m.func("g", [], [])
    m.elem(0, [f, g.index])
    m.start(g.index)
    assert check(m) == hexes(
        HEADER,
        "01 08 02 60 01 7f 00 60 00 00",
        "02 17 02",  # two imports
        "03 656e76 06 6d656d6f7279 02 00 01",  # env.memory: memory, min 1
        "03 656e76 01 66 00 00",  # env.f: func type 0
        "03 02 01 01",
        "04 04 01 70 00 02",  # table funcref min 2
        "08 01 01",  # start func 1
        "09 08 01 00 41 00 0b 02 00 01",  # elem at 0: funcs 0 1
        "0a 04 01 02 00 0b",
        "00 0e 04 6e616d65 01 07 02 00 01 66 01 01 67",  # function names f, g
    )


def test_locals_are_grouped_in_runs(check: Callable[[Module], bytes]) -> None:
    m = Module()
    m.func(None, [I32], [], locals=[I32, I32, F64, I32, I64, I64, I64, F32])
    # code section: one body of 12 bytes: 5 runs (2 i32, f64, i32, 3 i64, f32), end
    assert check(m).endswith(hexes("0a 0e 01 0c 05 02 7f 01 7c 01 7f 03 7e 01 7d 0b"))


def test_instruction_encodings() -> None:
    m = Module()
    f = m.func(None, [], [])
    c = f.code
    expected: list[tuple[tuple[Any, ...], str]] = [
        (("i32.const", -1), "41 7f"),
        (("i32.const", 2**32 - 1), "41 7f"),  # the unsigned spelling of -1
        (("i64.const", 2**63), "42 80 80 80 80 80 80 80 80 80 7f"),
        (("f32.const", 1.0), "43 00 00 80 3f"),
        (("f64.const", -0.0), "44 00 00 00 00 00 00 00 80"),
        (("block", 5), "02 05"),  # a type index as a signed 33-bit LEB128
        (("block", 64), "02 c0 00"),
        (("loop",), "03 40"),
        (("if", F64), "04 7c"),
        (("br_table", [0, 1], 2), "0e 02 00 01 02"),
        (("else",), "05"),
        (("end",), "0b"),
        (("end",), "0b"),
        (("end",), "0b"),
        (("i64.load32_u", 1, 300), "35 01 ac 02"),
        (("i32.load",), "28 02 00"),  # natural alignment, offset 0
        (("memory.fill",), "fc 0b 00"),
        (("memory.copy",), "fc 0a 00 00"),
        (("i64.trunc_sat_f64_u",), "fc 07"),
        (("i64.extend32_s",), "c4"),
        (("call_indirect", 2, 0), "11 02 00"),
        (("call", 200), "10 c8 01"),
        (("memory.grow",), "40 00"),
        (("memory.size",), "3f 00"),
        (("global.set", 1), "24 01"),
    ]
    offsets = []
    for (op, *imms), _ in expected:
        offsets.append(c.offset)
        c.mark(op)
        c.emit(op, *imms)
    assert c.body == hexes(*(code for _, code in expected))
    assert c.marks == list(zip(offsets, [op for (op, *_), _ in expected], strict=True))
    assert c.offset == len(c.body)
