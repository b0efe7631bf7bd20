"""A raw WebSocket peer for protocol tests: sends any bytes, records frames and the close."""

from __future__ import annotations

import asyncio
from typing import Any

import picows

from gb.protocol import codec
from gb.protocol.codes import FrameType


class RawPeer(picows.WSListener):
    """Collects decoded frames (or decode errors) and the close code/reason."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[codec.Frame] = asyncio.Queue()
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.transport: picows.WSTransport

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.BINARY:
            for f in codec.decode_message(frame.get_payload_as_bytes()):
                self.frames.put_nowait(f)
        elif frame.msg_type == picows.WSMsgType.CLOSE and not self.closed.done():
            self.closed.set_result((int(frame.get_close_code()), frame.get_close_reason()))

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if not self.closed.done():
            self.closed.set_result((1006, "disconnected"))

    def send(self, data: bytes) -> None:
        self.transport.send(picows.WSMsgType.BINARY, data)

    def send_frame(self, type: int, payload: bytes = b"", **fields: Any) -> None:
        self.send(codec.encode(type, payload, **fields))

    def hello(self, token: str, **extra: Any) -> None:
        self.send(codec.encode_json(FrameType.HELLO, {"token": token, **extra}))

    async def next(self, timeout: float = 5.0) -> codec.Frame:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def next_of(self, type: int, timeout: float = 5.0) -> codec.Frame:
        """The next frame of ``type``, skipping others (PINGs, events)."""
        while True:
            frame = await self.next(timeout)
            if frame.type == type:
                return frame

    async def close_code(self, timeout: float = 5.0) -> int:
        code, _ = await asyncio.wait_for(self.closed, timeout)
        return code


async def raw_connect(url: str, **kwargs: Any) -> RawPeer:
    _, peer = await picows.ws_connect(RawPeer, url, **kwargs)
    assert isinstance(peer, RawPeer)
    return peer


async def raw_session(url: str, token: str) -> RawPeer:
    """A raw peer past HELLO (WELCOME consumed)."""
    peer = await raw_connect(url)
    peer.hello(token)
    welcome = await peer.next()
    assert welcome.type == FrameType.WELCOME, welcome
    return peer
