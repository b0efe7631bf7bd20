"""Presence across nodes: online/offline/last-seen per user, members per channel.

``base`` holds the contract (PresenceStore, its results and errors), ``memory`` the in-process
table (one node, or tests with several nodes in one process), ``redis`` the store shared by
real nodes. Entries are leases renewed by ``heartbeat()``, so a crashed node's entries expire.
"""

from __future__ import annotations

from .base import Member, PresenceStore, PresenceUnavailable, UserStatus
from .memory import MemoryPresence, PresenceTable
from .redis import RedisPresence

__all__ = [
    "PRESENCE_KINDS",
    "Member",
    "MemoryPresence",
    "PresenceStore",
    "PresenceTable",
    "PresenceUnavailable",
    "RedisPresence",
    "UserStatus",
    "create_presence",
]

PRESENCE_KINDS = ("memory", "redis")
"""The values ``create_presence`` accepts for ``kind``."""


def create_presence(kind: str, redis_url: str, node_id: str, ttl: float) -> PresenceStore:
    """Build the presence store named by ``kind`` for node ``node_id`` (not started yet).

    ``redis_url`` is used by the ``"redis"`` kind only. Raises ValueError naming ``kind`` and
    the accepted kinds otherwise.
    """
    if kind == "memory":
        return MemoryPresence(node_id, ttl=ttl)
    if kind == "redis":
        return RedisPresence(redis_url, node_id, ttl=ttl)
    raise ValueError(f"unknown presence kind {kind!r}: expected one of {', '.join(PRESENCE_KINDS)}")
