"""Subscribe, publish, deliver, presence and RPC through a real node."""

import asyncio

import orjson
import pytest

from gb.client import GbError, connect
from gb.protocol.codec import channel_id, encode_json
from gb.protocol.codes import ErrorCode, FrameType

from ..support.raw import raw_session


async def test_publish_reaches_every_subscriber_byte_for_byte(node):
    a = await connect(node.ws_url, node.token(user="a"))
    b = await connect(node.ws_url, node.token(user="b"))
    sa = await a.subscribe("room")
    sb = await b.subscribe("room")
    assert sa.channel_id == sb.channel_id == channel_id("c1/i1", "room")
    assert sb.subscribers == 2
    payload = bytes(range(256)) * 4
    await sa.publish(payload, ack=True)
    assert (await sb.next(timeout=5)).payload == payload
    assert (await sa.next(timeout=5)).payload == payload  # echo by default
    await a.close()
    await b.close()


async def test_no_echo_and_json_flag(node):
    a = await connect(node.ws_url, node.token(user="a"))
    b = await connect(node.ws_url, node.token(user="b"))
    sa = await a.subscribe("room")
    sb = await b.subscribe("room")
    await a.publish(sa.channel_id, orjson.dumps({"hi": 1}), echo=False, json=True, ack=True)
    got = await sb.next(timeout=5)
    assert orjson.loads(got.payload) == {"hi": 1} and got.flags & 1
    await asyncio.sleep(0.05)
    assert sa.queued == 0
    await a.close()
    await b.close()


async def test_tenants_do_not_share_channels(node):
    a = await connect(node.ws_url, node.token(user="a", customer="c1"))
    b = await connect(node.ws_url, node.token(user="b", customer="c2"))
    sa = await a.subscribe("room")
    sb = await b.subscribe("room")
    assert sa.channel_id != sb.channel_id
    await sa.publish(b"only c1", echo=False, ack=True)
    with pytest.raises(TimeoutError):
        await sb.next(timeout=0.2)
    await a.close()
    await b.close()


async def test_publish_without_subscription_is_refused(node):
    a = await connect(node.ws_url, node.token())
    with pytest.raises(GbError) as info:
        await a.publish(12345, b"x", ack=True)
    assert info.value.code == ErrorCode.UNKNOWN_CHANNEL
    await a.close()


async def test_viewer_may_subscribe_but_not_publish(node):
    viewer = await connect(node.ws_url, node.token(user="v", roles=("viewer",)))
    sub = await viewer.subscribe("stage")
    with pytest.raises(GbError) as info:
        await sub.publish(b"x", ack=True)
    assert info.value.code == ErrorCode.FORBIDDEN
    await viewer.close()


async def test_private_user_channel(node):
    alice = await connect(node.ws_url, node.token(user="alice"))
    bob = await connect(node.ws_url, node.token(user="bob"))
    inbox = await alice.subscribe("user:alice")
    with pytest.raises(GbError) as info:
        await bob.subscribe("user:alice")
    assert info.value.code == ErrorCode.FORBIDDEN
    assert inbox.subscribers == 1
    await alice.close()
    await bob.close()


@pytest.mark.parametrize("name", ["", "bad name", "x" * 300])
async def test_bad_channel_names(node, name):
    client = await connect(node.ws_url, node.token())
    with pytest.raises(GbError) as info:
        await client.subscribe(name)
    assert info.value.code == ErrorCode.BAD_PAYLOAD and "channel" in info.value.message
    await client.close()


async def test_subscription_limit_and_resubscribe_is_idempotent(node_factory):
    node = await node_factory(max_subscriptions=2)
    client = await connect(node.ws_url, node.token())
    await client.subscribe("one")
    await client.subscribe("two")
    with pytest.raises(GbError) as info:
        await client.subscribe("three")
    assert info.value.code == ErrorCode.CHANNEL_LIMIT
    await client.close()


async def test_resubscribe_is_idempotent(node):
    peer = await raw_session(node.ws_url, node.token())
    for rid in (1, 2):
        peer.send(encode_json(FrameType.SUBSCRIBE, {"channel": "one"}, request_id=rid))
        ack = await peer.next_of(FrameType.ACK)
        assert ack.request_id == rid and ack.json()["subscribers"] == 1
    assert node.node.hub.metrics.subscriptions._value.get() == 1


async def test_unsubscribe_stops_delivery(node):
    a = await connect(node.ws_url, node.token(user="a"))
    b = await connect(node.ws_url, node.token(user="b"))
    sa = await a.subscribe("room")
    sb = await b.subscribe("room")
    await sb.unsubscribe()
    assert node.node.channel_count == 1
    await sa.publish(b"after", ack=True)
    with pytest.raises(GbError) as info:
        await b.publish(sa.channel_id, b"x", ack=True)
    assert info.value.code == ErrorCode.UNKNOWN_CHANNEL
    await sa.unsubscribe()
    assert node.node.channel_count == 0
    await a.close()
    await b.close()


async def test_presence_events_and_query(node):
    a = await connect(node.ws_url, node.token(user="alice"))
    b = await connect(node.ws_url, node.token(user="bob"))
    sa = await a.subscribe("room", presence=True)
    joined = orjson.loads((await asyncio.wait_for(a.events.get(), 5)).payload)
    assert joined["event"] == "join" and joined["user"] == "alice"
    await b.subscribe("room", presence=True)
    joined = orjson.loads((await asyncio.wait_for(a.events.get(), 5)).payload)
    assert joined["user"] == "bob" and joined["subscribers"] == 2
    members = await a.presence(sa.channel_id)
    assert {m["user"] for m in members["members"]} == {"alice", "bob"}
    assert members["subscribers"] == 2
    await b.close()
    left = orjson.loads((await asyncio.wait_for(a.events.get(), 5)).payload)
    assert left == {
        "event": "leave",
        "user": "bob",
        "session": b.welcome["session"],
        "subscribers": 1,
    }
    with pytest.raises(GbError) as info:
        await a.presence(999)
    assert info.value.code == ErrorCode.UNKNOWN_CHANNEL
    await a.close()


async def test_rpc_builtins_and_errors(node):
    client = await connect(node.ws_url, node.token())
    assert await client.rpc("echo", {"x": [1, 2]}) == {"x": [1, 2]}
    info = await client.rpc("node.info")
    assert info["node"] == "test-node" and info["connections"] == 1
    with pytest.raises(GbError) as err:
        await client.rpc("no.such.method")
    assert err.value.code == ErrorCode.UNKNOWN_METHOD

    async def broken(session, params):
        raise RuntimeError("boom")

    node.node.rpc.register("broken", broken)
    with pytest.raises(GbError) as err:
        await client.rpc("broken")
    assert err.value.code == ErrorCode.INTERNAL
    await client.close()


async def test_batch_of_requests_is_answered_in_order(node):
    client = await connect(node.ws_url, node.token())
    async with client.batch():
        first = asyncio.ensure_future(client.rpc("echo", {"n": 1}))
        second = asyncio.ensure_future(client.subscribe("room"))
        await asyncio.sleep(0)
    assert await first == {"n": 1}
    assert (await second).name == "room"
    await client.close()


async def test_viewer_read_only_on_several_channels(node):
    viewer = await connect(node.ws_url, node.token(user="v", roles=("viewer",)))
    first = await viewer.subscribe("stage-1")
    second = await viewer.subscribe("stage-2")
    for sub in (first, second):
        with pytest.raises(GbError) as info:
            await sub.publish(b"x", ack=True)
        assert info.value.code == ErrorCode.FORBIDDEN
    await first.unsubscribe()
    await viewer.close()
