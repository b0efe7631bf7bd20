"""Constant immediates: checking, binary encoding and their exact WAT spelling.

Floats are kept as their IEEE bit patterns once accepted, and the WAT text is derived from those
bits (hex floats, `nan:0x…` payloads), so the printed module re-assembles to the same bytes.
"""

from __future__ import annotations

import math
import struct

from .leb128 import encode_signed


def _integer(value: object, bits: int, what: str) -> int:
    """Accept the signed or unsigned spelling of a `bits`-wide integer; return the signed one."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what}: expected an integer, got {value!r}")
    if not -(1 << (bits - 1)) <= value < 1 << bits:
        raise ValueError(f"{what}: {value} does not fit i{bits}")
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def i32_value(value: object, what: str) -> int:
    return _integer(value, 32, what)


def i64_value(value: object, what: str) -> int:
    return _integer(value, 64, what)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}: expected a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{what}: {value} is too large for a float") from None


def f32_bits(value: object, what: str) -> int:
    """Round a number to the nearest f32 and return its bit pattern."""
    number = _number(value, what)
    try:
        packed = struct.pack("<f", number)
    except OverflowError:
        raise ValueError(f"{what}: {value} is out of the f32 range") from None
    return int.from_bytes(packed, "little")


def f64_bits(value: object, what: str) -> int:
    return int.from_bytes(struct.pack("<d", _number(value, what)), "little")


def encode_i32(value: int) -> bytes:
    return encode_signed(value, 32)


def encode_i64(value: int) -> bytes:
    return encode_signed(value, 64)


def encode_f32(bits: int) -> bytes:
    return bits.to_bytes(4, "little")


def encode_f64(bits: int) -> bytes:
    return bits.to_bytes(8, "little")


def _float_text(value: float, negative: bool, payload: int) -> str:
    if math.isnan(value):
        return f"{'-' if negative else ''}nan:0x{payload:x}"
    if math.isinf(value):
        return "-inf" if negative else "inf"
    return value.hex()  # exact; an f32 value is exactly representable as a double


def f32_text(bits: int) -> str:
    (value,) = struct.unpack("<f", bits.to_bytes(4, "little"))
    return _float_text(value, bool(bits >> 31), bits & 0x7FFFFF)


def f64_text(bits: int) -> str:
    (value,) = struct.unpack("<d", bits.to_bytes(8, "little"))
    return _float_text(value, bool(bits >> 63), bits & 0xFFFFFFFFFFFFF)
