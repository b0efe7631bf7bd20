"""The hub: what the native edge hands up — sessions, channels, presence, RPC, the broker.

The edge (``gb.core._native.edge``) answers PING and fans PUBLISH out itself; every other
frame arrives here through :meth:`Hub.on_frame`. Channels are tenant-scoped and shared
between nodes through the broker: a node subscribes to a channel's broker topic while it
has local subscribers, and a publication travels as the finished WebSocket message, so a
receiving node writes the same bytes to its subscribers without re-encoding.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gb.protocol.codec import FrameError, channel_id, encode, loads_payload
from gb.protocol.codes import SUPPORTED_VERSIONS, CloseCode, ErrorCode, Flag, FrameType

from . import channels
from ._native.edge import STATE_HELLO, Channel, Conn, Edge, now, wrap_frame
from .auth import Authenticator, AuthError, Identity
from .broker import Broker, BrokerUnavailable
from .metrics import Metrics
from .presence import PresenceStore, PresenceUnavailable
from .registry import Registry
from .rpc import RpcError, RpcRegistry
from .session import ResumeTokens, Session, new_session_id
from .tenancy.quotas import QuotaExceeded
from .tenant_gate import TenantGate
from .timer_wheel import TimerWheel

log = logging.getLogger("gb.hub")

# Broker envelope: origin node id (length-prefixed), publish wall time, WebSocket message.
_WALL_TIME = struct.Struct("<d")
_JSON = int(Flag.JSON)
_CLIENT_TYPES = frozenset(
    {FrameType.SUBSCRIBE, FrameType.UNSUBSCRIBE, FrameType.PRESENCE, FrameType.RPC_REQUEST}
)


Guard = Callable[[Identity, str], Awaitable[bool]]
"""May this identity subscribe to this channel? Asked for names under a guarded prefix."""


def topic(channel: int) -> str:
    """The broker topic of a channel; the hash tag spreads channels over a Redis Cluster."""
    return f"gb:ch:{{{channel:016x}}}"


class Hub:
    """Sessions, channels and presence of one node; the Python side of the edge."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        authenticator: Authenticator,
        broker: Broker,
        metrics: Metrics,
        rpc: RpcRegistry,
        resume: ResumeTokens,
        node_id: str,
        max_payload: int,
        send_buffer_limit: int,
        rate: float,
        burst: float,
        max_subscriptions: int,
        max_connections: int,
        heartbeat_interval: float,
        heartbeat_timeout: float,
        hello_timeout: float,
        gate: TenantGate | None = None,
    ) -> None:
        self.loop = loop
        self.auth = authenticator
        self.broker = broker
        self.metrics = metrics
        self.rpc = rpc
        self.resume = resume
        self.node_id = node_id
        self._origin = node_id.encode()[:255]
        self._prefix = bytes([len(self._origin)]) + self._origin
        self.max_connections = max_connections
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.hello_timeout = hello_timeout
        self.edge = Edge(
            loop,
            self,
            max_payload=max_payload,
            send_buffer_limit=send_buffer_limit,
            rate=rate,
            burst=burst,
            max_subscriptions=max_subscriptions,
        )
        self.edge.remote = broker.name != "memory"
        self.registry = Registry()
        self.channels: dict[int, Channel] = {}
        self.accepting = True
        self.drained = asyncio.Event()  # set once draining and the last connection has gone
        self.gate = gate
        self._admitting: set[Conn] = set()  # HELLO accepted, quota being taken
        tick = max(0.01, min(0.5, heartbeat_timeout / 5, hello_timeout / 5))
        self.wheel: TimerWheel[Conn] = TimerWheel(tick, 512, now())
        self._tasks: set[asyncio.Task[Any]] = set()
        self._guards: dict[str, Guard] = {}
        self.presence: PresenceStore | None = None
        """Cross-node presence (online/last seen, channel members); None: this node only."""
        broker.set_handler(self.on_broker_message)

    def set_guard(self, prefix: str, guard: Guard) -> None:
        """Ask ``guard`` before anyone subscribes to a channel named ``prefix...``."""
        self._guards[prefix] = guard

    # --- connection lifecycle (called by the edge) -----------------------------------------

    def on_connect(self, conn: Conn) -> None:
        """A WebSocket is open: refuse it past the cap or while draining, else start its timers."""
        self.metrics.connections.inc()
        if not self.accepting:
            self.metrics.refused["draining"].inc()
            conn.close(CloseCode.DRAINING, "node is draining, reconnect elsewhere")
        elif len(self.edge.conns) > self.max_connections:
            self.metrics.refused["over_capacity"].inc()
            conn.close(CloseCode.OVER_CAPACITY, "node at its connection cap, reconnect elsewhere")
        else:
            self._schedule(conn, conn.connected_at + self.hello_timeout)

    def on_close(self, conn: Conn, code: int, reason: str) -> None:
        """The edge is closing ``conn`` with ``code``."""
        self.metrics.closes[code].inc()
        if code == CloseCode.AUTH_TIMEOUT:
            self.metrics.refused["auth_timeout"].inc()

    def on_disconnect(self, conn: Conn) -> None:
        """The socket ended: leave every channel, announce presence, forget the session."""
        self.metrics.connections.dec()
        if conn.subs:
            for channel in list(conn.subs.values()):
                self._leave(conn, channel)
            conn.subs = None
        self.registry.remove(conn)
        if self.presence is not None and conn.session is not None:
            gone: Session = conn.session
            write = self.presence.offline(gone.identity.scope, gone.identity.user, gone.id)
            self._spawn(self._presence_write("offline", write))
        if self.gate is not None and conn.session is not None:
            session: Session = conn.session
            self._spawn(self.gate.release(session.identity, now() - conn.connected_at))
        if not self.accepting and not self.edge.conns:
            self.drained.set()

    # --- frames ---------------------------------------------------------------------------

    def on_frame(
        self, conn: Conn, type: int, flags: int, request_id: int, channel: int, payload: bytes
    ) -> None:
        """Every frame the edge does not handle itself."""
        if type == FrameType.HELLO:
            self._hello(conn, request_id, payload)
        elif type == FrameType.PONG:
            return  # the edge already noted the activity that answers our PING
        elif type not in _CLIENT_TYPES:
            conn.send_error(
                ErrorCode.UNEXPECTED_FRAME,
                f"{FrameType(type).name} is not sent by clients",
                request_id,
                channel,
            )
        elif type == FrameType.UNSUBSCRIBE:
            self._unsubscribe(conn, request_id, channel)
        elif type == FrameType.PRESENCE:
            self._presence(conn, request_id, channel)
        else:
            try:
                body = loads_payload(payload)
            except FrameError as exc:
                conn.send_error(exc.code, exc.message, request_id, channel)
                return
            if type == FrameType.SUBSCRIBE:
                self._subscribe(conn, request_id, body)
            else:
                self._spawn(self._rpc(conn, request_id, body))

    def _hello(self, conn: Conn, request_id: int, payload: bytes) -> None:
        if conn.session is not None or conn in self._admitting:
            conn.send_error(
                ErrorCode.ALREADY_AUTHENTICATED, "HELLO was already accepted", request_id
            )
            return
        try:
            body = loads_payload(payload)
            if not isinstance(body, dict):
                raise FrameError(ErrorCode.BAD_PAYLOAD, "HELLO payload must be a JSON object")
        except FrameError as exc:
            conn.send_error(exc.code, exc.message, request_id)
            conn.close(CloseCode.AUTH_FAILED, "bad HELLO")
            self.metrics.refused["auth_failed"].inc()
            return
        versions = body.get("versions", [1])
        common = [v for v in SUPPORTED_VERSIONS if isinstance(versions, list) and v in versions]
        if not common:
            conn.send_error(
                ErrorCode.UNSUPPORTED_VERSION,
                f"no common protocol version: server speaks {list(SUPPORTED_VERSIONS)}",
                request_id,
            )
            conn.close(CloseCode.UNSUPPORTED_VERSION, "no common protocol version")
            return
        try:
            identity = self.auth.verify(body.get("token"))
        except AuthError as exc:
            conn.send_error(exc.code, exc.message, request_id)
            conn.close(CloseCode.AUTH_FAILED, exc.message[:100])
            self.metrics.refused["auth_failed"].inc()
            return
        if self.gate is None:
            self._welcome(conn, request_id, body, identity, max(common))
        else:
            self._admitting.add(conn)
            self._spawn(self._admit(conn, request_id, body, identity, max(common)))

    async def _admit(
        self, conn: Conn, request_id: int, body: dict[str, Any], identity: Identity, version: int
    ) -> None:
        """Tenancy on: the instance's connection quota is taken before WELCOME."""
        assert self.gate is not None
        try:
            await self.gate.admit(identity)
        except AuthError as exc:
            conn.send_error(exc.code, exc.message, request_id)
            conn.close(CloseCode.AUTH_FAILED, exc.message[:100])
            self.metrics.refused["auth_failed"].inc()
            return
        except QuotaExceeded as exc:
            conn.send_error(
                ErrorCode.QUOTA_EXCEEDED,
                str(exc),
                request_id,
                0,
                {"quota": str(exc.quota), "limit": exc.limit},
            )
            conn.close(CloseCode.QUOTA_EXCEEDED, str(exc)[:100])
            self.metrics.refused["quota"].inc()
            return
        except Exception:  # the database or Redis is away: the client may retry elsewhere
            log.exception("admitting a session failed")
            conn.send_error(ErrorCode.UNAVAILABLE, "tenancy checks unavailable, retry", request_id)
            conn.close(CloseCode.INTERNAL_ERROR, "tenancy checks unavailable")
            return
        finally:
            self._admitting.discard(conn)
        if conn.state != STATE_HELLO:  # gone while we asked: give the quota back at once
            await self.gate.release(identity, 0.0)
            return
        self._welcome(conn, request_id, body, identity, version)

    def _welcome(
        self, conn: Conn, request_id: int, body: dict[str, Any], identity: Identity, version: int
    ) -> None:
        resumed_id = self.resume.session_id(body.get("resume"), identity)
        client = body.get("client")
        session = Session(
            id=resumed_id or new_session_id(),
            identity=identity,
            version=version,
            client=client[:64] if isinstance(client, str) else "",
            resumed=resumed_id is not None,
        )
        conn.authenticate(session, identity.shard_key, now() + (identity.expires_at - time.time()))
        first = min(conn.expires_at, conn.last_seen + self.heartbeat_interval)
        if first < conn.timer_due:  # the HELLO deadline would be too late a first look
            self._schedule(conn, first)
        displaced = self.registry.add(conn)
        if displaced is not None:
            displaced.close(CloseCode.NORMAL, "session resumed on another connection")
        if self.presence is not None:
            write = self.presence.online(identity.scope, identity.user, session.id)
            self._spawn(self._presence_write("online", write))
        welcome = {
            "version": session.version,
            "session": session.id,
            "resumed": session.resumed,
            "resume_token": self.resume.issue(session.id, identity),
            "node": self.node_id,
            "heartbeat_ms": int(self.heartbeat_interval * 1000),
            "max_payload": self.edge.max_payload,
            "shard_key": identity.shard_key,
            "user": identity.user,
            "customer": identity.customer,
            "instance": identity.instance,
            "roles": sorted(identity.roles),
        }
        conn.send_frame(FrameType.WELCOME, orjson.dumps(welcome), _JSON, request_id)

    def _subscribe(self, conn: Conn, request_id: int, body: Any) -> None:
        session: Session = conn.session
        name = body.get("channel") if isinstance(body, dict) else None
        if not channels.valid_name(name):
            conn.send_error(
                ErrorCode.BAD_PAYLOAD,
                "channel: 1-200 characters of letters, digits and :._@/- expected",
                request_id,
            )
            return
        identity = session.identity
        rights = channels.access(name, identity.user, identity.roles)
        if not rights.subscribe:
            conn.send_error(
                ErrorCode.FORBIDDEN, f"no permission to subscribe to {name!r}", request_id
            )
            return
        presence = body.get("presence") is True
        prefix = name.split(":", 1)[0] + ":"
        guard = self._guards.get(prefix)
        if guard is None and prefix in channels.GUARDED:
            conn.send_error(
                ErrorCode.UNAVAILABLE, f"{prefix} channels are not served by this node", request_id
            )
        elif guard is None:
            self._subscribe_allowed(conn, request_id, name, rights, presence)
        else:
            self._spawn(self._subscribe_guarded(conn, request_id, name, rights, presence, guard))

    async def _subscribe_guarded(
        self,
        conn: Conn,
        request_id: int,
        name: str,
        rights: channels.Access,
        presence: bool,
        guard: Guard,
    ) -> None:
        session: Session = conn.session
        try:
            allowed = await guard(session.identity, name)
        except Exception:  # the database is away: the client may retry
            log.warning("subscription check for %s failed", name, exc_info=True)
            conn.send_error(ErrorCode.UNAVAILABLE, "cannot check membership now, retry", request_id)
            return
        if not allowed:
            conn.send_error(ErrorCode.FORBIDDEN, f"not a member of {name!r}", request_id)
        elif conn in self.edge.conns:  # still connected after the check
            self._subscribe_allowed(conn, request_id, name, rights, presence)

    def _subscribe_allowed(
        self, conn: Conn, request_id: int, name: str, rights: channels.Access, presence: bool
    ) -> None:
        identity = conn.session.identity
        cid = channel_id(identity.scope, name)
        channel = self.channels.get(cid)
        if channel is not None and channel.name != name:
            conn.send_error(
                ErrorCode.CHANNEL_COLLISION,
                f"channel {name!r} collides with another channel's id; choose another name",
                request_id,
            )
            return
        if conn.subs is not None and cid in conn.subs:
            self._ack_subscribe(conn, request_id, conn.subs[cid])
            return
        if conn.subscription_count >= self.edge.max_subscriptions:
            conn.send_error(
                ErrorCode.CHANNEL_LIMIT,
                f"at most {self.edge.max_subscriptions} subscriptions per connection",
                request_id,
            )
            return
        first = channel is None
        if channel is None:
            channel = self.channels[cid] = Channel(cid, name, identity.shard_key)
            self.metrics.channels.inc()
        channel.add(conn)
        if conn.subs is None:
            conn.subs = {}
        conn.subs[cid] = channel
        if not rights.publish:
            if conn.readonly_subs is None:
                conn.readonly_subs = set()
            conn.readonly_subs.add(cid)
        self.metrics.subscriptions.inc()
        if first and self.edge.remote:
            # The ACK waits for the broker, so a publication made anywhere after it arrives here.
            self._spawn(self._subscribe_remote(conn, request_id, channel, presence))
            return
        self._joined(conn, request_id, channel, presence)

    async def _subscribe_remote(
        self, conn: Conn, request_id: int, channel: Channel, presence: bool
    ) -> None:
        try:
            await self.broker.subscribe(topic(channel.channel_id))
        except BrokerUnavailable as exc:
            log.warning("broker subscribe failed for %s: %s", channel.name, exc)
            if conn.subs is not None and channel.channel_id in conn.subs:
                self._leave(conn, channel)
            conn.send_error(ErrorCode.UNAVAILABLE, "broker unavailable, retry", request_id)
            return
        if conn.subs is not None and channel.channel_id in conn.subs:
            self._joined(conn, request_id, channel, presence)

    def _joined(self, conn: Conn, request_id: int, channel: Channel, presence: bool) -> None:
        # ACK first: the client learns the channel id before any event that carries it.
        self._ack_subscribe(conn, request_id, channel)
        if presence:
            if channel.presence is None:
                channel.presence = {}
            session: Session = conn.session
            channel.presence[session.id] = session.identity.user
            self._announce(channel, "join", session)
            if self.presence is not None:
                identity = session.identity
                write = self.presence.join(identity.scope, channel.name, session.id, identity.user)
                self._spawn(self._presence_write("join", write))

    def _ack_subscribe(self, conn: Conn, request_id: int, channel: Channel) -> None:
        ack = {
            "channel": channel.name,
            "channel_id": channel.channel_id,
            "subscribers": len(channel),
            "publish": conn.readonly_subs is None or channel.channel_id not in conn.readonly_subs,
        }
        conn.send_frame(FrameType.ACK, orjson.dumps(ack), _JSON, request_id, channel.channel_id)

    def _unsubscribe(self, conn: Conn, request_id: int, cid: int) -> None:
        channel = None if conn.subs is None else conn.subs.get(cid)
        if channel is None:
            conn.send_error(
                ErrorCode.UNKNOWN_CHANNEL, "not subscribed to this channel", request_id, cid
            )
            return
        self._leave(conn, channel)
        conn.send_frame(FrameType.ACK, b"", 0, request_id, cid)

    def _leave(self, conn: Conn, channel: Channel) -> None:
        cid = channel.channel_id
        channel.remove(conn)
        subs = conn.subs
        assert subs is not None  # only subscribed connections leave
        del subs[cid]
        if conn.readonly_subs is not None:
            conn.readonly_subs.discard(cid)
        self.metrics.subscriptions.dec()
        session: Session = conn.session
        if channel.presence is not None and channel.presence.pop(session.id, None) is not None:
            self._announce(channel, "leave", session)
            if self.presence is not None:
                write = self.presence.leave(session.identity.scope, channel.name, session.id)
                self._spawn(self._presence_write("leave", write))
        if not len(channel):
            del self.channels[cid]
            self.metrics.channels.dec()
            if self.edge.remote:
                self._spawn(self._unsubscribe_remote(cid))

    async def _unsubscribe_remote(self, cid: int) -> None:
        if cid not in self.channels:  # nobody subscribed again meanwhile
            try:
                await self.broker.unsubscribe(topic(cid))
            except BrokerUnavailable as exc:
                log.warning("broker unsubscribe failed: %s", exc)

    def _announce(self, channel: Channel, event: str, session: Session) -> None:
        body = {
            "event": event,
            "user": session.identity.user,
            "session": session.id,
            "subscribers": len(channel),
        }
        frame = wrap_frame(
            encode(
                FrameType.PRESENCE,
                orjson.dumps(body),
                flags=_JSON,
                shard_key=channel.shard_key,
                channel_id=channel.channel_id,
            )
        )
        self.edge.deliver(channel, frame)
        if self.edge.remote:
            self._spawn(self._to_broker(channel, frame))

    def _presence(self, conn: Conn, request_id: int, cid: int) -> None:
        channel = None if conn.subs is None else conn.subs.get(cid)
        if channel is None:
            conn.send_error(
                ErrorCode.UNKNOWN_CHANNEL, "not subscribed to this channel", request_id, cid
            )
            return
        if self.presence is not None:
            self._spawn(self._presence_shared(conn, request_id, channel))
            return
        members = [{"session": sid, "user": user} for sid, user in (channel.presence or {}).items()]
        body = {"channel": channel.name, "members": members, "subscribers": len(channel)}
        conn.send_frame(FrameType.PRESENCE, orjson.dumps(body), _JSON, request_id, cid)

    async def _presence_shared(self, conn: Conn, request_id: int, channel: Channel) -> None:
        """The members of ``channel`` on every node, from the shared presence store."""
        assert self.presence is not None
        session: Session = conn.session
        try:
            found = await self.presence.members(session.identity.scope, channel.name)
        except PresenceUnavailable:
            conn.send_error(
                ErrorCode.UNAVAILABLE,
                "presence store unavailable, retry",
                request_id,
                channel.channel_id,
            )
            return
        members = [{"session": m.session, "user": m.user, "node": m.node} for m in found]
        body = {"channel": channel.name, "members": members, "subscribers": len(channel)}
        conn.send_frame(
            FrameType.PRESENCE, orjson.dumps(body), _JSON, request_id, channel.channel_id
        )

    async def _presence_write(self, what: str, write: Awaitable[object]) -> None:
        """Await one write to the shared presence store; a failed one is kept locally by the
        store and written again by its next heartbeat."""
        try:
            await write
        except PresenceUnavailable as exc:
            log.debug("presence %s not written yet: %s", what, exc)

    async def _rpc(self, conn: Conn, request_id: int, body: Any) -> None:
        try:
            result = await self.rpc.call(conn.session, body)
            payload = orjson.dumps({"result": result})
        except RpcError as exc:
            conn.send_error(exc.code, exc.message, request_id, 0, exc.extra or None)
            return
        except Exception:
            log.exception("RPC %r failed", body.get("method") if isinstance(body, dict) else body)
            conn.send_error(ErrorCode.INTERNAL, "the method failed; see the node's log", request_id)
            return
        conn.send_frame(FrameType.RPC_RESPONSE, payload, _JSON, request_id)

    # --- between nodes ----------------------------------------------------------------------

    def publish_remote(
        self, conn: Conn, channel: Channel, data: bytes, request_id: int, ack: bool
    ) -> None:
        """The edge fanned a PUBLISH out locally; send it to the other nodes too."""
        self._spawn(self._to_broker(channel, data, conn if ack else None, request_id))

    def publish_event(self, scope: str, name: str, shard_key: int, body: dict[str, Any]) -> None:
        """Deliver a server event (JSON ``body``) on channel ``name`` of tenant ``scope``.

        Local subscribers get it at once; other nodes through the broker (best effort: an
        event lost with the broker is recovered by position, see ``msg.recover``).
        """
        cid = channel_id(scope, name)
        frame = wrap_frame(
            encode(
                FrameType.DELIVER,
                orjson.dumps(body),
                flags=_JSON,
                shard_key=shard_key,
                channel_id=cid,
            )
        )
        channel = self.channels.get(cid)
        if channel is not None:
            self.edge.deliver(channel, frame)
        if self.edge.remote:
            self._spawn(self._to_broker_id(cid, frame))

    async def _to_broker(
        self, channel: Channel, data: bytes, reply_to: Conn | None = None, request_id: int = 0
    ) -> None:
        """Publish a finished WebSocket message on the channel's topic; ACK ``reply_to``."""
        await self._to_broker_id(channel.channel_id, data, reply_to, request_id)

    async def _to_broker_id(
        self, cid: int, data: bytes, reply_to: Conn | None = None, request_id: int = 0
    ) -> None:
        envelope = self._prefix + _WALL_TIME.pack(time.time()) + data
        try:
            await self.broker.publish(topic(cid), envelope)
        except BrokerUnavailable as exc:
            log.debug("broker publish failed: %s", exc)
            if reply_to is not None:
                reply_to.send_error(
                    ErrorCode.UNAVAILABLE,
                    "delivered on this node only: the broker is unavailable",
                    request_id,
                    cid,
                )
            return
        self.metrics.broker_publish.inc()
        if reply_to is not None:
            reply_to.send_frame(FrameType.ACK, b"", 0, request_id, cid)

    def on_broker_message(self, topic_name: str, envelope: bytes) -> None:
        """A publication from the broker: deliver it here unless this node sent it."""
        n = envelope[0] if envelope else 0
        if len(envelope) < 1 + n + 8 or envelope[1 : 1 + n] == self._origin:
            return  # our own publication (already delivered here), or not an envelope at all
        (published,) = _WALL_TIME.unpack_from(envelope, 1 + n)
        channel = self.channels.get(int(topic_name[7:-1], 16))  # topic(): gb:ch:{<hex id>}
        if channel is None:
            return
        self.metrics.broker_receive.inc()
        lag = time.time() - published
        self.edge.deliver(channel, envelope[1 + n + 8 :], now() - max(lag, 0.0))

    # --- timers and shutdown ----------------------------------------------------------------

    def run_timers(self) -> None:
        """One tick of the shared timer wheel: heartbeats, HELLO and token deadlines."""
        t = now()
        for conn in self.wheel.advance(t):
            if conn.timer_due > t:
                continue  # a stale entry: the connection was rescheduled earlier or later
            due = conn.heartbeat(
                t, self.heartbeat_interval, self.heartbeat_timeout, self.hello_timeout
            )
            if due:
                self._schedule(conn, due)

    def _schedule(self, conn: Conn, due: float) -> None:
        conn.timer_due = due
        self.wheel.schedule(conn, due)

    def close_all(self, code: int, reason: str) -> None:
        """Close every open connection with ``code`` (used when draining)."""
        for conn in list(self.edge.conns):
            conn.close(code, reason)
        if not self.edge.conns:
            self.drained.set()

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_tasks(self) -> None:
        """Wait for the background tasks started by frames (RPC, broker calls)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
