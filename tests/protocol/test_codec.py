"""The reference codec of protocol v1 (``gb.protocol.codec``) and its tables (``codes``)."""

from __future__ import annotations

import struct
from collections.abc import Callable

import orjson
import pytest

from gb.protocol import codec, codes
from gb.protocol.codec import (
    DEFAULT_MAX_PAYLOAD,
    HEADER_SIZE,
    U32_MAX,
    U64_MAX,
    Frame,
    FrameError,
    channel_id,
    decode,
    decode_message,
    encode,
    encode_batch,
    encode_frame,
    encode_json,
    error_payload,
    split_batch,
)
from gb.protocol.codes import (
    FLAGS_KNOWN,
    PROTOCOL_VERSION,
    RECONNECTABLE,
    SUPPORTED_VERSIONS,
    CloseCode,
    ErrorCode,
    Flag,
    FrameType,
)


def raw(
    *,
    version: int = 1,
    type: int = FrameType.PUBLISH,
    flags: int = 0,
    length: int | None = None,
    request_id: int = 0,
    shard_key: int = 0,
    channel_id: int = 0,
    payload: bytes = b"",
) -> bytes:
    """A frame built field by field, so malformed headers are easy to make."""
    n = len(payload) if length is None else length
    return (
        struct.pack("<BBHIIIQ", version, type, flags, n, request_id, shard_key, channel_id)
        + payload
    )


def frame_error(fn: Callable[..., object], *args: object) -> FrameError:
    """The FrameError that ``fn(*args)`` raises."""
    with pytest.raises(FrameError) as info:
        fn(*args)
    return info.value


# --- tables ---------------------------------------------------------------------------------


def test_header_layout_is_24_little_endian_bytes() -> None:
    assert HEADER_SIZE == 24
    assert codec.HEADER.format == "<BBHIIIQ"
    assert DEFAULT_MAX_PAYLOAD == 1 << 20
    assert (U32_MAX, U64_MAX) == (2**32 - 1, 2**64 - 1)


def test_codes_tables() -> None:
    assert PROTOCOL_VERSION == 1
    assert PROTOCOL_VERSION in SUPPORTED_VERSIONS
    assert [t.value for t in FrameType] == list(range(0x01, 0x0F))
    assert FLAGS_KNOWN == 0x0007
    assert Flag.JSON | Flag.ACK_REQUIRED | Flag.NO_ECHO == FLAGS_KNOWN
    assert [e.value for e in ErrorCode] == list(range(1, 22))  # contiguous, none reused
    assert all(c in {1000, 1011} or 4000 <= c <= 4999 for c in CloseCode)
    assert set(CloseCode) >= RECONNECTABLE
    assert CloseCode.DRAINING in RECONNECTABLE
    assert CloseCode.AUTH_FAILED not in RECONNECTABLE
    assert codes.CloseCode is CloseCode


# --- encode ---------------------------------------------------------------------------------


def test_encode_packs_every_field() -> None:
    data = encode(
        FrameType.DELIVER,
        b"abc",
        flags=Flag.JSON | Flag.NO_ECHO,
        request_id=U32_MAX,
        shard_key=7,
        channel_id=U64_MAX,
    )
    assert data == raw(
        type=6,
        flags=5,
        length=3,
        request_id=U32_MAX,
        shard_key=7,
        channel_id=U64_MAX,
        payload=b"abc",
    )
    assert decode(data) == Frame(6, 5, U32_MAX, 7, U64_MAX, b"abc")


def test_encode_defaults_to_an_empty_frame() -> None:
    assert encode(FrameType.PING) == raw(type=FrameType.PING)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": 0}, "unknown frame type 0"),
        ({"type": 0x0F}, "unknown frame type 15"),
        ({"flags": 0x0008}, "flags 0x8 set reserved bits"),
        ({"flags": -1}, "flags -0x1 set reserved bits"),
        ({"request_id": -1}, "request_id and shard_key must fit in 32 bits"),
        ({"request_id": 2**32}, "request_id and shard_key must fit in 32 bits"),
        ({"shard_key": -1}, "request_id and shard_key must fit in 32 bits"),
        ({"shard_key": 2**32}, "request_id and shard_key must fit in 32 bits"),
        ({"channel_id": -1}, "channel_id must fit in 64 bits"),
        ({"channel_id": 2**64}, "channel_id must fit in 64 bits"),
    ],
)
def test_encode_refuses_fields_out_of_range(kwargs: dict[str, int], message: str) -> None:
    fields = {"type": int(FrameType.PUBLISH), **kwargs}
    with pytest.raises(ValueError) as info:
        encode(fields.pop("type"), b"", **fields)
    assert str(info.value) == message
    assert not isinstance(info.value, FrameError)


class _Huge(bytes):
    """A payload that claims to be longer than 4 GiB, without allocating it."""

    def __len__(self) -> int:
        return U32_MAX + 1


def test_encode_refuses_payload_over_4_gib() -> None:
    with pytest.raises(ValueError, match="payload longer than 4 GiB"):
        encode(FrameType.PUBLISH, _Huge())


