# cython: freethreading_compatible=False
"""The node's WebSocket edge in native code.

Why native: every frame of every client passes here, and a publication is written to
thousands of sockets; the per-frame and per-subscriber costs must be a few hundred
nanoseconds, which Python method calls cannot give.

- ``Conn`` is the picows listener of one connection: it parses the frame header in place
  (no copy), answers PING and fans PUBLISH out itself, and hands every other frame to the
  Python hub (``Edge.handler``).
- ``Channel`` holds its subscribers in an array; a publication is encoded once (WebSocket
  header + gb header + payload in one bytes object) and that object is queued on every
  subscriber.
- ``Flusher`` coalesces: what a connection is sent during one loop tick leaves in one
  write at the end of the tick. A connection whose unsent bytes pass the bound is closed
  with SLOW_CONSUMER instead of growing memory.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from gb.core._native.frame cimport (
    GB_HEADER_SIZE,
    FrameHeader,
    check_header,
    read_header,
    write_header,
    write_ws_header,
    ws_header_size,
)

import orjson

from gb.protocol.codes import CloseCode, ErrorCode

cdef extern from "sys/socket.h" nogil:
    ssize_t c_send "send" (int sockfd, const void* buf, size_t len, int flags)
    int MSG_NOSIGNAL

# Frame types and flags handled here (values fixed by protocol v1, see protocol/codes.py).
cdef enum:
    T_HELLO = 0x01
    T_PUBLISH = 0x05
    T_DELIVER = 0x06
    T_ACK = 0x07
    T_ERROR = 0x08
    T_PING = 0x09
    T_PONG = 0x0A
    T_BATCH = 0x0E
    F_JSON = 0x0001
    F_ACK_REQUIRED = 0x0002
    F_NO_ECHO = 0x0004
    E_BAD_FRAME = 1
    E_UNKNOWN_TYPE = 2
    E_PAYLOAD_TOO_LARGE = 3
    E_UNSUPPORTED_VERSION = 4
    E_NOT_AUTHENTICATED = 5
    E_FORBIDDEN = 8
    E_UNKNOWN_CHANNEL = 9
    E_RATE_LIMITED = 10
    E_UNEXPECTED_FRAME = 16
    C_PROTOCOL_ERROR = 4000
    C_SLOW_CONSUMER = 4004
    C_FLOOD = 4005

# Upper bounds (seconds) of the publish-to-write latency histogram; the last is +Inf.
LATENCY_BOUNDS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                  0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
cdef double[15] _BOUNDS = LATENCY_BOUNDS
_ERROR_NAMES = {int(c): c.name for c in ErrorCode}
_CLOSE_NAMES = {int(c): c.name for c in CloseCode}


cdef inline double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


STATE_HELLO = CONN_HELLO


def now():
    """The clock the edge uses (CLOCK_MONOTONIC seconds, same as ``time.monotonic``)."""
    return monotonic()


cdef bytes build_ws(int type, int flags, uint32_t request_id, uint32_t shard_key,
                    uint64_t channel_id, const char* payload, Py_ssize_t size):
    """WebSocket header + gb header + payload, in one allocation."""
    cdef Py_ssize_t frame_size = GB_HEADER_SIZE + size
    cdef Py_ssize_t ws_size = ws_header_size(frame_size)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, ws_size + frame_size)
    cdef char* p = PyBytes_AS_STRING(out)
    cdef FrameHeader h
    h.version = 1
    h.type = <uint8_t>type
    h.flags = <uint16_t>flags
    h.length = <uint32_t>size
    h.request_id = request_id
    h.shard_key = shard_key
    h.channel_id = channel_id
    write_ws_header(p, frame_size)
    write_header(p + ws_size, &h)
    if size:
        memcpy(p + ws_size + GB_HEADER_SIZE, payload, size)
    return out


def wrap_frame(bytes frame):
    """A whole gb frame as the bytes of one server-to-client WebSocket message."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(frame)
    cdef Py_ssize_t ws_size = ws_header_size(n)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, ws_size + n)
    cdef char* p = PyBytes_AS_STRING(out)
    write_ws_header(p, n)
    memcpy(p + ws_size, PyBytes_AS_STRING(frame), n)
    return out


def abort(WSTransport transport):
    """End a socket without flushing (safe on one already ended)."""
    transport.disconnect(False)


