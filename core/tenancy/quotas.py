"""Run-time quotas of a customer: limits from the plan and overrides, counted where used.

Limits are the plan's ``quotas`` JSON, then ``customers.max_instances`` for ``instances``, then
the customer's ``quota_overrides`` rows (the most specific wins); a quota the plan does not
name is unlimited. They are read as ``gb_platform`` from the control database and cached per
customer for ``ttl`` seconds (one query however many callers miss at once).

Counting: connections per instance, open rooms and participants per room are concurrency
counters (:mod:`gb.core.tenancy.counters`, shared through Redis between nodes); messages per
day is a fixed window of one UTC day. The other checks compare a count the caller has (rows in
its database) with the limit.

Messages are checked on the hot path, so a node takes them from the shared daily counter in
batches of ``message_batch`` and spends each batch locally: one Redis round trip per batch
instead of per message. When a whole batch no longer fits under the limit the node falls back
to taking one at a time, so the limit is still exact; the cost is that a batch a node had not
spent by the end of the day counted against that day.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Final
from uuid import UUID

import orjson

from gb.core.storage.database import Database, UnknownCustomer

from .counters import Counters, window_index

__all__ = ["DAY_S", "UNLIMITED", "QuotaExceeded", "QuotaName", "Quotas"]

DAY_S: Final = 86_400.0
UNLIMITED: Final = 2**63 - 1
"""The limit of a quota the plan does not name (the largest PostgreSQL bigint)."""


class QuotaName(StrEnum):
    """The quotas of a customer, named as in ``plans.quotas`` and ``quota_overrides.name``."""

    INSTANCES = "instances"
    CONNECTIONS_PER_INSTANCE = "connections_per_instance"
    MESSAGES_PER_DAY = "messages_per_day"
    STORAGE_BYTES = "storage_bytes"
    CONCURRENT_ROOMS = "concurrent_rooms"
    PARTICIPANTS_PER_ROOM = "participants_per_room"

    @property
    def is_rate(self) -> bool:
        """True when waiting frees the quota (a day passes, someone leaves): HTTP 429.

        The others (instances, storage) are sizes an administrator must change: HTTP 403.
        """
        return self not in (QuotaName.INSTANCES, QuotaName.STORAGE_BYTES)


class QuotaExceeded(Exception):  # noqa: N818 (the name is the contract)
    """An action would pass a quota; the message names the quota and its limit."""

    def __init__(self, quota: QuotaName, limit: int) -> None:
        super().__init__(f"quota {quota.value} exceeded (limit {limit})")
        self.quota = quota
        self.limit = limit

    @property
    def http_status(self) -> int:
        """429 for a rate or concurrency quota, 403 for a size quota."""
        return 429 if self.quota.is_rate else 403


_LIMITS_SQL: Final = """
SELECT p.quotas::text AS quotas, c.max_instances,
       coalesce((SELECT jsonb_object_agg(o.name, o.value) FROM quota_overrides o
                 WHERE o.customer_id = c.id), '{}')::text AS overrides
