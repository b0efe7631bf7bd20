"""The Kafka log (aiokafka): the durable log of a cluster of nodes.

One producer per process, shared by every append: ``acks="all"`` (a record is acknowledged once
every in-sync replica has it) and, by default, the idempotent producer (broker-side
de-duplication of retried batches). ``linger_ms`` lets concurrent appends fill a batch. The
producer's default partitioner is murmur2, the same function as :func:`partition_for`.

Every wait is bounded: connecting and each request by ``request_timeout_ms``, a whole append by
twice that. When the brokers cannot be reached an append raises :class:`LogUnavailable` and is
not acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaError,
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
    for_code,
)

from .base import Log, LogConsumer, LogUnavailable, Record, check_topic

__all__ = ["KafkaConsumer", "KafkaLog"]


class KafkaLog(Log):
    """The log on Kafka brokers at ``bootstrap`` (``host:port[,host:port...]``).

    ``replication_factor`` is used by ``ensure_topic`` (3 for production, with the topic's
    ``min.insync.replicas`` = 2 so that ``acks=all`` means two copies at least).
    ``idempotent=False`` only for brokers without ``InitProducerId`` (the tests' tansu);
    without it a retried batch may be written twice, which consumers tolerate (at-least-once).
    ``session_timeout_ms`` is the consumers' group session: how soon a dead member's partitions
    move to the others. ``max_batch_bytes`` is the producer's batch per partition (aiokafka's
    16 KiB default holds only 15 records of 1 KiB; 256 KiB measured 1.6x the appends/s).
    """

    name = "kafka"

    def __init__(
        self,
        bootstrap: str,
        *,
        linger_ms: int = 5,
        client_id: str = "gb",
        request_timeout_ms: int = 5000,
        replication_factor: int = 3,
        idempotent: bool = True,
        session_timeout_ms: int = 10000,
        max_record_bytes: int = 1 << 20,
        max_batch_bytes: int = 256 << 10,
    ) -> None:
        self.bootstrap = bootstrap
        self.linger_ms = linger_ms
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        self.replication_factor = replication_factor
        self.idempotent = idempotent
        self.session_timeout_ms = session_timeout_ms
        self.max_record_bytes = max_record_bytes
        self.max_batch_bytes = max_batch_bytes
        self._producer: AIOKafkaProducer | None = None
        # Taken (FIFO) around handing a record to the producer, so concurrent appends enter
        # their partition's batches in call order even when a full batch makes them wait.
        self._enqueue = asyncio.Lock()

    @property
    def timeout(self) -> float:
        """Seconds one request may take."""
        return self.request_timeout_ms / 1000

    async def start(self) -> None:
        """Connect the producer; LogUnavailable if no broker answers within the timeout."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=self.idempotent,
            linger_ms=self.linger_ms,
            request_timeout_ms=self.request_timeout_ms,
            max_request_size=self.max_record_bytes + 1024,  # room for the batch overhead
            max_batch_size=self.max_batch_bytes,
        )
        try:
            async with asyncio.timeout(self.timeout):
                await producer.start()
        except (KafkaError, TimeoutError) as exc:
            await producer.stop()
            raise LogUnavailable(f"kafka log: cannot start at {self.bootstrap}: {exc!r}") from exc
        self._producer = producer

    async def close(self) -> None:
        """Deliver what the producer holds (bounded by the timeout), then disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create the topic through the admin client; an existing topic is left as it is.

        The topic gets ``min.insync.replicas`` = min(2, replication factor). ValueError for a
        name or partition count that :func:`check_topic` or the broker refuses; LogUnavailable
        when no broker answers.
        """
        check_topic(topic, partitions)
        settings = {"min.insync.replicas": str(min(2, self.replication_factor))}
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            request_timeout_ms=self.request_timeout_ms,
        )
        try:
            async with asyncio.timeout(self.timeout * 2):
                await admin.start()
                response = await admin.create_topics(
                    [NewTopic(topic, partitions, self.replication_factor, topic_configs=settings)]
                )
        except (KafkaError, TimeoutError) as exc:
            raise LogUnavailable(f"kafka log: cannot create topic {topic!r}: {exc!r}") from exc
        finally:
            await admin.close()
        for _name, code, message in response.topic_errors:
            # tansu accepts every valid request, so the tests cannot reach this refusal.
            if code not in (0, TopicAlreadyExistsError.errno):  # pragma: no cover
                raise ValueError(f"kafka log: topic {topic!r}: {for_code(code).__name__} {message}")

    async def append(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        """Send and await the broker's acknowledgement (``acks=all``); bounded in time."""
        producer = self._producer
        if producer is None:
            raise LogUnavailable("kafka log is not started")
        if len(key) + len(value) > self.max_record_bytes:
            raise ValueError(f"record of {len(key) + len(value)} bytes > {self.max_record_bytes}")
        try:
            async with asyncio.timeout(self.timeout * 2):
                async with self._enqueue:
                    delivery = await producer.send(topic, value, key=key)
                metadata = await delivery
        except MessageSizeTooLargeError as exc:  # the broker's limit is below ours
            raise ValueError(f"kafka log: record too large for topic {topic!r}") from exc
        except (KafkaError, TimeoutError) as exc:
            raise LogUnavailable(f"kafka log: append to {topic!r} failed: {exc!r}") from exc
        return metadata.partition, metadata.offset

    def consumer(self, topic: str, group: str) -> KafkaConsumer:
        """A member of Kafka consumer group ``group`` (range assignment, rebalanced by Kafka)."""
        return KafkaConsumer(self, topic, group)


class KafkaConsumer(LogConsumer):
    """A member of a Kafka consumer group: manual commits, from the earliest offset when new.

    While the brokers are unreachable ``fetch`` returns ``[]`` after its timeout; the client
    reconnects by itself.
    """

    def __init__(self, log: KafkaLog, topic: str, group: str) -> None:
        self.log = log
        self.topic = topic
        self.group = group
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def assignment(self) -> frozenset[int]:
        """The partitions Kafka gave this member in the current generation."""
        if self._consumer is None:
            return frozenset()
        return frozenset(tp.partition for tp in self._consumer.assignment())

    async def start(self) -> None:
        """Connect, join the group and wait for the first assignment (bounded)."""
        log = self.log
        # Group requests (JoinGroup, SyncGroup) wait for the other members to rejoin: up to a
        # session, so their timeout is the session plus the ordinary request timeout.
        request_timeout_ms = log.request_timeout_ms + log.session_timeout_ms
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=log.bootstrap,
            client_id=log.client_id,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=log.session_timeout_ms,
            heartbeat_interval_ms=max(100, log.session_timeout_ms // 3),
            request_timeout_ms=request_timeout_ms,
        )
        try:
            async with asyncio.timeout(2 * request_timeout_ms / 1000):
                await consumer.start()
        except (KafkaError, TimeoutError) as exc:
            await consumer.stop()
            raise LogUnavailable(f"kafka log: consumer cannot start: {exc!r}") from exc
        self._consumer = consumer

    async def close(self) -> None:
        """Leave the group."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            # In its own task: with the broker gone, aiokafka 0.14's stop() ends by re-raising
            # the cancellation of its own pending fetch, which must not read as ours.
            stopping = asyncio.ensure_future(consumer.stop())
            await asyncio.wait([stopping])
            if not stopping.cancelled():
                stopping.result()

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:  # noqa: ASYNC109
        """``getmany``: records of the owned partitions, in offset order per partition."""
        consumer = self._consumer
        if consumer is None:
            return []
        batches = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_records)
        return [
            Record(m.partition, m.offset, m.key or b"", m.value or b"", m.timestamp)
            for messages in batches.values()
            for m in messages
        ]

    async def positions(self) -> dict[int, int]:
        """The consumer's fetch position per assigned partition (asks the group coordinator for
        partitions not fetched from yet); LogUnavailable when Kafka does not answer in time."""
        consumer = self._consumer
        if consumer is None:
            return {}
        try:
            async with asyncio.timeout(self.log.timeout):
                return {tp.partition: await consumer.position(tp) for tp in consumer.assignment()}
        except (KafkaError, TimeoutError) as exc:
            raise LogUnavailable(f"kafka log: positions of {self.group!r}: {exc!r}") from exc

    async def end_offsets(self) -> dict[int, int]:
        """The high watermark per assigned partition (a ListOffsets request)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        try:
            async with asyncio.timeout(self.log.timeout):
                ends = await consumer.end_offsets(list(consumer.assignment()))
        except (KafkaError, TimeoutError) as exc:
            raise LogUnavailable(f"kafka log: end offsets of {self.topic!r}: {exc!r}") from exc
        return {tp.partition: offset for tp, offset in ends.items()}

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit ``offset + 1`` per owned partition; LogUnavailable if Kafka does not take it."""
        consumer = self._consumer
        if consumer is None:
            raise LogUnavailable("kafka consumer is not started")
        owned = consumer.assignment()
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(self.topic, record.partition)
            if tp in owned:
                offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        if not offsets:
            return
        try:
            async with asyncio.timeout(self.log.timeout):
                await consumer.commit(offsets)
        except (KafkaError, TimeoutError) as exc:
            raise LogUnavailable(f"kafka log: commit of {self.group!r} failed: {exc!r}") from exc
