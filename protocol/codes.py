"""Frame types, flags, error codes and close codes of protocol v1.

Defined once here; ``SPEC.md`` carries the same tables and a test keeps the two equal.
"""

from __future__ import annotations

import enum

PROTOCOL_VERSION = 1
"""The version byte every v1 frame starts with."""

SUPPORTED_VERSIONS = (1,)


class FrameType(enum.IntEnum):
    """The frame type byte. Direction: c = client to server, s = server to client."""

    HELLO = 0x01  # c: authenticate and negotiate (JSON)
    WELCOME = 0x02  # s: session accepted (JSON)
    SUBSCRIBE = 0x03  # c: join a channel by name (JSON)
    UNSUBSCRIBE = 0x04  # c: leave the channel in the header
    PUBLISH = 0x05  # c: opaque payload to the channel in the header
    DELIVER = 0x06  # s: a publication, payload as published
    ACK = 0x07  # s: the request in the header succeeded (JSON or empty)
    ERROR = 0x08  # s: the request in the header failed (JSON {code, message})
    PING = 0x09  # either side; answered with PONG carrying the same payload
    PONG = 0x0A
    PRESENCE = 0x0B  # c: query members; s: members or a join/leave event (JSON)
    RPC_REQUEST = 0x0C  # c: {method, params} (JSON)
    RPC_RESPONSE = 0x0D  # s: {result} (JSON)
    BATCH = 0x0E  # either side: payload is a sequence of whole frames


class Flag(enum.IntFlag):
    """Header flag bits. Bits not listed here are reserved and must be zero."""

    NONE = 0
    JSON = 0x0001  # the payload is UTF-8 JSON (else opaque bytes)
    ACK_REQUIRED = 0x0002  # PUBLISH: answer with ACK (or ERROR) for the request id
    NO_ECHO = 0x0004  # PUBLISH: do not deliver to the publishing connection


FLAGS_KNOWN = int(Flag.JSON | Flag.ACK_REQUIRED | Flag.NO_ECHO)


class ErrorCode(enum.IntEnum):
    """The ``code`` of an ERROR frame's payload."""

    BAD_FRAME = 1  # header malformed, length mismatch, reserved bits set
    UNKNOWN_TYPE = 2  # frame type byte not in the table
    PAYLOAD_TOO_LARGE = 3  # payload longer than the negotiated maximum
    UNSUPPORTED_VERSION = 4  # version byte or HELLO versions not supported
    NOT_AUTHENTICATED = 5  # a frame other than HELLO/PING before WELCOME
    TOKEN_INVALID = 6  # signature, algorithm, audience or issuer wrong
    TOKEN_EXPIRED = 7  # the token's exp has passed
    FORBIDDEN = 8  # the caller's roles do not allow this channel or method
    UNKNOWN_CHANNEL = 9  # channel id not subscribed by this connection
    RATE_LIMITED = 10  # too many frames; payload carries retry_after_ms
    BAD_PAYLOAD = 11  # JSON malformed or a field missing/wrong; message names it
    ALREADY_AUTHENTICATED = 12  # a second HELLO
    CHANNEL_LIMIT = 13  # too many subscriptions on this connection
    UNKNOWN_METHOD = 14  # RPC method not registered
    INTERNAL = 15  # the server failed; the request may be retried
    UNEXPECTED_FRAME = 16  # a server-to-client type sent by a client
    CHANNEL_COLLISION = 17  # two channel names hash to one id (rename the channel)
    UNAVAILABLE = 18  # a dependency (broker) is down; retry later
    QUOTA_EXCEEDED = 19  # a quota of the tenant is used up; payload names it (quota, limit)
    NOT_FOUND = 20  # no such conversation or message, or the caller may not see it
    CONFLICT = 21  # the request contradicts current state (status moving backwards)


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server sends (4000-4999 is the application range)."""

    NORMAL = 1000
    INTERNAL_ERROR = 1011
    PROTOCOL_ERROR = 4000  # a frame could not be parsed; the stream is not trusted
    AUTH_FAILED = 4001  # HELLO carried a bad token
    AUTH_TIMEOUT = 4002  # no HELLO within the handshake timeout
    HEARTBEAT_TIMEOUT = 4003  # no PONG (or any frame) within the heartbeat window
    SLOW_CONSUMER = 4004  # the send buffer passed its bound; reconnect and recover
    FLOOD = 4005  # rate limit exceeded repeatedly
    DRAINING = 4006  # node shutting down: reconnect elsewhere at once
    TOKEN_EXPIRED = 4007  # the session's token expired
    OVER_CAPACITY = 4008  # node at its connection cap: reconnect elsewhere
    UNSUPPORTED_VERSION = 4009  # no common protocol version
    FRAME_TOO_LARGE = 4010  # a WebSocket message exceeded the node's maximum
    QUOTA_EXCEEDED = 4011  # the tenant's connection quota is used up


#: Close codes after which a client should reconnect (possibly elsewhere).
RECONNECTABLE = frozenset(
    {
        CloseCode.INTERNAL_ERROR,
        CloseCode.HEARTBEAT_TIMEOUT,
        CloseCode.SLOW_CONSUMER,
        CloseCode.DRAINING,
        CloseCode.OVER_CAPACITY,
    }
)
