"""One suite for both counters (in-process and Redis), then the Redis leases across holders.

The shared Redis is only used under a unique key prefix per test, whose keys are deleted at
teardown; it is never flushed.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from gb.core.tenancy.counters import Counters, MemoryCounters, RedisCounters

from ...support.services import SHARED_REDIS_URL

MakeCounters = Callable[..., Awaitable[Counters]]


async def delete_prefix(prefix: str) -> None:
    """Delete the keys of one test (SCAN under its unique prefix, never a flush)."""
    client = Redis.from_url(SHARED_REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"gb:q:test:{uuid.uuid4().hex}:"
    yield prefix
    await delete_prefix(prefix)


@pytest.fixture(params=["memory", "redis"])
async def make_counters(
    request: pytest.FixtureRequest, redis_prefix: str
) -> AsyncIterator[MakeCounters]:
    """Factory of counters of one kind; Redis ones made by one test share their keys."""
    made: list[Counters] = []

    async def make(holder: str = "n1", lease_s: float = 30.0) -> Counters:
        counters: Counters
        if request.param == "memory":
            counters = MemoryCounters()
        else:
            counters = RedisCounters(SHARED_REDIS_URL, holder, prefix=redis_prefix, lease_s=lease_s)
        made.append(counters)
        return counters

    yield make
    for counters in made:
        await counters.close()


async def start_of_window(window_s: float) -> None:
    """Sleep until just after a window starts, so a test's burst stays inside one window."""
    now = time.time()
    await asyncio.sleep((math.floor(now / window_s) + 1) * window_s - now + 0.01)


