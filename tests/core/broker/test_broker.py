"""One suite for every broker (memory, Redis sharded, Redis plain) plus Redis-only adversity.

The shared Redis (``GB_TEST_REDIS_URL``, default 127.0.0.1:6379) is only used with unique topic
names and never flushed; tests that stop, freeze or misconfigure a server start their own
redis-server on a free loopback port.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import DataError, ResponseError

from gb.core.broker import (
    Broker,
    BrokerUnavailable,
    MemoryBroker,
    MemoryBus,
    RedisBroker,
    create_broker,
)

from ...support.services import SHARED_REDIS_URL, RedisProcess, own_redis, wait_until

__all__ = ["own_redis"]  # a fixture, used by name

BROKER_KINDS = ["memory", "redis-sharded", "redis-plain"]


def new_topic() -> str:
    """A topic no other test (or parallel run) uses, shaped like the hub's hash-tagged names."""
    return f"gb:test:{{{uuid.uuid4().hex}}}"


class Inbox:
    """A handler that records ``(topic, data)`` and lets a test wait for a count, bounded."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []

    def __call__(self, topic: str, data: bytes) -> None:
        self.items.append((topic, data))

    def data(self, topic: str) -> list[bytes]:
        return [d for t, d in self.items if t == topic]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.items) < count:
                await asyncio.sleep(0.002)

    async def wait_data(self, topic: str, data: bytes, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while data not in self.data(topic):
                await asyncio.sleep(0.002)


MakeNode = Callable[..., Awaitable[tuple[Broker, Inbox]]]


@pytest.fixture(params=BROKER_KINDS)
async def make_node(request: pytest.FixtureRequest) -> AsyncIterator[MakeNode]:
    """Factory of nodes of one broker kind; nodes made by one test can reach each other."""
    kind: str = request.param
    bus = MemoryBus()
    brokers: list[Broker] = []

    async def make(*, start: bool = True, topics: tuple[str, ...] = ()) -> tuple[Broker, Inbox]:
        node_id = f"node{len(brokers)}"
        broker: Broker
        if kind == "memory":
            broker = MemoryBroker(node_id=node_id, bus=bus)
        else:
            broker = RedisBroker(SHARED_REDIS_URL, node_id, sharded=kind == "redis-sharded")
        brokers.append(broker)
        inbox = Inbox()
        broker.set_handler(inbox)
        for topic in topics:
            await broker.subscribe(topic)
        if start:
            await broker.start()
        return broker, inbox

    yield make
    for broker in brokers:
        await broker.close()


# -- the shared suite: every broker kind --------------------------------------------------------


async def test_publish_reaches_subscriber_including_itself(make_node: MakeNode) -> None:
    topic = new_topic()
    node, inbox = await make_node(topics=(topic,))
    assert node.healthy
    assert node.topics == frozenset({topic})
    await node.publish(topic, b"hello")
    await inbox.wait_for(1)
    assert inbox.items == [(topic, b"hello")]
    assert node.published == 1
    assert node.received == 1


async def test_one_publisher_keeps_order_of_1000_messages(make_node: MakeNode) -> None:
    topic = new_topic()
    publisher, _ = await make_node()
    _, inbox = await make_node(topics=(topic,))
    expected = [i.to_bytes(4, "little") for i in range(1000)]
    await asyncio.gather(*(publisher.publish(topic, data) for data in expected[:500]))
    for data in expected[500:]:
        await publisher.publish(topic, data)
    await inbox.wait_for(1000, timeout=10)
    assert inbox.data(topic) == expected


async def test_two_nodes_exchange_messages(make_node: MakeNode) -> None:
    to_a, to_b = new_topic(), new_topic()
    node_a, inbox_a = await make_node(topics=(to_a,))
    node_b, inbox_b = await make_node(topics=(to_b,))
    await node_a.publish(to_b, b"a->b")
    await node_b.publish(to_a, b"b->a")
    await inbox_a.wait_for(1)
    await inbox_b.wait_for(1)
    assert inbox_a.items == [(to_a, b"b->a")]
    assert inbox_b.items == [(to_b, b"a->b")]


async def test_publish_to_topic_without_subscribers_is_accepted(make_node: MakeNode) -> None:
    node, inbox = await make_node()
    await node.publish(new_topic(), b"nobody listens")
    assert node.published == 1
    assert inbox.items == []


async def test_unsubscribe_stops_delivery(make_node: MakeNode) -> None:
    topic, fence = new_topic(), new_topic()
    publisher, _ = await make_node()
    node, inbox = await make_node(topics=(topic, fence))
    await publisher.publish(topic, b"before")
    await inbox.wait_data(topic, b"before")
    await node.unsubscribe(topic)
    assert node.topics == frozenset({fence})
    await publisher.publish(topic, b"after")
    await publisher.publish(fence, b"fence")  # same publisher: arrives after "after" would
    await inbox.wait_data(fence, b"fence")
    assert inbox.data(topic) == [b"before"]


async def test_subscribe_and_unsubscribe_are_idempotent(make_node: MakeNode) -> None:
    topic, fence = new_topic(), new_topic()
    node, inbox = await make_node(topics=(fence,))
    await node.subscribe(topic)
    await node.subscribe(topic)
    await node.publish(topic, b"once")
    await node.publish(fence, b"fence")
    await inbox.wait_data(fence, b"fence")
    assert inbox.data(topic) == [b"once"]
    await node.unsubscribe(topic)
    await node.unsubscribe(topic)
    await node.unsubscribe(new_topic())  # never subscribed
    assert node.topics == frozenset({fence})


async def test_topics_subscribed_before_start_apply_at_start(make_node: MakeNode) -> None:
    topic = new_topic()
    node, inbox = await make_node(start=False, topics=(topic,))
    assert not node.healthy
    assert node.topics == frozenset({topic})
    await node.start()
    await node.publish(topic, b"x")
    await inbox.wait_for(1)


async def test_handler_exception_is_logged_and_delivery_goes_on(
    make_node: MakeNode, caplog: pytest.LogCaptureFixture
) -> None:
    topic = new_topic()
    seen: list[bytes] = []

    def handler(_topic: str, data: bytes) -> None:
        seen.append(data)
        if data == b"boom":
            raise ValueError("handler bug")

    node, _ = await make_node(start=False, topics=(topic,))
    node.set_handler(handler)
    await node.start()
    await node.publish(topic, b"boom")
    await node.publish(topic, b"fine")
    await wait_until(lambda: len(seen) == 2, timeout=5)
    assert seen == [b"boom", b"fine"]
    assert node.handler_errors == 1
    assert node.received == 2
    assert "handler failed" in caplog.text
    assert "handler bug" in caplog.text


async def test_close_is_idempotent_and_final(make_node: MakeNode) -> None:
    topic = new_topic()
    node, _ = await make_node(topics=(topic,))
    await node.close()
    await node.close()
    assert not node.healthy
    assert node.topics == frozenset()
    with pytest.raises(BrokerUnavailable):
        await node.publish(topic, b"x")
    with pytest.raises(BrokerUnavailable):
        await node.subscribe(topic)
    await node.unsubscribe(topic)  # harmless after close


async def test_close_before_start(make_node: MakeNode) -> None:
    node, _ = await make_node(start=False)
    await node.close()
    assert not node.healthy


async def test_publish_before_start_is_unavailable(make_node: MakeNode) -> None:
    node, _ = await make_node(start=False)
    with pytest.raises(BrokerUnavailable):
        await node.publish(new_topic(), b"x")


async def test_lifecycle_misuse_raises(make_node: MakeNode) -> None:
    node, inbox = await make_node()
    with pytest.raises(RuntimeError, match="before start"):
        node.set_handler(inbox)
    with pytest.raises(RuntimeError, match="twice"):
        await node.start()


async def test_start_needs_a_handler(make_node: MakeNode) -> None:
    node, _ = await make_node(start=False)
    node._handler = None  # as if set_handler() was never called
    with pytest.raises(RuntimeError, match="set_handler"):
        await node.start()


# -- memory specifics ---------------------------------------------------------------------------


async def test_memory_handler_is_not_called_inside_publish() -> None:
    topic = new_topic()
    broker, inbox = MemoryBroker(), Inbox()
    broker.set_handler(inbox)
    await broker.subscribe(topic)
    await broker.start()
    await broker.publish(topic, b"x")
    assert inbox.items == []  # scheduled with call_soon, not called re-entrantly
    await inbox.wait_for(1)
    await broker.close()


async def test_memory_brokers_on_different_buses_are_isolated() -> None:
    topic = new_topic()
    inboxes = [Inbox(), Inbox()]
    brokers = [MemoryBroker("a"), MemoryBroker("b")]
    for broker, inbox in zip(brokers, inboxes, strict=True):
        broker.set_handler(inbox)
        await broker.subscribe(topic)
        await broker.start()
    await brokers[0].publish(topic, b"x")
    await inboxes[0].wait_for(1)
    await asyncio.sleep(0.01)
    assert inboxes[1].items == []
    for broker in brokers:
        await broker.close()
    assert brokers[0].bus.subscribers == brokers[1].bus.subscribers == {}


async def test_memory_unsubscribe_leaves_other_nodes_subscribed() -> None:
    topic, bus = new_topic(), MemoryBus()
    brokers = [MemoryBroker("a", bus), MemoryBroker("b", bus)]
    inboxes = [Inbox(), Inbox()]
    for broker, inbox in zip(brokers, inboxes, strict=True):
        broker.set_handler(inbox)
        await broker.start()
        await broker.subscribe(topic)
    await brokers[0].unsubscribe(topic)
    assert bus.subscribers == {topic: {brokers[1]}}
    await brokers[0].publish(topic, b"x")
    await inboxes[1].wait_for(1)
    assert inboxes[0].items == []
    for broker in brokers:
        await broker.close()
    assert bus.subscribers == {}


async def test_memory_drops_messages_scheduled_before_unsubscribe() -> None:
    topic = new_topic()
    broker, inbox = MemoryBroker(), Inbox()
    broker.set_handler(inbox)
    await broker.start()
    await broker.subscribe(topic)
    await broker.publish(topic, b"scheduled")
    await broker.unsubscribe(topic)  # before the loop ran the delivery
    await asyncio.sleep(0.01)
    assert inbox.items == []
    broker.bus.detach(topic, broker)  # detaching an unknown topic is a no-op
    await broker.close()


# -- factory ------------------------------------------------------------------------------------


def test_create_broker_builds_each_kind() -> None:
    memory = create_broker("memory", SHARED_REDIS_URL, "n1")
    assert isinstance(memory, MemoryBroker)
    assert (memory.name, memory.node_id) == ("memory", "n1")
    redis = create_broker("redis", "redis://127.0.0.1:6390/0", "n2")
    assert isinstance(redis, RedisBroker)
    assert (redis.name, redis.node_id, redis.url) == ("redis", "n2", "redis://127.0.0.1:6390/0")


def test_create_broker_names_a_bad_kind() -> None:
    with pytest.raises(ValueError, match=r"'kafka'.*memory, redis"):
        create_broker("kafka", SHARED_REDIS_URL, "n1")


# -- Redis specifics ----------------------------------------------------------------------------


async def started_redis(url: str, **options: Any) -> tuple[RedisBroker, Inbox]:
    broker, inbox = RedisBroker(url, "t", **options), Inbox()
    broker.set_handler(inbox)
    await broker.start()
    return broker, inbox


async def test_redis_detects_sharded_pubsub_on_the_shared_server() -> None:
    broker = create_broker("redis", SHARED_REDIS_URL, "node with spaces é")
    broker.set_handler(Inbox())
    await broker.start()
    try:
        assert isinstance(broker, RedisBroker)
        assert broker.sharded is True  # the machine runs Redis 7
    finally:
        await broker.close()


async def test_redis_falls_back_to_plain_pubsub_without_spublish(
    own_redis: Callable[..., RedisProcess],
) -> None:
    server = own_redis("--rename-command", "SPUBLISH", "")
    broker, inbox = await started_redis(server.url)
    try:
        assert broker.sharded is False
        topic = new_topic()
        await broker.subscribe(topic)
        await broker.publish(topic, b"plain")
        await inbox.wait_for(1)
    finally:
        await broker.close()


async def test_redis_start_against_a_dead_port_fails_promptly_and_can_retry(
    own_redis: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    server = RedisProcess(tmp_path)  # port chosen, nothing listening yet
    broker, inbox = RedisBroker(server.url, "t", connect_timeout=1.0), Inbox()
    broker.set_handler(inbox)
    began = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=str(server.port)):
        await broker.start()
    assert time.monotonic() - began < 1.5
    assert not broker.healthy
    server.start()
    try:
        await broker.start()  # a failed start may be retried
        assert broker.healthy
    finally:
        await broker.close()
        server.stop()


async def test_redis_start_against_a_frozen_server_is_bounded(
    own_redis: Callable[..., RedisProcess],
) -> None:
    server = own_redis()
    server.freeze()
    broker = RedisBroker(server.url, "t", connect_timeout=0.3)
    broker.set_handler(Inbox())
    began = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.start()
    assert time.monotonic() - began < 1.0
    await broker.close()


@pytest.mark.parametrize("sharded", [True, False])
async def test_redis_outage_then_recovery_resubscribes(
    own_redis: Callable[..., RedisProcess], sharded: bool
) -> None:
    server = own_redis()
    kept, added, dropped = new_topic(), new_topic(), new_topic()
    node, inbox = await started_redis(server.url, sharded=sharded)
    publisher, _ = await started_redis(server.url, sharded=sharded)
    try:
        await node.subscribe(kept)
        await node.subscribe(dropped)
        await publisher.publish(kept, b"before")
        await inbox.wait_data(kept, b"before")

        server.stop()
        await wait_until(lambda: not node.healthy, timeout=5)
        with pytest.raises(BrokerUnavailable):
            await node.publish(kept, b"lost")
        await asyncio.sleep(0.3)  # reconnect attempts fail and back off meanwhile
        assert not node.healthy
        await node.subscribe(added)  # recorded while disconnected
        await node.unsubscribe(dropped)
        assert node.topics == frozenset({kept, added})

        server.start()  # same port
        await wait_until(lambda: node.healthy and publisher.healthy, timeout=10)
        assert node.reconnects >= 1
        for topic in (dropped, kept, added):
            await publisher.publish(topic, b"after")
        await inbox.wait_data(added, b"after")
        await inbox.wait_data(kept, b"after")
        assert inbox.data(kept) == [b"before", b"after"]
        assert inbox.data(dropped) == []
    finally:
        await node.close()
        await publisher.close()


async def test_redis_keepalive_detects_a_frozen_server_and_recovers(
    own_redis: Callable[..., RedisProcess], caplog: pytest.LogCaptureFixture
) -> None:
    server = own_redis()
    topic, late = new_topic(), new_topic()
    node, inbox = await started_redis(server.url, ping_interval=0.2, command_timeout=10)
    try:
        await node.subscribe(topic)
        server.freeze()
        pending = asyncio.create_task(node.subscribe(late))  # unconfirmed when the link dies
        await wait_until(lambda: not node.healthy, timeout=5)
        assert "no reply to PING" in caplog.text
        await asyncio.wait_for(pending, 1)  # returns: recorded, re-applied on reconnect
        server.thaw()
        await wait_until(lambda: node.healthy, timeout=10)
        await node.publish(topic, b"t")
        await node.publish(late, b"late")
        await inbox.wait_data(late, b"late")
        assert inbox.data(topic) == [b"t"]
    finally:
        server.thaw()
        await node.close()


async def test_redis_unconfirmed_subscribe_and_publish_time_out(
    own_redis: Callable[..., RedisProcess],
) -> None:
    server = own_redis()
    topic = new_topic()
    node, _ = await started_redis(server.url, command_timeout=0.3, ping_interval=30)
    try:
        server.freeze()
        with pytest.raises(BrokerUnavailable, match="SUBSCRIBE"):
            await node.subscribe(topic)
        assert topic in node.topics  # kept: applied again on reconnect
        assert node.healthy  # the keepalive has not noticed yet
        with pytest.raises(BrokerUnavailable):
            await node.publish(topic, b"x")
    finally:
        server.thaw()
        await node.close()


async def test_redis_close_fails_waiting_publishes(own_redis: Callable[..., RedisProcess]) -> None:
    server = own_redis()
    node, _ = await started_redis(server.url, command_timeout=10, ping_interval=30)
    topic = new_topic()
    try:
        server.freeze()
        first = asyncio.create_task(node.publish(topic, b"in flight"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(node.publish(topic, b"queued"))
        gone = asyncio.create_task(node.publish(topic, b"abandoned"))
        await asyncio.sleep(0.05)
        gone.cancel()
        await node.close()
        for task in (first, second):
            with pytest.raises(BrokerUnavailable, match="closed"):
                await task
        assert gone.cancelled()
    finally:
        server.thaw()


async def test_redis_cancelled_publisher_does_not_break_the_batch() -> None:
    node, inbox = await started_redis(SHARED_REDIS_URL)
    topic = new_topic()
    try:
        await node.subscribe(topic)
        cancelled = asyncio.create_task(node.publish(topic, b"maybe"))
        await asyncio.sleep(0)  # queued, batch in flight
        cancelled.cancel()
        await node.publish(topic, b"sure")
        await inbox.wait_data(topic, b"sure")
        assert cancelled.cancelled()
    finally:
        await node.close()


async def test_redis_refused_commands_surface_to_the_caller(
    own_redis: Callable[..., RedisProcess], caplog: pytest.LogCaptureFixture
) -> None:
    # SPUBLISH present (so sharding is detected) but SSUBSCRIBE and PUBLISH refused.
    server = own_redis("--rename-command", "SSUBSCRIBE", "", "--rename-command", "PUBLISH", "")
    sharded, _ = await started_redis(server.url)
    plain, _ = await started_redis(server.url, sharded=False)
    topic = new_topic()
    try:
        with pytest.raises(ResponseError, match="unknown command"):
            await sharded.subscribe(topic)
        assert topic not in sharded.topics
        assert "subscriber command failed" in caplog.text
        assert sharded.healthy  # the reader survived the error reply
        await sharded.publish(topic, b"still works")
        with pytest.raises(ResponseError, match="unknown command"):
            await plain.publish(topic, b"x")
    finally:
        await sharded.close()
        await plain.close()


async def test_redis_bad_payload_fails_its_batch_only() -> None:
    node, inbox = await started_redis(SHARED_REDIS_URL)
    topic = new_topic()
    try:
        await node.subscribe(topic)
        with pytest.raises(DataError):
            await node.publish(topic, None)  # type: ignore[arg-type]
        await node.publish(topic, b"next batch")
        await inbox.wait_data(topic, b"next batch")
    finally:
        await node.close()
