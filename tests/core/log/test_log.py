"""One suite for both logs (embedded files, Kafka on a private tansu broker) plus their own cases.

The Kafka cases run against a ``tansu`` broker of the test's own on a free loopback port
(memory storage), with a 2 s group session so rebalances take about a second. tansu has no
``InitProducerId``, so the producer runs without idempotence there (see ADR 0007).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2 as kafka_murmur2

from gb.core.log import (
    EmbeddedLog,
    KafkaLog,
    Log,
    LogConsumer,
    LogUnavailable,
    Record,
    murmur2,
    partition_for,
)
from gb.core.log.embedded import INDEX_STRIDE, decode_record, encode_record

from ...support.tansu import TansuProcess, own_tansu

__all__ = ["own_tansu"]  # a fixture, used by name

KINDS = ["embedded", "kafka"]


class Harness:
    """Opens logs and consumers of one kind on one directory or broker; closes them all."""

    def __init__(self, kind: str, directory: Path, broker: TansuProcess | None) -> None:
        self.kind = kind
        self.directory = directory
        self.broker = broker
        self.logs: list[Log] = []
        self.consumers: list[LogConsumer] = []

    def new_log(self, **options: Any) -> Log:
        if self.broker is not None:
            settings: dict[str, Any] = {
                "request_timeout_ms": 2000,
                "replication_factor": 1,
                "idempotent": False,  # tansu 0.6 answers InitProducerId with an error
                "session_timeout_ms": 2000,
                "client_id": "gb-test",
            }
            settings.update(options)
            return KafkaLog(self.broker.bootstrap, **settings)
        return EmbeddedLog(self.directory, **options)

    async def log(self, **options: Any) -> Log:
        log = self.new_log(**options)
        await log.start()
        self.logs.append(log)
        return log

    async def consumer(self, log: Log, topic: str, group: str = "g") -> LogConsumer:
        consumer = log.consumer(topic, group)
        await consumer.start()
        self.consumers.append(consumer)
        return consumer

    async def restart(self, log: Log) -> Log:
        """The embedded log is closed and reopened (a process restart); Kafka keeps its log."""
        if self.kind == "embedded":
            await log.close()
            return await self.log()
        return log

    async def close(self) -> None:
        for consumer in self.consumers:
            await consumer.close()
        for log in self.logs:
            await log.close()


@pytest.fixture(params=KINDS)
async def harness(
    request: pytest.FixtureRequest, tmp_path: Path, own_tansu: Callable[[], TansuProcess]
) -> AsyncIterator[Harness]:
    broker = own_tansu() if request.param == "kafka" else None
    h = Harness(request.param, tmp_path / "log", broker)
    try:
        yield h
    finally:
        await h.close()


async def drain(consumer: LogConsumer, count: int, timeout: float = 20.0) -> list[Record]:
    """Fetch until ``count`` records came (fails after ``timeout``), then check nothing more."""
    out: list[Record] = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            out.extend(await consumer.fetch(500, 0.5))
    return out


async def wait_assigned(*consumers: LogConsumer, partitions: int, timeout: float = 15.0) -> None:
    """Wait until the members own disjoint, non-empty sets covering every partition."""
    async with asyncio.timeout(timeout):
        while True:
            sets = [c.assignment for c in consumers]
            union = frozenset().union(*sets)
            if all(sets) and len(union) == partitions and sum(map(len, sets)) == partitions:
                return
            for c in consumers:  # fetching drives nothing in Kafka, but keeps members busy
                await c.fetch(10, 0.05)


def by_position(records: list[Record]) -> dict[tuple[int, int], bytes]:
    positions = {(r.partition, r.offset): r.value for r in records}
    assert len(positions) == len(records), "a record was delivered twice"
    return positions


# --- the contract, both implementations -------------------------------------------------------


async def test_append_returns_increasing_offsets_per_partition(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 4)
    await log.ensure_topic("t", 4)  # exists: fine
    last: dict[int, int] = {}
    for i in range(200):
        key = f"conv-{i % 13}".encode()
        partition, offset = await log.append("t", key, b"v%d" % i)
        assert partition == partition_for(key, 4)
        assert offset == last.get(partition, -1) + 1
        last[partition] = offset
    assert len(last) > 1


async def test_same_key_keeps_order_for_10k_records(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 8)
    key = b"one-conversation"
    acks = await asyncio.gather(*(log.append("t", key, b"%d" % i) for i in range(10_000)))
    assert {p for p, _ in acks} == {partition_for(key, 8)}
    offsets = [o for _, o in acks]
    assert offsets == sorted(offsets) and len(set(offsets)) == 10_000  # call order kept
    consumer = await harness.consumer(log, "t")
    records = await drain(consumer, 10_000, timeout=40)
    assert [r.value for r in records] == [b"%d" % i for i in range(10_000)]
    assert all(r.key == key and r.timestamp_ms > 0 for r in records)


async def test_group_reads_everything_once(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 4)
    acks = {}
    for i in range(300):
        acks[await log.append("t", b"k%d" % (i % 17), b"v%d" % i)] = b"v%d" % i
    consumer = await harness.consumer(log, "t")
    records = await drain(consumer, 300)
    assert by_position(records) == acks
    for partition in {r.partition for r in records}:
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == sorted(offsets)
    assert await consumer.fetch(100, 0.3) == []  # nothing delivered twice


async def test_commit_then_restart_resumes_after_the_commit(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 4)
    acks = {}
    for i in range(300):
        acks[await log.append("t", b"k%d" % (i % 11), b"v%d" % i)] = b"v%d" % i
    consumer = await harness.consumer(log, "t")
    records = await drain(consumer, 300)
    done = records[:170]  # per partition a prefix: the list keeps offset order per partition
    await consumer.commit(done)
    await consumer.commit(done)  # the same position again: nothing to store
    await consumer.close()
    harness.consumers.remove(consumer)
    log = await harness.restart(log)
    again = await harness.consumer(log, "t")
    rest = await drain(again, 130)
    assert by_position(rest) == {pos: v for pos, v in acks.items() if pos not in by_position(done)}
    assert await again.fetch(100, 0.3) == []
    # New records after a restart keep the partitions' offset sequences.
    partition, offset = await log.append("t", b"k0", b"after")
    assert offset == max(o for p, o in acks if p == partition) + 1


async def test_two_members_share_the_partitions(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 4)
    first = await harness.consumer(log, "t")
    second = await harness.consumer(log, "t")
    await wait_assigned(first, second, partitions=4)
    acks = {}
    for i in range(400):
        acks[await log.append("t", b"k%d" % i, b"v%d" % i)] = b"v%d" % i
    got: dict[LogConsumer, list[Record]] = {first: [], second: []}
    async with asyncio.timeout(20):
        while sum(map(len, got.values())) < 400:
            for member in (first, second):
                got[member].extend(await member.fetch(200, 0.1))
    assert by_position(got[first] + got[second]) == acks
    for member, records in got.items():
        assert {r.partition for r in records} <= member.assignment
        await member.commit(records)
    # A member leaves: the other takes every partition and goes on after the commits.
    await first.close()
    async with asyncio.timeout(15):
        while second.assignment != frozenset(range(4)):
            await second.fetch(10, 0.1)
    later = {await log.append("t", b"k%d" % i, b"late%d" % i): b"late%d" % i for i in range(40)}
    assert by_position(await drain(second, 40)) == later


async def test_commit_skips_partitions_the_member_lost(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 4)
    acks = {}
    for i in range(100):
        acks[await log.append("t", b"k%d" % i, b"v%d" % i)] = b"v%d" % i
    first = await harness.consumer(log, "t")
    records = await drain(first, 100)
    second = await harness.consumer(log, "t")
    await wait_assigned(first, second, partitions=4)
    await first.commit(records)  # only the partitions `first` still owns are committed
    taken = second.assignment
    again = await drain(second, sum(1 for p, _ in acks if p in taken))
    assert by_position(again) == {pos: v for pos, v in acks.items() if pos[0] in taken}


async def test_large_records_round_trip(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 2)
    values = [os.urandom(700 * 1024), b"small", os.urandom(300 * 1024)]
    acks = [await log.append("t", b"same", value) for value in values]
    consumer = await harness.consumer(log, "t")
    records = await drain(consumer, 3)
    assert [(r.partition, r.offset) for r in records] == acks
    assert [r.value for r in records] == values
    with pytest.raises(ValueError):
        await log.append("t", b"k", bytes(1 << 20))


async def test_refused_when_closed_or_not_started(harness: Harness) -> None:
    log = harness.new_log()
    with pytest.raises(LogUnavailable):
        await log.append("t", b"k", b"v")
    await log.start()
    await log.ensure_topic("t", 2)
    consumer = log.consumer("t", "g")
    with pytest.raises(LogUnavailable):
        await consumer.commit([Record(0, 0, b"k", b"v", 0)])
    assert await consumer.fetch(10, 0.01) == []
    assert consumer.assignment == frozenset()
    await consumer.close()  # never started: nothing to leave
    await log.append("t", b"k", b"v")
    await log.close()
    await log.close()  # idempotent
    with pytest.raises(LogUnavailable):
        await log.append("t", b"k", b"v")


async def test_unknown_topic_is_created_on_first_use(harness: Harness) -> None:
    log = await harness.log()
    partition, offset = await log.append("fresh", b"k", b"v")
    assert offset == 0
    consumer = await harness.consumer(log, "fresh")
    [record] = await drain(consumer, 1)
    assert (record.partition, record.offset, record.value) == (partition, 0, b"v")


async def test_commit_empty_or_foreign_records_is_a_no_op(harness: Harness) -> None:
    log = await harness.log()
    await log.ensure_topic("t", 2)
    await log.append("t", b"k", b"v")
    consumer = await harness.consumer(log, "t")
    await drain(consumer, 1)
    await consumer.commit([])
    await consumer.commit([Record(99, 5, b"", b"", 0)])  # a partition it does not own


async def test_bad_topics_are_refused(harness: Harness) -> None:
    log = await harness.log()
    for name in ("", "..", "a/b", "bad name!", "x" * 250):
        with pytest.raises(ValueError, match="topic name"):
            await log.ensure_topic(name, 1)
    with pytest.raises(ValueError, match="partitions"):
        await log.ensure_topic("t", 0)


async def test_embedded_ensure_topic_when_closed(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    with pytest.raises(LogUnavailable):
        await log.ensure_topic("t", 1)


# --- murmur2 ----------------------------------------------------------------------------------


def test_murmur2_matches_kafka() -> None:
    rng = random.Random(7)
    for size in range(64):
        data = rng.randbytes(size)
        assert murmur2(data) == kafka_murmur2(data)
    # Known partitions of Kafka's default partitioner (Java client, 8 partitions).
    assert partition_for(b"", 8) == (kafka_murmur2(b"") & 0x7FFFFFFF) % 8


# --- embedded only ----------------------------------------------------------------------------


def segment_files(directory: Path, topic: str = "t", partition: int = 0) -> list[Path]:
    return sorted((directory / topic / str(partition)).glob("*.log"))


async def test_embedded_recovers_a_torn_tail(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.ensure_topic("t", 1)
    for i in range(10):
        assert await log.append("t", b"k", b"v%d" % i) == (0, i)
    await log.close()
    [segment] = segment_files(tmp_path)
    whole = segment.stat().st_size
    torn = encode_record(10, 0, b"k", b"never acknowledged")[:-5]  # a crash mid-write
    with segment.open("ab") as f:
        f.write(torn)
    log = EmbeddedLog(tmp_path)
    await log.start()
    assert log.recovered_cut == len(torn)
    assert segment.stat().st_size == whole
    assert await log.append("t", b"k", b"v10") == (0, 10)
    consumer = log.consumer("t", "g")
    await consumer.start()
    records = await drain(consumer, 11)
    assert [r.value for r in records] == [b"v%d" % i for i in range(11)]
    await log.close()


async def test_embedded_cuts_a_corrupt_record_and_what_follows(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path, segment_bytes=300)
    await log.start()
    await log.ensure_topic("t", 1)
    for i in range(12):
        await log.append("t", b"k", bytes(100) + b"%d" % i)
    await log.close()
    files = segment_files(tmp_path)
    assert len(files) > 3
    data = bytearray(files[1].read_bytes())
    data[-3] ^= 0xFF  # a bit flip in the last record of the second segment
    files[1].write_bytes(bytes(data))
    log = EmbeddedLog(tmp_path, segment_bytes=300)
    await log.start()
    kept = sum(1 for _ in records_in(files[0])) + sum(1 for _ in records_in(files[1]))
    assert not any(f.exists() for f in files[2:])  # later segments removed
    assert log.recovered_cut > 0
    assert (await log.append("t", b"k", b"next"))[1] == kept
    await log.close()


def records_in(path: Path) -> list[int]:
    data, pos, offsets = path.read_bytes(), 0, []
    while (decoded := decode_record(data, pos)) is not None:
        offsets.append(decoded[0])
        pos = decoded[4]
    return offsets


async def test_embedded_segment_gap_and_garbage_are_cut(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path, segment_bytes=200)
    await log.start()
    await log.ensure_topic("t", 1)
    for i in range(10):
        await log.append("t", b"k", bytes(150) + b"%d" % i)
    await log.close()
    files = segment_files(tmp_path)
    files[3].unlink()  # a missing segment: the offsets after it cannot be trusted
    log = EmbeddedLog(tmp_path, segment_bytes=200)
    await log.start()
    assert [p.name for p in segment_files(tmp_path)] == [p.name for p in files[:3]]
    assert (await log.append("t", b"k", b"x"))[1] == int(files[3].stem)
    await log.close()
    # A segment whose records do not carry the expected offsets is cut at once.
    files = segment_files(tmp_path)
    files[-1].write_bytes(encode_record(77, 0, b"k", b"wrong offset"))
    log = EmbeddedLog(tmp_path, segment_bytes=200)
    await log.start()
    assert files[-1].stat().st_size == 0
    assert (await log.append("t", b"k", b"y"))[1] == int(files[-1].stem)
    await log.close()


async def test_embedded_reads_across_segments_in_small_fetches(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path, segment_bytes=4096)
    await log.start()
    await log.ensure_topic("t", 1)
    values = [os.urandom(random.randint(10, 1500)) for _ in range(INDEX_STRIDE * 3)]
    for value in values:
        await log.append("t", b"k", value)
    assert len(segment_files(tmp_path)) > 10
    consumer = log.consumer("t", "g")
    await consumer.start()
    got: list[Record] = []
    async with asyncio.timeout(10):
        while len(got) < len(values):
            got.extend(await consumer.fetch(7, 0.2))
    assert [r.value for r in got] == values
    assert [r.offset for r in got] == list(range(len(values)))
    await consumer.commit(got[:100])
    await log.close()
    log = EmbeddedLog(tmp_path, segment_bytes=4096)
    await log.start()
    consumer = log.consumer("t", "g")
    await consumer.start()
    rest = await drain(consumer, len(values) - 100)
    assert [r.value for r in rest] == values[100:]
    await log.close()


async def test_embedded_group_commit_shares_syncs(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.ensure_topic("t", 1)
    for i in range(20):  # one at a time: every append is its own round
        await log.append("t", b"k", b"%d" % i)
    assert log.flushes == 20
    assert log.syncs == 21  # + the directory, once, for the new segment file
    syncs = log.syncs
    acks = await asyncio.gather(*(log.append("t", b"k", b"x") for _ in range(2000)))
    assert [o for _, o in acks] == list(range(20, 2020))
    rounds = log.flushes - 20
    print(f"2000 concurrent appends: {rounds} rounds, {log.syncs - syncs} syncs")
    assert rounds <= 3 and log.syncs - syncs == rounds
    assert log.appended == 2020
    # Several partitions in one round: one sync per partition (in parallel), not per record.
    await log.ensure_topic("wide", 4)
    syncs, flushes = log.syncs, log.flushes
    acks = await asyncio.gather(*(log.append("wide", b"k%d" % i, b"x") for i in range(400)))
    assert {p for p, _ in acks} == {0, 1, 2, 3}
    rounds = log.flushes - flushes
    assert rounds <= 3 and log.syncs - syncs <= 4 * rounds + 4  # + each new file's directory
    await log.close()


async def test_embedded_write_error_refuses_until_reopened(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path, segment_bytes=10)
    await log.start()
    await log.ensure_topic("t", 1)
    assert await log.append("t", b"k", b"first") == (0, 0)
    # The next segment's path is a FIFO: the flusher's open() blocks until a reader comes, and
    # fdatasync() on a pipe then fails (EINVAL) -- a real OSError, while a second round waits.
    fifo = tmp_path / "t" / "0" / f"{1:020d}.log"
    os.mkfifo(fifo)
    first = asyncio.ensure_future(log.append("t", b"k", b"lost"))
    await asyncio.sleep(0.05)
    second = asyncio.gather(*(log.append("t", b"k", b"queued") for _ in range(3)))
    await asyncio.sleep(0.01)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(LogUnavailable, match="write failed"):
            await asyncio.wait_for(first, 5)
        with pytest.raises(LogUnavailable):
            await asyncio.wait_for(second, 5)
    finally:
        os.close(reader)
    with pytest.raises(LogUnavailable, match="reopen"):
        await log.append("t", b"k", b"refused")
    await log.close()
    fifo.unlink()
    log = EmbeddedLog(tmp_path, segment_bytes=10)
    await log.start()
    assert await log.append("t", b"k", b"second") == (0, 1)
    await log.close()


async def test_embedded_close_acknowledges_queued_appends(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    created = await asyncio.gather(
        log.ensure_topic("n", 1), log.ensure_topic("n", 1), log.append("n", b"k", b"v")
    )
    assert created[2] == (0, 0)
    pending = [asyncio.ensure_future(log.append("n", b"k", b"%d" % i)) for i in range(5)]
    await asyncio.sleep(0)  # queued, the round not yet synced
    await log.close()
    assert [await p for p in pending] == [(0, i) for i in range(1, 6)]


async def test_embedded_cancelled_append_does_not_fail_the_round(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.ensure_topic("t", 1)
    first = asyncio.ensure_future(log.append("t", b"k", b"a"))
    second = asyncio.ensure_future(log.append("t", b"k", b"b"))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == (0, 1)
    await log.close()


async def test_embedded_directory_is_single_process(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    other = EmbeddedLog(tmp_path)
    with pytest.raises(RuntimeError, match="in use"):
        await other.start()
    await log.close()
    await other.start()  # free again once closed
    await other.close()


async def test_embedded_commit_error_is_unavailable(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.ensure_topic("t", 1)
    await log.append("t", b"k", b"v")
    consumer = log.consumer("t", "g")
    await consumer.start()
    records = await drain(consumer, 1)
    groups = tmp_path / "t" / "groups"
    groups.rmdir()
    groups.write_bytes(b"not a directory")  # the position file cannot be written
    with pytest.raises(LogUnavailable, match="commit"):
        await consumer.commit(records)
    await log.close()


async def test_embedded_corrupt_synced_record_fails_the_read(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.ensure_topic("t", 1)
    for i in range(3):
        await log.append("t", b"k", b"value-%d" % i)
    [segment] = segment_files(tmp_path)
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # damage under a running log: the read must not hand it out
    segment.write_bytes(bytes(data))
    consumer = log.consumer("t", "g")
    await consumer.start()
    with pytest.raises(LogUnavailable, match="corrupt"):
        await drain(consumer, 3, timeout=2)
    await log.close()


async def test_embedded_fetch_wakes_on_append_and_on_close(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.ensure_topic("t", 2)
    consumer = log.consumer("t", "g")
    await consumer.start()
    waiting = asyncio.ensure_future(consumer.fetch(10, 10.0))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await log.append("t", b"k", b"v")
    assert [r.value for r in await waiting] == [b"v"]
    assert time.monotonic() - started < 0.5  # woken, not polled
    waiting = asyncio.ensure_future(consumer.fetch(10, 10.0))
    await asyncio.sleep(0.01)
    waiting.cancel()  # its waiter is cancelled but not yet removed when close() wakes them
    await consumer.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await consumer.close()  # idempotent
    other = log.consumer("t", "h")
    await other.start()
    assert len(await drain(other, 1)) == 1
    waiting = asyncio.ensure_future(other.fetch(10, 10.0))
    await asyncio.sleep(0.01)
    await log.close()
    assert await asyncio.wait_for(waiting, 1) == []


# --- Kafka only -------------------------------------------------------------------------------


def kafka_log(broker: TansuProcess, **options: Any) -> KafkaLog:
    settings: dict[str, Any] = {
        "request_timeout_ms": 1000,
        "replication_factor": 1,
        "idempotent": False,
        "session_timeout_ms": 2000,
    }
    settings.update(options)
    return KafkaLog(broker.bootstrap, **settings)


async def test_kafka_broker_down_refuses_appends(own_tansu: Callable[[], TansuProcess]) -> None:
    broker = own_tansu()
    log = kafka_log(broker)
    await log.start()
    await log.ensure_topic("t", 2)
    await log.append("t", b"k", b"before")
    consumer = log.consumer("t", "g")
    await consumer.start()
    records = await drain(consumer, 1)
    broker.kill()
    started = time.monotonic()
    with pytest.raises(LogUnavailable):
        await log.append("t", b"k", b"never acknowledged")
    assert time.monotonic() - started < 5
    with pytest.raises(LogUnavailable):
        await consumer.commit(records)
    assert await consumer.fetch(10, 0.2) == []
    with pytest.raises(LogUnavailable):
        await log.ensure_topic("u", 1)
    await consumer.close()
    await log.close()
    with pytest.raises(LogUnavailable):
        await kafka_log(broker).start()
    with pytest.raises(LogUnavailable):
        await log.consumer("t", "g").start()


async def test_kafka_broker_limit_below_ours(own_tansu: Callable[[], TansuProcess]) -> None:
    broker = own_tansu()
    log = kafka_log(broker, max_record_bytes=1000)
    await log.start()
    # The producer was sized for 1000-byte records; a broker limit below ours looks the same.
    log.max_record_bytes = 100_000
    with pytest.raises(ValueError, match="too large"):
        await log.append("t", b"k", bytes(50_000))
    await log.close()
