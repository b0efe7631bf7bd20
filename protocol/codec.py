"""Reference codec of protocol v1 (pure Python).

This module is the executable specification: the native codec in ``gb.core._native.frame``
must give the same result, or raise the same :class:`FrameError` code, for every input.
It is also the codec of the Python client SDK.

Header, 24 bytes, little-endian, every field naturally aligned::

    0  u8   version        (1)
    1  u8   type           (FrameType)
    2  u16  flags          (Flag; reserved bits zero)
    4  u32  payload length (bytes after the header)
    8  u32  request id     (0 = none; echoed by ACK/ERROR/RPC_RESPONSE)
    12 u32  shard key      (the tenant's shard; chosen by the server)
    16 u64  channel id     (0 = none)
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import orjson

from .codes import FLAGS_KNOWN, PROTOCOL_VERSION, ErrorCode, Flag, FrameType

HEADER = struct.Struct("<BBHIIIQ")
HEADER_SIZE = HEADER.size  # 24
DEFAULT_MAX_PAYLOAD = 1 << 20
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1

_KNOWN_TYPES = frozenset(int(t) for t in FrameType)


class FrameError(ValueError):
    """A frame that breaks the protocol; ``code`` is the :class:`ErrorCode` to report."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Frame(NamedTuple):
    """One decoded frame. A plain tuple, so native results compare equal to it."""

    type: int
    flags: int
    request_id: int
    shard_key: int
    channel_id: int
    payload: bytes

    def json(self) -> Any:
        """The payload parsed as JSON; :class:`FrameError` ``BAD_PAYLOAD`` if it is not."""
        return loads_payload(self.payload)


def loads_payload(payload: bytes) -> Any:
    """Parse a JSON payload, mapping a parse failure to ``BAD_PAYLOAD``."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise FrameError(ErrorCode.BAD_PAYLOAD, f"payload is not valid JSON: {exc}") from None


def encode(
    type: int,
    payload: bytes = b"",
    *,
    flags: int = 0,
    request_id: int = 0,
    shard_key: int = 0,
    channel_id: int = 0,
) -> bytes:
    """Build one frame. Raises :class:`ValueError` on a field out of range."""
    if type not in _KNOWN_TYPES:
        raise ValueError(f"unknown frame type {type}")
    if flags & ~FLAGS_KNOWN or flags < 0:
        raise ValueError(f"flags {flags:#x} set reserved bits")
    if not 0 <= request_id <= U32_MAX or not 0 <= shard_key <= U32_MAX:
        raise ValueError("request_id and shard_key must fit in 32 bits")
    if not 0 <= channel_id <= U64_MAX:
        raise ValueError("channel_id must fit in 64 bits")
    if len(payload) > U32_MAX:
        raise ValueError("payload longer than 4 GiB")
    return (
        HEADER.pack(PROTOCOL_VERSION, type, flags, len(payload), request_id, shard_key, channel_id)
        + payload
    )


def encode_json(type: int, obj: Any, **fields: int) -> bytes:
    """Build a frame whose payload is ``obj`` as JSON (sets the JSON flag)."""
    flags = fields.pop("flags", 0) | Flag.JSON
    return encode(type, orjson.dumps(obj), flags=flags, **fields)


def encode_frame(frame: Frame) -> bytes:
    """Build the bytes of a :class:`Frame`."""
    return encode(
        frame.type,
        frame.payload,
        flags=frame.flags,
        request_id=frame.request_id,
        shard_key=frame.shard_key,
        channel_id=frame.channel_id,
    )


def encode_batch(frames: list[bytes]) -> bytes:
    """Wrap already-encoded frames into one BATCH frame."""
    if not frames:
        raise ValueError("a batch holds at least one frame")
    return encode(FrameType.BATCH, b"".join(frames))


def _check_header(version: int, type: int, flags: int, length: int, max_payload: int) -> None:
    # The order of these checks is part of the contract: the native codec follows it.
    if version != PROTOCOL_VERSION:
        raise FrameError(ErrorCode.UNSUPPORTED_VERSION, f"protocol version {version} not supported")
    if type not in _KNOWN_TYPES:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {type}")
    if flags & ~FLAGS_KNOWN:
        raise FrameError(ErrorCode.BAD_FRAME, f"reserved flag bits set: {flags:#06x}")
    if length > max_payload:
        raise FrameError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"payload of {length} bytes exceeds {max_payload}"
        )


def decode(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Decode exactly one frame filling ``data`` (a BATCH is returned undivided)."""
    if len(data) < HEADER_SIZE:
        raise FrameError(
            ErrorCode.BAD_FRAME, f"frame of {len(data)} bytes is shorter than the header"
        )
    version, type, flags, length, request_id, shard_key, channel_id = HEADER.unpack_from(data)
    _check_header(version, type, flags, length, max_payload)
    if length != len(data) - HEADER_SIZE:
        raise FrameError(
            ErrorCode.BAD_FRAME,
            f"payload length {length} does not match the {len(data) - HEADER_SIZE} bytes present",
        )
    return Frame(type, flags, request_id, shard_key, channel_id, bytes(data[HEADER_SIZE:]))


def split_batch(payload: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> list[Frame]:
    """Split a BATCH payload into its frames; nested batches and empty batches are refused."""
    frames: list[Frame] = []
    offset, end = 0, len(payload)
    if end == 0:
        raise FrameError(ErrorCode.BAD_FRAME, "empty batch")
    while offset < end:
        if end - offset < HEADER_SIZE:
            raise FrameError(ErrorCode.BAD_FRAME, f"batch frame at offset {offset} is truncated")
        version, type, flags, length, request_id, shard_key, channel_id = HEADER.unpack_from(
            payload, offset
        )
        _check_header(version, type, flags, length, max_payload)
        if type == FrameType.BATCH:
            raise FrameError(ErrorCode.BAD_FRAME, "a batch may not contain a batch")
        start = offset + HEADER_SIZE
        if length > end - start:
            raise FrameError(ErrorCode.BAD_FRAME, f"batch frame at offset {offset} is truncated")
        frames.append(
            Frame(
                type,
                flags,
                request_id,
                shard_key,
                channel_id,
                bytes(payload[start : start + length]),
            )
        )
        offset = start + length
    return frames


def decode_message(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> list[Frame]:
    """Decode one WebSocket message: a single frame, or the frames of a BATCH."""
    frame = decode(data, max_payload)
    if frame.type == FrameType.BATCH:
        return split_batch(frame.payload, max_payload)
    return [frame]


def error_payload(code: ErrorCode, message: str, **extra: Any) -> bytes:
    """The JSON payload of an ERROR frame."""
    return orjson.dumps({"code": int(code), "name": code.name, "message": message, **extra})


FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3


def channel_id(scope: str, name: str) -> int:
    """The 64-bit id of channel ``name`` in tenant ``scope``: FNV-1a over ``scope NUL name``.

    Deterministic, so every node derives the same id with no coordination; never 0.
    """
    h = FNV64_OFFSET
    for byte in scope.encode() + b"\x00" + name.encode():
        h = ((h ^ byte) * FNV64_PRIME) & U64_MAX
    return h or 1
