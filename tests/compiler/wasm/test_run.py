"""Modules built with the encoder run in wasmtime and compute what they should."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import wasmtime

from gb.compiler.wasm import F32, F64, I32, I64, Code, Module


def emit_all(c: Code, *instrs: tuple[Any, ...]) -> None:
    for op, *imms in instrs:
        c.emit(op, *imms)


def test_loop_sums_with_i64(run: Any) -> None:
    """sum(1..n) with a loop, br_if back edge and an i64 accumulator."""
    m = Module()
    f = m.func("sum", [I32], [I64], locals=[I64], export="sum")
    f.name_local(0, "n")
    acc = f.add_local(I64, "acc")
    emit_all(
        f.code,
        ("block",), ("loop",),
        ("local.get", 0), ("i32.eqz",), ("br_if", 1),
        ("local.get", acc), ("local.get", 0), ("i64.extend_i32_u",), ("i64.add",),
        ("local.set", acc),
        ("local.get", 0), ("i32.const", 1), ("i32.sub",), ("local.set", 0),
        ("br", 0),
        ("end",), ("end",),
        ("local.get", acc),
    )  # fmt: skip
    r = run(m)
    assert r.call("sum", 0) == 0
    assert r.call("sum", 10) == 55
    assert r.call("sum", 100_000) == 5_000_050_000


def test_br_table_switch(run: Any) -> None:
    m = Module()
    f = m.func("switch", [I32], [I32], export="switch")
    c = f.code
    emit_all(c, ("block",), ("block",), ("block",), ("block",))
    emit_all(c, ("local.get", 0), ("br_table", [0, 1, 2], 3))
    for result in (10, 20, 30, 99):  # after each end: the case that label selected
        emit_all(c, ("end",), ("i32.const", result), ("return",))
    r = run(m)
    assert [r.call("switch", i) for i in (0, 1, 2, 3, 7, -1)] == [10, 20, 30, 99, 99, 99]


def test_memory_data_copy_fill_grow(run: Any) -> None:
    m = Module()
    m.memory(1, 3)
    m.data(16, b"hello")
    f = m.func("work", [], [I32], export="work")
    emit_all(
        f.code,
        ("i32.const", 32), ("i32.const", 16), ("i32.const", 5), ("memory.copy",),
        ("i32.const", 37), ("i32.const", ord("!")), ("i32.const", 3), ("memory.fill",),
        ("i32.const", 0), ("f64.const", 2.5), ("f64.store", 3, 64),
        ("i32.const", 0), ("f64.load", 3, 64), ("f64.const", 2.0), ("f64.mul",),
        ("i32.trunc_sat_f64_s",),
        ("i32.const", 1), ("memory.grow",), ("i32.add",),  # grow returns the old size: 1
        ("memory.size",), ("i32.add",),  # now 2 pages
    )  # fmt: skip
    r = run(m)
    assert r.call("work") == 5 + 1 + 2
    memory = r.get("memory")
    assert memory.read(r.store, 32, 40) == b"hello!!!"
    assert memory.size(r.store) == 2


def test_globals_and_exported_global(run: Any) -> None:
    m = Module()
    counter = m.global_(I32, init=40, export="counter", name="counter")
    scale = m.global_(F64, init=0.5, mutable=False)
    f = m.func("tick", [], [F64], export="tick")
    emit_all(
        f.code,
        ("global.get", counter), ("i32.const", 1), ("i32.add",), ("global.set", counter),
        ("global.get", counter), ("f64.convert_i32_s",), ("global.get", scale), ("f64.mul",),
    )  # fmt: skip
    r = run(m)
    assert r.call("tick") == 20.5
    assert r.call("tick") == 21.0
    assert r.get("counter").value(r.store) == 42


def test_imports_call_python(run: Any) -> None:
    seen: list[tuple[int, float]] = []

    def host(a: int, b: float) -> int:
        seen.append((a, b))
        return a * 2

    m = Module()
    h = m.import_func("env", "host", [I32, F64], [I32])
    f = m.func("go", [I32], [I32], export="go")
    emit_all(
        f.code, ("local.get", 0), ("f64.const", 1.25), ("call", h), ("i32.const", 1), ("i32.add",)
    )
    ft = wasmtime.FuncType(
        [wasmtime.ValType.i32(), wasmtime.ValType.f64()], [wasmtime.ValType.i32()]
    )
    r = run(m, [lambda store: wasmtime.Func(store, ft, host)])
    assert r.call("go", 20) == 41
    assert seen == [(20, 1.25)]


def test_multi_value_and_call_indirect(run: Any) -> None:
    m = Module()
    m.table(2)
    swap = m.func("swap", [I32, I64], [I64, I32])
    emit_all(swap.code, ("local.get", 1), ("local.get", 0))
    double = m.func("double", [I32], [I32])
    emit_all(double.code, ("local.get", 0), ("i32.const", 2), ("i32.mul",))
    m.elem(0, [swap.index, double.index])
    f = m.func("main", [I32], [I32], export="main")
    step = m.type([I32], [I32, I32])  # a block taking one value and leaving two
    emit_all(
        f.code,
        ("i32.const", 7), ("i64.const", 5), ("call", swap.index),  # -> i64 5, i32 7
        ("local.get", 0), ("i32.const", 1), ("call_indirect", m.type([I32], [I32]), 0),
        ("i32.add",), ("block", step), ("i32.const", 100), ("end",), ("i32.add",),
        ("local.set", 0), ("i32.wrap_i64",), ("local.get", 0), ("i32.add",),
    )  # fmt: skip
    r = run(m)
    assert r.call("main", 3) == 5 + 7 + 6 + 100


def test_start_function_runs_at_instantiation(run: Any) -> None:
    m = Module()
    g = m.global_(I32, init=0, export="g")
    init = m.func("init", [], [])
    emit_all(init.code, ("i32.const", 9), ("global.set", g))
    m.start(init.index)
    r = run(m)
    assert r.get("g").value(r.store) == 9


def test_numeric_semantics(run: Any) -> None:
    m = Module()
    f = m.func("ext", [I32], [I32], export="ext")
    emit_all(f.code, ("local.get", 0), ("i32.extend8_s",))
    g = m.func("sat", [F64], [I32], export="sat")
    emit_all(g.code, ("local.get", 0), ("i32.trunc_sat_f64_u",))
    h = m.func("bits", [], [I32], export="bits")
    emit_all(h.code, ("f32.const", float("-inf")), ("i32.reinterpret_f32",))
    k = m.func("wide", [], [I64], export="wide")
    emit_all(k.code, ("i64.const", 2**64 - 2), ("i64.const", 1), ("i64.rotr",))
    r = run(m)
    assert r.call("ext", 0xFF) == -1
    assert r.call("ext", 0x7F) == 127
    assert r.call("sat", -5.0) == 0
    assert r.call("sat", 1e20) == -1  # 0xffffffff, saturated, seen as signed
    assert r.call("bits") == struct.unpack("<i", struct.pack("<f", float("-inf")))[0]
    assert r.call("wide") == 2**63 - 1  # 0xfff...fe rotated right by one


@pytest.mark.parametrize(
    ("body", "trap"),
    [
        ([("unreachable",), ("nop",)], wasmtime.TrapCode.UNREACHABLE),
        (
            [("i32.const", 1), ("i32.const", 0), ("i32.div_u",), ("drop",)],
            wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO,
        ),
        (
            [("f64.const", 1e20), ("i32.trunc_f64_s",), ("drop",)],
            wasmtime.TrapCode.INTEGER_OVERFLOW,
        ),
        (
            [("i32.const", 65536), ("i32.load", 2, 0), ("drop",)],
            wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS,
        ),
    ],
)
def test_traps_map_back_to_code_offsets(run: Any, body: list[tuple[Any, ...]], trap: Any) -> None:
    """wasmtime's frame module_offset minus function_offsets() is the emitting Code.offset."""
    m = Module()
    m.memory(1)
    h = m.import_func("env", "nothing", [], [])
    filler = m.func("filler", [], [], locals=[I32, F32])  # shifts the faulting function along
    emit_all(filler.code, ("call", h), ("nop",))
    f = m.func("fault", [I32], [], locals=[F64, F64, I32], export="fault")
    emit_all(f.code, ("nop",), ("local.get", 0), ("drop",))
    *setup, faulting, after = body
    emit_all(f.code, *setup)
    f.code.mark("faulting line")
    emit_all(f.code, faulting, after)
    r = run(m, [lambda store: wasmtime.Func(store, wasmtime.FuncType([], []), lambda: None)])
    with pytest.raises(wasmtime.Trap) as info:
        r.call("fault", 1)
    frame = info.value.frames[0]
    assert info.value.trap_code == trap
    assert frame.func_index == f.index
    offset = frame.module_offset - m.function_offsets()[frame.func_index]
    assert (offset, "faulting line") in f.code.marks
