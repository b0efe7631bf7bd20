# Native codec of protocol v1.
#
# Native because every frame a node receives is decoded here and every DELIVER it fans out is
# encoded here; the pure codec in gb.protocol.codec is the specification, and for every input this
# module gives the same result or raises the same FrameError (code and message) as that codec.
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

from gb.protocol.codec import FrameError
from gb.protocol.codes import ErrorCode


cdef extern from "Python.h":
    # Converts through __index__ and reports overflow in *overflow instead of raising.
    long long PyLong_AsLongLongAndOverflow(object obj, int* overflow) except? -1


HEADER_SIZE = GB_HEADER_SIZE
DEFAULT_MAX_PAYLOAD = 1 << 20

cdef long long _U32_MAX = 0xFFFFFFFF
cdef object _U64_MAX = (1 << 64) - 1
cdef object _BAD_FRAME = ErrorCode.BAD_FRAME
cdef object _UNKNOWN_TYPE = ErrorCode.UNKNOWN_TYPE
cdef object _PAYLOAD_TOO_LARGE = ErrorCode.PAYLOAD_TOO_LARGE
cdef object _UNSUPPORTED_VERSION = ErrorCode.UNSUPPORTED_VERSION


# A borrowed view of the bytes of a bytes-like object: bytes are read in place, anything else
# through the buffer protocol (released by _release).
cdef struct _Bytes:
    const char* p
    Py_ssize_t n
    bint held
    Py_buffer view


cdef inline int _acquire(object data, _Bytes* b) except -1:
    if type(data) is bytes:
        b.p = PyBytes_AS_STRING(data)
        b.n = PyBytes_GET_SIZE(data)
        b.held = False
        return 0
    PyObject_GetBuffer(data, &b.view, PyBUF_SIMPLE)
    b.p = <const char*>b.view.buf
    b.n = b.view.len
    b.held = True
    return 0


cdef inline void _release(_Bytes* b) noexcept:
    if b.held:
        PyBuffer_Release(&b.view)
        b.held = False


cdef object _raise_header(int code, const FrameHeader* h, object max_payload):
    # max_payload is the caller's object, so a message names the limit exactly as it was given.
    if code == GB_ERR_UNSUPPORTED_VERSION:
        raise FrameError(_UNSUPPORTED_VERSION, f"protocol version {h.version} not supported")
    if code == GB_ERR_UNKNOWN_TYPE:
        raise FrameError(_UNKNOWN_TYPE, f"unknown frame type {h.type}")
    if code == GB_ERR_BAD_FRAME:
        raise FrameError(_BAD_FRAME, f"reserved flag bits set: {h.flags:#06x}")
    raise FrameError(
        _PAYLOAD_TOO_LARGE, f"payload of {h.length} bytes exceeds {max_payload}"
    )


cdef object raise_frame_error(int code, const FrameHeader* h, uint64_t max_payload):
    return _raise_header(code, h, max_payload)


# The payload limit as C: returns 1 when the limit is negative, which the reference treats as
# "no payload fits" (after the version, type and flag checks), else 0 with the limit in *out.
cdef inline int _limit(object max_payload, uint64_t* out) except -1:
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(max_payload, &overflow)
    if overflow > 0:
        out[0] = <uint64_t>-1
        return 0
    if overflow < 0 or v < 0:
        out[0] = 0
        return 1
    out[0] = <uint64_t>v
    return 0


cdef inline int _check(const FrameHeader* h, uint64_t limit, bint negative) noexcept nogil:
    cdef int code = check_header(h, limit)
    if code == 0 and negative:
        return GB_ERR_PAYLOAD_TOO_LARGE
    return code


cdef object _fail(int code, const FrameHeader* h, uint64_t limit, bint negative,
                  object limit_obj):
    # A negative limit has no uint64 form, and an int subclass (True, an IntEnum) prints
    # differently from its value: the message names the limit exactly as it was given.
    if negative or type(limit_obj) is not int:
        return _raise_header(code, h, limit_obj)
    return raise_frame_error(code, h, limit)