async def test_acquire_up_to_the_limit_then_refuse(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    assert [await counters.acquire("{c}:conn:i", 3) for _ in range(4)] == [True] * 3 + [False]
    assert await counters.value("{c}:conn:i") == 3
    assert await counters.value("{c}:conn:other") == 0
    await counters.release("{c}:conn:i")
    assert await counters.value("{c}:conn:i") == 2
    assert await counters.acquire("{c}:conn:i", 3)
    assert not await counters.acquire("{c}:conn:i", 3)


async def test_limit_zero_refuses_everything(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    assert not await counters.acquire("k", 0)
    assert await counters.value("k") == 0


async def test_release_never_goes_below_zero(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    await counters.release("k")
    assert await counters.value("k") == 0
    assert await counters.acquire("k", 1)
    await counters.release("k")
    await counters.release("k")
    assert await counters.value("k") == 0
    assert await counters.acquire("k", 1)
    assert not await counters.acquire("k", 1)


async def test_refresh_counts_the_held_counters(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    assert await counters.refresh() == 0
    await counters.acquire("a", 5)
    await counters.acquire("a", 5)
    await counters.acquire("b", 5)
    assert await counters.refresh() == 2
    assert await counters.value("a") == 2
    await counters.release("b")
    assert await counters.refresh() == 1


async def test_window_refuses_past_the_limit_and_resets(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    window = 0.4
    await start_of_window(window)
    assert await counters.incr_window("m", 5, window, amount=3)
    assert not await counters.incr_window("m", 5, window, amount=3)  # 6 > 5: refused whole
    assert await counters.incr_window("m", 5, window, amount=2)
    assert not await counters.incr_window("m", 5, window)
    assert await counters.window_value("m", window) == 5
    assert await counters.window_value("other", window) == 0
    await asyncio.sleep(window)
    assert await counters.window_value("m", window) == 0
    assert await counters.incr_window("m", 5, window)
    assert await counters.window_value("m", window) == 1


async def test_close_withdraws_the_shares(make_counters: MakeCounters) -> None:
    first = await make_counters("n1")
    await first.acquire("k", 10)
    await first.acquire("j", 10)
    await first.close()
    second = await make_counters("n2")
    assert await second.value("k") == 0  # for memory: a new process sees nothing anyway
    assert await second.value("j") == 0


async def test_day_window_matches_utc_days() -> None:
    """Window n of 86,400 s is the UTC day n days after 1970-01-01."""
    from gb.core.tenancy.counters import window_index

    day = 86_400.0
    midnight = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    assert window_index(midnight - 0.001, day) == window_index(midnight, day) - 1
    assert window_index(midnight + day - 0.001, day) == window_index(midnight, day)


# Redis only: shares of several holders, leases.


async def test_holders_share_one_count(redis_prefix: str) -> None:
    a = RedisCounters(SHARED_REDIS_URL, "a", prefix=redis_prefix)
    b = RedisCounters(SHARED_REDIS_URL, "b", prefix=redis_prefix)
    try:
        assert await a.acquire("k", 3)
        assert await b.acquire("k", 3)
        assert await a.acquire("k", 3)
        assert not await b.acquire("k", 3)
        assert await b.value("k") == 3
        await b.release("k")
        await b.release("k")  # b holds none: a's shares are untouched
        assert await a.value("k") == 2
    finally:
        await a.close()
        await b.close()


async def test_a_dead_holders_share_expires_while_others_refresh(redis_prefix: str) -> None:
    lease = 0.5
    dead = RedisCounters(SHARED_REDIS_URL, "dead", prefix=redis_prefix, lease_s=lease)
    live = RedisCounters(SHARED_REDIS_URL, "live", prefix=redis_prefix, lease_s=lease)
    try:
        assert await dead.acquire("k", 4)
        assert await dead.acquire("k", 4)
        assert await live.acquire("k", 4)
        assert await live.value("k") == 3
        # "dead" stops refreshing; "live" keeps its lease (and the key) alive.
        deadline = time.monotonic() + 5 * lease
        while await live.value("k") != 1:
            assert time.monotonic() < deadline, "the dead holder's share never expired"
            assert await live.refresh() == 1
            await asyncio.sleep(lease / 5)
        assert await live.acquire("k", 4)
        assert await live.acquire("k", 4)
        assert await live.acquire("k", 4)
        assert not await live.acquire("k", 4)
        raw = Redis.from_url(SHARED_REDIS_URL)
        try:
            fields = await raw.hkeys(redis_prefix + "k")
        finally:
            await raw.aclose()
        assert sorted(fields) == [b"c:live", b"t:live"]  # dropped by the acquire
        # A holder cut off from Redis longer than its lease restores its share on refresh.
        assert await dead.refresh() == 1
        assert await live.value("k") == 6
    finally:
        await dead.close()
        await live.close()


async def test_keys_carry_the_prefix_and_expire(redis_prefix: str) -> None:
    counters = RedisCounters(SHARED_REDIS_URL, "n", prefix=redis_prefix, lease_s=10)
    raw = Redis.from_url(SHARED_REDIS_URL)
    try:
        await counters.acquire("{cust}:conn:i", 1)
        await counters.incr_window("{cust}:msg", 10, 60)
        ttl_conn = await raw.pttl(redis_prefix + "{cust}:conn:i")
        ttl_window = await raw.pttl(redis_prefix + "{cust}:msg")
        assert 10_000 < ttl_conn <= 20_000
        assert 0 < ttl_window <= 61_000
    finally:
        await raw.aclose()
        await counters.close()


async def test_given_client_is_not_closed(redis_prefix: str) -> None:
    client = Redis.from_url(SHARED_REDIS_URL)
    try:
        counters = RedisCounters(client=client, holder="n", prefix=redis_prefix)
        assert await counters.acquire("k", 1)
        await counters.close()
        assert await client.exists(redis_prefix + "k") == 0  # the share was withdrawn
        assert await client.ping()
    finally:
        await client.aclose()


async def test_memory_window_follows_its_clock() -> None:
    now = [1000.0]
    counters = MemoryCounters(clock=lambda: now[0])
    assert await counters.incr_window("m", 1, 10)
    assert not await counters.incr_window("m", 1, 10)
    now[0] = 1010.0
    assert await counters.window_value("m", 10) == 0
    assert await counters.incr_window("m", 1, 10)
