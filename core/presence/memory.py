"""In-process presence: one node alone (``gb serve``), or several "nodes" sharing a table."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from .base import DEFAULT_LAST_SEEN_TTL, DEFAULT_TTL, Op, OpCode, PresenceStore, Result

__all__ = ["MemoryPresence", "PresenceTable"]


class PresenceTable:
    """The shared medium of MemoryPresence stores: sorted sets and last-seen stamps in dicts.

    It interprets the same operations as the Redis store's Lua script, with the same
    semantics (deadlines in ms of ``clock``, expired members dropped before every read), so the
    two stores behave alike. Stores that share a table see each other like nodes on one Redis.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.sets: dict[bytes, dict[bytes, int]] = {}
        """Sorted sets: key -> member -> deadline (ms)."""
        self.earliest: dict[bytes, int] = {}
        """Per set, a deadline no later than its earliest member's: until then nothing in it
        can have expired, so reads and writes skip the scan (renewals only push deadlines
        later, so the bound stays valid)."""
        self.stamps: dict[bytes, tuple[int, int]] = {}
        """Last-seen keys: key -> (stamp, expiry), both in ms."""
        self.stores: set[MemoryPresence] = set()
        """The started stores using this table."""

    def run(self, ops: list[Op], ttl_ms: int, last_seen_ttl_ms: int) -> list[Result]:
        """Apply ``ops`` in order at one instant; one result per op (see OpCode)."""
        now = int(self.clock() * 1000)
        results: list[Result] = []
        for code, key, member in ops:
            result: Result = 0
            if code == OpCode.ADD:
                members = self._trim(key, now)
                if not members:
                    self.sets[key] = members
                    self.earliest[key] = now + ttl_ms
                members[member] = now + ttl_ms
            elif code == OpCode.REMOVE:
                self._remove(key, member)
            elif code == OpCode.SEEN:
                self.stamps[key] = (now, now + last_seen_ttl_ms)
            elif code == OpCode.GET:
                stamp = self.stamps.get(key)
                result = None if stamp is None or stamp[1] <= now else stamp[0]
            else:
                members = self._trim(key, now)
                if code == OpCode.COUNT:
                    result = len(members)
                else:
                    result = orjson.loads(b"[%b]" % b",".join(members))
            results.append(result)
        return results

    def sweep(self) -> None:
        """Drop every expired member and stamp, so keys nobody reads again do not pile up."""
        now = int(self.clock() * 1000)
        for key in list(self.sets):
            self._trim(key, now)
        for key, (_, expiry) in list(self.stamps.items()):
            if expiry <= now:
                del self.stamps[key]

    def _trim(self, key: bytes, now: int) -> dict[bytes, int]:
        """The live members of ``key`` (a new, unstored dict when there are none)."""
        members = self.sets.get(key)
        if members is None:
            return {}
        if self.earliest[key] > now:
            return members
        for member in [m for m, deadline in members.items() if deadline <= now]:
            del members[member]
        if members:
            self.earliest[key] = min(members.values())
        else:
            self._drop(key)
        return members

    def _remove(self, key: bytes, member: bytes) -> None:
        members = self.sets.get(key)
        if members is not None and members.pop(member, None) is not None and not members:
            self._drop(key)

    def _drop(self, key: bytes) -> None:
        del self.sets[key]  # like Redis, an empty set is no key at all
        del self.earliest[key]


class MemoryPresence(PresenceStore):
    """PresenceStore over a PresenceTable; never unavailable while started.

    ``heartbeat`` also sweeps the table, which Redis does by itself with key expiry.
    """

    name = "memory"

    def __init__(
        self,
        node_id: str = "memory",
        table: PresenceTable | None = None,
        *,
        ttl: float = DEFAULT_TTL,
        last_seen_ttl: float = DEFAULT_LAST_SEEN_TTL,
    ) -> None:
        super().__init__(node_id, ttl=ttl, last_seen_ttl=last_seen_ttl)
        self.table = table if table is not None else PresenceTable()

    async def heartbeat(self) -> None:
        """Renew this node's entries, then sweep expired ones out of the table."""
        await super().heartbeat()
        self.table.sweep()

    async def _connect(self) -> None:
        self.table.stores.add(self)

    async def _disconnect(self) -> None:
        self.table.stores.discard(self)

    async def _execute(self, calls: list[tuple[str, list[Op]]]) -> list[list[Result]]:
        return [self.table.run(ops, self._ttl_ms, self._last_seen_ttl_ms) for _, ops in calls]
