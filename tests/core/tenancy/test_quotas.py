"""Quotas on the real PostgreSQL (limits from plans and overrides) and counters (memory, Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from gb.core.storage.database import Database, UnknownCustomer
from gb.core.tenancy.counters import MemoryCounters, RedisCounters
from gb.core.tenancy.quotas import DAY_S, UNLIMITED, QuotaExceeded, QuotaName, Quotas

from ...support.pg import control_db
from ...support.services import SHARED_REDIS_URL
from .test_counters import delete_prefix

__all__ = ["control_db"]

FREE = {
    QuotaName.INSTANCES: 1,
    QuotaName.CONNECTIONS_PER_INSTANCE: 100,
    QuotaName.MESSAGES_PER_DAY: 10000,
    QuotaName.STORAGE_BYTES: 104857600,
    QuotaName.CONCURRENT_ROOMS: 2,
    QuotaName.PARTICIPANTS_PER_ROOM: 10,
}


@pytest.fixture
async def db(control_db: str) -> AsyncIterator[Database]:
    database = await Database.open(control_db, pool_size=3)
    yield database
    await database.close()


async def new_customer(
    db: Database, plan: str = "free", *, max_instances: int | None = None, **overrides: int
) -> UUID:
    """A customer of ``plan`` with its quota overrides, as gb_platform."""
    async with db.platform() as conn:
        customer: UUID = await conn.fetchval(
            "INSERT INTO customers (name, plan_id, region_id, max_instances) "
            "VALUES ($1, $2, 'local', $3) RETURNING id",
            f"c-{uuid.uuid4().hex[:12]}",
            plan,
            max_instances,
        )
        await conn.executemany(
            "INSERT INTO quota_overrides (customer_id, name, value) VALUES ($1, $2, $3)",
            [(customer, name, value) for name, value in overrides.items()],
        )
    return customer


async def set_override(db: Database, customer: UUID, name: str, value: int) -> None:
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO quota_overrides (customer_id, name, value) VALUES ($1, $2, $3) "
            "ON CONFLICT (customer_id, name) DO UPDATE SET value = EXCLUDED.value",
            customer,
            name,
            value,
        )


class Clock:
    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingQuotas(Quotas):
    """Quotas that count their reads of the control database."""

    loads = 0

    async def _load(self, customer_id: UUID) -> dict[QuotaName, int]:
        self.loads += 1
        await asyncio.sleep(0.05)  # a slow read, so that callers pile up behind it
        return await super()._load(customer_id)


# -- limits ----------------------------------------------------------------------------------


async def test_limits_are_the_plans(db: Database) -> None:
    quotas = Quotas(db, MemoryCounters())
    assert await quotas.limits(await new_customer(db)) == FREE


async def test_overrides_win_over_max_instances_over_the_plan(db: Database) -> None:
    quotas = Quotas(db, MemoryCounters())
    capped = await new_customer(db, "pro", max_instances=3)
    assert (await quotas.limits(capped))[QuotaName.INSTANCES] == 3
    both = await new_customer(db, "pro", max_instances=3, instances=7, messages_per_day=5)
    limits = await quotas.limits(both)
    assert limits[QuotaName.INSTANCES] == 7
    assert limits[QuotaName.MESSAGES_PER_DAY] == 5
    assert limits[QuotaName.CONCURRENT_ROOMS] == 100  # the pro plan's


async def test_a_quota_the_plan_does_not_name_is_unlimited(db: Database) -> None:
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO plans (id, name, quotas) VALUES ('tiny', 'Tiny', '{\"instances\": 2}')"
        )
    limits = await Quotas(db, MemoryCounters()).limits(await new_customer(db, "tiny"))
    assert limits[QuotaName.INSTANCES] == 2
    assert limits[QuotaName.STORAGE_BYTES] == UNLIMITED


async def test_limits_are_cached_until_ttl_or_invalidate(db: Database) -> None:
    clock = Clock(100.0)
    quotas = Quotas(db, MemoryCounters(), ttl=10, clock=clock)
    customer = await new_customer(db)
    assert (await quotas.limits(customer))[QuotaName.CONCURRENT_ROOMS] == 2
    await set_override(db, customer, "concurrent_rooms", 5)
    clock.now = 109.9
    assert (await quotas.limits(customer))[QuotaName.CONCURRENT_ROOMS] == 2
    clock.now = 110.0
    assert (await quotas.limits(customer))[QuotaName.CONCURRENT_ROOMS] == 5
    await set_override(db, customer, "concurrent_rooms", 6)
    quotas.invalidate(customer)
    assert (await quotas.limits(customer))[QuotaName.CONCURRENT_ROOMS] == 6
    await set_override(db, customer, "concurrent_rooms", 7)
    quotas.invalidate()
    assert (await quotas.limits(customer))[QuotaName.CONCURRENT_ROOMS] == 7


async def test_concurrent_misses_read_once(db: Database) -> None:
    quotas = CountingQuotas(db, MemoryCounters())
    customer = await new_customer(db)
    results = await asyncio.gather(*(quotas.limits(customer) for _ in range(50)))
    assert quotas.loads == 1
    assert all(result == FREE for result in results)
    await quotas.limits(customer)
    assert quotas.loads == 1


async def test_a_cancelled_caller_does_not_cancel_the_read(db: Database) -> None:
    quotas = CountingQuotas(db, MemoryCounters())
    customer = await new_customer(db)
    first = asyncio.ensure_future(quotas.limits(customer))
    second = asyncio.ensure_future(quotas.limits(customer))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == FREE
    assert first.cancelled()
    assert quotas.loads == 1


async def test_unknown_customer(db: Database) -> None:
    quotas = CountingQuotas(db, MemoryCounters())
    stranger = uuid.uuid4()
    results = await asyncio.gather(
        quotas.limits(stranger), quotas.limits(stranger), return_exceptions=True
    )
    assert all(isinstance(result, UnknownCustomer) for result in results)
    with pytest.raises(UnknownCustomer):
        await quotas.check_message(stranger)
    assert quotas.loads == 2  # a failure is not cached


async def test_an_abandoned_failing_read_is_not_reported(db: Database) -> None:
    quotas = CountingQuotas(db, MemoryCounters())
    caller = asyncio.ensure_future(quotas.limits(uuid.uuid4()))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.sleep(0.2)  # the read fails with nobody waiting: retrieved, not logged
    assert not quotas._loading


# -- counted quotas --------------------------------------------------------------------------


async def test_connections_per_instance(db: Database) -> None:
    quotas = Quotas(db, MemoryCounters())
    customer = await new_customer(db, connections_per_instance=2)
    instance, other = uuid.uuid4(), uuid.uuid4()
    await quotas.acquire_connection(customer, instance)
    await quotas.acquire_connection(customer, instance)
    with pytest.raises(QuotaExceeded, match="connections_per_instance") as refused:
        await quotas.acquire_connection(customer, instance)
    assert refused.value.quota is QuotaName.CONNECTIONS_PER_INSTANCE
    assert refused.value.limit == 2
    assert refused.value.http_status == 429
    await quotas.acquire_connection(customer, other)  # per instance
    assert await quotas.connections(customer, instance) == 2
    await quotas.release_connection(customer, instance)
    assert await quotas.connections(customer, instance) == 1
    await quotas.acquire_connection(customer, instance)


async def test_rooms_and_participants(db: Database) -> None:
    quotas = Quotas(db, MemoryCounters())
    customer = await new_customer(db, concurrent_rooms=1, participants_per_room=2)
    await quotas.acquire_room(customer)
    with pytest.raises(QuotaExceeded, match="concurrent_rooms"):
        await quotas.acquire_room(customer)
    await quotas.release_room(customer)
    await quotas.acquire_room(customer)
    room = uuid.uuid4()
    await quotas.acquire_participant(customer, room)
    await quotas.acquire_participant(customer, room)
    with pytest.raises(QuotaExceeded, match="participants_per_room"):
        await quotas.acquire_participant(customer, room)
    await quotas.release_participant(customer, room)
    await quotas.acquire_participant(customer, room)


async def test_checks_of_counts_the_caller_keeps(db: Database) -> None:
    quotas = Quotas(db, MemoryCounters())
    customer = await new_customer(db)  # free: 1 instance, 2 rooms, 10 participants, 100 MiB
    await quotas.check_instances(customer, 0)
    with pytest.raises(QuotaExceeded, match="instances") as refused:
        await quotas.check_instances(customer, 1)
    assert refused.value.http_status == 403
    await quotas.check_rooms(customer, 1)
    with pytest.raises(QuotaExceeded, match="concurrent_rooms"):
        await quotas.check_rooms(customer, 2)
    await quotas.check_participants(customer, 9)
    with pytest.raises(QuotaExceeded, match="participants_per_room"):
        await quotas.check_participants(customer, 10)
    await quotas.check_storage(customer, 104857600 - 10, 10)
    with pytest.raises(QuotaExceeded, match="storage_bytes") as too_big:
        await quotas.check_storage(customer, 104857600 - 10, 11)
    assert str(too_big.value) == "quota storage_bytes exceeded (limit 104857600)"
    assert too_big.value.http_status == 403


def test_rate_and_size_quotas() -> None:
    sizes = {name for name in QuotaName if not name.is_rate}
    assert sizes == {QuotaName.INSTANCES, QuotaName.STORAGE_BYTES}


# -- messages per day ------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7, 100, 1000])
async def test_messages_per_day_is_exact_whatever_the_batch(db: Database, batch: int) -> None:
    quotas = Quotas(db, MemoryCounters(), message_batch=batch)
    customer = await new_customer(db, messages_per_day=250)
    accepted = 0
    for _ in range(300):
        try:
            await quotas.check_message(customer)
        except QuotaExceeded as refused:
            assert refused.quota is QuotaName.MESSAGES_PER_DAY
            assert refused.limit == 250
            break
        accepted += 1
    assert accepted == 250


async def test_messages_reset_on_the_next_utc_day(db: Database) -> None:
    clock = Clock()
    quotas = Quotas(db, MemoryCounters(clock=clock), message_batch=2, wall_clock=clock)
    customer = await new_customer(db, messages_per_day=3)
    clock.now += DAY_S - 1  # 23:59:59 UTC
    for _ in range(3):
        await quotas.check_message(customer)
    with pytest.raises(QuotaExceeded):
        await quotas.check_message(customer)
    clock.now += 1  # midnight
    for _ in range(3):
        await quotas.check_message(customer)
    with pytest.raises(QuotaExceeded):
        await quotas.check_message(customer)


async def test_nodes_share_the_day_through_redis(db: Database) -> None:
    prefix = f"gb:q:test:{uuid.uuid4().hex}:"
    nodes = [RedisCounters(SHARED_REDIS_URL, f"n{i}", prefix=prefix) for i in range(3)]
    try:
        customer = await new_customer(db, messages_per_day=250, connections_per_instance=4)
        node_quotas = [Quotas(db, counters, message_batch=40) for counters in nodes]
        accepted = 0
        for step in range(400):
            try:
                await node_quotas[step % 3].check_message(customer)
                accepted += 1
            except QuotaExceeded:
                pass
        assert accepted == 250
        instance = uuid.uuid4()
        for step in range(4):
            await node_quotas[step % 3].acquire_connection(customer, instance)
        with pytest.raises(QuotaExceeded):
            await node_quotas[1].acquire_connection(customer, instance)
        await node_quotas[0].acquire_room(customer)
        # Every key of the customer is in one Redis Cluster slot (its hash tag).
        raw = Redis.from_url(SHARED_REDIS_URL)
        try:
            keys = [key async for key in raw.scan_iter(match=prefix + "*")]
        finally:
            await raw.aclose()
        assert len(keys) == 3
        assert all(str(customer).encode() in key for key in keys)
        assert len({key_slot(key) for key in keys}) == 1
    finally:
        for counters in nodes:
            await counters.close()
        await delete_prefix(prefix)


async def test_a_read_cancelled_at_shutdown_cancels_its_callers(db: Database) -> None:
    quotas = CountingQuotas(db, MemoryCounters())
    customer = await new_customer(db)
    caller = asyncio.ensure_future(quotas.limits(customer))
    await asyncio.sleep(0.01)
    quotas._loading[customer].cancel()  # what the loop does to pending tasks at shutdown
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not quotas._loading
    assert await quotas.limits(customer) == FREE
