"""The durable log contract: partitioned, ordered, acknowledged only once durable.

The log sits between the node that accepts a message and everything downstream of it (the
persister, recovery). A sender is told "accepted" only after :meth:`Log.append` returned, and
that return means the record survives a crash of this process (the embedded log has called
``fsync``; Kafka has it on every in-sync replica, ``acks=all``).

Guarantees every implementation gives:

- **Partitioning by key.** A topic has a fixed number of partitions; a record goes to
  ``partition_for(key, partitions)`` (murmur2, Kafka's default partitioner), so all records of one
  key (a conversation) live in one partition.
- **Order.** Within a partition offsets start at 0 and increase by one per record, in the order
  ``append`` was *called* (concurrent calls included); consumers see them in offset order.
- **Durability.** ``append`` returns ``(partition, offset)`` only for a durable record. When it
  raises :class:`LogUnavailable` the record was not acknowledged; it may or may not be in the
  log (as with a Kafka send that timed out), so callers retry with their own idempotency key.
- **At-least-once consumption.** A consumer group reads every durable record; a member that
  restarts resumes after the last :meth:`LogConsumer.commit`, so what was fetched but not
  committed is delivered again. Consumers must be idempotent (the persister is, on message id).
"""

from __future__ import annotations

import abc
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Log",
    "LogConsumer",
    "LogUnavailable",
    "Record",
    "check_topic",
    "murmur2",
    "partition_for",
]

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Record:
    """One durable record as a consumer sees it.

    ``offset`` is its position in ``partition`` (from 0, no gaps in the embedded log; Kafka may
    skip offsets, e.g. for transaction markers, but never reorders). ``timestamp_ms`` is the
    wall-clock time the log accepted it (Kafka: the producer's create time).
    """

    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp_ms: int


class LogUnavailable(ConnectionError):  # noqa: N818 -- the name the node API uses
    """The log refused the operation; retryable.

    Raised by ``append`` when the record could not be made durable in time (broker down,
    disk error, log closed): it was **not acknowledged**. Raised by ``commit`` when the position
    could not be stored: those records will be delivered again.
    """


def check_topic(name: str, partitions: int) -> None:
    """ValueError unless ``name`` is a legal Kafka topic name and ``partitions`` is >= 1."""
    if not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
        raise ValueError(f"bad topic name {name!r}: 1-249 of [A-Za-z0-9._-]")
    if partitions < 1:
        raise ValueError(f"topic {name!r}: partitions must be >= 1, not {partitions}")


def murmur2(data: bytes) -> int:
    """MurmurHash2 (32 bit, seed 0x9747B28C) exactly as Kafka's ``Utils.murmur2``."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    tail = length & ~3
    for (word,) in struct.iter_unpack("<I", data[:tail]):
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = length & 3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``: Kafka's default (murmur2, positive, mod)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Log(abc.ABC):
    """A partitioned append-only log; one instance per process, shared by all its producers."""

    name: str
    """Implementation name: ``"embedded"`` or ``"kafka"``."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the log (recover local files, connect to the brokers); raises LogUnavailable."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish or refuse appends in flight, then release every resource; idempotent."""

    @abc.abstractmethod
    async def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` with ``partitions`` partitions; an existing topic is kept as it is.

        ValueError for an illegal name (1-249 of ``[A-Za-z0-9._-]``) or fewer than 1 partition.
        """

    @abc.abstractmethod
    async def append(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        """Append one record and return ``(partition, offset)`` once it is durable.

        The partition is ``partition_for(key, partitions)``. Concurrent appends are batched
        (group commit / ``linger_ms``), so throughput grows with concurrency while each call
        still waits for its own record to be durable. Raises LogUnavailable when the record
        could not be made durable; it was not acknowledged. Raises ValueError (not retryable)
        when the record is larger than the log accepts (about 1 MiB by default).
        """

    @abc.abstractmethod
    def consumer(self, topic: str, group: str) -> LogConsumer:
        """A new (not started) member of consumer group ``group`` reading ``topic``."""


class LogConsumer(abc.ABC):
    """One member of a consumer group: the group's partitions are shared among its members.

    Each partition is read by one member at a time, from the group's last committed position
    (from offset 0 when the group has never committed). When members join or leave, partitions
    move; a partition's new owner starts again from the last commit (at-least-once).
    """

    @property
    @abc.abstractmethod
    def assignment(self) -> frozenset[int]:
        """The partitions this member owns now (empty until the group has dealt them)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Join the group."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Leave the group (its partitions go to the other members); idempotent."""

    @abc.abstractmethod
    async def fetch(self, max_records: int, timeout: float) -> list[Record]:  # noqa: ASYNC109
        """Up to ``max_records`` records of this member's partitions, in offset order per partition.

        Waits up to ``timeout`` seconds for the first record; returns ``[]`` when none came.
        Successive fetches continue where the previous one stopped (without a commit).
        """

    @abc.abstractmethod
    async def positions(self) -> dict[int, int]:
        """Per owned partition, the offset of the next record ``fetch`` returns from it.

        Where no fetch has moved it yet, that is the group's committed position. Raises
        LogUnavailable when the position cannot be learnt now.
        """

    @abc.abstractmethod
    async def end_offsets(self) -> dict[int, int]:
        """Per owned partition, the log end: the offset the next record appended there gets.

        Only durable records count (embedded: synced; Kafka: the high watermark), so
        ``end - position`` is how many records this member still has to read (offsets Kafka
        skips included). Raises LogUnavailable when the brokers do not answer.
        """

    @abc.abstractmethod
    async def commit(self, records: Sequence[Record]) -> None:
        """Store the group's position after ``records`` (per partition: highest offset + 1).

        Call it only once the records are fully processed (the persister: after its database
        commit). Records of partitions this member no longer owns are not committed; their new
        owner reads them again. Raises LogUnavailable when the position could not be stored.
        """
