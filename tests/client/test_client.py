"""The client SDK (``gb.client``) against a fake node: handshake, requests, subscriptions,
unsolicited frames and batches.

Malformed frames, closing and flow control are in ``test_client_protocol.py``; end-to-end
tests against the real node in ``test_client_node.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from picows import WSCloseCode

from gb.client import (
    EVENT_QUEUE_SIZE,
    ConnectionClosed,
    Delivery,
    GbError,
    SubscriptionClosed,
    connect,
)
from gb.protocol.codec import (
    HEADER,
    Frame,
    channel_id,
    encode,
    encode_batch,
    encode_json,
    error_payload,
)
from gb.protocol.codes import ErrorCode, Flag, FrameType

from .helpers import SHARD, deliver, open_client, until

# ---- handshake -------------------------------------------------------------------------------


async def test_handshake_sends_hello_and_keeps_welcome(fake: Any) -> None:
    client = await connect(
        fake.url, "tok", client_name="tests", resume="r-1", versions=[1], timeout=5
    )
    assert client.welcome == fake.welcome
    assert client.shard_key == SHARD
    assert client.request_timeout == 5
    assert fake.peer.hello == {
        "token": "tok",
        "versions": [1],
        "client": "tests",
        "resume": "r-1",
    }
    hello = fake.peer.frames[0]
    assert hello.type == FrameType.HELLO and hello.flags == Flag.JSON and hello.shard_key == 0
    assert "open" in repr(client) and "sess-1" in repr(client)
    await client.close()
    assert "closed" in repr(client)


async def test_hello_without_optional_fields(fake: Any) -> None:
    async with await open_client(fake) as client:
        assert fake.peer.hello == {"token": "tok", "versions": [1]}
        assert not client.closed.done()
    assert client.closed.result() == (1000, "")


async def test_refused_hello_raises_gb_error(fake: Any) -> None:
    def refuse(peer: Any, frame: Frame) -> bool:
        peer.send(
            encode(
                FrameType.ERROR, error_payload(ErrorCode.TOKEN_INVALID, "bad sig"), flags=Flag.JSON
            )
        )
        peer.close(4001, "auth failed")
        return True

    fake.overrides[FrameType.HELLO] = refuse
    with pytest.raises(GbError) as info:
        await connect(fake.url, "bad")
    assert info.value.code is ErrorCode.TOKEN_INVALID
    assert info.value.message == "bad sig"
    assert info.value.details["name"] == "TOKEN_INVALID"
    assert "TOKEN_INVALID: bad sig" in str(info.value)


async def test_close_before_welcome_raises_connection_closed(fake: Any) -> None:
    fake.overrides[FrameType.HELLO] = lambda peer, frame: peer.close(4009, "no version") or True
    with pytest.raises(ConnectionClosed) as info:
        await connect(fake.url, "tok", versions=(9,))
    assert (info.value.code, info.value.reason) == (4009, "no version")
    assert fake.peer.hello is None and fake.peer.frames[0].json()["versions"] == [9]


async def test_silent_server_times_out_and_closes(fake: Any) -> None:
    fake.overrides[FrameType.HELLO] = lambda peer, frame: True
    with pytest.raises(TimeoutError):
        await connect(fake.url, "tok", timeout=0.2)
    await until(lambda: fake.peer.close_code == WSCloseCode.GOING_AWAY.value)


async def test_server_dropping_after_upgrade(fake: Any) -> None:
    fake.on_connect = lambda peer: peer.transport.disconnect()
    with pytest.raises(ConnectionClosed) as info:
        await connect(fake.url, "tok")
    assert info.value.code == 1006


async def test_socket_ending_before_the_upgrade() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectionClosed) as info:
            await connect(f"ws://127.0.0.1:{port}/ws", "tok", timeout=2)
        assert (info.value.code, info.value.reason) == (1006, "connection lost")
    finally:
        server.close()
        await server.wait_closed()


async def test_refused_tcp_connection_raises_os_error() -> None:
    with pytest.raises(OSError):
        await connect("ws://127.0.0.1:9/ws", "tok", timeout=2)


# ---- subscribe, publish, deliver ------------------------------------------------------------


async def test_subscribe_publish_deliver_between_two_clients(fake: Any) -> None:
    a = await open_client(fake)
    b = await open_client(fake)
    sub_a = await a.subscribe("room")
    sub_b = await b.subscribe("room", presence=True)
    cid = channel_id("c1", "room")
    assert (sub_a.name, sub_a.channel_id, sub_a.subscribers) == ("room", cid, 1)
    assert sub_b.subscribers == 2
    assert a.subscriptions == {cid: sub_a}
    assert fake.peers[1].of_type(FrameType.SUBSCRIBE)[0].json() == {
        "channel": "room",
        "presence": True,
    }

    await sub_a.publish(b"\x00hello\xff")
    got_a = await sub_a.next(timeout=2)
    got_b = await sub_b.next(timeout=2)
    assert got_a == got_b == Delivery(cid, b"\x00hello\xff", 0)

    await a.publish(cid, b'{"x":1}', json=True, ack=True)
    assert (await sub_b.next(timeout=2)).flags == Flag.JSON
    assert (await sub_a.next(timeout=2)).payload == b'{"x":1}'

    await b.publish(cid, b"quiet", echo=False)
    assert (await sub_a.next(timeout=2)).payload == b"quiet"
    with pytest.raises(TimeoutError):
        await sub_b.next(timeout=0.05)
    published = fake.peers[1].of_type(FrameType.PUBLISH)[-1]
    assert published.flags == Flag.NO_ECHO and published.request_id == 0

    # Every frame after WELCOME carries the session's shard key.
    assert all(f.shard_key == SHARD for f in fake.peers[0].frames[1:])
    assert "room" in repr(sub_a) and sub_a.queued == 0
    await a.close()
    await b.close()


async def test_ack_and_deliveries_in_one_batch_lose_nothing(fake: Any) -> None:
    def ack_with_deliveries(peer: Any, frame: Frame) -> bool:
        cid = channel_id("c1", frame.json()["channel"])
        ack = encode_json(
            FrameType.ACK,
            {"channel": "room", "channel_id": cid, "subscribers": 1},
            request_id=frame.request_id,
            shard_key=SHARD,
        )
        peer.send(encode_batch([ack, deliver(cid, b"1"), deliver(cid, b"2")]))
        return True

    fake.overrides[FrameType.SUBSCRIBE] = ack_with_deliveries
    async with await open_client(fake) as client:
        sub = await client.subscribe("room")
        assert [(await sub.next(timeout=1)).payload for _ in range(2)] == [b"1", b"2"]


async def test_subscribe_errors(fake: Any) -> None:
    def refuse(peer: Any, frame: Frame) -> bool:
        if frame.json()["channel"] != "secret":
            return False
        error = error_payload(ErrorCode.FORBIDDEN, "no", retry_after_ms=5)
        peer.send(encode(FrameType.ERROR, error, flags=Flag.JSON, request_id=frame.request_id))
        return True

    fake.overrides[FrameType.SUBSCRIBE] = refuse
    async with await open_client(fake) as client:
        with pytest.raises(GbError) as info:
            await client.subscribe("secret")
        assert info.value.code is ErrorCode.FORBIDDEN
        assert info.value.details["retry_after_ms"] == 5
        del fake.overrides[FrameType.SUBSCRIBE]
        # The refused name is free again.
        assert (await client.subscribe("secret")).name == "secret"
        with pytest.raises(ValueError, match="already subscribed"):
            await client.subscribe("secret")
        with pytest.raises(ValueError, match="queue_size"):
            await client.subscribe("other", queue_size=0)
        fake.overrides[FrameType.SUBSCRIBE] = lambda peer, frame: True
        with pytest.raises(TimeoutError):
            await client.subscribe("slow", timeout=0.05)
        assert client._pending == {}


async def test_subscribe_cancelled_after_its_ack_stays_registered(fake: Any) -> None:
    fake.overrides[FrameType.SUBSCRIBE] = lambda peer, frame: True
    async with await open_client(fake) as client:
        task = asyncio.create_task(client.subscribe("room"))
        await until(lambda: client._pending)
        (rid,) = client._pending
        cid = channel_id("c1", "room")
        ack = {"channel": "room", "channel_id": cid, "subscribers": 3}
        client._on_message(encode_json(FrameType.ACK, ack, request_id=rid))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The server holds the subscription, so the client keeps it where the caller finds it.
        assert client.subscriptions[cid].subscribers == 3


async def test_publish_argument_errors(fake: Any) -> None:
    async with await open_client(fake) as client:
        with pytest.raises(ValueError, match="out of range"):
            await client.publish(-1, b"x")
        with pytest.raises(ValueError, match="out of range"):
            await client.publish(1 << 64, b"x")


async def test_unsubscribe(fake: Any) -> None:
    async with await open_client(fake) as client:
        sub = await client.subscribe("room")
        await sub.publish(b"before")
        await until(lambda: sub.queued == 1)
        await sub.unsubscribe()
        frame = fake.peer.of_type(FrameType.UNSUBSCRIBE)[0]
        assert frame.channel_id == sub.channel_id and frame.request_id != 0
        assert client.subscriptions == {}
        # What was queued is still read, then the iteration ends.
        assert [d.payload async for d in sub] == [b"before"]
        with pytest.raises(SubscriptionClosed):
            await sub.next()
        await sub.unsubscribe()  # twice is harmless
        assert len(fake.peer.of_type(FrameType.UNSUBSCRIBE)) == 1
        # The name may be subscribed again.
        again = await client.subscribe("room")
        assert again is not sub


async def test_unsubscribe_refused_still_ends_locally(fake: Any) -> None:
    def refuse(peer: Any, frame: Frame) -> bool:
        error = error_payload(ErrorCode.UNKNOWN_CHANNEL, "not subscribed")
        peer.send(encode(FrameType.ERROR, error, flags=Flag.JSON, request_id=frame.request_id))
        return True

    fake.overrides[FrameType.UNSUBSCRIBE] = refuse
    async with await open_client(fake) as client:
        sub = await client.subscribe("room")
        with pytest.raises(GbError):
            await sub.unsubscribe()
        assert client.subscriptions == {}
        with pytest.raises(SubscriptionClosed):
            await sub.next(timeout=1)


async def test_unsubscribe_on_a_closed_connection_succeeds(fake: Any) -> None:
    client = await open_client(fake)
    sub = await client.subscribe("room")
    fake.peer.close(4006, "draining")
    await client.closed
    await sub.unsubscribe()
    assert client.subscriptions == {}
    # The connection's end, not the unsubscribe, is what the subscription reports.
    with pytest.raises(ConnectionClosed):
        await sub.next()


async def test_deliver_for_unknown_channel_is_counted(fake: Any) -> None:
    async with await open_client(fake) as client:
        fake.peer.send(deliver(12345, b"stray"))
        fake.peer.send(encode_batch([deliver(12345, b"stray"), deliver(12346, b"stray")]))
        await until(lambda: client.dropped_unrouted == 3)
        assert client.events.empty()


# ---- subscription queue ---------------------------------------------------------------------


async def test_overflow_drops_newest_and_bounds_memory(fake: Any) -> None:
    async with await open_client(fake) as client:
        sub = await client.subscribe("room", queue_size=3)
        frames = [deliver(sub.channel_id, str(i).encode()) for i in range(10)]
        fake.peer.send(encode_batch(frames))
        await until(lambda: sub.dropped_overflow == 7)
        assert sub.queued == 3
        assert [(await sub.next()).payload for _ in range(3)] == [b"0", b"1", b"2"]


async def test_next_timeout_and_many_waiters(fake: Any) -> None:
    async with await open_client(fake) as client:
        sub = await client.subscribe("room")
        with pytest.raises(TimeoutError):
            await sub.next(timeout=0.01)
        assert sub._getters == []
        waiters = [asyncio.create_task(sub.next(timeout=2)) for _ in range(3)]
        await until(lambda: len(sub._getters) == 3)
        fake.peer.send(encode_batch([deliver(sub.channel_id, b"%d" % i) for i in range(3)]))
        got = await asyncio.gather(*waiters)
        assert sorted(d.payload for d in got) == [b"0", b"1", b"2"]


async def test_cancelled_waiter_after_wakeup_keeps_the_delivery(fake: Any) -> None:
    async with await open_client(fake) as client:
        sub = await client.subscribe("room")
        waiter = asyncio.create_task(sub.next())
        await until(lambda: sub._getters)
        # Woken and cancelled in the same step: the delivery must stay queued.
        sub._push(Delivery(sub.channel_id, b"kept", 0))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await sub.next()).payload == b"kept"

        waiter = asyncio.create_task(sub.next())
        await until(lambda: sub._getters)
        waiter.cancel()  # its future is cancelled at once, before the task runs again
        sub._push(Delivery(sub.channel_id, b"also kept", 0))
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await sub.next()).payload == b"also kept"


async def test_iteration_raises_on_abnormal_close(fake: Any) -> None:
    client = await open_client(fake)
    sub = await client.subscribe("room")

    async def consume() -> list[bytes]:
        return [d.payload async for d in sub]

    task = asyncio.create_task(consume())
    await until(lambda: sub._getters)
    fake.peer.close(4004, "slow consumer")
    with pytest.raises(ConnectionClosed) as info:
        await task
    assert (info.value.code, info.value.reason) == (4004, "slow consumer")


async def test_iteration_ends_on_normal_close(fake: Any) -> None:
    client = await open_client(fake)
    sub = await client.subscribe("room")
    task = asyncio.create_task(sub.__anext__())
    await until(lambda: sub._getters)
    await client.close()
    with pytest.raises(StopAsyncIteration):
        await task
    with pytest.raises(ConnectionClosed):
        await sub.next()


# ---- presence, rpc, ping --------------------------------------------------------------------


async def test_presence_query_and_events(fake: Any) -> None:
    async with await open_client(fake) as client:
        sub = await client.subscribe("room", presence=True)
        members = await client.presence(sub.channel_id)
        assert members == {"members": [{"user": "u1"}], "subscribers": 1}
        query = fake.peer.of_type(FrameType.PRESENCE)[0]
        assert query.channel_id == sub.channel_id and query.request_id != 0
        event = {"event": "join", "user": "u2"}
        fake.peer.send_json(FrameType.PRESENCE, event, channel_id=sub.channel_id)
        frame = await asyncio.wait_for(client.events.get(), 2)
        assert frame.json() == event and frame.channel_id == sub.channel_id


async def test_rpc(fake: Any) -> None:
    async with await open_client(fake) as client:
        assert await client.rpc("echo", {"a": [1, "b"]}) == {"a": [1, "b"]}
        assert await client.rpc("echo") == {}
        with pytest.raises(GbError) as info:
            await client.rpc("nope")
        assert info.value.code is ErrorCode.UNKNOWN_METHOD
        fake.overrides[FrameType.RPC_REQUEST] = lambda peer, frame: True
        with pytest.raises(TimeoutError):
            await client.rpc("echo", timeout=0.05)
        assert client._pending == {}


async def test_ping_round_trip(fake: Any) -> None:
    async with await open_client(fake) as client:
        rtt = await client.ping(b"abc")
        assert 0 < rtt < 2
        ping = fake.peer.of_type(FrameType.PING)[0]
        assert ping.payload == b"abc" and ping.shard_key == SHARD
        fake.overrides[FrameType.PING] = lambda peer, frame: True
        with pytest.raises(TimeoutError):
            await client.ping(timeout=0.05)


async def test_server_ping_is_answered(fake: Any) -> None:
    async with await open_client(fake):
        fake.peer.send(encode(FrameType.PING, b"hb", request_id=0))
        await until(lambda: fake.peer.of_type(FrameType.PONG))
        pong = fake.peer.of_type(FrameType.PONG)[0]
        assert (pong.payload, pong.request_id, pong.shard_key) == (b"hb", 0, SHARD)


async def test_websocket_level_ping_and_pong_are_not_protocol_frames(fake: Any) -> None:
    async with await open_client(fake) as client:
        fake.peer.transport.send_ping(b"ws")  # picows answers it
        fake.peer.transport.send_pong(b"ws")  # unsolicited: ignored
        assert await client.ping() > 0
        assert client.events.empty() and not client.closed.done()


async def test_server_ping_goes_to_events_without_auto_pong(fake: Any) -> None:
    async with await open_client(fake, auto_pong=False) as client:
        fake.peer.send(encode(FrameType.PING, b"hb"))
        frame = await asyncio.wait_for(client.events.get(), 2)
        assert (frame.type, frame.payload) == (FrameType.PING, b"hb")
        assert fake.peer.of_type(FrameType.PONG) == []


# ---- unsolicited frames ---------------------------------------------------------------------


async def test_unsolicited_frames(fake: Any) -> None:
    async with await open_client(fake) as client:
        peer = fake.peer
        peer.send(encode(FrameType.ERROR, error_payload(ErrorCode.RATE_LIMITED, "slow down")))
        stale = error_payload(ErrorCode.INTERNAL, "late", request_id=999)
        peer.send(encode(FrameType.ERROR, stale, request_id=999))
        peer.send(encode(FrameType.ERROR, orjson.dumps({"code": 999, "message": "future"})))
        errors = [await asyncio.wait_for(client.errors.get(), 2) for _ in range(3)]
        assert [e.code for e in errors] == [ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL, 999]
        assert "999: future" in str(errors[2])

        peer.send(encode(FrameType.ACK, request_id=4242))
        peer.send_json(FrameType.WELCOME, {"shard_key": 1})
        peer.send(encode(FrameType.PONG, b"x"))
        events = [await asyncio.wait_for(client.events.get(), 2) for _ in range(3)]
        assert [e.type for e in events] == [FrameType.ACK, FrameType.WELCOME, FrameType.PONG]
        assert client.shard_key == SHARD  # a second WELCOME changes nothing


async def test_full_event_queues_drop_and_count(fake: Any) -> None:
    async with await open_client(fake) as client:
        assert client.events.maxsize == client.errors.maxsize == EVENT_QUEUE_SIZE
        client.events = asyncio.Queue(1)
        client.errors = asyncio.Queue(1)
        error = encode(FrameType.ERROR, error_payload(ErrorCode.INTERNAL, "x"))
        event = encode_json(FrameType.PRESENCE, {"event": "leave"})
        fake.peer.send(encode_batch([error, error, event, event, event]))
        await until(lambda: client.dropped_events == 3)
        assert client.events.qsize() == client.errors.qsize() == 1


# ---- batches --------------------------------------------------------------------------------


async def test_batch_sends_one_message(fake: Any) -> None:
    async with await open_client(fake) as client:
        sub = await client.subscribe("room")
        before = len(fake.peer.messages)
        async with client.batch():
            await sub.publish(b"1")
            async with client.batch():  # nested blocks join the outer one
                await sub.publish(b"2")
            await client.publish(sub.channel_id, b"3", echo=False)
            assert len(fake.peer.messages) == before
        await until(lambda: len(fake.peer.messages) == before + 1)
        batch = HEADER.unpack_from(fake.peer.messages[-1])
        assert batch[1] == FrameType.BATCH and batch[5] == SHARD
        assert [(await sub.next(timeout=1)).payload for _ in range(2)] == [b"1", b"2"]

        async with client.batch():
            pass  # nothing sent: no empty BATCH
        with pytest.raises(RuntimeError):
            async with client.batch():
                await sub.publish(b"discarded")
                raise RuntimeError("abandon")
        await client.ping()
        assert len(fake.peer.messages) == before + 2  # the batch and the PING


async def test_batch_ending_after_close_raises(fake: Any) -> None:
    client = await open_client(fake)
    with pytest.raises(ConnectionClosed):
        async with client.batch():
            await client.publish(1, b"x")
            await client.close()


async def test_send_raw(fake: Any) -> None:
    async with await open_client(fake) as client:
        client.send_raw(b"\x01\x02")
        await until(lambda: b"\x01\x02" in fake.peer.messages)
