"""The client connection: handshake, request matching and the receive path, over picows.

Every request carries a fresh request id and waits on a future keyed by it; the receive path
resolves that future with the parsed answer. A frame the client cannot parse never raises into
user code: it closes the connection with code 4000 and fails what is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from functools import partial
from types import TracebackType
from typing import Any

import orjson
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from gb.protocol.codec import (
    DEFAULT_MAX_PAYLOAD,
    HEADER,
    HEADER_SIZE,
    U32_MAX,
    Frame,
    FrameError,
    decode_message,
    encode,
)
from gb.protocol.codes import FLAGS_KNOWN, PROTOCOL_VERSION, ErrorCode, Flag, FrameType

from .errors import ConnectionClosed, GbError
from .subscription import Delivery, Subscription

log = logging.getLogger("gb.client")

#: Bound of :attr:`Client.events` and :attr:`Client.errors`; more is dropped and counted.
EVENT_QUEUE_SIZE = 10_000

_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
_TEXT = WSMsgType.TEXT
_DELIVER = int(FrameType.DELIVER)
_PUBLISH = int(FrameType.PUBLISH)
_JSON = int(Flag.JSON)
_ACK_REQUIRED = int(Flag.ACK_REQUIRED)
_NO_ECHO = int(Flag.NO_ECHO)
_PACK_HEADER = HEADER.pack
_UNPACK_HEADER = HEADER.unpack_from
_FLAGS_RESERVED = ~FLAGS_KNOWN
_ABNORMAL_CLOSURE = 1006
_NO_STATUS = 1005
# The WebSocket limit on a close reason is 123 bytes.
_CLOSE_REASON_MAX = 123

#: The answer frame type a request waits for, and how its frame becomes the caller's result.
_Parse = Callable[[Frame], Any]
_Pending = tuple["asyncio.Future[Any]", int, _Parse]


def _parse_nothing(frame: Frame) -> None:
    return None


def _parse_object(frame: Frame) -> dict[str, Any]:
    body = frame.json()
    if not isinstance(body, dict):
        raise FrameError(ErrorCode.BAD_PAYLOAD, f"{FrameType(frame.type).name} is not an object")
    return body


def _parse_result(frame: Frame) -> Any:
    body = _parse_object(frame)
    if "result" not in body:
        raise FrameError(ErrorCode.BAD_PAYLOAD, "RPC_RESPONSE has no result")
    return body["result"]


def decode_deliver(data: bytes, max_payload: int) -> Delivery | None:
    """The :class:`Delivery` when ``data`` is exactly one well-formed DELIVER frame.

    The receive path's shortcut for the message that dominates traffic: it accepts exactly
    what :func:`gb.protocol.codec.decode` accepts for a DELIVER (a test checks this against
    the codec) and returns None for anything else, which then takes the codec's full path.
    """
    if len(data) < HEADER_SIZE or data[1] != _DELIVER:
        return None
    version, _, flags, length, _, _, cid = _UNPACK_HEADER(data)
    if (
        version != PROTOCOL_VERSION
        or flags & _FLAGS_RESERVED
        or length != len(data) - HEADER_SIZE
        or length > max_payload
    ):
        return None
    return Delivery(cid, data[HEADER_SIZE:], flags)


def _require_int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if type(value) is not int:
        raise FrameError(ErrorCode.BAD_PAYLOAD, f"field {key!r} must be an integer")
    return value


class _Listener(WSListener):
    """Hands picows callbacks to the client; kept apart so :class:`Client` stays plain."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._client._transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == _BINARY and frame.fin:
            self._client._on_message(frame.get_payload_as_bytes())
        else:
            self._client._on_other_ws_frame(frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._client._on_disconnected()

    def pause_writing(self) -> None:
        self._client._pause_writing()

    def resume_writing(self) -> None:
        self._client._resume_writing()


class Client:
    """One authenticated gb session. Create it with :func:`connect`.

    Attributes:
        welcome: the WELCOME payload (``session``, ``node``, ``shard_key``, ``heartbeat_ms``...).
        closed: resolves to ``(close code, reason)`` when the socket ends, for any cause
            (wrap it in ``asyncio.shield`` before ``wait_for``: a timeout cancels it).
        errors: ERROR frames not tied to a pending request, as :class:`GbError`.
        events: PRESENCE events and any other frame no request waits for.
        request_timeout: the default wait, in seconds, of requests without their own timeout.
        dropped_events: events/errors dropped because their queue was full.
        dropped_unrouted: DELIVER frames for a channel with no local subscription (in flight
            during an unsubscribe, or after a timed-out subscribe).
    """

    _transport: WSTransport

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        auto_pong: bool = True,
        request_timeout: float = 10.0,
    ) -> None:
        self.welcome: dict[str, Any] = {}
        self.closed: asyncio.Future[tuple[int, str]] = loop.create_future()
        self.errors: asyncio.Queue[GbError] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self.events: asyncio.Queue[Frame] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self.request_timeout = request_timeout
        self.dropped_events = 0
        self.dropped_unrouted = 0
        self._loop = loop
        self._max_payload = max_payload
        self._auto_pong = auto_pong
        self._shard_key = 0
        self._rid = 0
        self._pending: dict[int, _Pending] = {}
        self._subs: dict[int, Subscription] = {}
        self._names: set[str] = set()
        self._batch: list[bytes] | None = None
        self._fragments: bytearray | None = None
        self._writable: asyncio.Future[None] | None = None
        self._welcome: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._closed_exc: ConnectionClosed | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed_exc else "open"
        return f"<gb Client {state} session={self.welcome.get('session')!r}>"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def shard_key(self) -> int:
        """The shard key the server chose; every frame after WELCOME carries it."""
        return self._shard_key

    @property
    def subscriptions(self) -> dict[int, Subscription]:
        """The live subscriptions by channel id (a copy)."""
        return dict(self._subs)

    # ---- public requests ------------------------------------------------------------------

    async def subscribe(
        self,
        channel: str,
        *,
        presence: bool = False,
        queue_size: int = 10_000,
        timeout: float | None = None,  # noqa: ASYNC109 (public API)
    ) -> Subscription:
        """Join ``channel``; deliveries queue on the returned :class:`Subscription`.

        ``presence`` asks for join/leave events of the channel (they arrive on :attr:`events`).
        ``queue_size`` bounds the subscription's queue. A channel may be subscribed once per
        client (:class:`ValueError` otherwise). Raises :class:`GbError` if the server refuses.
        """
        if channel in self._names:
            raise ValueError(f"already subscribed to {channel!r}")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        sub = Subscription(self, channel, 0, 0, queue_size)
        self._names.add(channel)
        payload = orjson.dumps({"channel": channel, "presence": presence})
        try:
            await self._request(
                FrameType.SUBSCRIBE,
                payload,
                flags=_JSON,
                wait=self.request_timeout if timeout is None else timeout,
                answer=FrameType.ACK,
                parse=partial(self._register, sub),
            )
        except BaseException:
            if self._subs.get(sub.channel_id) is not sub:
                self._names.discard(channel)
            raise
        return sub

    async def publish(
        self,
        channel_id: int,
        payload: bytes,
        *,
        ack: bool = False,
        echo: bool = True,
        json: bool = False,
    ) -> None:
        """Publish ``payload`` (opaque bytes, or UTF-8 JSON with ``json=True``) to a channel.

        With ``ack`` it waits for the server's ACK (:class:`GbError` on refusal); without, it
        returns once the frame is handed to the socket. ``echo=False`` keeps the publication
        from being delivered back to this connection. Waits while the socket's send buffer is
        over its high-water mark, so a fast publisher cannot grow memory without bound.
        """
        if self._closed_exc is not None:
            raise self._closed_error()
        if self._writable is not None:
            await self._wait_writable(self._writable)
        flags = _JSON if json else 0
        if not echo:
            flags |= _NO_ECHO
        if ack:
            await self._request(
                _PUBLISH,
                payload,
                flags=flags | _ACK_REQUIRED,
                channel_id=channel_id,
                wait=self.request_timeout,
                answer=FrameType.ACK,
                parse=_parse_nothing,
            )
            return
        try:
            header = _PACK_HEADER(
                PROTOCOL_VERSION, _PUBLISH, flags, len(payload), 0, self._shard_key, channel_id
            )
        except struct.error as exc:
            raise ValueError(f"channel id {channel_id} out of range: {exc}") from None
        self._send(header + payload)

    async def presence(
        self,
        channel_id: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (public API)
    ) -> dict[str, Any]:
        """Members of a subscribed channel: ``{"members": [...], "subscribers": n}``."""
        result: dict[str, Any] = await self._request(
            FrameType.PRESENCE,
            b"",
            channel_id=channel_id,
            wait=self.request_timeout if timeout is None else timeout,
            answer=FrameType.PRESENCE,
            parse=_parse_object,
        )
        return result

    async def rpc(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 (public API)
    ) -> Any:
        """Call server method ``method``; returns the response's ``result``.

        Raises :class:`GbError` (e.g. ``UNKNOWN_METHOD``, ``FORBIDDEN``) when the server refuses.
        """
        payload = orjson.dumps({"method": method, "params": params if params is not None else {}})
        return await self._request(
            FrameType.RPC_REQUEST,
            payload,
            flags=_JSON,
            wait=timeout,
            answer=FrameType.RPC_RESPONSE,
            parse=_parse_result,
        )

    async def ping(
        self,
        payload: bytes = b"",
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (public API)
    ) -> float:
        """Send a protocol PING and return the round trip to its PONG, in seconds."""
        start = time.perf_counter()
        await self._request(
            FrameType.PING,
            payload,
            wait=self.request_timeout if timeout is None else timeout,
            answer=FrameType.PONG,
            parse=_parse_nothing,
        )
        return time.perf_counter() - start

    def send_raw(self, data: bytes) -> None:
        """Send ``data`` as one binary WebSocket message, unchecked (for protocol tests)."""
        if self._closed_exc is not None:
            raise self._closed_error()
        self._transport.send(_BINARY, data)

    def batch(self) -> AbstractAsyncContextManager[None]:
        """Collect the frames sent inside the block and send them as ONE BATCH message.

        The batch goes out when the block ends without an exception (an exception discards
        it). A nested block joins the outer one. Do not await an answer inside the block (an
        acknowledged publish, a subscribe...): its request leaves only when the block ends.
        """
        return self._batch_block()

    @contextlib.asynccontextmanager
    async def _batch_block(self) -> AsyncIterator[None]:
        if self._batch is not None:
            yield
            return
        frames: list[bytes] = []
        self._batch = frames
        try:
            yield
        finally:
            self._batch = None
        if frames:
            if self._closed_exc is not None:
                raise self._closed_error()
            batch = encode(FrameType.BATCH, b"".join(frames), shard_key=self._shard_key)
            self._transport.send(_BINARY, batch)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait (at most ``request_timeout``) for the socket to end."""
        if self._closed_exc is None:
            self._transport.send_close(WSCloseCode(code), reason.encode())
            self._finish(code, reason)
        try:
            async with asyncio.timeout(self.request_timeout):
                await self._transport.wait_disconnected()
        except TimeoutError:
            self._transport.disconnect(graceful=False)
        except Exception as exc:
            # picows re-raises a local failure that already closed the socket; it is over.
            log.debug("socket ended with %r", exc)

    # ---- requests ---------------------------------------------------------------------------

    def _next_request_id(self) -> int:
        rid = self._rid
        pending = self._pending
        while True:
            rid = rid + 1 if rid < U32_MAX else 1
            if rid not in pending:
                self._rid = rid
                return rid

    async def _request(
        self,
        type: int,
        payload: bytes,
        *,
        flags: int = 0,
        channel_id: int = 0,
        wait: float,
        answer: int,
        parse: _Parse,
    ) -> Any:
        if self._closed_exc is not None:
            raise self._closed_error()
        rid = self._next_request_id()
        frame = encode(
            type,
            payload,
            flags=flags,
            request_id=rid,
            shard_key=self._shard_key,
            channel_id=channel_id,
        )
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[rid] = (future, answer, parse)
        try:
            self._send(frame)
            async with asyncio.timeout(wait):
                return await future
        finally:
            self._pending.pop(rid, None)

    def _register(self, sub: Subscription, frame: Frame) -> Subscription:
        body = _parse_object(frame)
        sub.channel_id = _require_int(body, "channel_id")
        sub.subscribers = _require_int(body, "subscribers")
        self._subs[sub.channel_id] = sub
        return sub

    async def _unsubscribe(self, sub: Subscription, wait: float) -> None:
        if self._subs.get(sub.channel_id) is not sub:
            return
        try:
            await self._request(
                FrameType.UNSUBSCRIBE,
                b"",
                channel_id=sub.channel_id,
                wait=wait,
                answer=FrameType.ACK,
                parse=_parse_nothing,
            )
        except ConnectionClosed:
            # The server forgets a closed connection's subscriptions: leaving succeeded.
            pass
        finally:
            self._subs.pop(sub.channel_id, None)
            self._names.discard(sub.name)
            sub._end_unsubscribed()

    # ---- sending ---------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        batch = self._batch
        if batch is not None:
            batch.append(data)
        else:
            self._transport.send(_BINARY, data)

    def _pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def _resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def _wait_writable(self, writable: asyncio.Future[None]) -> None:
        # Shielded: one cancelled publisher must not cancel the others' wait.
        await asyncio.shield(writable)
        if self._closed_exc is not None:
            raise self._closed_error()

    # ---- receiving -------------------------------------------------------------------------

    def _on_message(self, data: bytes) -> None:
        if self._closed_exc is not None:
            return
        delivery = decode_deliver(data, self._max_payload)
        if delivery is not None:
            sub = self._subs.get(delivery.channel_id)
            if sub is not None:
                sub._push(delivery)
            else:
                self.dropped_unrouted += 1
            return
        try:
            for frame in decode_message(data, self._max_payload):
                if frame.type == _DELIVER:
                    sub = self._subs.get(frame.channel_id)
                    if sub is not None:
                        sub._push(Delivery(frame.channel_id, frame.payload, frame.flags))
                    else:
                        self.dropped_unrouted += 1
                else:
                    self._on_control(frame)
        except (FrameError, KeyError, TypeError, ValueError) as exc:
            self._protocol_error(f"bad frame from server: {exc}")

    def _on_control(self, frame: Frame) -> None:
        ftype, rid = frame.type, frame.request_id
        if ftype == FrameType.ERROR:
            self._on_error(frame)
        elif ftype == FrameType.PING:
            if self._auto_pong:
                pong = encode(
                    FrameType.PONG, frame.payload, request_id=rid, shard_key=self._shard_key
                )
                self._transport.send(_BINARY, pong)
            else:
                self._put(self.events, frame)
        elif ftype == FrameType.WELCOME and not self._welcome.done():
            welcome = _parse_object(frame)
            self._shard_key = _require_int(welcome, "shard_key")
            self._welcome.set_result(welcome)
        elif rid and rid in self._pending:
            future, answer, parse = self._pending[rid]
            if ftype != answer:
                raise FrameError(
                    ErrorCode.UNEXPECTED_FRAME,
                    f"request {rid} answered by {FrameType(ftype).name}, "
                    f"expected {FrameType(answer).name}",
                )
            # Parsed before the entry leaves: a bad answer closes the client, which then
            # fails this request with ConnectionClosed like every other pending one.
            result = parse(frame)
            del self._pending[rid]
            if not future.done():
                future.set_result(result)
        else:
            self._put(self.events, frame)

    def _on_error(self, frame: Frame) -> None:
        error = GbError.from_payload(_parse_object(frame))
        if not self._welcome.done():
            self._welcome.set_exception(error)
            return
        entry = self._pending.pop(frame.request_id, None) if frame.request_id else None
        if entry is None:
            self._put(self.errors, error)
        elif not entry[0].done():
            entry[0].set_exception(error)

    def _put(self, queue: asyncio.Queue[Any], item: Any) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped_events += 1

    def _on_other_ws_frame(self, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == _CLOSE:
            code = frame.get_close_code()
            reason = frame.get_close_reason() or ""
            self._transport.send_close(code if code.value else WSCloseCode.OK)
            self._transport.disconnect()
            self._finish(code.value or _NO_STATUS, reason)
        elif msg_type == _BINARY:
            # First fragment of a message picows hands over frame by frame.
            self._fragments = bytearray(frame.get_payload_as_bytes())
        elif msg_type == _CONTINUATION:
            fragments = self._fragments
            if fragments is None:
                self._protocol_error("continuation frame with no message started")
                return
            fragments += frame.get_payload_as_bytes()
            if len(fragments) > self._max_payload + HEADER_SIZE:
                self._protocol_error("fragmented message longer than the maximum payload")
            elif frame.fin:
                self._fragments = None
                self._on_message(bytes(fragments))
        elif msg_type == _TEXT:
            self._protocol_error("text message; protocol v1 is binary")
        # WebSocket PING is answered by picows; an unsolicited PONG needs nothing.

    def _protocol_error(self, message: str) -> None:
        if self._closed_exc is not None:
            return
        log.warning("closing gb connection: %s", message)
        reason = message.encode()[:_CLOSE_REASON_MAX].decode(errors="ignore")
        self._transport.send_close(WSCloseCode(4000), reason.encode())
        self._transport.disconnect()
        self._finish(4000, message)

    def _on_disconnected(self) -> None:
        if self._closed_exc is not None:
            return
        handshake = self._transport.close_handshake
        info = None
        if handshake is not None:
            info = handshake.recv or handshake.sent
        if info is None:
            self._finish(_ABNORMAL_CLOSURE, "connection lost")
        else:
            self._finish(info.code.value or _NO_STATUS, info.reason or "")

    def _finish(self, code: int, reason: str) -> None:
        """The connection is over: fail everything waiting on it, once."""
        if self._closed_exc is not None:
            return
        self._closed_exc = ConnectionClosed(code, reason)
        pending, self._pending = self._pending, {}
        for future, _, _ in pending.values():
            if not future.done():
                future.set_exception(ConnectionClosed(code, reason))
        for sub in self._subs.values():
            sub._end_closed(code, reason)
        if not self._welcome.done():
            self._welcome.set_exception(ConnectionClosed(code, reason))
        self._resume_writing()
        if not self.closed.done():  # a caller's wait_for timeout may have cancelled it
            self.closed.set_result((code, reason))

    def _closed_error(self) -> ConnectionClosed:
        closed = self._closed_exc
        assert closed is not None
        return ConnectionClosed(closed.code, closed.reason)


async def connect(
    url: str,
    token: str,
    *,
    client_name: str | None = None,
    versions: Iterable[int] = (1,),
    resume: str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 (public API)
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    auto_pong: bool = True,
) -> Client:
    """Open a WebSocket to ``url``, authenticate with ``token`` and return the session.

    ``timeout`` bounds the whole handshake and becomes the client's default request timeout.
    ``max_payload`` is the largest payload accepted from the server (a larger frame closes the
    connection). ``auto_pong=False`` leaves the server's protocol PINGs on :attr:`Client.events`
    (the server then closes with HEARTBEAT_TIMEOUT unless the caller answers them).

    Raises :class:`GbError` if the server refuses the HELLO, :class:`ConnectionClosed` if the
    socket ends first, ``TimeoutError`` after ``timeout``, ``OSError`` or a picows handshake
    error if the WebSocket cannot be opened.
    """
    loop = asyncio.get_running_loop()
    client = Client(loop, max_payload=max_payload, auto_pong=auto_pong, request_timeout=timeout)
    hello: dict[str, Any] = {"token": token, "versions": list(versions)}
    if client_name is not None:
        hello["client"] = client_name
    if resume is not None:
        hello["resume"] = resume
    async with asyncio.timeout(timeout):
        transport, _ = await ws_connect(
            lambda: _Listener(client),
            url,
            websocket_handshake_timeout=timeout,
            max_frame_size=max_payload + HEADER_SIZE,
            read_buffer_init_size=4096,
            # aiofastnet busy-loops when the process runs out of descriptors (machine-facts).
            use_aiofastnet=False,
        )
        try:
            client._transport = transport
            if transport.is_disconnected:
                # The socket ended before the upgrade completed: picows then returns the
                # transport without calling on_ws_connected or on_ws_disconnected.
                client._on_disconnected()
            else:
                client._send(encode(FrameType.HELLO, orjson.dumps(hello), flags=_JSON))
            client.welcome = await client._welcome
        except BaseException:
            # The wait on WELCOME is what failed (or was cancelled by the timeout), so the
            # future is done and its outcome retrieved; only the socket is left to close.
            if client._closed_exc is None:
                transport.send_close(WSCloseCode.GOING_AWAY)
                transport.disconnect()
                client._finish(WSCloseCode.GOING_AWAY.value, "handshake failed")
            raise
    return client
