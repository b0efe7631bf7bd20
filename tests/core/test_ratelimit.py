"""One suite over every rate limiter (memory, Redis with leases, Redis with a round trip per
call), then what only the shared Redis buckets do: several nodes on one bucket, leases, key
expiry, and failing open when Redis is down.

The shared Redis (``GB_TEST_REDIS_URL``) is only used under a unique key prefix and never
flushed; tests that stop or freeze a server start their own redis-server on a free port.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from gb.core.ratelimit import (
    SCOPES,
    Limit,
    MemoryRateLimiter,
    RateLimited,
    RateLimiter,
    RedisRateLimiter,
)

from ..support.services import SHARED_REDIS_URL, RedisProcess, own_redis

__all__ = ["own_redis"]  # a fixture, used by name

KINDS = ["memory", "redis", "redis-roundtrip"]


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unique_prefix() -> str:
    return f"gb:test:rl:{uuid.uuid4().hex}:"


def new_key() -> str:
    return uuid.uuid4().hex


def redis_limiter(url: str = SHARED_REDIS_URL, **options: object) -> RedisRateLimiter:
    options.setdefault("prefix", unique_prefix())
    return RedisRateLimiter(url, **options)  # type: ignore[arg-type]


@pytest.fixture(params=KINDS)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    fraction = 0.0 if request.param == "redis-roundtrip" else 0.1
    shared = redis_limiter(slice_fraction=fraction)
    yield shared
    assert shared.healthy and shared.stats.errors == 0
    await shared.close()


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(SHARED_REDIS_URL)
    yield client
    await client.aclose()


async def stored_tokens(client: Redis, key: str) -> float:
    """The tokens the shared bucket held at its last update."""
    value = await client.hget(key, "tokens")
    assert value is not None, f"no bucket at {key}"
    return float(value)


async def admitted(limiter: RateLimiter, *args: object, **kwargs: object) -> bool:
    """True if ``take`` admits, False if it raises RateLimited."""
    try:
        await limiter.take(*args, **kwargs)  # type: ignore[arg-type]
    except RateLimited:
        return False
    return True


# -- every limiter ---------------------------------------------------------------------------


async def test_burst_then_refusal_with_a_correct_retry_after(limiter: RateLimiter) -> None:
    limit, key = Limit(rate=10, burst=5), new_key()
    for _ in range(5):
        await limiter.take("user", key, limit, tenant="t1")
    with pytest.raises(RateLimited) as refused:
        await limiter.take("user", key, limit, tenant="t1")
    error = refused.value
    assert (error.scope, error.key) == ("user", key)
    # One token short at 10 tokens/s: about 0.1 s, less what refilled during the takes.
    assert 0.04 < error.retry_after <= 0.1
    assert f"user rate limit exceeded for '{key}'" in str(error)
    assert error.payload() == {
        "scope": "user",
        "key": key,
        "retry_after_ms": error.retry_after_ms,
    }
    assert 40 < error.retry_after_ms <= 100
    # Half-way through the wait it is still refused, with a shorter wait.
    await asyncio.sleep(error.retry_after / 2)
    with pytest.raises(RateLimited) as again:
        await limiter.take("user", key, limit, tenant="t1")
    assert 0 < again.value.retry_after < error.retry_after
    await asyncio.sleep(again.value.retry_after + 0.005)
    await limiter.take("user", key, limit, tenant="t1")


async def test_refill_over_time_admits_rate_times_t_plus_burst(limiter: RateLimiter) -> None:
    limit, key = Limit(rate=20, burst=2), new_key()
    start = time.monotonic()
    count = 0
    for _ in range(100):  # every 5 ms for 0.5 s
        count += await admitted(limiter, "tenant", key, limit)
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - start
    slice_ = limiter.slice_of(limit) if isinstance(limiter, RedisRateLimiter) else 0.0
    assert count <= limit.burst + limit.rate * elapsed + slice_
    assert count >= limit.burst + limit.rate * 0.5 - 2  # not starved either


async def test_cost_takes_several_tokens(limiter: RateLimiter) -> None:
    limit, key = Limit(rate=1, burst=4), new_key()
    await limiter.take("user", key, limit, cost=3)
    with pytest.raises(RateLimited) as refused:
        await limiter.take("user", key, limit, cost=2)
    assert 0.9 < refused.value.retry_after <= 1.0  # one token short at 1/s
    await limiter.take("user", key, limit, cost=1)


async def test_buckets_are_independent_per_scope_key_and_tenant(limiter: RateLimiter) -> None:
    limit, key = Limit(rate=1, burst=1), new_key()
    await limiter.take("user", key, limit, tenant="t1")
    assert not await admitted(limiter, "user", key, limit, tenant="t1")
    await limiter.take("user", key, limit, tenant="t2")
    await limiter.take("tenant", key, limit)
    await limiter.take("user", new_key(), limit, tenant="t1")
    # A tenant's own bucket is the one of key == tenant, whether or not tenant is named.
    assert not await admitted(limiter, "tenant", key, limit, tenant=key)


async def test_requests_that_can_never_pass_are_errors(limiter: RateLimiter) -> None:
    limit = Limit(rate=1, burst=2)
    with pytest.raises(ValueError, match="at most the burst"):
        await limiter.take("user", "u", limit, cost=3)
    with pytest.raises(ValueError, match="must be > 0"):
        await limiter.take("user", "u", limit, cost=0)
    with pytest.raises(ValueError, match="unknown rate-limit scope 'channel'"):
        await limiter.take("channel", "u", limit)
    assert {"user", "tenant"} == SCOPES


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (1, 0), (-1, 1), (float("inf"), 1), (1, float("nan"))]
)
def test_limit_needs_finite_positive_numbers(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="finite rate and burst"):
        Limit(rate, burst)


def test_retry_after_ms_rounds_up_to_at_least_one() -> None:
    assert RateLimited("user", "u", 0.0001).retry_after_ms == 1
    assert RateLimited("tenant", "t", 0.0101).retry_after_ms == 11


# -- memory: exact arithmetic on an injected clock ---------------------------------------------


async def test_memory_refill_is_exact_on_its_clock() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    limit = Limit(rate=4, burst=2)
    limiter.take_nowait("user", "u", limit)
    limiter.take_nowait("user", "u", limit)
    with pytest.raises(RateLimited) as refused:
        limiter.take_nowait("user", "u", limit)
    assert refused.value.retry_after == pytest.approx(0.25)
    clock.now += 0.2
    with pytest.raises(RateLimited) as again:
        await limiter.take("user", "u", limit)
    assert again.value.retry_after == pytest.approx(0.05)
    clock.now += 0.05
    await limiter.take("user", "u", limit)
    clock.now += 100  # refill stops at the burst
    limiter.take_nowait("user", "u", limit)
    limiter.take_nowait("user", "u", limit)
    with pytest.raises(RateLimited):
        limiter.take_nowait("user", "u", limit)
    await limiter.close()  # nothing to release; still callable like the others


async def test_memory_forgets_buckets_once_full_again() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, max_keys=3)
    limit = Limit(rate=10, burst=5)
    for key in ("a", "b", "c"):
        limiter.take_nowait("user", key, limit, cost=5)
    clock.now += 0.5  # "a", "b", "c" full again
    limiter.take_nowait("user", "d", limit, cost=5)
    assert len(limiter) == 1  # swept: a full bucket and an absent one decide alike
    limiter.take_nowait("user", "a", limit, cost=5)
    limiter.take_nowait("user", "b", limit, cost=5)
    # At the third bucket nothing is full: the sweep keeps "d", "a", "b" and moves its
    # threshold to twice that, so a full table is not swept again on every new key.
    limiter.take_nowait("user", "c", limit, cost=5)
    assert limiter._sweep_at == 6
    limiter.take_nowait("user", "e", limit, cost=5)
    assert len(limiter) == 5
    with pytest.raises(RateLimited):
        limiter.take_nowait("user", "a", limit)


# -- Redis: the shared bucket -------------------------------------------------------------------


async def test_redis_key_layout_and_expiry(redis_client: Redis) -> None:
    limiter = redis_limiter(slice_fraction=0)
    limit = Limit(rate=50, burst=5)
    try:
        await limiter.take("user", "u1", limit, tenant="t1", cost=2)
        key = limiter.redis_key("user", "u1", "t1")
        assert key == f"{limiter.prefix}{{t1}}:user:u1"
        assert limiter.redis_key("tenant", "t1") == f"{limiter.prefix}{{t1}}:tenant:t1"
        # Expires when full again: 2 tokens at 50/s = 40 ms (+1 ms rounding).
        assert 0 < await redis_client.pttl(key) <= 41
        assert await stored_tokens(redis_client, key) == pytest.approx(3)
        async with asyncio.timeout(2):
            while await redis_client.exists(key):
                await asyncio.sleep(0.01)
        # Absent means full: the whole burst is there again.
        await limiter.take("user", "u1", limit, tenant="t1", cost=5)
    finally:
        await limiter.close()


async def test_redis_nodes_sharing_a_bucket_stay_within_the_bound() -> None:
    prefix = unique_prefix()
    nodes = [redis_limiter(prefix=prefix) for _ in range(4)]
    limit, key = Limit(rate=200, burst=20), new_key()
    slice_ = nodes[0].slice_of(limit)
    assert slice_ == pytest.approx(2.0)  # min(burst / 10, rate * 0.1 s)
    times: list[float] = []

    async def run(node: RedisRateLimiter, deadline: float) -> None:
        while time.monotonic() < deadline:
            if await admitted(node, "tenant", key, limit):
                times.append(time.monotonic())
            await asyncio.sleep(0.001)

    start = time.monotonic()
    try:
        await asyncio.gather(*(run(node, start + 1.0) for node in nodes))
    finally:
        for node in nodes:
            await node.close()
    elapsed = time.monotonic() - start
    total = len(times)
    assert total <= limit.rate * elapsed + limit.burst + len(nodes) * slice_
    assert total >= 0.8 * (limit.rate * 1.0 + limit.burst)
    # Every window [t_i, t_j] of admissions, not only the whole run. Times are taken when a
    # reply arrives, so a window may also hold the request each node had in flight when it
    # began (debited just before): one token per node, plus 5 ms of clock granularity.
    times.sort()
    slack = len(nodes) * 1 + limit.rate * 0.005
    for i in range(total):
        for j in range(i, total):
            window = times[j] - times[i]
            assert j - i + 1 <= limit.rate * window + limit.burst + len(nodes) * slice_ + slack
    local = sum(node.stats.local for node in nodes)
    trips = sum(node.stats.round_trips for node in nodes)
    assert local > 0 and trips > 0
    assert sum(node.stats.refused_locally for node in nodes) > 0  # refusals cost no trip


async def test_redis_fast_path_spends_leases_without_round_trips() -> None:
    limiter = redis_limiter()
    limit, key = Limit(rate=10_000, burst=1_000), new_key()
    try:
        assert limiter.slice_of(limit) == 100
        for _ in range(1_000):
            await limiter.take("user", key, limit, tenant="t")
        # Each trip takes 1 token plus a slice of up to 100: about one trip per 101 takes.
        assert limiter.stats.round_trips <= 12
        assert limiter.stats.local == 1_000 - limiter.stats.round_trips
        assert 0 <= limiter.leased("user", key, "t") <= 100
        assert limiter.leased("user", new_key(), "t") == 0
    finally:
        await limiter.close()


async def test_redis_leases_expire_and_refusals_are_remembered(redis_client: Redis) -> None:
    clock = FakeClock()
    limiter = redis_limiter(clock=clock, lease_ttl=1.0)
    limit, key = Limit(rate=1, burst=20), new_key()
    try:
        fast, other = Limit(rate=10, burst=20), new_key()
        assert limiter.slice_of(fast) == 1  # min(20 / 10, 10/s * 0.1 s)
        await limiter.take("user", other, fast)
        assert limiter.leased("user", other) == 1
        clock.now += 1.0  # the lease expires unused: the next request asks Redis
        assert limiter.leased("user", other) == 0
        await limiter.take("user", other, fast)
        assert (limiter.stats.round_trips, limiter.stats.local) == (2, 0)
        await limiter.take("user", other, fast)  # from the fresh lease
        assert (limiter.stats.round_trips, limiter.stats.local) == (2, 1)
        assert limiter.slice_of(limit) == pytest.approx(0.1)  # min(20 / 10, 1/s * 0.1 s)
        await limiter.take("user", key, limit)
        assert limiter.stats.round_trips == 3
        # Drain the shared bucket behind the limiter's back, then get refused once.
        await redis_client.hset(limiter.redis_key("user", key), "tokens", "0")
        with pytest.raises(RateLimited) as refused:
            await limiter.take("user", key, limit, cost=3)
        assert limiter.stats.refused == 1 and limiter.stats.round_trips == 4
        # Same or bigger cost before the retry-after: refused here, no round trip.
        clock.now += refused.value.retry_after / 2
        with pytest.raises(RateLimited) as again:
            await limiter.take("user", key, limit, cost=3)
        assert again.value.retry_after == pytest.approx(refused.value.retry_after / 2)
        assert limiter.stats.refused_locally == 1 and limiter.stats.round_trips == 4
        # A smaller cost might pass: it asks Redis, and once granted the remembered refusal
        # is dropped, so the bigger cost asks Redis again before its retry-after.
        await redis_client.hset(limiter.redis_key("user", key), "tokens", "20")
        await limiter.take("user", key, limit, cost=1)
        await limiter.take("user", key, limit, cost=3)
        assert limiter.stats.round_trips == 6
        assert limiter.stats.refused_locally == 1
    finally:
        await limiter.close()


async def test_redis_concurrent_takes_cap_the_lease(redis_client: Redis) -> None:
    limiter = redis_limiter()
    limit, key = Limit(rate=1, burst=100), new_key()
    try:
        slice_ = limiter.slice_of(limit)
        await asyncio.gather(*(limiter.take("tenant", key, limit) for _ in range(20)))
        leased = limiter.leased("tenant", key)
        assert 0 < leased <= slice_
        tokens = await stored_tokens(redis_client, limiter.redis_key("tenant", key))
        taken_from_redis = limit.burst - tokens  # refill at 1/s is below the rounding here
        assert taken_from_redis >= 20 + leased - 0.05
    finally:
        await limiter.close()


async def test_redis_sweeps_local_state_of_idle_keys() -> None:
    clock = FakeClock()
    limiter = redis_limiter(clock=clock, max_keys=2, lease_ttl=1.0)
    limit = Limit(rate=100, burst=100)
    try:
        await limiter.take("user", "a", limit)
        await limiter.take("user", "b", limit)
        clock.now += 2
        await limiter.take("user", "c", limit)
        assert len(limiter) == 1
    finally:
        await limiter.close()


# -- Redis down: fail open to per-node buckets ---------------------------------------------------


async def test_redis_outage_fails_open_then_shares_again(
    own_redis: Callable[..., RedisProcess], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gb.core.ratelimit")
    server = own_redis()
    limiter = redis_limiter(server.url, slice_fraction=0, retry_interval=0.3, command_timeout=0.5)
    limit = Limit(rate=0.5, burst=3)
    try:
        for _ in range(3):
            await limiter.take("user", "a", limit)
        assert not await admitted(limiter, "user", "a", limit)
        server.stop()
        # Per-node bucket now: fresh, so it admits a burst, then refuses with its retry-after.
        for _ in range(3):
            await limiter.take("user", "b", limit)
        with pytest.raises(RateLimited) as refused:
            await limiter.take("user", "b", limit)
        assert 1.9 < refused.value.retry_after <= 2.0
        assert not limiter.healthy
        assert limiter.stats.errors == 1  # one timeout per retry interval, not per request
        assert limiter.stats.fallbacks == 4
        assert caplog.text.count("Redis unavailable") == 1
        assert "fail open" in caplog.text
        await asyncio.sleep(0.35)
        await limiter.take("user", "c", limit)  # tried again, still down: counted, not logged
        assert limiter.stats.errors == 2
        assert caplog.text.count("Redis unavailable") == 1
        server.start()  # same port, empty: no buckets, no cached script
        async with asyncio.timeout(5):
            while not limiter.healthy:
                await asyncio.sleep(0.35)
                await limiter.take("user", new_key(), limit)
        assert "Redis reachable again" in caplog.text
        for _ in range(3):
            await limiter.take("user", "d", limit)
        assert not await admitted(limiter, "user", "d", limit)
        assert limiter.stats.refused >= 1
    finally:
        await limiter.close()


async def test_redis_frozen_server_times_out_into_the_fallback(
    own_redis: Callable[..., RedisProcess],
) -> None:
    server = own_redis()
    limiter = redis_limiter(server.url, command_timeout=0.3)
    limit = Limit(rate=1, burst=1)
    try:
        await limiter.take("user", "warm", limit)  # the pooled connection exists
        server.freeze()
        start = time.monotonic()
        await limiter.take("user", "u", limit)
        assert time.monotonic() - start < 1.0
        assert limiter.stats.errors == 1 and limiter.stats.fallbacks == 1
    finally:
        server.thaw()
        await limiter.close()


async def test_redis_error_reply_fails_open(own_redis: Callable[..., RedisProcess]) -> None:
    server = own_redis("--rename-command", "EVALSHA", "")
    limiter = redis_limiter(server.url)
    try:
        await limiter.take("tenant", "t", Limit(rate=1, burst=1))
        assert limiter.stats.errors == 1 and limiter.stats.fallbacks == 1
        assert not limiter.healthy
    finally:
        await limiter.close()
