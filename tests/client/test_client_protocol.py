"""The client SDK against a fake node: malformed server frames, closing, request ids, flow
control, and the DELIVER shortcut checked against the codec.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from picows import WSCloseCode, WSMsgType

from gb.client import (
    Client,
    ConnectionClosed,
    Delivery,
    GbError,
    connect,
)
from gb.client.connection import decode_deliver
from gb.protocol.codec import (
    HEADER,
    HEADER_SIZE,
    U32_MAX,
    Frame,
    FrameError,
    decode_message,
    encode,
    encode_json,
    error_payload,
)
from gb.protocol.codes import ErrorCode, Flag, FrameType

from .helpers import deliver, open_client, until

# ---- malformed server frames ----------------------------------------------------------------

BAD_MESSAGES = {
    "short header": b"\x01\x06",
    "bad version": HEADER.pack(9, FrameType.DELIVER, 0, 0, 0, 0, 1),
    "bad json": encode(FrameType.ERROR, b"{nope", flags=Flag.JSON),
    "error not an object": encode_json(FrameType.ERROR, [1]),
    "error code not int": encode_json(FrameType.ERROR, {"code": "x"}),
    "error without code": encode_json(FrameType.ERROR, {"message": "x"}),
}


@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
async def test_malformed_frame_closes_with_4000(fake: Any, name: str) -> None:
    client = await open_client(fake)
    sub = await client.subscribe("room")
    fake.overrides[FrameType.RPC_REQUEST] = lambda peer, frame: True
    call = asyncio.create_task(client.rpc("echo"))
    await until(lambda: client._pending)
    fake.peer.send(BAD_MESSAGES[name])
    code, reason = await asyncio.wait_for(client.closed, 2)
    assert code == 4000 and reason.startswith("bad frame from server")
    with pytest.raises(ConnectionClosed) as info:
        await call
    assert info.value.code == 4000
    with pytest.raises(ConnectionClosed):
        await sub.next()
    await until(lambda: fake.peer.close_code == 4000)
    with pytest.raises(ConnectionClosed):
        await client.publish(sub.channel_id, b"x")
    with pytest.raises(ConnectionClosed):
        await client.rpc("echo")
    with pytest.raises(ConnectionClosed):
        client.send_raw(b"x")
    await client.close()  # closing a closed client is harmless
    assert client.closed.result()[0] == 4000


async def wrong_answers(fake: Any, answer: Callable[[Any, Frame], None]) -> Client:
    def reply(peer: Any, frame: Frame) -> bool:
        answer(peer, frame)
        return True

    fake.overrides[FrameType.SUBSCRIBE] = reply
    client = await open_client(fake)
    with pytest.raises(ConnectionClosed) as info:
        await client.subscribe("room")
    assert info.value.code == 4000
    assert client._pending == {}
    return client


async def test_answer_of_the_wrong_type_closes(fake: Any) -> None:
    client = await wrong_answers(
        fake,
        lambda peer, f: peer.send_json(
            FrameType.RPC_RESPONSE, {"result": 1}, request_id=f.request_id
        ),
    )
    assert "answered by RPC_RESPONSE, expected ACK" in client.closed.result()[1]


async def test_subscribe_ack_without_channel_id_closes(fake: Any) -> None:
    client = await wrong_answers(
        fake, lambda peer, f: peer.send_json(FrameType.ACK, {"x": 1}, request_id=f.request_id)
    )
    assert "channel_id" in client.closed.result()[1]


async def test_answer_that_is_not_an_object_closes(fake: Any) -> None:
    client = await wrong_answers(
        fake, lambda peer, f: peer.send_json(FrameType.ACK, [1], request_id=f.request_id)
    )
    assert "ACK is not an object" in client.closed.result()[1]


async def test_rpc_response_without_result_closes(fake: Any) -> None:
    fake.overrides[FrameType.RPC_REQUEST] = lambda peer, f: (
        peer.send_json(FrameType.RPC_RESPONSE, {}, request_id=f.request_id) or True
    )
    client = await open_client(fake)
    with pytest.raises(ConnectionClosed):
        await client.rpc("echo")
    assert "no result" in client.closed.result()[1]


async def test_welcome_without_shard_key_fails_connect(fake: Any) -> None:
    fake.welcome = {"session": "s"}
    with pytest.raises(ConnectionClosed) as info:
        await connect(fake.url, "tok")
    assert info.value.code == 4000 and "shard_key" in info.value.reason


async def test_text_message_closes(fake: Any) -> None:
    client = await open_client(fake)
    fake.peer.transport.send(WSMsgType.TEXT, b"hi")
    assert (await asyncio.wait_for(client.closed, 2))[1] == "text message; protocol v1 is binary"
    client._protocol_error("again")  # a second violation after the close changes nothing
    client._on_message(b"\x00")
    assert client.closed.result()[0] == 4000


async def test_fragmented_messages(fake: Any) -> None:
    client = await open_client(fake, max_payload=128)
    sub = await client.subscribe("room")
    data = deliver(sub.channel_id, b"abcdef")
    transport = fake.peer.transport
    transport.send(WSMsgType.BINARY, data[:10], fin=False)
    transport.send(WSMsgType.CONTINUATION, data[10:20], fin=False)
    transport.send(WSMsgType.CONTINUATION, data[20:], fin=True)
    assert (await sub.next(timeout=2)).payload == b"abcdef"

    too_long = b"\x00" * 100
    transport.send(WSMsgType.BINARY, too_long, fin=False)
    transport.send(WSMsgType.CONTINUATION, too_long, fin=False)
    code, reason = await asyncio.wait_for(client.closed, 2)
    assert (code, reason) == (4000, "fragmented message longer than the maximum payload")


async def test_continuation_without_start_closes(fake: Any) -> None:
    client = await open_client(fake)
    client._on_other_ws_frame(_StubFrame(WSMsgType.CONTINUATION, b"x"))
    assert client.closed.result() == (4000, "continuation frame with no message started")


class _StubFrame:
    """A picows frame as on_ws_frame sees it (picows refuses to send this sequence)."""

    def __init__(self, msg_type: WSMsgType, payload: bytes) -> None:
        self.msg_type = msg_type
        self.fin = True
        self._payload = payload

    def get_payload_as_bytes(self) -> bytes:
        return self._payload


async def test_oversized_message_is_refused_by_picows(fake: Any) -> None:
    client = await open_client(fake, max_payload=100)
    fake.peer.send(deliver(1, b"x" * 200))
    code, _ = await asyncio.wait_for(client.closed, 2)
    # picows refuses the frame (1009) but then still hands it over, which the codec
    # refuses too (4000): either way the client is closed and nothing reaches user code.
    assert code in (WSCloseCode.MESSAGE_TOO_BIG.value, 4000)
    await client.close()


async def test_close_sent_by_picows_itself(fake: Any) -> None:
    client = await open_client(fake)
    sub = await client.subscribe("room")
    fake.peer.transport.send_close(WSCloseCode(1004))  # a reserved code: picows refuses it
    code, reason = await asyncio.wait_for(client.closed, 2)
    assert code == WSCloseCode.PROTOCOL_ERROR.value and "invalid close code" in reason
    with pytest.raises(ConnectionClosed):
        await sub.next()
    await client.close()  # picows re-raises its failure from wait_disconnected: swallowed


# ---- closing --------------------------------------------------------------------------------


async def test_server_close_fails_pending_requests(fake: Any) -> None:
    fake.overrides[FrameType.RPC_REQUEST] = lambda peer, frame: True
    client = await open_client(fake)
    call = asyncio.create_task(client.rpc("echo"))
    await until(lambda: client._pending)
    fake.peer.close(4006, "draining", disconnect=False)
    with pytest.raises(ConnectionClosed) as info:
        await call
    assert (info.value.code, info.value.reason) == (4006, "draining")
    assert str(info.value) == "connection closed: 4006 draining"
    assert await client.closed == (4006, "draining")
    await until(lambda: fake.peer.close_code == 4006)  # the client echoed the CLOSE


async def test_close_without_status_code(fake: Any) -> None:
    client = await open_client(fake)
    fake.peer.transport.send_close(WSCloseCode.NO_INFO)
    assert await asyncio.wait_for(client.closed, 2) == (1005, "")
    await until(lambda: fake.peer.close_code == 1000)


async def test_closed_cancelled_by_a_callers_timeout(fake: Any) -> None:
    client = await open_client(fake)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.closed, 0.01)  # cancels the future: asyncio semantics
    await client.close()
    assert client.closed.cancelled()
    with pytest.raises(ConnectionClosed):
        await client.ping()


async def test_abrupt_disconnect(fake: Any) -> None:
    client = await open_client(fake)
    fake.peer.transport.disconnect(graceful=False)
    assert await asyncio.wait_for(client.closed, 2) == (1006, "connection lost")


async def test_close_with_a_server_that_never_answers(fake: Any) -> None:
    fake.echo_close = False
    client = await open_client(fake, timeout=0.2)
    started = time.monotonic()
    await client.close(4321, "bye")
    assert time.monotonic() - started < 2
    assert client.closed.result() == (4321, "bye")
    assert fake.peer.close_code == 4321 and fake.peer.close_reason == "bye"
    await until(lambda: fake.peer.disconnected)


# ---- request ids and flow control -----------------------------------------------------------


async def test_request_ids_wrap_and_skip_pending(fake: Any) -> None:
    async with await open_client(fake) as client:
        client._rid = U32_MAX - 1
        assert client._next_request_id() == U32_MAX
        client._pending[1] = (client._loop.create_future(), FrameType.ACK, lambda f: None)
        assert client._next_request_id() == 2  # 0 is never used, 1 is taken
        client._pending.clear()
        await client.ping()
        assert fake.peer.of_type(FrameType.PING)[-1].request_id == 3


async def test_answer_to_a_request_already_given_up(fake: Any) -> None:
    async with await open_client(fake) as client:
        done: asyncio.Future[Any] = client._loop.create_future()
        done.cancel()
        client._pending[50] = (done, FrameType.ACK, lambda f: None)
        client._pending[51] = (done, FrameType.ACK, lambda f: None)
        client._on_message(encode(FrameType.ACK, request_id=50))
        client._on_message(
            encode(FrameType.ERROR, error_payload(ErrorCode.INTERNAL, "x"), request_id=51)
        )
        assert client._pending == {} and client.errors.empty() and not client.closed.done()
        client._pending[52] = (done, FrameType.ACK, lambda f: None)
    assert client.closed.result() == (1000, "")


async def test_publish_waits_while_the_socket_is_paused(fake: Any) -> None:
    async with await open_client(fake) as client:
        sub = await client.subscribe("room")
        client._pause_writing()
        client._pause_writing()  # idempotent
        first = asyncio.create_task(sub.publish(b"1"))
        second = asyncio.create_task(sub.publish(b"2"))
        await asyncio.sleep(0.02)
        assert not first.done()
        second.cancel()  # one publisher giving up must not release the others
        await asyncio.sleep(0.01)
        assert not first.done()
        client._resume_writing()
        await first
        assert (await sub.next(timeout=2)).payload == b"1"

        client._pause_writing()
        blocked = asyncio.create_task(sub.publish(b"3"))
        await asyncio.sleep(0.01)
        fake.peer.close(4006)
        with pytest.raises(ConnectionClosed):
            await blocked


async def test_real_backpressure_pauses_and_resumes(fake: Any) -> None:
    client = await open_client(fake)
    sub = await client.subscribe("room")
    fake.peer.transport.underlying_transport.pause_reading()
    chunk = b"x" * (256 * 1024)
    paused_at = None
    for i in range(400):  # bounded: at most 100 MiB
        await sub.publish(chunk, echo=False)
        if client._writable is not None:
            paused_at = i
            break
    assert paused_at is not None
    blocked = asyncio.create_task(sub.publish(b"after", echo=False))
    await asyncio.sleep(0.02)
    assert not blocked.done()
    fake.peer.transport.underlying_transport.resume_reading()
    await asyncio.wait_for(blocked, 10)
    assert client._writable is None
    await client.close()


def test_gb_error_from_payload_checks_code() -> None:
    with pytest.raises(TypeError):
        GbError.from_payload({"code": "1"})
    error = GbError.from_payload({"code": 8})
    assert (
        error.code is ErrorCode.FORBIDDEN and error.message == "" and error.details == {"code": 8}
    )


# ---- the DELIVER shortcut agrees with the codec ---------------------------------------------

MAX = 100  # above the fake node's WELCOME, below the payloads drawn


@st.composite
def near_frames(draw: st.DrawFn) -> bytes:
    """Frames that are valid DELIVERs or one field away from it."""
    payload = draw(st.binary(max_size=MAX + 4))
    header = HEADER.pack(
        draw(st.sampled_from([1, 1, 1, 0, 2])),
        draw(st.sampled_from([FrameType.DELIVER] * 3 + [FrameType.BATCH, FrameType.ACK, 0, 99])),
        draw(st.sampled_from([0, Flag.JSON, Flag.JSON | Flag.NO_ECHO, 0x8, 0x8000])),
        len(payload) + draw(st.sampled_from([0, 0, 0, -1, 1])) if payload else 0,
        draw(st.integers(0, U32_MAX)),
        draw(st.integers(0, U32_MAX)),
        draw(st.integers(0, (1 << 64) - 1)),
    )
    return (header + payload)[: draw(st.sampled_from([None, None, None, 10, HEADER_SIZE]))]


@given(st.one_of(near_frames(), st.binary(max_size=130)))
def test_decode_deliver_accepts_exactly_what_the_codec_accepts(data: bytes) -> None:
    try:
        frames: list[Frame] | None = decode_message(data, MAX)
    except FrameError:
        frames = None
    expected = None
    if frames is not None and data[1] == FrameType.DELIVER:
        (frame,) = frames
        expected = Delivery(frame.channel_id, frame.payload, frame.flags)
    assert decode_deliver(data, MAX) == expected


async def test_oversized_deliver_takes_the_codec_path_and_closes(fake: Any) -> None:
    # picows bounds messages first, so this is fed to the receive path directly.
    client = await open_client(fake, max_payload=MAX)
    client._on_message(deliver(1, b"x" * (MAX + 1)))
    code, reason = client.closed.result()
    assert code == 4000 and "exceeds 100" in reason