cdef class Stats:
    """Counters of the edge, read by the Prometheus collector at scrape time (no locks here)."""

    cdef void observe_latency(self, double seconds) noexcept:
        cdef int i = 0
        while i < 15 and seconds > _BOUNDS[i]:
            i += 1
        self.lat_counts[i] += 1
        self.lat_sum += seconds
        self.lat_count += 1

    def frames_in_by_type(self):
        return {t: self.frames_in[t] for t in range(MAX_TYPES) if self.frames_in[t]}

    def frames_out_by_type(self):
        return {t: self.frames_out[t] for t in range(MAX_TYPES) if self.frames_out[t]}

    def errors_by_code(self):
        return {c: self.errors[c] for c in range(MAX_ERRORS) if self.errors[c]}

    def latency(self):
        """(bucket counts, sum, count); bucket i counts values <= LATENCY_BOUNDS[i], last +Inf."""
        return [self.lat_counts[i] for i in range(LAT_BUCKETS)], self.lat_sum, self.lat_count


cdef class Flusher:
    """Writes what connections were sent during a loop tick, once per connection, at its end."""

    def __init__(self, loop, Stats stats):
        self.dirty = []
        self.scheduled = False
        self.call_soon = loop.call_soon
        self.flush_cb = self.flush
        self.stats = stats
        self.npub = 0

    cdef void mark(self, Conn conn) noexcept:
        self.dirty.append(conn)
        if not self.scheduled:
            self.scheduled = True
            self.call_soon(self.flush_cb)

    cdef void note_publish(self, double t) noexcept:
        if self.npub < 64:
            self.pub_times[self.npub] = t
            self.npub += 1

    cpdef flush(self):
        cdef list dirty = self.dirty
        cdef Conn conn
        cdef double t
        cdef int i
        self.dirty = []
        self.scheduled = False
        for conn in dirty:
            conn.write_pending()
        if self.npub:
            t = monotonic()
            for i in range(self.npub):
                self.stats.observe_latency(t - self.pub_times[i])
            self.npub = 0


cdef class Edge:
    """What every connection of one node shares: limits, counters, the flusher, the hub."""

    def __init__(self, loop, handler, *, uint64_t max_payload, Py_ssize_t send_buffer_limit,
                 double rate, double burst, int max_subscriptions):
        self.stats = Stats()
        self.flusher = Flusher(loop, self.stats)
        self.handler = handler
        self.conns = set()
        self.remote = False
        self.max_payload = max_payload
        self.send_buffer_limit = send_buffer_limit
        self.rate = rate
        self.burst = burst
        self.max_subscriptions = max_subscriptions
        self.loop = loop
        self.close_grace = 5.0

    def new_connection(self):
        """The listener for a new WebSocket (the picows listener factory calls this)."""
        return Conn(self)

    def deliver(self, Channel channel, bytes ws_message, double published_at=0.0):
        """Fan a message from another node out to the local subscribers of ``channel``."""
        cdef Py_ssize_t n
        if published_at:
            self.flusher.note_publish(published_at)
        n = channel.fanout(ws_message, None)
        self.stats.deliveries += n
        return n


cdef class Channel:
    """The local subscribers of one channel, as an array (fan-out walks it in order)."""

    def __init__(self, uint64_t channel_id, str name, uint32_t shard_key=0):
        self.channel_id = channel_id
        self.name = name
        self.shard_key = shard_key
        self.members = []
        self.positions = {}
        self.presence = None

    def __len__(self):
        return len(self.members)

    def __contains__(self, Conn conn):
        return conn in self.positions

    cpdef int add(self, Conn conn) except -1:
        """Add ``conn``; 1 if added, 0 if it was already a member."""
        if conn in self.positions:
            return 0
        self.positions[conn] = len(self.members)
        self.members.append(conn)
        return 1

    cpdef int remove(self, Conn conn) except -1:
        """Remove ``conn`` (swap with the last member, O(1)); 1 if removed, 0 if absent."""
        cdef Py_ssize_t pos
        cdef Conn last
        if conn not in self.positions:
            return 0
        pos = self.positions.pop(conn)
        last = self.members.pop()
        if last is not conn:
            self.members[pos] = last
            self.positions[last] = pos
        return 1

    cpdef Py_ssize_t fanout(self, bytes data, Conn exclude) except -1:
        """Queue the same ``data`` object on every member but ``exclude``; the count queued."""
        cdef Conn conn
        cdef Py_ssize_t n = 0
        for conn in self.members:
            if conn is not exclude and conn.state == CONN_READY:
                conn.enqueue(data)
                n += 1
        return n


