"""The client SDK end to end against a real gb node (the ``node`` fixture of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from gb.client import Client, ConnectionClosed, GbError, SubscriptionClosed, connect
from gb.protocol.codec import Frame, channel_id, encode
from gb.protocol.codes import ErrorCode, Flag, FrameType


async def client_of(node: Any, user: str = "u1", **kwargs: Any) -> Client:
    return await connect(node.ws_url, node.token(user=user), client_name="tests", **kwargs)


async def test_handshake(node: Any) -> None:
    async with await client_of(node) as client:
        welcome = client.welcome
        assert welcome["version"] == 1 and welcome["user"] == "u1"
        assert {"session", "node", "heartbeat_ms", "max_payload", "shard_key"} <= welcome.keys()
        assert client.shard_key == welcome["shard_key"]
        whoami = await client.rpc("whoami")
        assert whoami["session"] == welcome["session"] and whoami["user"] == "u1"
    assert client.closed.result() == (1000, "")


async def test_bad_token_is_refused(node: Any) -> None:
    with pytest.raises(GbError) as info:
        await connect(node.ws_url, "not-a-jwt")
    assert info.value.code is ErrorCode.TOKEN_INVALID


async def test_publish_deliver_between_two_clients(node: Any) -> None:
    a = await client_of(node, "alice")
    b = await client_of(node, "bob")
    sub_a = await a.subscribe("room:1")
    sub_b = await b.subscribe("room:1")
    assert sub_a.channel_id == sub_b.channel_id == channel_id("c1/i1", "room:1")
    assert sub_b.subscribers == 2

    payload = bytes(range(256))
    await sub_a.publish(payload, ack=True)
    assert (await sub_b.next(timeout=5)).payload == payload
    assert (await sub_a.next(timeout=5)).payload == payload  # echo by default

    await a.publish(sub_a.channel_id, b'{"n":1}', json=True, echo=False)
    got = await sub_b.next(timeout=5)
    assert (got.payload, got.flags & Flag.JSON) == (b'{"n":1}', Flag.JSON)
    with pytest.raises(TimeoutError):
        await sub_a.next(timeout=0.2)

    await sub_b.unsubscribe()
    with pytest.raises(SubscriptionClosed):
        await sub_b.next(timeout=1)
    await sub_a.publish(b"after", ack=True)
    assert (await sub_a.next(timeout=5)).payload == b"after"
    assert sub_b.queued == 0
    await a.close()
    await b.close()


async def test_publish_to_unsubscribed_channel_is_refused(node: Any) -> None:
    async with await client_of(node) as client:
        with pytest.raises(GbError) as info:
            await client.publish(12345, b"x", ack=True)
        assert info.value.code is ErrorCode.UNKNOWN_CHANNEL


async def test_presence(node: Any) -> None:
    a = await client_of(node, "alice")
    b = await client_of(node, "bob")
    sub_a = await a.subscribe("lobby", presence=True)
    await b.subscribe("lobby", presence=True)
    event = await event_about(a, "bob")
    assert event.type == FrameType.PRESENCE and event.channel_id == sub_a.channel_id
    assert event.json()["event"] == "join" and event.request_id == 0
    members = await a.presence(sub_a.channel_id)
    assert sorted(m["user"] for m in members["members"]) == ["alice", "bob"]
    await b.close()
    event = await event_about(a, "bob")
    assert event.json()["event"] == "leave"
    await a.close()


async def event_about(client: Client, user: str) -> Frame:
    """The next presence event about ``user`` (events about others are skipped)."""
    async with asyncio.timeout(5):
        while True:
            event = await client.events.get()
            if event.json().get("user") == user:
                return event


async def test_rpc(node: Any) -> None:
    async with await client_of(node) as client:
        assert await client.rpc("echo", {"x": [1, 2, {"y": None}]}) == {"x": [1, 2, {"y": None}]}
        with pytest.raises(GbError) as info:
            await client.rpc("no.such.method")
        assert info.value.code is ErrorCode.UNKNOWN_METHOD


async def test_ping(node: Any) -> None:
    async with await client_of(node) as client:
        rtts = [await client.ping(b"%d" % i) for i in range(5)]
        assert all(0 < rtt < 1 for rtt in rtts)


async def test_batch(node: Any) -> None:
    async with await client_of(node) as client:
        sub = await client.subscribe("batch")
        async with client.batch():
            for i in range(50):
                await sub.publish(b"%d" % i)
        got = [(await sub.next(timeout=5)).payload for _ in range(50)]
        assert got == [b"%d" % i for i in range(50)]


async def test_unsolicited_error_for_a_bad_frame(node: Any) -> None:
    async with await client_of(node) as client:
        # An UNSUBSCRIBE without a request id, for a channel never joined: the error has no
        # request to go to, so it arrives on the errors queue.
        client.send_raw(encode(FrameType.UNSUBSCRIBE, channel_id=99, shard_key=client.shard_key))
        error = await asyncio.wait_for(client.errors.get(), 5)
        assert error.code is ErrorCode.UNKNOWN_CHANNEL


async def test_garbage_is_reported_as_bad_frame(node: Any) -> None:
    client = await client_of(node)
    client.send_raw(b"\x01\x02\x03")
    error = await asyncio.wait_for(client.errors.get(), 5)
    assert error.code is ErrorCode.BAD_FRAME and "shorter than the header" in error.message
    await client.close()
    with pytest.raises(ConnectionClosed):
        await client.ping()


async def test_the_example_of_the_guide_runs(node: Any) -> None:
    guide = Path(__file__).parents[2] / "docs" / "client.md"
    example = re.search(r"```python\n(.*?)```", guide.read_text(), re.S)
    assert example is not None
    namespace: dict[str, Any] = {}
    # The example ends by running main() against a placeholder URL; run it here instead.
    source = re.sub(r"^asyncio\.run\(.*$", "", example.group(1), flags=re.M)
    exec(source, namespace)
    await namespace["main"](node.ws_url, node.token())