def test_encode_json_sets_the_json_flag() -> None:
    data = encode_json(FrameType.SUBSCRIBE, {"channel": "a"}, request_id=3)
    frame = decode(data)
    assert frame.flags == Flag.JSON
    assert frame.request_id == 3
    assert frame.json() == {"channel": "a"}
    kept = decode(encode_json(FrameType.PUBLISH, [1], flags=Flag.NO_ECHO))
    assert kept.flags == Flag.JSON | Flag.NO_ECHO


def test_encode_frame_round_trips() -> None:
    frame = Frame(FrameType.RPC_REQUEST, 1, 9, 8, 7, b'{"method":"x"}')
    assert decode(encode_frame(frame)) == frame


# --- decode ---------------------------------------------------------------------------------


def test_decode_accepts_bytes_bytearray_memoryview() -> None:
    data = raw(type=FrameType.ACK, request_id=4, payload=b"ok")
    expected = Frame(FrameType.ACK, 0, 4, 0, 0, b"ok")
    for view in (data, bytearray(data), memoryview(data)):
        frame = decode(view)
        assert frame == expected
        assert type(frame.payload) is bytes


@pytest.mark.parametrize("size", [0, 1, 23])
def test_decode_short_frame(size: int) -> None:
    err = frame_error(decode, raw()[:size])
    assert err.code == ErrorCode.BAD_FRAME
    assert err.message == f"frame of {size} bytes is shorter than the header"
    assert str(err) == err.message


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (raw(version=0), ErrorCode.UNSUPPORTED_VERSION, "protocol version 0 not supported"),
        (raw(version=2, type=0), ErrorCode.UNSUPPORTED_VERSION, "protocol version 2 not supported"),
        (raw(type=0, flags=0xFFFF), ErrorCode.UNKNOWN_TYPE, "unknown frame type 0"),
        (raw(type=0xFF), ErrorCode.UNKNOWN_TYPE, "unknown frame type 255"),
        (raw(flags=0x0008, length=U32_MAX), ErrorCode.BAD_FRAME, "reserved flag bits set: 0x0008"),
        (raw(flags=0x8000), ErrorCode.BAD_FRAME, "reserved flag bits set: 0x8000"),
        (
            raw(length=DEFAULT_MAX_PAYLOAD + 1),
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"payload of {DEFAULT_MAX_PAYLOAD + 1} bytes exceeds {DEFAULT_MAX_PAYLOAD}",
        ),
        (
            raw(length=3, payload=b"ab"),
            ErrorCode.BAD_FRAME,
            "payload length 3 does not match the 2 bytes present",
        ),
        (
            raw(length=1, payload=b"ab"),
            ErrorCode.BAD_FRAME,
            "payload length 1 does not match the 2 bytes present",
        ),
    ],
)
def test_decode_errors_in_contract_order(data: bytes, code: ErrorCode, message: str) -> None:
    err = frame_error(decode, data)
    assert (err.code, err.message) == (code, message)
    assert isinstance(err, ValueError)


def test_decode_max_payload_is_inclusive() -> None:
    data = raw(payload=b"x" * 10)
    assert decode(data, 10).payload == b"x" * 10
    err = frame_error(decode, data, 9)
    assert (err.code, err.message) == (ErrorCode.PAYLOAD_TOO_LARGE, "payload of 10 bytes exceeds 9")


def test_decode_returns_a_batch_undivided() -> None:
    batch = encode_batch([encode(FrameType.PING)])
    frame = decode(batch)
    assert frame.type == FrameType.BATCH
    assert frame.payload == encode(FrameType.PING)


# --- batches --------------------------------------------------------------------------------


def test_encode_batch_refuses_an_empty_list() -> None:
    with pytest.raises(ValueError, match="a batch holds at least one frame"):
        encode_batch([])


def test_decode_message_single_frame() -> None:
    data = encode(FrameType.PUBLISH, b"p", channel_id=5)
    assert decode_message(data) == [Frame(FrameType.PUBLISH, 0, 0, 0, 5, b"p")]