cdef class Conn(WSListener):
    """One client connection: frame parsing, PING and PUBLISH in place, the rest to the hub."""

    def __init__(self, Edge edge):
        self.edge = edge
        self.state = CONN_HELLO
        self.session = None
        self.subs = None
        self.readonly_subs = None
        self.pending = None
        self.pending_bytes = 0
        self.tokens = edge.burst
        self.protocol_errors = 0
        self.ping_sent = 0.0
        self.expires_at = 0.0
        self.shard_key = 0

    # --- picows callbacks -------------------------------------------------------------------

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        # The upgrade request and response (header multidicts, ~700 B) are not used again.
        transport.request = None
        transport.response = None
        self.connected_at = self.last_seen = self.refilled_at = monotonic()
        self.edge.conns.add(self)
        self.edge.stats.connections_total += 1
        self.edge.handler.on_connect(self)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.state = CONN_CLOSED
        self.pending = None
        self.pending_bytes = 0
        self.edge.conns.discard(self)
        self.edge.handler.on_disconnect(self)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef Stats stats = self.edge.stats
        if self.state >= CONN_CLOSING:
            return
        stats.bytes_in += frame.payload_size
        if frame.msg_type == WSMsgType.BINARY and frame.fin:
            self.last_seen = monotonic()
            self.on_message(frame.payload_ptr, frame.payload_size)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            self.state = CONN_CLOSING
            transport.disconnect(True)
        elif frame.msg_type == WSMsgType.PING or frame.msg_type == WSMsgType.PONG:
            self.last_seen = monotonic()  # picows answers PING itself (auto pong)
        elif frame.msg_type == WSMsgType.TEXT:
            self.close(C_PROTOCOL_ERROR, "text messages are not part of the protocol")
        else:
            self.close(C_PROTOCOL_ERROR, "fragmented messages are not supported")

    # --- frames in ----------------------------------------------------------------------------

    cdef int on_message(self, const char* p, Py_ssize_t size) except -1:
        cdef FrameHeader h
        cdef const char* end
        cdef const char* q
        cdef Py_ssize_t n
        if size < GB_HEADER_SIZE:
            return self.bad_frame(E_BAD_FRAME, 0, 0,
                                  f"frame of {size} bytes is shorter than the header")
        read_header(p, &h)
        if not self.header_ok(&h, size - GB_HEADER_SIZE, True):
            return 0
        if h.type != T_BATCH:
            return self.on_frame(&h, p + GB_HEADER_SIZE)
        # A batch: check every inner header first, so a bad batch is refused whole.
        p += GB_HEADER_SIZE
        end = p + h.length
        if p == end:
            return self.bad_frame(E_BAD_FRAME, 0, 0, "empty batch")
        q = p
        while q < end:
            n = end - q
            if n < GB_HEADER_SIZE:
                return self.bad_frame(E_BAD_FRAME, 0, 0,
                                      f"batch frame at offset {q - p} is truncated")
            read_header(q, &h)
            if not self.header_ok(&h, n - GB_HEADER_SIZE, False):
                return 0
            if h.type == T_BATCH:
                return self.bad_frame(E_BAD_FRAME, h.request_id, 0,
                                      "a batch may not contain a batch")
            q += GB_HEADER_SIZE + h.length
        while p < end and self.state < CONN_CLOSING:
            read_header(p, &h)
            self.on_frame(&h, p + GB_HEADER_SIZE)
            p += GB_HEADER_SIZE + h.length
        return 0

    cdef bint header_ok(self, FrameHeader* h, Py_ssize_t available, bint exact) except -1:
        """Check a header against the protocol; answer ERROR (and maybe close) if it fails."""
        cdef int code = check_header(h, self.edge.max_payload)
        if code == E_UNSUPPORTED_VERSION:
            self.bad_frame(code, 0, 0, f"protocol version {h.version} not supported")
        elif code == E_UNKNOWN_TYPE:
            self.bad_frame(code, h.request_id, h.channel_id, f"unknown frame type {h.type}")
        elif code == E_BAD_FRAME:
            self.bad_frame(code, h.request_id, h.channel_id,
                           f"reserved flag bits set: {h.flags:#06x}")
        elif code == E_PAYLOAD_TOO_LARGE:
            self.bad_frame(code, h.request_id, h.channel_id,
                           f"payload of {h.length} bytes exceeds {self.edge.max_payload}")
        elif exact and h.length != available:
            self.bad_frame(E_BAD_FRAME, h.request_id, h.channel_id,
                           f"payload length {h.length} does not match the {available} "
                           "bytes present")
        elif not exact and h.length > available:
            self.bad_frame(E_BAD_FRAME, h.request_id, h.channel_id, "batch frame is truncated")
        else:
            return True
        return False

    cdef int bad_frame(self, int code, uint32_t request_id, uint64_t channel_id,
                       str message) except -1:
        """A malformed frame: ERROR to the sender; close after too many of them."""
        self.send_error(code, message, request_id, channel_id)
        self.protocol_errors += 1
        if self.protocol_errors >= MAX_PROTOCOL_ERRORS:
            self.close(C_PROTOCOL_ERROR, "too many malformed frames")
        return 0

    cdef bint allow(self, uint32_t request_id) except -1:
        """Token bucket per connection: refill by elapsed time; refuse past the burst."""
        cdef double t = self.last_seen
        cdef Edge edge = self.edge
        self.tokens += (t - self.refilled_at) * edge.rate
        self.refilled_at = t
        if self.tokens > edge.burst:
            self.tokens = edge.burst
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.limited = False
            return True
        self.tokens -= 1.0
        edge.stats.rate_limited += 1
        if self.tokens < -edge.burst:
            self.close(C_FLOOD, "rate limit exceeded repeatedly")
        elif request_id or not self.limited:
            self.send_error(E_RATE_LIMITED, "too many frames", request_id, 0,
                            {"retry_after_ms": int((1.0 - self.tokens) / edge.rate * 1000) + 1})
        self.limited = True
        return False

    cdef int on_frame(self, FrameHeader* h, const char* payload) except -1:
        cdef Edge edge = self.edge
        cdef int type = h.type
        cdef Channel channel
        cdef bytes data
        edge.stats.frames_in[type] += 1
        if not self.allow(h.request_id):
            return 0
        if type == T_PUBLISH and self.state == CONN_READY:
            channel = None if self.subs is None else self.subs.get(h.channel_id)
            if channel is None:
                self.send_error(E_UNKNOWN_CHANNEL,
                                "publish to a channel this connection has not subscribed",
                                h.request_id, h.channel_id)
                return 0
            if self.readonly_subs is not None and h.channel_id in self.readonly_subs:
                self.send_error(E_FORBIDDEN, f"no permission to publish to {channel.name!r}",
                                h.request_id, h.channel_id)
                return 0
            data = build_ws(T_DELIVER, h.flags & F_JSON, 0, channel.shard_key, h.channel_id,
                            payload, h.length)
            edge.flusher.note_publish(self.last_seen)
            edge.stats.deliveries += channel.fanout(data, self if h.flags & F_NO_ECHO else None)
            if edge.remote:
                edge.handler.publish_remote(self, channel, data, h.request_id,
                                            bool(h.flags & F_ACK_REQUIRED))
            elif h.flags & F_ACK_REQUIRED:
                self.send_frame(T_ACK, b"", 0, h.request_id, h.channel_id)
        elif type == T_PING:
            self.enqueue(build_ws(T_PONG, h.flags & F_JSON, h.request_id, self.shard_key,
                                  h.channel_id, payload, h.length))
            edge.stats.frames_out[T_PONG] += 1
        elif self.state == CONN_READY or type == T_HELLO:
            edge.handler.on_frame(self, type, h.flags, h.request_id, h.channel_id,
                                  PyBytes_FromStringAndSize(payload, h.length))
        else:
            self.send_error(E_NOT_AUTHENTICATED, "send HELLO first", h.request_id, h.channel_id)
        return 0

    # --- frames out ---------------------------------------------------------------------------

    cdef void enqueue(self, bytes data) noexcept:
        if self.pending is None:
            self.pending = data
            self.edge.flusher.mark(self)
        elif type(self.pending) is bytes:
            self.pending = [self.pending, data]
        else:
            self.pending.append(data)
        self.pending_bytes += PyBytes_GET_SIZE(data)

    cdef int write_pending(self) except -1:
        """Write what was queued this tick in one write (a send(2) when nothing is buffered)."""
        cdef object pending = self.pending
        cdef Py_ssize_t n = self.pending_bytes
        cdef Py_ssize_t buffered, sent
        cdef bytes data
        cdef Stats stats = self.edge.stats
        if pending is None:
            return 0
        self.pending = None
        self.pending_bytes = 0
        if self.state == CONN_CLOSED or self.transport.is_disconnected:
            return 0
        data = pending if type(pending) is bytes else b"".join(pending)
        buffered = self.transport.underlying_transport.get_write_buffer_size()
        if buffered + n > self.edge.send_buffer_limit:
            stats.slow_consumers += 1
            self.close(C_SLOW_CONSUMER,
                       f"send buffer passed {self.edge.send_buffer_limit} bytes")
            return 0
        stats.writes += 1
        stats.bytes_out += n
        if buffered == 0 and not self.transport.is_secure:
            sent = c_send(self.transport._socket, PyBytes_AS_STRING(data), n, MSG_NOSIGNAL)
            if sent == n:
                return 0
            if sent > 0:
                data = data[sent:]
            elif errno != EAGAIN and errno != EINTR:  # EWOULDBLOCK == EAGAIN on Linux
                return 0  # the socket failed; the transport reports the disconnect
        self.transport.underlying_transport.write(data)
        return 0

    cpdef send_frame(self, int type, bytes payload=b"", int flags=0, uint32_t request_id=0,
                     uint64_t channel_id=0):
        """Queue one frame for this connection (written at the end of the loop tick)."""
        if self.state == CONN_CLOSED:
            return
        self.edge.stats.frames_out[type & 0x0F] += 1
        self.enqueue(build_ws(type, flags, request_id, self.shard_key, channel_id,
                              PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload)))

    cpdef send_error(self, int code, str message, uint32_t request_id=0, uint64_t channel_id=0,
                     object extra=None):
        """Queue an ERROR frame ``{code, name, message, **extra}`` answering ``request_id``."""
        body = {"code": code, "name": _ERROR_NAMES[code], "message": message}
        if extra:
            body.update(extra)
        self.edge.stats.errors[code] += 1
        self.send_frame(T_ERROR, orjson.dumps(body), F_JSON, request_id, channel_id)

    cpdef close(self, int code, str reason=""):
        """Write what is queued, send a WebSocket close with ``code``, then end the socket."""
        if self.state >= CONN_CLOSING:
            return
        self.write_pending()
        self.state = CONN_CLOSING
        self.edge.handler.on_close(self, code, reason)
        if not self.transport.is_disconnected:
            self.transport.send_close(<WSCloseCode>code, reason.encode()[:120])
            self.transport.disconnect(True)
            # A peer that stops reading would hold a graceful close open for ever.
            self.edge.loop.call_later(self.edge.close_grace, abort, self.transport)

    cpdef authenticate(self, object session, uint32_t shard_key, double expires_at):
        """HELLO was accepted: frames other than HELLO and PING are served from now on."""
        self.session = session
        self.shard_key = shard_key
        self.expires_at = expires_at
        self.state = CONN_READY

    # --- timers ----------------------------------------------------------------------------

    cpdef double heartbeat(self, double now, double interval, double timeout,
                           double hello_timeout):
        """Run this connection's timers at ``now``; the next time to look again, 0 when done.

        Before HELLO: close with AUTH_TIMEOUT after ``hello_timeout``. After: close with
        TOKEN_EXPIRED at the token's expiry; PING after ``interval`` of silence and close with
        HEARTBEAT_TIMEOUT when nothing arrives within ``timeout`` of that PING.
        """
        cdef double due
        if self.state >= CONN_CLOSING:
            return 0.0
        if self.state == CONN_HELLO:
            due = self.connected_at + hello_timeout
            if now >= due:
                self.close(CloseCode.AUTH_TIMEOUT, "no HELLO in time")
                return 0.0
            return due
        if self.expires_at and now >= self.expires_at:
            self.close(CloseCode.TOKEN_EXPIRED, "token expired")
            return 0.0
        if self.ping_sent and self.last_seen > self.ping_sent:
            self.ping_sent = 0.0
        if self.ping_sent:
            due = self.ping_sent + timeout
            if now >= due:
                self.close(CloseCode.HEARTBEAT_TIMEOUT, "no answer to PING")
                return 0.0
        elif now - self.last_seen >= interval:
            self.send_frame(T_PING)
            self.ping_sent = now
            due = now + timeout
        else:
            due = self.last_seen + interval
        if self.expires_at and self.expires_at < due:
            due = self.expires_at
        return due

    @property
    def subscription_count(self):
        return 0 if self.subs is None else len(self.subs)
