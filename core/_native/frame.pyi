"""Typed surface of the native codec of protocol v1 (``frame.pyx``).

Every function gives the same result as its namesake in :mod:`gb.protocol.codec`, or raises the
same :class:`gb.protocol.codec.FrameError` (code and message); frames are plain tuples
``(type, flags, request_id, shard_key, channel_id, payload)``.
"""

from typing import Final, TypeAlias

_BytesLike: TypeAlias = bytes | bytearray | memoryview
_FrameTuple: TypeAlias = tuple[int, int, int, int, int, bytes]

HEADER_SIZE: Final[int]
DEFAULT_MAX_PAYLOAD: Final[int]

def decode(data: _BytesLike, max_payload: int = ...) -> _FrameTuple:
    """Decode exactly one frame filling ``data``; a BATCH is returned undivided."""

def decode_message(data: _BytesLike, max_payload: int = ...) -> list[_FrameTuple]:
    """Decode one WebSocket message: a list of one frame, or of the frames of a BATCH."""

def peek_header(data: _BytesLike) -> tuple[int, int, int, int, int, int, int]:
    """``(version, type, flags, length, request_id, shard_key, channel_id)``, unchecked."""

def encode(
    type: int,
    payload: _BytesLike = b"",
    flags: int = 0,
    request_id: int = 0,
    shard_key: int = 0,
    channel_id: int = 0,
) -> bytes:
    """Build one frame; ``ValueError`` on a field out of range."""

def encode_ws(
    type: int,
    payload: _BytesLike = b"",
    flags: int = 0,
    request_id: int = 0,
    shard_key: int = 0,
    channel_id: int = 0,
) -> bytes:
    """``ws_wrap(encode(...))`` in one allocation."""

def ws_wrap(frame: _BytesLike) -> bytes:
    """The unmasked server-to-client WebSocket binary message carrying ``frame``."""
