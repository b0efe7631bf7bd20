"""Fixtures of the client SDK tests: ``fake``, a tiny picows server that speaks just enough of
protocol v1 to drive the client SDK.

It answers like a node by default and lets a test replace the answer to any frame type, so
the tests can provoke what a real node will not: malformed frames, odd close codes, batches,
unsolicited errors, floods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

from gb.protocol.codec import (
    Frame,
    FrameError,
    channel_id,
    decode_message,
    encode,
    encode_json,
    error_payload,
)
from gb.protocol.codes import ErrorCode, Flag, FrameType

SCOPE = "c1"
WELCOME = {"session": "sess-1", "node": "fake", "shard_key": 7, "heartbeat_ms": 15000}

#: A test's answer to one frame type; returns True when it handled the frame itself.
Override = Callable[["Peer", Frame], bool]


class Peer(WSListener):
    """One connection as the fake node sees it."""

    def __init__(self, node: FakeNode) -> None:
        self.node = node
        self.transport: WSTransport | None = None
        self.messages: list[bytes] = []
        self.frames: list[Frame] = []
        self.subs: set[int] = set()
        self.hello: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.disconnected = False

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.node.peers.append(self)
        self.node.on_connect(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.close_code = frame.get_close_code().value
            self.close_reason = frame.get_close_reason()
            if self.node.echo_close:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        if frame.msg_type != WSMsgType.BINARY:
            return
        data = frame.get_payload_as_bytes()
        self.messages.append(data)
        try:
            frames = decode_message(data)
        except FrameError:
            return  # a protocol test sent garbage on purpose; it is recorded in messages
        for f in frames:
            self.frames.append(f)
            self.node.handle(self, f)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected = True

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.BINARY, data)

    def send_json(self, type: int, obj: Any, **fields: int) -> None:
        self.send(encode_json(type, obj, **fields))

    def close(self, code: int, reason: str = "", *, disconnect: bool = True) -> None:
        assert self.transport is not None
        self.transport.send_close(WSCloseCode(code), reason.encode())
        if disconnect:
            self.transport.disconnect()

    def of_type(self, type: int) -> list[Frame]:
        return [f for f in self.frames if f.type == type]


class FakeNode:
    """The server: default answers per frame type, replaceable per test through ``overrides``."""

    def __init__(self) -> None:
        self.url = ""
        self.peers: list[Peer] = []
        self.overrides: dict[int, Override] = {}
        self.echo_close = True
        self.welcome: dict[str, Any] = dict(WELCOME)
        self.on_connect: Callable[[Peer], None] = lambda peer: None

    @property
    def peer(self) -> Peer:
        return self.peers[-1]

    def handle(self, peer: Peer, f: Frame) -> None:
        override = self.overrides.get(f.type)
        if override is not None and override(peer, f):
            return
        shard = self.welcome.get("shard_key", 0)
        if f.type == FrameType.HELLO:
            peer.hello = f.json()
            peer.send_json(FrameType.WELCOME, self.welcome)
        elif f.type == FrameType.SUBSCRIBE:
            name = f.json()["channel"]
            cid = channel_id(SCOPE, name)
            peer.subs.add(cid)
            body = {"channel": name, "channel_id": cid, "subscribers": self.count(cid)}
            peer.send_json(FrameType.ACK, body, request_id=f.request_id, shard_key=shard)
        elif f.type == FrameType.UNSUBSCRIBE:
            peer.subs.discard(f.channel_id)
            peer.send(encode(FrameType.ACK, request_id=f.request_id, shard_key=shard))
        elif f.type == FrameType.PUBLISH:
            deliver = encode(
                FrameType.DELIVER,
                f.payload,
                flags=f.flags & Flag.JSON,
                shard_key=shard,
                channel_id=f.channel_id,
            )
            for other in self.peers:
                if f.channel_id in other.subs and not (other is peer and f.flags & Flag.NO_ECHO):
                    other.send(deliver)
            if f.flags & Flag.ACK_REQUIRED:
                peer.send(encode(FrameType.ACK, request_id=f.request_id, shard_key=shard))
        elif f.type == FrameType.PRESENCE:
            body = {"members": [{"user": "u1"}], "subscribers": self.count(f.channel_id)}
            peer.send_json(
                FrameType.PRESENCE,
                body,
                request_id=f.request_id,
                shard_key=shard,
                channel_id=f.channel_id,
            )
        elif f.type == FrameType.RPC_REQUEST:
            body = f.json()
            if body["method"] == "echo":
                peer.send_json(
                    FrameType.RPC_RESPONSE,
                    {"result": body["params"]},
                    request_id=f.request_id,
                    shard_key=shard,
                )
            else:
                error = error_payload(ErrorCode.UNKNOWN_METHOD, f"no method {body['method']}")
                peer.send(
                    encode(
                        FrameType.ERROR,
                        error,
                        flags=Flag.JSON,
                        request_id=f.request_id,
                        shard_key=shard,
                    )
                )
        elif f.type == FrameType.PING:
            peer.send(encode(FrameType.PONG, f.payload, request_id=f.request_id))

    def count(self, cid: int) -> int:
        return sum(cid in p.subs for p in self.peers)


@pytest.fixture
async def fake() -> AsyncIterator[FakeNode]:
    """A :class:`FakeNode` served on a free loopback port for the test."""
    node = FakeNode()
    server = await ws_create_server(
        lambda request: Peer(node), "127.0.0.1", 0, use_aiofastnet=False
    )
    port = server.sockets[0].getsockname()[1]
    node.url = f"ws://127.0.0.1:{port}/ws"
    try:
        yield node
    finally:
        for peer in node.peers:
            if peer.transport is not None:
                peer.transport.disconnect(graceful=False)
        server.close()
        await server.wait_closed()
