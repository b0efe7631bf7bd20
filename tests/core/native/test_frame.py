"""The native codec agrees with the reference codec on every input (differential tests).

Each test feeds the same input to ``gb.core._native.frame`` and ``gb.protocol.codec`` and
requires the same tuple, or the same ``FrameError`` code and message.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gb.core._native import frame as native
from gb.protocol import codec as ref
from gb.protocol.codec import FrameError
from gb.protocol.codes import ErrorCode, FrameType

HEADER = struct.Struct("<BBHIIIQ")
U32 = 2**32 - 1
U64 = 2**64 - 1
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Batch strategies draw many values per example; fewer examples keep the file under 20 s.
SLOWER = settings(FAST, max_examples=100)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What ``fn(*args)`` did: ("ok", plain result) or ("error", code, message)."""
    try:
        result = fn(*args)
    except FrameError as err:
        assert type(err.code) is ErrorCode
        assert str(err) == err.message
        return ("error", err.code, err.message)
    if isinstance(result, list):
        return ("ok", [_plain(f) for f in result])
    return ("ok", _plain(result))


def _plain(frame: tuple[Any, ...]) -> tuple[Any, ...]:
    assert type(frame[-1]) is bytes
    assert all(type(x) is int for x in frame[:-1])
    return tuple(frame)


def agree(data: bytes, max_payload: int = ref.DEFAULT_MAX_PAYLOAD) -> tuple[Any, ...]:
    """Assert both codecs agree on ``data`` (decode and decode_message); returns the outcome."""
    expected = outcome(ref.decode, data, max_payload)
    for view in (data, bytearray(data), memoryview(data)):
        assert outcome(native.decode, view, max_payload) == expected
    expected_message = outcome(ref.decode_message, data, max_payload)
    assert outcome(native.decode_message, data, max_payload) == expected_message
    assert outcome(native.decode_message, memoryview(data), max_payload) == expected_message
    return expected_message


# --- strategies -----------------------------------------------------------------------------

versions = st.one_of(st.just(1), st.integers(0, 255))
types = st.one_of(st.sampled_from(list(FrameType)).map(int), st.integers(0, 255))
flag_values = st.one_of(st.integers(0, 7), st.integers(0, 0xFFFF))
payloads = st.binary(max_size=64)
u32 = st.integers(0, U32)
u64 = st.integers(0, U64)


@st.composite
def headers(draw: st.DrawFn, type_: st.SearchStrategy[int] = types) -> bytes:
    """A header with random fields and its payload; the length is usually right."""
    payload = draw(payloads)
    length = draw(st.one_of(st.just(len(payload)), u32, st.integers(0, 80)))
    fields = (draw(versions), draw(type_), draw(flag_values), length)
    ids = (draw(u32), draw(u32), draw(u64))
    return HEADER.pack(*fields, *ids) + payload


@st.composite
def valid_frames(draw: st.DrawFn, allow_batch: bool = False) -> bytes:
    """A well-formed frame (never a batch unless allowed)."""
    kinds = [t for t in FrameType if allow_batch or t != FrameType.BATCH]
    return ref.encode(
        draw(st.sampled_from(kinds)),
        draw(payloads),
        flags=draw(st.integers(0, 7)),
        request_id=draw(u32),
        shard_key=draw(u32),
        channel_id=draw(u64),
    )


@st.composite
def batches(draw: st.DrawFn) -> bytes:
    """A BATCH of valid, random-header, nested or no frames."""
    inner = draw(
        st.lists(st.one_of(valid_frames(), headers(), valid_frames(allow_batch=True)), max_size=5)
    )
    payload = b"".join(inner)
    if draw(st.booleans()):
        payload += draw(st.binary(max_size=30))  # trailing junk: a truncated next frame
    return HEADER.pack(1, FrameType.BATCH, 0, len(payload), 0, 0, 0) + payload


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base`` with a few random edits: bit flips, byte sets, truncation, extension."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "grow", "length"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[draw(st.integers(0, len(data))) :]
        elif op == "grow":
            data += draw(st.binary(min_size=1, max_size=24))
        elif op == "length" and len(data) >= 8:
            data[4:8] = struct.pack("<I", draw(st.one_of(u32, st.integers(0, len(data) + 2))))
    return bytes(data)


def limits_for(data: bytes) -> st.SearchStrategy[int]:
    """max_payload values around the frame's own length, plus the default and extremes."""
    n = max(len(data) - 24, 0)
    near = [max(n - 1, 0), n, n + 1, n + 24]
    return st.sampled_from([ref.DEFAULT_MAX_PAYLOAD, 0, 1, U32, U64, 2**70, -1, *near])


# --- decode ---------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=120))
def test_arbitrary_bytes(data: bytes) -> None:
    agree(data)


@FAST
@given(st.data())
def test_random_headers_with_limits(data: st.DataObject) -> None:
    frame = data.draw(headers())
    agree(frame, data.draw(limits_for(frame)))