cdef inline object _frame(const FrameHeader* h, const char* payload):
    return (
        h.type, h.flags, h.request_id, h.shard_key, h.channel_id,
        PyBytes_FromStringAndSize(payload, h.length),
    )


cdef object _too_short(Py_ssize_t n):
    raise FrameError(_BAD_FRAME, f"frame of {n} bytes is shorter than the header")


cdef object _decode(const char* p, Py_ssize_t n, uint64_t limit, bint negative,
                    object limit_obj, FrameHeader* hp):
    cdef FrameHeader h
    cdef int code
    if n < GB_HEADER_SIZE:
        _too_short(n)
    read_header(p, &h)
    code = _check(&h, limit, negative)
    if code:
        _fail(code, &h, limit, negative, limit_obj)
    if h.length != n - GB_HEADER_SIZE:
        raise FrameError(
            _BAD_FRAME,
            f"payload length {h.length} does not match the {n - GB_HEADER_SIZE} bytes present",
        )
    hp[0] = h
    return _frame(&h, p + GB_HEADER_SIZE)


cdef list _split_batch(const char* p, Py_ssize_t end, uint64_t limit, bint negative,
                       object limit_obj):
    cdef FrameHeader h
    cdef Py_ssize_t offset = 0
    cdef Py_ssize_t start
    cdef int code
    cdef list frames = []
    if end == 0:
        raise FrameError(_BAD_FRAME, "empty batch")
    while offset < end:
        if end - offset < GB_HEADER_SIZE:
            raise FrameError(_BAD_FRAME, f"batch frame at offset {offset} is truncated")
        read_header(p + offset, &h)
        code = _check(&h, limit, negative)
        if code:
            _fail(code, &h, limit, negative, limit_obj)
        if h.type == GB_TYPE_BATCH:
            raise FrameError(_BAD_FRAME, "a batch may not contain a batch")
        start = offset + GB_HEADER_SIZE
        if h.length > end - start:
            raise FrameError(_BAD_FRAME, f"batch frame at offset {offset} is truncated")
        frames.append(_frame(&h, p + start))
        offset = start + h.length
    return frames


def decode(data, max_payload=DEFAULT_MAX_PAYLOAD):
    """Decode exactly one frame filling ``data``; a BATCH is returned undivided.

    Returns ``(type, flags, request_id, shard_key, channel_id, payload)``, equal to the
    reference ``gb.protocol.codec.decode``; raises the same ``FrameError`` otherwise.
    """
    cdef _Bytes b
    cdef FrameHeader h
    cdef uint64_t limit
    cdef bint negative = _limit(max_payload, &limit)
    cdef object frame
    _acquire(data, &b)
    try:
        frame = _decode(b.p, b.n, limit, negative, max_payload, &h)
    finally:
        _release(&b)
    return frame


def decode_message(data, max_payload=DEFAULT_MAX_PAYLOAD):
    """Decode one WebSocket message: a list of one frame, or of the frames of a BATCH."""
    cdef _Bytes b
    cdef uint64_t limit
    cdef bint negative = _limit(max_payload, &limit)
    cdef FrameHeader h
    cdef object frames
    _acquire(data, &b)
    try:
        frames = _decode(b.p, b.n, limit, negative, max_payload, &h)
        if h.type != GB_TYPE_BATCH:
            frames = [frames]
        else:
            frames = _split_batch(
                b.p + GB_HEADER_SIZE, b.n - GB_HEADER_SIZE, limit, negative, max_payload
            )
    finally:
        _release(&b)
    return frames