def test_decode_message_splits_a_batch_in_order() -> None:
    inner = [
        encode(FrameType.PING, b"1", request_id=1),
        encode(FrameType.PUBLISH, b"", channel_id=9),
        encode_json(FrameType.RPC_REQUEST, {"method": "m"}, request_id=2),
    ]
    frames = decode_message(encode_batch(inner))
    assert [f.type for f in frames] == [FrameType.PING, FrameType.PUBLISH, FrameType.RPC_REQUEST]
    assert frames[0].payload == b"1"
    assert frames[1] == Frame(FrameType.PUBLISH, 0, 0, 0, 9, b"")
    assert frames[2].json() == {"method": "m"}
    assert split_batch(b"".join(inner)) == frames


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty batch"),
        (b"\x01" * 23, "batch frame at offset 0 is truncated"),
        (raw(type=FrameType.PING) + b"\x01" * 5, "batch frame at offset 24 is truncated"),
        (raw(type=FrameType.PING, length=1), "batch frame at offset 0 is truncated"),
        (
            raw(type=FrameType.PING) + raw(type=FrameType.PING, length=2, payload=b"x"),
            "batch frame at offset 24 is truncated",
        ),
        (
            raw(type=FrameType.BATCH, payload=raw(type=FrameType.PING)),
            "a batch may not contain a batch",
        ),
        (raw(type=FrameType.PING) + raw(type=FrameType.BATCH), "a batch may not contain a batch"),
    ],
)
def test_split_batch_refuses(payload: bytes, message: str) -> None:
    err = frame_error(split_batch, payload)
    assert (err.code, err.message) == (ErrorCode.BAD_FRAME, message)
    err = frame_error(decode_message, raw(type=FrameType.BATCH, payload=payload))
    assert (err.code, err.message) == (ErrorCode.BAD_FRAME, message)


@pytest.mark.parametrize(
    ("inner", "code"),
    [
        (raw(version=3), ErrorCode.UNSUPPORTED_VERSION),
        (raw(type=0x20), ErrorCode.UNKNOWN_TYPE),
        (raw(flags=0x10), ErrorCode.BAD_FRAME),
        (raw(length=U32_MAX), ErrorCode.PAYLOAD_TOO_LARGE),
    ],
)
def test_split_batch_checks_every_inner_header(inner: bytes, code: ErrorCode) -> None:
    payload = raw(type=FrameType.PING) + inner
    assert frame_error(split_batch, payload).code == code


def test_batch_inner_frames_share_max_payload() -> None:
    payload = raw(type=FrameType.PING, payload=b"x" * 8)
    assert split_batch(payload, 8)[0].payload == b"x" * 8
    err = frame_error(split_batch, payload, 7)
    assert (err.code, err.message) == (ErrorCode.PAYLOAD_TOO_LARGE, "payload of 8 bytes exceeds 7")
    # The outer BATCH is bounded too: 32 payload bytes > 31.
    err = frame_error(decode_message, raw(type=FrameType.BATCH, payload=payload), 31)
    assert err.message == "payload of 32 bytes exceeds 31"


# --- JSON and errors ------------------------------------------------------------------------


def test_frame_json_refuses_malformed_payload() -> None:
    err = frame_error(Frame(FrameType.HELLO, 1, 0, 0, 0, b"{nope").json)
    assert err.code == ErrorCode.BAD_PAYLOAD
    assert err.message.startswith("payload is not valid JSON: ")
    assert err.__cause__ is None


def test_loads_payload() -> None:
    assert codec.loads_payload(b'{"a": [1, 2]}') == {"a": [1, 2]}


def test_error_payload_carries_code_name_message_and_extras() -> None:
    body = orjson.loads(error_payload(ErrorCode.RATE_LIMITED, "slow down", retry_after_ms=250))
    assert body == {
        "code": 10,
        "name": "RATE_LIMITED",
        "message": "slow down",
        "retry_after_ms": 250,
    }
    assert orjson.loads(error_payload(ErrorCode.INTERNAL, "x")) == {
        "code": 15,
        "name": "INTERNAL",
        "message": "x",
    }


# --- channel ids ----------------------------------------------------------------------------


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    return h


def test_channel_id_is_fnv1a_of_scope_nul_name() -> None:
    assert channel_id("acme/main", "room:1") == _fnv1a(b"acme/main\x00room:1")
    assert channel_id("acme/main", "room:1") == 0xD1E72394892B492D
    assert channel_id("", "") == _fnv1a(b"\x00")
    assert channel_id("t/é", "日本") == _fnv1a("t/é".encode() + b"\x00" + "日本".encode())


def test_channel_id_is_deterministic_and_64_bit() -> None:
    ids = {channel_id("c/i", f"room:{n}") for n in range(2000)}
    assert len(ids) == 2000
    assert all(0 < i <= U64_MAX for i in ids)
    assert channel_id("c/i", "room:5") == channel_id("c/i", "room:5")


def test_channel_id_scope_separates_names() -> None:
    assert channel_id("acme/main", "room:1") != channel_id("acme/sales", "room:1")
    assert channel_id("a/b", "c") != channel_id("a/bc", "")
    assert channel_id("a", "bc") != channel_id("ab", "c")


def test_channel_id_is_never_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # Choose the offset basis that makes the hash of b"s\0n" exactly 0, by running FNV-1a
    # backwards from 0: before each byte the state was (state * prime^-1) ^ byte.
    inverse = pow(codec.FNV64_PRIME, -1, 2**64)
    state = 0
    for byte in reversed(b"s\x00n"):
        state = ((state * inverse) % 2**64) ^ byte
    monkeypatch.setattr(codec, "FNV64_OFFSET", state)
    h = state
    for byte in b"s\x00n":
        h = ((h ^ byte) * codec.FNV64_PRIME) % 2**64
    assert h == 0
    assert channel_id("s", "n") == 1
