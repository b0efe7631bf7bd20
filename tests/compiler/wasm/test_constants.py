"""Random constants: encoded, printed and re-assembled identically, and executed exactly."""

from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gb.compiler.wasm import F32, F64, I32, I64, Module, ValType


def const_module(i32: int, i64: int, f32: float, f64: float) -> Module:
    """Functions returning each constant (floats as their bits, so NaN payloads compare)."""
    m = Module()
    functions: list[tuple[str, ValType, list[tuple[Any, ...]]]] = [
        ("i32", I32, [("i32.const", i32)]),
        ("i64", I64, [("i64.const", i64)]),
        ("f32", I32, [("f32.const", f32), ("i32.reinterpret_f32",)]),
        ("f64", I64, [("f64.const", f64), ("i64.reinterpret_f64",)]),
        ("f64value", F64, [("f64.const", f64)]),
    ]
    for name, result, body in functions:
        c = m.func(name, [], [result], export=name).code
        for op, *imms in body:
            c.emit(op, *imms)
    # the same constants as global initialisers
    m.global_(I32, i32, export="g32")
    m.global_(I64, i64, export="g64")
    m.global_(F32, f32, export="gf32")
    m.global_(F64, f64, export="gf64")
    return m


def signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def f32_pattern(value: float) -> int:
    (bits,) = struct.unpack("<i", struct.pack("<f", value))
    return int(bits)


F64_BITS = st.integers(0, 2**64 - 1)  # every pattern: NaN payloads, subnormals, -0, inf


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.integers(-(2**31), 2**32 - 1),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(width=32) | st.floats(-1e38, 1e38),
    F64_BITS,
)
def test_constants_round_trip(run: Any, i32: int, i64: int, f32: float, f64_bits: int) -> None:
    (f64,) = struct.unpack("<d", f64_bits.to_bytes(8, "little"))
    r = run(const_module(i32, i64, f32, f64))  # also checks wat2wasm(m.wat()) == m.encode()
    assert r.call("i32") == signed(i32, 32)
    assert r.call("i64") == signed(i64, 64)
    assert r.call("f32") == f32_pattern(f32)  # rounded to the nearest f32, bits exact
    assert r.call("f64") == signed(f64_bits, 64)
    value = r.call("f64value")
    assert math.isnan(value) if math.isnan(f64) else value == f64
    assert r.get("g32").value(r.store) == signed(i32, 32)
    assert r.get("g64").value(r.store) == signed(i64, 64)


def test_special_floats_print_exactly(check: Any) -> None:
    specials = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 5e-324, 1.401298464324817e-45]
    m = Module()
    c = m.func(None, [], []).code
    for value in specials:
        c.emit("f32.const", value)
        c.emit("drop")
        c.emit("f64.const", value)
        c.emit("drop")
    # a signalling NaN with a payload survives in f64
    (snan,) = struct.unpack("<d", (0x7FF0000000000001).to_bytes(8, "little"))
    c.emit("f64.const", snan)
    c.emit("drop")
    check(m)
    text = m.wat()
    for spelling in (
        "f32.const inf",
        "f64.const -inf",
        "f32.const nan:0x400000",
        "f64.const -nan:0x8000000000000",
        "f64.const nan:0x1\n",
        "f32.const -0x0.0p+0",
        "f64.const 0x0.0000000000001p-1022",
        "f32.const 0x1.0000000000000p-149",
    ):
        assert spelling in text