def peek_header(data):
    """The raw header fields ``(version, type, flags, length, request_id, shard_key,
    channel_id)`` of ``data``, unchecked; ``FrameError`` BAD_FRAME if it is shorter."""
    cdef _Bytes b
    cdef FrameHeader h
    _acquire(data, &b)
    try:
        if b.n < GB_HEADER_SIZE:
            _too_short(b.n)
        read_header(b.p, &h)
    finally:
        _release(&b)
    return (h.version, h.type, h.flags, h.length, h.request_id, h.shard_key, h.channel_id)


# Fill every header field but the length from Python ints, with the reference's ValueErrors.
cdef int _fields(FrameHeader* h, object type, object flags, object request_id,
                 object shard_key, object channel_id) except -1:
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(type, &overflow)
    if overflow or v < GB_TYPE_MIN or v > GB_TYPE_MAX:
        raise ValueError(f"unknown frame type {type}")
    h.version = GB_VERSION
    h.type = <uint8_t>v
    v = PyLong_AsLongLongAndOverflow(flags, &overflow)
    if overflow or v & ~GB_FLAGS_KNOWN or v < 0:
        raise ValueError(f"flags {flags:#x} set reserved bits")
    h.flags = <uint16_t>v
    v = PyLong_AsLongLongAndOverflow(request_id, &overflow)
    if overflow or not 0 <= v <= _U32_MAX:
        raise ValueError("request_id and shard_key must fit in 32 bits")
    h.request_id = <uint32_t>v
    v = PyLong_AsLongLongAndOverflow(shard_key, &overflow)
    if overflow or not 0 <= v <= _U32_MAX:
        raise ValueError("request_id and shard_key must fit in 32 bits")
    h.shard_key = <uint32_t>v
    v = PyLong_AsLongLongAndOverflow(channel_id, &overflow)
    if overflow > 0 and channel_id <= _U64_MAX:
        h.channel_id = channel_id
    elif overflow or v < 0:
        raise ValueError("channel_id must fit in 64 bits")
    else:
        h.channel_id = <uint64_t>v
    return 0


cdef bytes _encode(object type, object payload, object flags, object request_id,
                   object shard_key, object channel_id, bint ws):
    cdef FrameHeader h
    cdef _Bytes b
    cdef Py_ssize_t size, at = 0
    cdef bytes out
    cdef char* q
    _fields(&h, type, flags, request_id, shard_key, channel_id)
    _acquire(payload, &b)
    try:
        if b.n > _U32_MAX:
            raise ValueError("payload longer than 4 GiB")
        h.length = <uint32_t>b.n
        size = GB_HEADER_SIZE + b.n
        out = PyBytes_FromStringAndSize(NULL, size + (ws_header_size(size) if ws else 0))
        q = PyBytes_AS_STRING(out)
        if ws:
            at = write_ws_header(q, size)
        write_header(q + at, &h)
        memcpy(q + at + GB_HEADER_SIZE, b.p, b.n)
    finally:
        _release(&b)
    return out


def encode(type, payload=b"", flags=0, request_id=0, shard_key=0, channel_id=0):
    """Build one frame, byte-for-byte as the reference ``encode``; ``ValueError`` on a field
    out of range."""
    return _encode(type, payload, flags, request_id, shard_key, channel_id, False)


def encode_ws(type, payload=b"", flags=0, request_id=0, shard_key=0, channel_id=0):
    """``ws_wrap(encode(...))`` in one allocation: the bytes a DELIVER fan-out writes."""
    return _encode(type, payload, flags, request_id, shard_key, channel_id, True)


def ws_wrap(frame):
    """The server-to-client WebSocket binary message (FIN, opcode 2, unmasked) carrying
    ``frame``, header and body in one allocation."""
    cdef _Bytes b
    cdef bytes out
    cdef char* q
    cdef Py_ssize_t at
    _acquire(frame, &b)
    try:
        out = PyBytes_FromStringAndSize(NULL, ws_header_size(b.n) + b.n)
        q = PyBytes_AS_STRING(out)
        at = write_ws_header(q, b.n)
        memcpy(q + at, b.p, b.n)
    finally:
        _release(&b)
    return out
