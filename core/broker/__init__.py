"""Publish/subscribe between nodes: the Broker contract and its implementations.

``base`` holds the contract, ``memory`` the in-process bus (one node, or tests with several
nodes in one process), ``redis`` the Redis pub/sub broker used between real nodes.
"""

from __future__ import annotations

from .base import Broker, BrokerUnavailable, Handler
from .memory import MemoryBroker, MemoryBus
from .redis import RedisBroker

__all__ = [
    "BROKER_KINDS",
    "Broker",
    "BrokerUnavailable",
    "Handler",
    "MemoryBroker",
    "MemoryBus",
    "RedisBroker",
    "create_broker",
]

BROKER_KINDS = ("memory", "redis")
"""The values ``create_broker`` accepts for ``kind``."""


def create_broker(kind: str, redis_url: str, node_id: str) -> Broker:
    """Build the broker named by ``kind`` for node ``node_id`` (not started yet).

    ``redis_url`` is used by the ``"redis"`` kind only. Raises ValueError naming ``kind`` and
    the accepted kinds otherwise.
    """
    if kind == "memory":
        return MemoryBroker(node_id=node_id)
    if kind == "redis":
        return RedisBroker(redis_url, node_id=node_id)
    raise ValueError(f"unknown broker kind {kind!r}: expected one of {', '.join(BROKER_KINDS)}")
