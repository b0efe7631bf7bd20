"""Consumer positions and log end offsets (what the persister's lag is made of), both logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gb.core.log import EmbeddedLog, KafkaLog, Log, LogConsumer, LogUnavailable, partition_for

from ...support.tansu import TansuProcess, own_tansu

__all__ = ["own_tansu"]


def kafka(broker: TansuProcess) -> KafkaLog:
    return KafkaLog(
        broker.bootstrap,
        request_timeout_ms=2000,
        replication_factor=1,
        idempotent=False,
        session_timeout_ms=2000,
    )


@pytest.fixture(params=["embedded", "kafka"])
async def log(
    request: pytest.FixtureRequest, tmp_path: Path, own_tansu: Callable[[], TansuProcess]
) -> AsyncIterator[Log]:
    opened: Log = kafka(own_tansu()) if request.param == "kafka" else EmbeddedLog(tmp_path)
    await opened.start()
    yield opened
    await opened.close()


async def fetch_all(consumer: LogConsumer, count: int) -> int:
    got = 0
    async with asyncio.timeout(20):
        while got < count:
            got += len(await consumer.fetch(100, 0.2))
    return got


async def test_positions_and_ends_follow_appends_fetches_and_commits(log: Log) -> None:
    await log.ensure_topic("t", 2)
    consumer = log.consumer("t", "g")
    assert await consumer.positions() == {}
    assert await consumer.end_offsets() == {}
    await consumer.start()
    async with asyncio.timeout(15):
        while consumer.assignment != {0, 1}:
            await consumer.fetch(1, 0.05)
    assert await consumer.positions() == {0: 0, 1: 0}
    assert await consumer.end_offsets() == {0: 0, 1: 0}
    keys = [b"a", b"b", b"c", b"d", b"e", b"f"]
    for key in keys:
        await log.append("t", key, b"v")
    counts = {p: sum(partition_for(k, 2) == p for k in keys) for p in (0, 1)}
    assert await consumer.end_offsets() == counts
    records = []
    async with asyncio.timeout(20):
        while len(records) < len(keys):
            records.extend(await consumer.fetch(100, 0.2))
    assert await consumer.positions() == counts
    await consumer.commit(records)
    await consumer.close()
    assert await consumer.positions() == {}
    assert await consumer.end_offsets() == {}

    again = log.consumer("t", "g")  # a new member starts from the committed positions
    await again.start()
    async with asyncio.timeout(15):
        while again.assignment != {0, 1}:
            await again.fetch(1, 0.05)
    assert await again.positions() == counts
    assert await again.end_offsets() == counts
    await again.close()


async def test_a_member_without_partitions_has_no_offsets(log: Log) -> None:
    await log.ensure_topic("one", 1)
    first = log.consumer("one", "g")
    second = log.consumer("one", "g")
    await first.start()
    await second.start()
    async with asyncio.timeout(15):
        while len(first.assignment | second.assignment) != 1 or (
            first.assignment and second.assignment
        ):
            await first.fetch(1, 0.05)
            await second.fetch(1, 0.05)
    idle = second if first.assignment else first
    assert await idle.positions() == {}
    assert await idle.end_offsets() == {}
    await first.close()
    await second.close()


async def test_kafka_offsets_refused_while_the_broker_is_down(
    own_tansu: Callable[[], TansuProcess],
) -> None:
    broker = own_tansu()
    log = kafka(broker)
    await log.start()
    await log.ensure_topic("t", 1)
    await log.append("t", b"k", b"v")
    consumer = log.consumer("t", "g")
    await consumer.start()
    assert await fetch_all(consumer, 1) == 1
    broker.kill()
    with pytest.raises(LogUnavailable, match="end offsets of 't'"):
        await consumer.end_offsets()
    await consumer.close()
    await log.close()


async def test_kafka_position_refused_while_the_coordinator_is_down(
    own_tansu: Callable[[], TansuProcess],
) -> None:
    broker = own_tansu()
    log = kafka(broker)
    await log.start()
    await log.ensure_topic("t", 1)
    consumer = log.consumer("t", "g")
    await consumer.start()
    async with asyncio.timeout(15):
        while not consumer.assignment:
            await consumer.fetch(1, 0.05)
    broker.kill()  # before any fetch position is known: it has to ask the coordinator
    with pytest.raises(LogUnavailable, match="positions of 'g'"):
        await consumer.positions()
    await consumer.close()
    await log.close()
