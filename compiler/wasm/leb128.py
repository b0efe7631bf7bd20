"""LEB128 integers as the WebAssembly binary format uses them (unsigned and signed, 32/33/64 bit).

The decoders are strict like a validating reader: at most ceil(bits / 7) bytes, and the unused
bits of the last byte must be zero (unsigned) or a copy of the sign bit (signed).
"""

from __future__ import annotations

_WIDTHS = (32, 33, 64)
_SMALL = tuple(bytes((i,)) for i in range(0x80))  # the one-byte encodings, shared


def _check_bits(bits: int) -> None:
    if bits not in _WIDTHS:
        raise ValueError(f"LEB128 width must be 32, 33 or 64 bits, not {bits}")


def encode_unsigned(value: int, bits: int = 32) -> bytes:
    """Encode `value` (0 <= value < 2**bits) as unsigned LEB128."""
    if 0 <= value < 0x80 and bits in _WIDTHS:
        return _SMALL[value]
    _check_bits(bits)
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{value} does not fit an unsigned {bits}-bit LEB128")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_signed(value: int, bits: int = 32) -> bytes:
    """Encode `value` (-2**(bits-1) <= value < 2**(bits-1)) as signed LEB128."""
    if -0x40 <= value < 0x40 and bits in _WIDTHS:
        return _SMALL[value & 0x7F]
    _check_bits(bits)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"{value} does not fit a signed {bits}-bit LEB128")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7  # arithmetic shift: keeps the sign
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _read(data: bytes | bytearray, pos: int, bits: int) -> tuple[int, int, int, int]:
    """Read the raw groups: (value without sign handling, next position, shift, last byte)."""
    _check_bits(bits)
    max_len = (bits + 6) // 7
    result = 0
    shift = 0
    for i in range(max_len):
        if pos + i >= len(data):
            raise ValueError(f"truncated LEB128 at byte {pos + i}")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos + i + 1, shift, byte
    raise ValueError(f"LEB128 at byte {pos} is longer than {max_len} bytes")


def decode_unsigned(data: bytes | bytearray, pos: int = 0, bits: int = 32) -> tuple[int, int]:
    """Decode an unsigned LEB128 at `pos`; return (value, position after it)."""
    value, end, _, _ = _read(data, pos, bits)
    if value >> bits:
        raise ValueError(f"LEB128 at byte {pos} overflows {bits} bits")
    return value, end


def decode_signed(data: bytes | bytearray, pos: int = 0, bits: int = 32) -> tuple[int, int]:
    """Decode a signed LEB128 at `pos`; return (value, position after it)."""
    raw, end, shift, last = _read(data, pos, bits)
    if last & 0x40:
        raw -= 1 << shift
    if not -(1 << (bits - 1)) <= raw < 1 << (bits - 1):
        raise ValueError(f"LEB128 at byte {pos} overflows {bits} bits")
    return raw, end
