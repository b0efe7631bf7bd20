"""Heartbeats on the shared timer wheel and the slow-consumer bound."""

import asyncio

import pytest

from gb.client import connect
from gb.protocol.codec import encode, encode_json
from gb.protocol.codes import CloseCode, Flag, FrameType

from ..support.raw import raw_session


async def test_server_pings_and_a_client_that_answers_stays(node_factory):
    node = await node_factory(heartbeat_interval=0.2, heartbeat_timeout=0.3)
    client = await connect(node.ws_url, node.token())
    await asyncio.sleep(1.0)
    assert not client.closed.done()
    assert node.node.hub.edge.stats.frames_out_by_type().get(FrameType.PING, 0) >= 2
    await client.close()


async def test_a_silent_client_is_closed_with_heartbeat_timeout(node_factory):
    node = await node_factory(heartbeat_interval=0.2, heartbeat_timeout=0.2)
    peer = await raw_session(node.ws_url, node.token())  # never answers PING
    ping = await peer.next_of(FrameType.PING)
    assert ping.payload == b""
    assert await peer.close_code() == CloseCode.HEARTBEAT_TIMEOUT


async def test_any_frame_counts_as_life(node_factory):
    node = await node_factory(heartbeat_interval=0.3, heartbeat_timeout=0.2)
    peer = await raw_session(node.ws_url, node.token())
    for _ in range(8):  # 0.8 s of activity without ever answering a PING with PONG
        peer.send(encode(FrameType.PING, b"me"))
        await asyncio.sleep(0.1)
    assert not peer.closed.done()


async def test_slow_consumer_is_dropped_with_4004_and_others_keep_going(node_factory):
    node = await node_factory(send_buffer_limit="64KiB", max_payload="16KiB")
    node.node.hub.edge.close_grace = 30.0
    fast = await connect(node.ws_url, node.token(user="fast"))
    slow = await raw_session(node.ws_url, node.token(user="slow"))
    slow.send(encode_json(FrameType.SUBSCRIBE, {"channel": "firehose"}, request_id=1))
    await slow.next_of(FrameType.ACK)
    slow.transport.underlying_transport.pause_reading()
    sub = await fast.subscribe("firehose")
    payload = b"x" * 8192
    received = 0
    for i in range(3000):  # bounded: 24 MB at most
        # The fast reader shares this loop: an ACK every few frames lets it read its echoes.
        await fast.publish(sub.channel_id, payload, ack=(i % 4 == 3))
        while sub.queued:
            await sub.next()
            received += 1
        if node.node.hub.edge.stats.slow_consumers:
            break
    assert node.node.hub.edge.stats.slow_consumers == 1
    assert received > 100
    # The slow peer reads its backlog and then finds the close code at the end of it.
    slow.transport.underlying_transport.resume_reading()
    assert await slow.close_code(timeout=20) == CloseCode.SLOW_CONSUMER
    await fast.publish(sub.channel_id, b"still here", ack=True)
    while (await sub.next(timeout=5)).payload != b"still here":
        pass
    await fast.close()


@pytest.mark.parametrize("flags", [0, Flag.ACK_REQUIRED])
async def test_writes_in_one_tick_are_coalesced(node, flags):
    client = await connect(node.ws_url, node.token())
    sub = await client.subscribe("burst")
    stats = node.node.hub.edge.stats
    writes_before = stats.writes
    async with client.batch():
        sends = [
            asyncio.ensure_future(client.publish(sub.channel_id, b"%d" % i, ack=bool(flags)))
            for i in range(50)
        ]
        await asyncio.sleep(0)  # let every publish queue its frame into the batch
    await asyncio.gather(*sends)
    got = [(await sub.next(timeout=5)).payload for _ in range(50)]
    assert got == [b"%d" % i for i in range(50)]
    # 50 deliveries (and 50 ACKs) left in far fewer socket writes than frames.
    assert stats.writes - writes_before < 10
    await client.close()