@FAST
@given(st.data())
def test_mutated_frames(data: st.DataObject) -> None:
    frame = data.draw(mutated(st.one_of(valid_frames(allow_batch=True), headers(), batches())))
    agree(frame, data.draw(limits_for(frame)))


@SLOWER
@given(st.data())
def test_batches(data: st.DataObject) -> None:
    frame = data.draw(batches())
    agree(frame, data.draw(limits_for(frame)))


@SLOWER
@given(st.lists(valid_frames(), min_size=1, max_size=8))
def test_valid_batches_split_the_same(frames: list[bytes]) -> None:
    result = agree(ref.encode_batch(frames))
    assert result[0] == "ok"
    assert result[1] == [tuple(ref.decode(f)) for f in frames]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "frame of 0 bytes is shorter than the header"),
        (HEADER.pack(1, FrameType.BATCH, 0, 0, 0, 0, 0), "empty batch"),
        (
            HEADER.pack(1, FrameType.BATCH, 0, 3, 0, 0, 0) + b"abc",
            "batch frame at offset 0 is truncated",
        ),
        (
            ref.encode_batch([ref.encode_batch([ref.encode(FrameType.PING)])]),
            "a batch may not contain a batch",
        ),
        (
            ref.encode(
                FrameType.BATCH, ref.encode(FrameType.PING) + HEADER.pack(1, 9, 0, 9, 0, 0, 0)
            ),
            "batch frame at offset 24 is truncated",
        ),
    ],
)
def test_known_malformed_messages(data: bytes, message: str) -> None:
    assert agree(data) == ("error", ErrorCode.BAD_FRAME, message)


def test_negative_and_huge_limits() -> None:
    frame = ref.encode(FrameType.PUBLISH, b"xy")
    assert agree(frame, -5) == (
        "error",
        ErrorCode.PAYLOAD_TOO_LARGE,
        "payload of 2 bytes exceeds -5",
    )
    assert agree(frame, -(2**80))[0] == "error"
    assert agree(frame, 2**80)[0] == "ok"
    assert agree(ref.encode(FrameType.PING), -1)[1] == ErrorCode.PAYLOAD_TOO_LARGE
    # Version, type and flag checks still come first.
    bad_version = b"\x02" + frame[1:]
    assert agree(bad_version, -1)[1] == ErrorCode.UNSUPPORTED_VERSION


def test_int_subclass_limits_are_named_as_given() -> None:
    class Limit(int):
        def __str__(self) -> str:
            return f"Limit({int(self)})"

    frame = ref.encode(FrameType.PUBLISH, b"xy")
    assert agree(frame, True)[2] == "payload of 2 bytes exceeds True"
    assert agree(frame, Limit(1))[2] == "payload of 2 bytes exceeds Limit(1)"
    assert agree(frame, Limit(2))[0] == "ok"


def test_limit_must_be_an_integer() -> None:
    with pytest.raises(TypeError):
        native.decode(ref.encode(FrameType.PING), 1.5)


def test_encode_channel_id_range() -> None:
    for cid in (-1, -(2**70), 2**64, 2**70):
        with pytest.raises(ValueError, match=r"^channel_id must fit in 64 bits$"):
            native.encode(FrameType.PUBLISH, b"", 0, 0, 0, cid)
    assert native.encode(FrameType.PUBLISH, b"", 0, 0, 0, 2**63) == ref.encode(
        FrameType.PUBLISH, channel_id=2**63
    )


def test_payload_is_a_copy_of_a_mutable_buffer() -> None:
    data = bytearray(ref.encode(FrameType.PUBLISH, b"abc"))
    decoded = native.decode(data)
    data[-1] = ord("z")
    assert decoded[-1] == b"abc"


def test_non_contiguous_buffer_is_refused() -> None:
    with pytest.raises(BufferError):
        native.decode(memoryview(ref.encode(FrameType.PING) * 2)[::2])


def test_constants() -> None:
    assert native.HEADER_SIZE == ref.HEADER_SIZE == 24
    assert native.DEFAULT_MAX_PAYLOAD == ref.DEFAULT_MAX_PAYLOAD


# --- peek_header ----------------------------------------------------------------------------


@FAST
@given(st.one_of(headers(), st.binary(max_size=40)))
def test_peek_header(data: bytes) -> None:
    if len(data) < 24:
        assert outcome(native.peek_header, data) == outcome(ref.decode, data)
    else:
        assert native.peek_header(bytearray(data)) == HEADER.unpack_from(data)


# --- encode ---------------------------------------------------------------------------------


valid_fields = st.fixed_dictionaries(
    {
        "type": st.sampled_from(list(FrameType)),
        "payload": st.one_of(payloads, st.binary(min_size=100, max_size=300)),
        "flags": st.integers(0, 7),
        "request_id": u32,
        "shard_key": u32,
        "channel_id": u64,
    }
)


