"""The durable log: the Log contract, an embedded (single-node) and a Kafka implementation.

``base`` holds the contract (ordering per key, durability before acknowledgement,
at-least-once consumer groups), ``embedded`` keeps segment files on the local disk for
``gb serve`` alone, ``kafka`` talks to Kafka brokers (aiokafka) for a cluster of nodes.
"""

from __future__ import annotations

from .base import Log, LogConsumer, LogUnavailable, Record, murmur2, partition_for
from .embedded import EmbeddedConsumer, EmbeddedLog
from .kafka import KafkaConsumer, KafkaLog

__all__ = [
    "EmbeddedConsumer",
    "EmbeddedLog",
    "KafkaConsumer",
    "KafkaLog",
    "Log",
    "LogConsumer",
    "LogUnavailable",
    "Record",
    "murmur2",
    "partition_for",
]
