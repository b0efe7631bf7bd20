"""Malformed and hostile input: an ERROR or close code for the sender, service for the rest."""

import asyncio
import struct

import picows
import pytest

from gb.client import connect
from gb.protocol.codec import HEADER, encode, encode_batch, encode_json
from gb.protocol.codes import CloseCode, ErrorCode, FrameType

from ..support.raw import raw_connect, raw_session


def header(version=1, type=FrameType.PING, flags=0, length=0, rid=0, shard=0, chan=0):
    return HEADER.pack(version, type, flags, length, rid, shard, chan)


@pytest.mark.parametrize(
    "data,code",
    [
        (b"short", ErrorCode.BAD_FRAME),
        (header(version=2), ErrorCode.UNSUPPORTED_VERSION),
        (header(type=0x7F, rid=5), ErrorCode.UNKNOWN_TYPE),
        (header(flags=0x8000, rid=5), ErrorCode.BAD_FRAME),
        (header(length=10) + b"abc", ErrorCode.BAD_FRAME),
        (header(length=5000) + b"x" * 5000, ErrorCode.PAYLOAD_TOO_LARGE),
        (encode(FrameType.BATCH, b""), ErrorCode.BAD_FRAME),
        (encode(FrameType.BATCH, encode_batch([encode(FrameType.PING)])), ErrorCode.BAD_FRAME),
        (encode(FrameType.BATCH, header(length=9) + b"x"), ErrorCode.BAD_FRAME),
        (encode(FrameType.BATCH, b"tiny"), ErrorCode.BAD_FRAME),
        (encode(FrameType.BATCH, header(version=3)), ErrorCode.UNSUPPORTED_VERSION),
        (encode(FrameType.DELIVER), ErrorCode.UNEXPECTED_FRAME),
        (encode(FrameType.SUBSCRIBE, b"{bad json", flags=1), ErrorCode.BAD_PAYLOAD),
        (encode(FrameType.RPC_REQUEST, b"[", flags=1), ErrorCode.BAD_PAYLOAD),
        (encode_json(FrameType.SUBSCRIBE, "not an object"), ErrorCode.BAD_PAYLOAD),
    ],
)
async def test_malformed_frames_get_an_error_and_the_connection_lives(node_factory, data, code):
    node = await node_factory(max_payload=4096)
    peer = await raw_session(node.ws_url, node.token())
    peer.send(data)
    err = await peer.next_of(FrameType.ERROR)
    assert err.json()["code"] == code and err.json()["message"]
    peer.send(encode(FrameType.PING, b"alive"))
    assert (await peer.next_of(FrameType.PONG)).payload == b"alive"


async def test_a_batch_is_refused_whole_when_one_frame_is_bad(node):
    peer = await raw_session(node.ws_url, node.token())
    good = encode(FrameType.PING, b"1", request_id=1)
    bad = header(type=0x7F, rid=2)
    peer.send(encode_batch([good, bad]))
    err = await peer.next_of(FrameType.ERROR)
    assert err.json()["code"] == ErrorCode.UNKNOWN_TYPE
    peer.send(encode_batch([good, encode(FrameType.PING, b"2", request_id=2)]))
    assert [(await peer.next_of(FrameType.PONG)).payload for _ in range(2)] == [b"1", b"2"]


async def test_too_many_malformed_frames_close_the_connection(node):
    peer = await raw_session(node.ws_url, node.token())
    for _ in range(16):
        peer.send(b"bad")
    assert await peer.close_code() == CloseCode.PROTOCOL_ERROR


async def test_text_messages_close_with_protocol_error(node):
    peer = await raw_session(node.ws_url, node.token())
    peer.transport.send(picows.WSMsgType.TEXT, b"hello")
    assert await peer.close_code() == CloseCode.PROTOCOL_ERROR


async def test_fragmented_messages_close_with_protocol_error(node):
    peer = await raw_session(node.ws_url, node.token())
    peer.transport.send(picows.WSMsgType.BINARY, b"part", fin=False)
    assert await peer.close_code() == CloseCode.PROTOCOL_ERROR


async def test_a_websocket_message_over_the_limit_closes_the_socket(node_factory):
    node = await node_factory(max_payload=1024)
    peer = await raw_session(node.ws_url, node.token())
    peer.send(encode(FrameType.PING, b"x" * 4096))
    code = await peer.close_code()
    assert code == 1009  # picows: MESSAGE_TOO_BIG, before any gb parsing


async def test_client_close_is_answered(node):
    peer = await raw_session(node.ws_url, node.token())
    peer.transport.send_close(picows.WSCloseCode.OK, b"bye")
    assert await peer.close_code() == 1000


async def test_rate_limit_answers_retry_after_then_floods_close(node_factory):
    node = await node_factory(rate_limit=5, rate_burst=5)
    peer = await raw_session(node.ws_url, node.token())
    for i in range(8):
        peer.send(encode(FrameType.PING, b"", request_id=i + 1))
    pongs, errors = [], []
    while len(pongs) + len(errors) < 8:
        f = await peer.next()
        (pongs if f.type == FrameType.PONG else errors).append(f)
    assert len(pongs) >= 4 and errors
    body = errors[0].json()
    assert body["code"] == ErrorCode.RATE_LIMITED and body["retry_after_ms"] > 0
    for _ in range(50):
        peer.send(encode(FrameType.PING))
    assert await peer.close_code() == CloseCode.FLOOD


async def test_one_bad_client_does_not_disturb_another(node):
    good = await connect(node.ws_url, node.token(user="good"))
    bad = await raw_session(node.ws_url, node.token(user="bad"))
    for _ in range(20):
        bad.send(struct.pack("<I", 7))
    assert await bad.close_code() == CloseCode.PROTOCOL_ERROR
    assert await good.rpc("echo", {"ok": True}) == {"ok": True}
    await good.close()


async def test_unknown_path_is_404(node):
    with pytest.raises(picows.WSError):
        await raw_connect(node.ws_url.replace("/ws", "/nope"))


async def test_pong_from_the_client_is_accepted_silently(node):
    peer = await raw_session(node.ws_url, node.token())
    peer.send(encode(FrameType.PONG, b"x"))
    peer.send(encode(FrameType.PING, b"after", request_id=3))
    f = await peer.next()
    assert f.type == FrameType.PONG and f.payload == b"after"
    await asyncio.sleep(0)