@FAST
@given(valid_fields)
def test_encode_agrees(fields: dict[str, Any]) -> None:
    t, payload, flags, rid, shard, cid = (
        fields[k] for k in ("type", "payload", "flags", "request_id", "shard_key", "channel_id")
    )
    expected = ref.encode(t, payload, flags=flags, request_id=rid, shard_key=shard, channel_id=cid)
    assert native.encode(t, payload, flags, rid, shard, cid) == expected
    assert native.encode(**{**fields, "payload": bytearray(payload)}) == expected
    ws = native.encode_ws(t, memoryview(payload), flags, rid, shard, cid)
    assert ws == native.ws_wrap(expected)
    assert parse_ws(ws) == expected


def _encode_outcome(fn: Callable[..., bytes], fields: dict[str, int]) -> tuple[Any, ...]:
    try:
        return ("ok", fn(**fields))
    except ValueError as err:
        assert not isinstance(err, FrameError)
        return ("error", str(err))


big_ints = st.one_of(
    st.integers(-3, 20),
    st.integers(-(2**70), 2**70),
    st.sampled_from([U32, U32 + 1, U64, U64 + 1, 2**63, -(2**63) - 1]),
)


@FAST
@given(big_ints, big_ints, big_ints, big_ints, big_ints)
def test_encode_range_errors_agree(t: int, flags: int, rid: int, shard: int, cid: int) -> None:
    fields = {"type": t, "flags": flags, "request_id": rid, "shard_key": shard, "channel_id": cid}
    expected = _encode_outcome(lambda **f: ref.encode(f.pop("type"), b"p", **f), dict(fields))
    assert _encode_outcome(lambda **f: native.encode(payload=b"p", **f), fields) == expected
    ws = _encode_outcome(lambda **f: native.encode_ws(payload=b"p", **f), fields)
    assert ws[0] == expected[0]
    if expected[0] == "error":
        assert ws == expected


def test_encode_defaults_and_enum_fields() -> None:
    assert native.encode(FrameType.PING) == ref.encode(FrameType.PING)
    assert native.encode(True, b"", True) == ref.encode(True, b"", flags=True)


def test_encode_payload_over_4_gib_is_refused() -> None:
    # An anonymous mapping is address space only: none of its pages is touched.
    try:
        huge = mmap.mmap(-1, U32 + 1)
    except (OSError, OverflowError) as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"cannot map 4 GiB of address space: {exc}")
    try:
        for fn in (native.encode, native.encode_ws):
            with pytest.raises(ValueError, match="payload longer than 4 GiB"):
                fn(FrameType.PUBLISH, huge)
    finally:
        huge.close()


def test_encode_refuses_a_non_buffer_payload() -> None:
    with pytest.raises(TypeError):
        native.encode(FrameType.PUBLISH, "text")


# --- WebSocket framing ----------------------------------------------------------------------


def parse_ws(message: bytes) -> bytes:
    """A minimal RFC 6455 parser for one unmasked, unfragmented binary server message."""
    assert len(message) >= 2
    b0, b1 = message[0], message[1]
    assert b0 & 0x80, "FIN must be set"
    assert b0 & 0x70 == 0, "RSV bits must be zero"
    assert b0 & 0x0F == 0x2, "opcode must be binary"
    assert b1 & 0x80 == 0, "server frames are not masked"
    n, at = b1 & 0x7F, 2
    if n == 126:
        (n,) = struct.unpack_from(">H", message, 2)
        at = 4
        assert n >= 126, "16-bit length must be minimal"
    elif n == 127:
        (n,) = struct.unpack_from(">Q", message, 2)
        at = 10
        assert n >= 65536, "64-bit length must be minimal"
        assert n < 2**63, "64-bit length has its top bit clear"
    assert len(message) == at + n, "exactly one message"
    return message[at:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_ws_wrap_lengths(size: int) -> None:
    body = bytes(i % 251 for i in range(size))
    wrapped = native.ws_wrap(body)
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(wrapped) == header + size
    assert parse_ws(wrapped) == body
    assert native.ws_wrap(bytearray(body)) == wrapped


@pytest.mark.parametrize("payload_size", [0, 101, 102, 65511, 65512, 70000])
def test_encode_ws_across_length_boundaries(payload_size: int) -> None:
    payload = b"\xab" * payload_size
    frame = ref.encode(FrameType.DELIVER, payload, flags=1, shard_key=2, channel_id=3)
    wrapped = native.encode_ws(FrameType.DELIVER, payload, 1, 0, 2, 3)
    assert wrapped == native.ws_wrap(frame)
    assert parse_ws(wrapped) == frame
    assert ref.decode(parse_ws(wrapped)).payload == payload


@FAST
@given(st.binary(max_size=300))
def test_ws_wrap_round_trips(body: bytes) -> None:
    assert parse_ws(native.ws_wrap(body)) == body