FROM customers c JOIN plans p ON p.id = c.plan_id
WHERE c.id = $1
"""


def _key(customer_id: UUID, *parts: object) -> str:
    """A counter key in the customer's hash tag, so a customer's counters share a slot."""
    return ":".join((f"{{{customer_id}}}", *map(str, parts)))


class Quotas:
    """Checks of a customer's quotas; each refusal raises :class:`QuotaExceeded`.

    An unknown customer raises :class:`~gb.core.storage.database.UnknownCustomer`.
    """

    def __init__(
        self,
        db: Database,
        counters: Counters,
        ttl: float = 10.0,
        *,
        message_batch: int = 100,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.counters = counters
        self.ttl = ttl
        self.message_batch = max(1, message_batch)
        self._clock = clock
        self._wall_clock = wall_clock
        # Keyed by the id's integer: UUID.__hash__ and __eq__ run in Python on every lookup.
        self._cache: dict[int, tuple[float, dict[QuotaName, int]]] = {}
        self._loading: dict[UUID, asyncio.Task[dict[QuotaName, int]]] = {}
        self._allowance: dict[UUID, tuple[int, int]] = {}  # customer -> (day, messages left)

    def limits_cached(self, customer_id: UUID) -> dict[QuotaName, int] | None:
        """The customer's quotas if the cache holds them now, without waiting (hot paths)."""
        hit = self._cache.get(customer_id.int)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        return None

    async def limits(self, customer_id: UUID) -> dict[QuotaName, int]:
        """Every quota of the customer (cached for ``ttl`` seconds)."""
        cached = self.limits_cached(customer_id)
        if cached is not None:
            return cached
        task = self._loading.get(customer_id)
        if task is None:
            task = asyncio.ensure_future(self._load(customer_id))
            self._loading[customer_id] = task
            task.add_done_callback(lambda done: self._loaded(customer_id, done))
        # Shielded: a caller that gives up does not cancel the load the others wait for.
        return await asyncio.shield(task)

    def _loaded(self, customer_id: UUID, task: asyncio.Task[dict[QuotaName, int]]) -> None:
        self._loading.pop(customer_id, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so a load nobody awaits anymore is not logged

    async def _load(self, customer_id: UUID) -> dict[QuotaName, int]:
        async with self.db.platform() as conn:
            row = await conn.fetchrow(_LIMITS_SQL, customer_id)
        if row is None:
            raise UnknownCustomer(str(customer_id))
        values: dict[str, int] = orjson.loads(row["quotas"])
        if row["max_instances"] is not None:
            values[QuotaName.INSTANCES] = row["max_instances"]
        values.update(orjson.loads(row["overrides"]))
        limits = {name: int(values.get(name, UNLIMITED)) for name in QuotaName}
        self._cache[customer_id.int] = (self._clock() + self.ttl, limits)
        return limits

    def invalidate(self, customer_id: UUID | None = None) -> None:
        """Forget cached limits of one customer (all when None), after a plan or quota change."""
        if customer_id is None:
            self._cache.clear()
        else:
            self._cache.pop(customer_id.int, None)

    async def _limit(self, customer_id: UUID, quota: QuotaName) -> int:
        return (await self.limits(customer_id))[quota]

    async def _acquire(self, customer_id: UUID, quota: QuotaName, key: str) -> None:
        limit = await self._limit(customer_id, quota)
        if not await self.counters.acquire(key, limit):
            raise QuotaExceeded(quota, limit)

    async def _check(self, customer_id: UUID, quota: QuotaName, used: int, adding: int) -> None:
        limit = await self._limit(customer_id, quota)
        if used + adding > limit:
            raise QuotaExceeded(quota, limit)

    # Concurrency: taken when the thing starts, given back when it ends.

    async def acquire_connection(self, customer_id: UUID, instance_id: UUID) -> None:
        """Count a new connection of the instance (the node calls it at HELLO)."""
        key = _key(customer_id, "conn", instance_id)
        await self._acquire(customer_id, QuotaName.CONNECTIONS_PER_INSTANCE, key)

    async def release_connection(self, customer_id: UUID, instance_id: UUID) -> None:
        """Give back a connection counted by :meth:`acquire_connection` (at disconnect)."""
        await self.counters.release(_key(customer_id, "conn", instance_id))

    async def acquire_room(self, customer_id: UUID) -> None:
        """Count a room opened by the customer (concurrent rooms)."""
        await self._acquire(customer_id, QuotaName.CONCURRENT_ROOMS, _key(customer_id, "rooms"))

    async def release_room(self, customer_id: UUID) -> None:
        """Give back a room counted by :meth:`acquire_room` (when it closes)."""
        await self.counters.release(_key(customer_id, "rooms"))

    async def acquire_participant(self, customer_id: UUID, room_id: UUID) -> None:
        """Count a participant joining the room."""
        key = _key(customer_id, "room", room_id)
        await self._acquire(customer_id, QuotaName.PARTICIPANTS_PER_ROOM, key)

    async def release_participant(self, customer_id: UUID, room_id: UUID) -> None:
        """Give back a participant counted by :meth:`acquire_participant` (when they leave)."""
        await self.counters.release(_key(customer_id, "room", room_id))

    async def connections(self, customer_id: UUID, instance_id: UUID) -> int:
        """The instance's connections counted now, over every node."""
        return await self.counters.value(_key(customer_id, "conn", instance_id))

    # Rate: messages per UTC day.

    async def check_message(self, customer_id: UUID) -> None:
        """Count one message of the customer today (UTC); refused once the day's are used."""
        limit = await self._limit(customer_id, QuotaName.MESSAGES_PER_DAY)
        day = window_index(self._wall_clock(), DAY_S)
        allowance = self._allowance.get(customer_id)
        if allowance is not None and allowance[0] == day and allowance[1] > 0:
            self._allowance[customer_id] = (day, allowance[1] - 1)
            return
        key = _key(customer_id, "msg")
        batch = self.message_batch
        if batch > 1 and await self.counters.incr_window(key, limit, DAY_S, batch):
            self._allowance[customer_id] = (day, batch - 1)
            return
        if not await self.counters.incr_window(key, limit, DAY_S):
            raise QuotaExceeded(QuotaName.MESSAGES_PER_DAY, limit)

    # Sizes and counts the caller keeps (rows in its database).

    async def check_instances(self, customer_id: UUID, current: int) -> None:
        """Refuse one more instance when the customer has ``current`` already."""
        await self._check(customer_id, QuotaName.INSTANCES, current, 1)

    async def check_rooms(self, customer_id: UUID, current: int) -> None:
        """Refuse one more open room when ``current`` are open."""
        await self._check(customer_id, QuotaName.CONCURRENT_ROOMS, current, 1)

    async def check_participants(self, customer_id: UUID, current: int) -> None:
        """Refuse one more participant in a room that has ``current``."""
        await self._check(customer_id, QuotaName.PARTICIPANTS_PER_ROOM, current, 1)

    async def check_storage(self, customer_id: UUID, bytes_used: int, adding: int) -> None:
        """Refuse storing ``adding`` more bytes when ``bytes_used`` are stored."""
        await self._check(customer_id, QuotaName.STORAGE_BYTES, bytes_used, adding)
