"""The per-process cache of the shard map: customer -> (shard, version, state), with a TTL.

Pure data, no I/O: :class:`gb.core.storage.database.Database` fills it from the control
database's ``shard_map`` table. A hit is one dict lookup and one clock comparison, so tenant
resolution on the hot path stays in the microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple
from uuid import UUID

ACTIVE = "active"
MOVING = "moving"  # rows are being copied to another shard; normal service continues
FROZEN = "frozen"  # the short write freeze before a tenant move switches the map


class MapEntry(NamedTuple):
    """Where a customer lives, as read from ``shard_map``."""

    shard_id: int
    version: int
    state: str


def fence_key(customer_id: UUID) -> int:
    """The advisory-lock key that fences a customer's writes on a shard.

    Every writing tenant transaction takes ``pg_try_advisory_xact_lock_shared(key)`` on the
    shard it writes to; a tenant move holds the exclusive lock on the source shard while it
    freezes and switches, so a writer with a stale cached map cannot slip a row in: its
    try-lock fails, it drops the cached entry and routes again.
    """
    return int.from_bytes(customer_id.bytes[:8], "big", signed=True)


class ShardMapCache:
    """Cached shard map entries that expire ``ttl`` seconds after they were read."""

    __slots__ = ("_clock", "_entries", "ttl")

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        # Keyed by the id's integer: UUID.__hash__ and __eq__ run in Python on every lookup.
        self._entries: dict[int, tuple[MapEntry, float]] = {}

    def get(self, customer_id: UUID) -> MapEntry | None:
        """The cached entry, or None when absent or expired."""
        hit = self._entries.get(customer_id.int)
        if hit is None:
            return None
        if hit[1] <= self._clock():
            del self._entries[customer_id.int]
            return None
        return hit[0]

    def put(self, customer_id: UUID, entry: MapEntry) -> None:
        """Cache ``entry`` for ``ttl`` seconds from now."""
        self._entries[customer_id.int] = (entry, self._clock() + self.ttl)

    def invalidate(self, customer_id: UUID | None = None) -> None:
        """Drop one customer's entry, or every entry when ``customer_id`` is None."""
        if customer_id is None:
            self._entries.clear()
        else:
            self._entries.pop(customer_id.int, None)

    def __len__(self) -> int:
        return len(self._entries)
