# The node's WebSocket edge: per-connection listener, channel fan-out, per-tick write coalescing.
from libc.stdint cimport uint32_t, uint64_t
from picows.picows cimport WSListener, WSTransport

from gb.core._native.frame cimport FrameHeader

cdef enum ConnState:
    CONN_HELLO = 0      # connected, waiting for HELLO
    CONN_READY = 1      # authenticated
    CONN_CLOSING = 2    # close sent, waiting for the socket to end
    CONN_CLOSED = 3

cdef enum:
    LAT_BUCKETS = 16
    MAX_TYPES = 16
    MAX_ERRORS = 32
    MAX_PROTOCOL_ERRORS = 16   # malformed frames tolerated on one connection before closing it


cdef class Stats:
    cdef public uint64_t connections_total
    cdef public uint64_t bytes_in
    cdef public uint64_t bytes_out
    cdef public uint64_t writes
    cdef public uint64_t deliveries
    cdef public uint64_t slow_consumers
    cdef public uint64_t rate_limited
    cdef uint64_t frames_in[MAX_TYPES]
    cdef uint64_t frames_out[MAX_TYPES]
    cdef uint64_t errors[MAX_ERRORS]
    cdef uint64_t lat_counts[LAT_BUCKETS]
    cdef public double lat_sum
    cdef public uint64_t lat_count

    cdef void observe_latency(self, double seconds) noexcept


cdef class Flusher:
    cdef list dirty
    cdef bint scheduled
    cdef object call_soon
    cdef object flush_cb
    cdef Stats stats
    cdef double pub_times[64]
    cdef int npub

    cdef void mark(self, Conn conn) noexcept
    cdef void note_publish(self, double t) noexcept
    cpdef flush(self)


cdef class Edge:
    cdef readonly Stats stats
    cdef readonly Flusher flusher
    cdef public object handler           # Python side (the hub): on_connect/on_frame/on_disconnect
    cdef readonly set conns
    cdef public bint remote              # publications also go to the broker (several nodes)
    cdef readonly uint64_t max_payload
    cdef readonly Py_ssize_t send_buffer_limit
    cdef readonly double rate
    cdef readonly double burst
    cdef readonly int max_subscriptions
    cdef readonly object loop
    cdef public double close_grace        # seconds a closing socket may take to flush


cdef class Channel:
    cdef readonly uint64_t channel_id
    cdef readonly str name
    cdef readonly uint32_t shard_key
    cdef list members
    cdef dict positions
    cdef public object presence          # session -> user of presence members, or None

    cpdef int add(self, Conn conn) except -1
    cpdef int remove(self, Conn conn) except -1
    cpdef Py_ssize_t fanout(self, bytes data, Conn exclude) except -1


cdef class Conn(WSListener):
    cdef readonly WSTransport transport
    cdef readonly Edge edge
    cdef public object session
    cdef public int state
    cdef public uint32_t shard_key
    cdef public dict subs                # channel id -> Channel (None until the first SUBSCRIBE)
    cdef public set readonly_subs        # channel ids this connection may not publish to, or None
    cdef object pending                  # None | bytes | list of bytes, written at tick end
    cdef Py_ssize_t pending_bytes
    cdef public double connected_at
    cdef public double last_seen
    cdef public double ping_sent
    cdef public double expires_at        # monotonic deadline of the session's token (0 = none)
    cdef public double timer_due         # deadline of its live timer-wheel entry (others stale)
    cdef double tokens
    cdef double refilled_at
    cdef bint limited
    cdef int protocol_errors

    cdef int on_message(self, const char* p, Py_ssize_t size) except -1
    cdef bint header_ok(self, FrameHeader* h, Py_ssize_t available, bint exact) except -1
    cdef int bad_frame(self, int code, uint32_t request_id, uint64_t channel_id,
                       str message) except -1
    cdef bint allow(self, uint32_t request_id) except -1
    cdef int on_frame(self, FrameHeader* h, const char* payload) except -1
    cdef void enqueue(self, bytes data) noexcept
    cdef int write_pending(self) except -1
    cpdef send_frame(self, int type, bytes payload=*, int flags=*, uint32_t request_id=*,
                     uint64_t channel_id=*)
    cpdef send_error(self, int code, str message, uint32_t request_id=*, uint64_t channel_id=*,
                     object extra=*)
    cpdef close(self, int code, str reason=*)
    cpdef authenticate(self, object session, uint32_t shard_key, double expires_at)
    cpdef double heartbeat(self, double now, double interval, double timeout,
                           double hello_timeout)
