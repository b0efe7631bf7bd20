"""Token buckets every node shares in Redis, with a local fast path of leased tokens.

**Shared bucket.** One Lua script (:data:`TAKE_SCRIPT`) refills the bucket from the server's
``TIME`` (node clocks never enter the arithmetic), takes tokens or refuses with a retry-after,
and sets the key to expire when the bucket would be full again, so idle keys cost no memory
and expiry never changes a decision. Keys are ``<prefix>{<tenant>}:<scope>:<key>``: the hash
tag keeps a tenant's buckets in one Redis Cluster slot. Needs Redis >= 5 (effect replication
of scripts that read ``TIME``).

**Local fast path (leases).** When a node goes to Redis it asks for its request's tokens plus
a *slice* of ``min(burst * slice_fraction, rate * slice_seconds)`` tokens, takes what the
bucket can give (at least the request's tokens, else a refusal) and keeps the rest as a lease
for that key. Later requests spend the lease without a network call; only when it runs short
does the node go back to Redis. A node's lease is capped at one slice and dropped after
``lease_ttl`` seconds unused (dropping tokens only ever admits less). A refusal is remembered
until its retry-after, so a client that keeps hammering costs no round trip either.

**Bound.** Every token a node spends was first taken from the shared bucket, so over any
interval of length ``T`` all nodes together admit at most::

    burst + rate * T + nodes * slice

where the last term is the leases held when the interval began (one slice per node and key;
a lease still in flight to a node at that instant counts as held). From a fresh bucket the
total is at most ``burst + rate * T``. Leases cost fairness, not safety: a lease a node holds
is a slice another node cannot use until it expires or is spent.

**Redis down: fail open.** For chat, refusing every message because the limiter's store is
unreachable is worse than a looser limit for a while. A failed call (connection, timeout, or
an error reply) is logged once per outage and counted (``stats.errors``), and the request is
decided by a per-node :class:`MemoryRateLimiter` (``stats.fallbacks``), so during an outage the
cluster admits at most ``nodes * (burst + rate * T)``. Redis is not tried again for
``retry_interval`` seconds, so an outage costs one timeout per interval, not one per request;
the first successful call after it logs the recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .base import SCOPES, Limit, RateLimited, RateLimiter, invalid_request
from .memory import MemoryRateLimiter

__all__ = ["TAKE_SCRIPT", "RateLimitStats", "RedisRateLimiter"]

log = logging.getLogger(__name__)

TAKE_SCRIPT: Final = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = burst
if state[1] then
  tokens = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
end
if tokens < need then
  return {'0', string.format('%.17g', (need - tokens) / rate)}
end
local grant = math.min(tokens, want)
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1)
return {string.format('%.17g', grant), '0'}
"""
"""``KEYS[1]`` the bucket; ``ARGV`` rate, burst, need, want. Grants between ``need`` and
``want`` tokens as ``{grant, '0'}``, or refuses as ``{'0', retry_after_seconds}``. Numbers go
out as strings because Redis truncates Lua numbers in replies to integers."""


@dataclass
class RateLimitStats:
    """Counters of one :class:`RedisRateLimiter`, plain ints for a metrics exporter to read."""

    local: int = 0
    """Requests admitted from a lease, with no network call."""
    round_trips: int = 0
    """Calls of the script (admitted, refused or failed)."""
    refused: int = 0
    """Requests refused by the shared bucket."""
    refused_locally: int = 0
    """Requests refused from a remembered refusal, with no network call."""
    errors: int = 0
    """Script calls that failed (Redis unreachable, timed out or replied with an error)."""
    fallbacks: int = 0
    """Requests decided by the per-node bucket because Redis was unreachable."""


class _Lease:
    __slots__ = ("blocked_cost", "blocked_until", "tokens", "until")

    def __init__(self) -> None:
        self.tokens = 0.0
        self.until = 0.0
        self.blocked_until = 0.0
        self.blocked_cost = 0.0


