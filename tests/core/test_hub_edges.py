"""Hub paths that need a particular state: collisions, refusals, envelopes, a closed broker."""

import asyncio
import struct
import time

import pytest

from gb.client import GbError, connect
from gb.core._native.edge import Channel
from gb.core.broker import RedisBroker
from gb.core.hub import topic
from gb.protocol.codec import channel_id
from gb.protocol.codes import CloseCode, ErrorCode

from ..support.raw import raw_connect
from ..support.services import SHARED_REDIS_URL, wait_until


async def test_channel_id_collision_is_refused(node):
    hub = node.node.hub
    cid = channel_id("c1/i1", "room")
    hub.channels[cid] = Channel(cid, "a-different-name")
    client = await connect(node.ws_url, node.token())
    with pytest.raises(GbError) as info:
        await client.subscribe("room")
    assert info.value.code == ErrorCode.CHANNEL_COLLISION
    del hub.channels[cid]
    await client.close()


async def test_connections_arriving_while_not_accepting_are_told_to_go_elsewhere(node):
    node.node.hub.accepting = False
    peer = await raw_connect(node.ws_url)
    assert await peer.close_code() == CloseCode.DRAINING


def envelope(origin: bytes, payload: bytes, t: float | None = None) -> bytes:
    return bytes([len(origin)]) + origin + struct.pack("<d", t or time.time()) + payload


async def test_broker_envelopes_are_checked(node):
    hub = node.node.hub
    client = await connect(node.ws_url, node.token())
    sub = await client.subscribe("room")
    deliveries = hub.edge.stats.deliveries
    ws_message = b"\x82\x01x"
    hub.on_broker_message(topic(sub.channel_id), b"")  # not an envelope
    hub.on_broker_message(topic(sub.channel_id), b"\x05ab")  # truncated
    hub.on_broker_message(topic(sub.channel_id), envelope(b"test-node", ws_message))  # own
    hub.on_broker_message(topic(12345), envelope(b"other", ws_message))  # no local channel
    assert hub.edge.stats.deliveries == deliveries
    hub.on_broker_message(topic(sub.channel_id), envelope(b"other", b"\x82\x00", t=1.0))
    assert hub.edge.stats.deliveries == deliveries + 1
    await client.close()


async def test_a_closed_broker_refuses_new_channels_and_unsubscribes_quietly(node_factory):
    node = await node_factory(broker=RedisBroker(SHARED_REDIS_URL, node_id="n"))
    client = await connect(node.ws_url, node.token(customer="c-closed-broker"))
    sub = await client.subscribe("kept")
    await node.node.broker.close()
    with pytest.raises(GbError) as info:
        await client.subscribe("new")
    assert info.value.code == ErrorCode.UNAVAILABLE
    assert node.node.channel_count == 1  # the refused subscription left nothing behind
    await sub.publish(b"no ack wanted", echo=False)  # the broker refusal is only counted
    await sub.unsubscribe()  # leaving the topic fails on the broker, logged, not raised
    await node.node.hub.wait_tasks()
    assert node.node.channel_count == 0
    await client.close()


async def test_resubscribe_before_the_broker_unsubscribe_runs_keeps_the_topic(node_factory):
    node = await node_factory(broker=RedisBroker(SHARED_REDIS_URL, node_id="n"))
    client = await connect(node.ws_url, node.token(customer="c-resub"))
    sub = await client.subscribe("room")
    await sub.unsubscribe()
    again = await client.subscribe("room")  # before the spawned broker unsubscribe ran
    await node.node.hub.wait_tasks()
    await wait_until(lambda: len(node.node.broker.topics) == 1, 5)
    await again.publish(b"x", ack=True)
    await client.close()


async def test_subscriber_leaving_during_broker_subscribe_gets_nothing(node_factory):
    node = await node_factory(broker=RedisBroker(SHARED_REDIS_URL, node_id="n"))
    client = await connect(node.ws_url, node.token(customer="c-leave"))
    pending = asyncio.ensure_future(client.subscribe("room", timeout=1))
    await asyncio.sleep(0)
    await client.close()  # gone before the broker confirmed
    with pytest.raises(Exception):  # noqa: B017 - closed or timed out, either is right
        await pending
    await node.node.hub.wait_tasks()
    assert node.node.channel_count == 0
