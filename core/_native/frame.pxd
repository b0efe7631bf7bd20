# Native codec of protocol v1: the C-level surface other extensions cimport.
# The Python surface (decode, decode_message, encode, ws_wrap, ...) is typed in frame.pyi.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

cdef enum:
    GB_HEADER_SIZE = 24
    GB_VERSION = 1
    GB_FLAGS_KNOWN = 0x0007
    GB_TYPE_MIN = 0x01
    GB_TYPE_MAX = 0x0E
    GB_TYPE_BATCH = 0x0E

# The ErrorCode values check_header returns (gb.protocol.codes.ErrorCode).
cdef enum:
    GB_ERR_BAD_FRAME = 1
    GB_ERR_UNKNOWN_TYPE = 2
    GB_ERR_PAYLOAD_TOO_LARGE = 3
    GB_ERR_UNSUPPORTED_VERSION = 4


cdef struct FrameHeader:
    uint8_t version
    uint8_t type
    uint16_t flags
    uint32_t length
    uint32_t request_id
    uint32_t shard_key
    uint64_t channel_id


# x86-64 and aarch64 are little-endian, as is the wire; memcpy keeps unaligned reads legal.
cdef inline void read_header(const char* p, FrameHeader* h) noexcept nogil:
    memcpy(h, p, GB_HEADER_SIZE)


cdef inline void write_header(char* p, const FrameHeader* h) noexcept nogil:
    memcpy(p, h, GB_HEADER_SIZE)


# 0 when the header is acceptable, else the ErrorCode (same order of checks as the reference).
# Inline here (like the helpers above) so cimporting extensions need no runtime import of this one.
cdef inline int check_header(const FrameHeader* h, uint64_t max_payload) noexcept nogil:
    if h.version != GB_VERSION:
        return 4  # UNSUPPORTED_VERSION
    if h.type < GB_TYPE_MIN or h.type > GB_TYPE_MAX:
        return 2  # UNKNOWN_TYPE
    if h.flags & ~GB_FLAGS_KNOWN:
        return 1  # BAD_FRAME
    if h.length > max_payload:
        return 3  # PAYLOAD_TOO_LARGE
    return 0

# Size of the unmasked server-to-client WebSocket header for a binary message of n bytes.
cdef inline Py_ssize_t ws_header_size(Py_ssize_t n) noexcept nogil:
    if n < 126:
        return 2
    if n < 65536:
        return 4
    return 10

# Write that header at p (FIN + opcode 2, RFC 6455 5.2); returns its size.
cdef inline Py_ssize_t write_ws_header(char* p, Py_ssize_t n) noexcept nogil:
    cdef unsigned char* u = <unsigned char*>p
    cdef int i
    u[0] = 0x82
    if n < 126:
        u[1] = <unsigned char>n
        return 2
    if n < 65536:
        u[1] = 126
        u[2] = <unsigned char>(n >> 8)
        u[3] = <unsigned char>(n & 0xFF)
        return 4
    u[1] = 127
    for i in range(8):
        u[2 + i] = <unsigned char>((<uint64_t>n >> (56 - 8 * i)) & 0xFF)
    return 10

# Raise gb.protocol.codec.FrameError(code, message) for an ErrorCode from check_header.
cdef object raise_frame_error(int code, const FrameHeader* h, uint64_t max_payload)