class RedisRateLimiter(RateLimiter):
    """Shared token buckets in Redis with leased local slices; see the module docstring.

    ``slice_fraction`` and ``slice_seconds`` size the slice (``slice_fraction=0`` makes every
    request a round trip). ``command_timeout`` bounds connecting, waiting for a pooled
    connection (at most ``max_connections``; a pool exhausted that long counts as Redis being
    unavailable) and each script call. ``clock`` (seconds,
    monotonic) times leases, remembered refusals and the retry interval; the buckets
    themselves run on the Redis server's clock. Local state is swept like
    :class:`MemoryRateLimiter`'s once more than ``max_keys`` keys are held.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        *,
        prefix: str = "gb:rl:",
        slice_fraction: float = 0.1,
        slice_seconds: float = 0.1,
        lease_ttl: float = 1.0,
        retry_interval: float = 1.0,
        command_timeout: float = 0.5,
        max_connections: int = 32,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=command_timeout,
            protocol=2,
            socket_connect_timeout=command_timeout,
            socket_timeout=command_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name="gb-ratelimit",
        )
        self._client: Redis = Redis.from_pool(pool)
        self._script = self._client.register_script(TAKE_SCRIPT)
        self.prefix = prefix
        self.stats = RateLimitStats()
        self.fallback = MemoryRateLimiter(clock=clock, max_keys=max_keys)
        """The per-node buckets that decide while Redis is unreachable."""
        self._slice_fraction = slice_fraction
        self._slice_seconds = slice_seconds
        self._lease_ttl = lease_ttl
        self._retry_interval = retry_interval
        self._clock = clock
        self._leases: dict[tuple[str, str, str], _Lease] = {}
        self._max_keys = max_keys
        self._sweep_at = max_keys
        self._down = False
        self._down_until = 0.0

    def __len__(self) -> int:
        """How many keys this node holds local state for (leases, remembered refusals)."""
        return len(self._leases)

    @property
    def healthy(self) -> bool:
        """False from a failed call until the next successful one (decisions are per node)."""
        return not self._down

    def redis_key(self, scope: str, key: str, tenant: str | None = None) -> str:
        """The Redis key of the ``scope`` bucket of ``key`` (in ``tenant``, default ``key``)."""
        return f"{self.prefix}{{{key if tenant is None else tenant}}}:{scope}:{key}"

    def slice_of(self, limit: Limit) -> float:
        """The most tokens this node leases beyond a request under ``limit`` (the bound's term)."""
        return min(limit.burst * self._slice_fraction, limit.rate * self._slice_seconds)

    def leased(self, scope: str, key: str, tenant: str | None = None) -> float:
        """Tokens this node holds in a live lease for the bucket (0 when none)."""
        lease = self._leases.get((key if tenant is None else tenant, scope, key))
        return lease.tokens if lease is not None and self._clock() < lease.until else 0.0

    async def take(
        self, scope: str, key: str, limit: Limit, cost: float = 1.0, *, tenant: str | None = None
    ) -> None:
        """See :meth:`RateLimiter.take`: from the lease when it suffices, else one round trip.

        Never raises for Redis trouble: the per-node fallback decides instead (fail open).
        """
        if not 0.0 < cost <= limit.burst or scope not in SCOPES:
            raise invalid_request(scope, limit, cost)
        now = self._clock()
        ident = (key if tenant is None else tenant, scope, key)
        lease = self._leases.get(ident)
        if lease is None:
            if len(self._leases) >= self._sweep_at:
                self._sweep(now)
            lease = self._leases[ident] = _Lease()
        elif now >= lease.until:
            lease.tokens = 0.0  # an unused lease expires; dropping tokens only admits less
        elif lease.tokens >= cost:
            lease.tokens -= cost
            self.stats.local += 1
            return
        if now < lease.blocked_until and cost >= lease.blocked_cost:
            self.stats.refused_locally += 1
            raise RateLimited(scope, key, lease.blocked_until - now)
        if now < self._down_until:
            self._fall_back(scope, key, limit, cost, tenant)
            return
        await self._round_trip(lease, scope, key, limit, cost, tenant)

    async def _round_trip(
        self, lease: _Lease, scope: str, key: str, limit: Limit, cost: float, tenant: str | None
    ) -> None:
        # The lease's tokens go towards this request; other requests for the key may run
        # meanwhile and find the lease empty, so they go to Redis too.
        leftover = lease.tokens
        lease.tokens = 0.0
        need = cost - leftover
        slice_ = self.slice_of(limit)
        self.stats.round_trips += 1
        try:
            reply = await self._script(
                keys=[self.redis_key(scope, key, tenant)],
                args=[limit.rate, limit.burst, need, need + slice_],
            )
        except (RedisError, OSError) as exc:
            lease.tokens += leftover
            self._failed(exc)
            self._fall_back(scope, key, limit, cost, tenant)
            return
        if self._down:
            self._down = False
            log.warning("rate limiter: Redis reachable again; limits are shared again")
        granted = float(reply[0])
        now = self._clock()
        lease.tokens += leftover
        if granted == 0.0:
            retry_after = float(reply[1])
            lease.blocked_until = now + retry_after
            lease.blocked_cost = cost
            self.stats.refused += 1
            raise RateLimited(scope, key, retry_after)
        lease.tokens = min(max(0.0, lease.tokens + granted - cost), slice_)
        lease.until = now + self._lease_ttl
        lease.blocked_until = 0.0

    def _failed(self, exc: Exception) -> None:
        self.stats.errors += 1
        self._down_until = self._clock() + self._retry_interval
        if not self._down:
            self._down = True
            log.warning(
                "rate limiter: Redis unavailable (%s: %s); limiting per node (fail open)",
                type(exc).__name__,
                exc,
            )

    def _fall_back(
        self, scope: str, key: str, limit: Limit, cost: float, tenant: str | None
    ) -> None:
        self.stats.fallbacks += 1
        self.fallback.take_nowait(scope, key, limit, cost, tenant=tenant)

    def _sweep(self, now: float) -> None:
        """Forget keys with neither a live lease nor a remembered refusal."""
        self._leases = {
            k: v for k, v in self._leases.items() if v.until > now or v.blocked_until > now
        }
        self._sweep_at = max(self._max_keys, 2 * len(self._leases))

    async def close(self) -> None:
        """Close the connection pool; leases are dropped with the object."""
        await self._client.aclose()
