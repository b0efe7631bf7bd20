"""LEB128: spec examples, exact round trips for every width, strict decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gb.compiler.wasm import decode_signed, decode_unsigned, encode_signed, encode_unsigned


@pytest.mark.parametrize(
    ("value", "bits", "encoded"),
    [
        (0, 32, "00"),
        (127, 32, "7f"),
        (128, 32, "8001"),
        (624485, 32, "e58e26"),
        (2**32 - 1, 32, "ffffffff0f"),
        (2**33 - 1, 33, "ffffffff1f"),
        (2**64 - 1, 64, "ffffffffffffffffff01"),
    ],
)
def test_unsigned_examples(value: int, bits: int, encoded: str) -> None:
    assert encode_unsigned(value, bits).hex() == encoded
    assert decode_unsigned(bytes.fromhex(encoded), 0, bits) == (value, len(encoded) // 2)


@pytest.mark.parametrize(
    ("value", "bits", "encoded"),
    [
        (0, 32, "00"),
        (-1, 32, "7f"),
        (63, 32, "3f"),
        (64, 32, "c000"),
        (-64, 32, "40"),
        (-65, 32, "bf7f"),
        (-123456, 32, "c0bb78"),
        (2**31 - 1, 32, "ffffffff07"),
        (-(2**31), 32, "8080808078"),
        (2**32 - 1, 33, "ffffffff0f"),  # the largest block type index
        (-(2**32), 33, "8080808070"),
        (-(2**63), 64, "8080808080808080807f"),
    ],
)
def test_signed_examples(value: int, bits: int, encoded: str) -> None:
    assert encode_signed(value, bits).hex() == encoded
    assert decode_signed(bytes.fromhex(encoded), 0, bits) == (value, len(encoded) // 2)


WIDTHS = st.sampled_from([32, 33, 64])


@given(WIDTHS, st.data(), st.binary(max_size=3))
def test_unsigned_round_trip(bits: int, data: st.DataObject, prefix: bytes) -> None:
    value = data.draw(st.integers(0, 2**bits - 1))
    encoded = encode_unsigned(value, bits)
    assert len(encoded) <= (bits + 6) // 7
    assert encoded[-1] < 0x80 and all(b >= 0x80 for b in encoded[:-1])  # minimal, terminated
    assert decode_unsigned(prefix + encoded + b"\xff", len(prefix), bits) == (
        value,
        len(prefix) + len(encoded),
    )


@given(WIDTHS, st.data(), st.binary(max_size=3))
def test_signed_round_trip(bits: int, data: st.DataObject, prefix: bytes) -> None:
    value = data.draw(st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
    encoded = encode_signed(value, bits)
    assert len(encoded) <= (bits + 6) // 7
    assert decode_signed(prefix + encoded, len(prefix), bits) == (value, len(prefix) + len(encoded))


@given(st.integers(0, 2**64 - 1))
def test_encodings_are_minimal(value: int) -> None:
    """The shortest form: no byte of pure continuation padding."""
    assert len(encode_unsigned(value, 64)) == max(1, -(-value.bit_length() // 7))


def test_encode_rejects_out_of_range_and_bad_width() -> None:
    with pytest.raises(ValueError, match="unsigned 32-bit"):
        encode_unsigned(2**32)
    with pytest.raises(ValueError, match="unsigned 32-bit"):
        encode_unsigned(-1)
    with pytest.raises(ValueError, match="signed 32-bit"):
        encode_signed(2**31)
    with pytest.raises(ValueError, match="signed 64-bit"):
        encode_signed(-(2**63) - 1, 64)
    with pytest.raises(ValueError, match="32, 33 or 64"):
        encode_unsigned(1, 16)
    with pytest.raises(ValueError, match="32, 33 or 64"):
        encode_signed(1, 7)
    with pytest.raises(ValueError, match="32, 33 or 64"):
        decode_unsigned(b"\x01", 0, 8)


@pytest.mark.parametrize(
    ("decode", "data", "message"),
    [
        (decode_unsigned, "", "truncated LEB128 at byte 0"),
        (decode_unsigned, "8080", "truncated LEB128 at byte 2"),
        (decode_unsigned, "808080808000", "longer than 5 bytes"),
        (decode_unsigned, "ffffffff1f", "overflows 32 bits"),  # unused bits set
        (decode_signed, "ffffffff0f", "overflows 32 bits"),  # 2**32-1 is not an s32
        (decode_signed, "8080808070", "overflows 32 bits"),  # sign bits disagree
        (decode_signed, "80", "truncated"),
    ],
)
def test_decode_is_strict(decode: object, data: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(bytes.fromhex(data))  # type: ignore[operator]
