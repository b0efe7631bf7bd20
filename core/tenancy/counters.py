"""Shared counters for run-time quotas: leased concurrency counts and fixed-window rates.

Two kinds of counter, both refused at the limit without being changed:

- **Concurrency** (``acquire``/``release``/``value``): how many of something are held now —
  connections of an instance, open rooms. Each holder (a node) owns its own share of a counter;
  the count is the sum of the live shares.
- **Rate** (``incr_window``/``window_value``): how many happened in the current fixed window —
  messages per UTC day. Window ``n`` covers ``[n * window_s, (n + 1) * window_s)`` seconds of
  Unix time, so a window of 86,400 s is exactly a UTC day.

``MemoryCounters`` serves one process; ``RedisCounters`` is shared by every node of a cluster.

Why leases: a node that dies without releasing its connections must not leave them counted
forever. A single counter with an expiry refreshed by its holders would not do — one live holder
keeps refreshing it and the dead node's share stays in it. So each Redis counter is a hash with
one count and one deadline per holder; a share whose deadline has passed is dropped (and not
counted) by the next script that touches the counter. Holders call ``refresh()`` well within
``lease_s`` (the node does it from its housekeeping timer): it rewrites this holder's counts
from its own bookkeeping, which also heals a share that was dropped while the holder was cut
off from Redis.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Final

from redis.asyncio import Redis

__all__ = ["DEFAULT_PREFIX", "Counters", "MemoryCounters", "RedisCounters"]

DEFAULT_PREFIX: Final = "gb:q:"


class Counters(ABC):
    """Concurrency and fixed-window counters, each change atomic and refused at the limit.

    Keys are chosen by the caller; keys of one customer carry the customer's hash tag
    (``{<customer id>}``) so that on a Redis Cluster they live in one slot.
    """

    @abstractmethod
    async def acquire(self, key: str, limit: int) -> bool:
        """Add one to ``key`` if its count is below ``limit``; False (unchanged) otherwise."""

    @abstractmethod
    async def release(self, key: str) -> None:
        """Take back one acquired by this holder; never goes below zero."""

    @abstractmethod
    async def value(self, key: str) -> int:
        """The count of ``key`` over every live holder."""

    @abstractmethod
    async def incr_window(self, key: str, limit: int, window_s: float, amount: int = 1) -> bool:
        """Add ``amount`` to the current window of ``key`` unless that would pass ``limit``."""

    @abstractmethod
    async def window_value(self, key: str, window_s: float) -> int:
        """The count of the current window of ``key``."""

    @abstractmethod
    async def refresh(self) -> int:
        """Renew this holder's lease on every counter it holds; returns how many it holds."""

    @abstractmethod
    async def close(self) -> None:
        """Withdraw this holder's shares (a graceful stop) and free its connections."""


def window_index(now_s: float, window_s: float) -> int:
    """The fixed window that ``now_s`` (Unix seconds) falls in."""
    return math.floor(now_s / window_s)


class MemoryCounters(Counters):
    """Counters of one process. Its shares die with it, so its leases need no renewal."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._held: dict[str, int] = {}
        self._windows: dict[str, tuple[int, int]] = {}

    async def acquire(self, key: str, limit: int) -> bool:
        count = self._held.get(key, 0)
        if count >= limit:
            return False
        self._held[key] = count + 1
        return True

    async def release(self, key: str) -> None:
        count = self._held.get(key, 0)
        if count <= 1:
            self._held.pop(key, None)
        else:
            self._held[key] = count - 1

    async def value(self, key: str) -> int:
        return self._held.get(key, 0)

    async def incr_window(self, key: str, limit: int, window_s: float, amount: int = 1) -> bool:
        index = window_index(self._clock(), window_s)
        current = self._windows.get(key)
        count = current[1] if current is not None and current[0] == index else 0
        if count + amount > limit:
            return False
        self._windows[key] = (index, count + amount)
        return True

    async def window_value(self, key: str, window_s: float) -> int:
        current = self._windows.get(key)
        index = window_index(self._clock(), window_s)
        return current[1] if current is not None and current[0] == index else 0

    async def refresh(self) -> int:
        return len(self._held)

    async def close(self) -> None:
        self._held.clear()
        self._windows.clear()


# Hash layout of a concurrency counter: field "c:<holder>" is the holder's count, field
# "t:<holder>" the deadline (server milliseconds) of its lease. Scripts read the server's clock
# (TIME), so the holders' clocks never matter; Redis 7 replicates scripts by effect.
_NOW: Final = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
"""

# Sums the live shares into `total`; `dead` lists the fields of the expired ones.
_LIVE_SUM: Final = (
    _NOW
    + """
local fields = redis.call('HGETALL', KEYS[1])
local deadline = {}
for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 't:' then
        deadline[string.sub(fields[i], 3)] = tonumber(fields[i + 1])
    end
end
local total = 0
local dead = {}
for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'c:' then
        local holder = string.sub(fields[i], 3)
        local until_ms = deadline[holder]
        if until_ms ~= nil and until_ms >= now then
            total = total + tonumber(fields[i + 1])
        else
            table.insert(dead, fields[i])
            table.insert(dead, 't:' .. holder)
        end
    end
end
"""
)

# acquire: KEYS[1]; ARGV holder, limit, lease ms. Expired shares are dropped on the way.
_ACQUIRE: Final = (
    _LIVE_SUM
    + """
if #dead > 0 then
    redis.call('HDEL', KEYS[1], unpack(dead))
end
if total >= tonumber(ARGV[2]) then
    return 0
end
local lease = tonumber(ARGV[3])
redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[1], 1)
redis.call('HSET', KEYS[1], 't:' .. ARGV[1], now + lease)
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 1
"""
)

# value: KEYS[1]. Read only: expired shares are left for the next acquire to drop.
_VALUE: Final = _LIVE_SUM + "\nreturn total\n"

# release: KEYS[1]; ARGV holder. An emptied share is removed with its deadline.
_RELEASE: Final = """
local field = 'c:' .. ARGV[1]
local count = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if count <= 1 then
    redis.call('HDEL', KEYS[1], field, 't:' .. ARGV[1])
    return 0
end
return redis.call('HINCRBY', KEYS[1], field, -1)
"""

# refresh: KEYS[1]; ARGV holder, count, lease ms. Sets this holder's share from its own books.
_REFRESH: Final = (
    _NOW
    + """
local lease = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], ARGV[2], 't:' .. ARGV[1], now + lease)
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 1
"""
)

# incr_window: KEYS[1] (hash: w = window index, n = count); ARGV limit, window ms, amount.
# One key per counter (not one per window) keeps the script within its declared keys.
_INCR_WINDOW: Final = (
    _NOW
    + """
local window = tonumber(ARGV[2])
local index = math.floor(now / window)
local stored = redis.call('HMGET', KEYS[1], 'w', 'n')
local count = 0
if tonumber(stored[1]) == index then
    count = tonumber(stored[2])
end
local amount = tonumber(ARGV[3])
if count + amount > tonumber(ARGV[1]) then
    return 0
end
redis.call('HSET', KEYS[1], 'w', index, 'n', count + amount)
redis.call('PEXPIREAT', KEYS[1], (index + 1) * window + 1000)
return 1
"""
)

# window_value: KEYS[1]; ARGV window ms.
_WINDOW_VALUE: Final = (
    _NOW
    + """
local stored = redis.call('HMGET', KEYS[1], 'w', 'n')
if tonumber(stored[1]) == math.floor(now / tonumber(ARGV[1])) then
    return tonumber(stored[2])
end
return 0
"""
)


class RedisCounters(Counters):
    """Counters shared by every node through one Redis (standalone or Cluster).

    Every change is one Lua script (atomic on the server). Keys are ``prefix + key``; the
    caller's hash tag keeps a customer's counters in one Cluster slot. ``holder`` names this
    node's share of the concurrency counters and must be unique among live nodes; ``lease_s``
    is how long a share outlives its holder's last ``refresh()``. Window counters expire one
    second after their window ends.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        holder: str = "node",
        *,
        prefix: str = DEFAULT_PREFIX,
        lease_s: float = 30.0,
        client: Redis | None = None,
    ) -> None:
        self._redis: Redis = client if client is not None else Redis.from_url(url)
        self._owns_client = client is None
        self.holder = holder
        self.prefix = prefix
        self._lease_ms = max(1, round(lease_s * 1000))
        self._held: dict[str, int] = {}
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)
        self._value = self._redis.register_script(_VALUE)
        self._refresh = self._redis.register_script(_REFRESH)
        self._incr_window = self._redis.register_script(_INCR_WINDOW)
        self._window_value = self._redis.register_script(_WINDOW_VALUE)

    async def _run(self, script: Any, key: str, *args: Any) -> int:
        result: int = await script(keys=[self.prefix + key], args=args)
        return result

    async def acquire(self, key: str, limit: int) -> bool:
        if not await self._run(self._acquire, key, self.holder, limit, self._lease_ms):
            return False
        self._held[key] = self._held.get(key, 0) + 1
        return True

    async def release(self, key: str) -> None:
        count = self._held.get(key, 0)
        if count <= 1:
            self._held.pop(key, None)
        else:
            self._held[key] = count - 1
        await self._run(self._release, key, self.holder)

    async def value(self, key: str) -> int:
        return await self._run(self._value, key)

    async def incr_window(self, key: str, limit: int, window_s: float, amount: int = 1) -> bool:
        window_ms = max(1, round(window_s * 1000))
        return bool(await self._run(self._incr_window, key, limit, window_ms, amount))

    async def window_value(self, key: str, window_s: float) -> int:
        return await self._run(self._window_value, key, max(1, round(window_s * 1000)))

    async def refresh(self) -> int:
        """Rewrite this holder's share of every counter it holds, with a fresh deadline.

        One pipeline for all of them: the cost is one round trip per call, whatever the count.
        """
        held = list(self._held.items())
        if held:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, count in held:
                    await self._refresh(
                        keys=[self.prefix + key],
                        args=[self.holder, count, self._lease_ms],
                        client=pipe,
                    )
                await pipe.execute()
        return len(held)

    async def close(self) -> None:
        """Drop this holder's shares at once (rather than at lease end), then disconnect."""
        held, self._held = list(self._held), {}
        try:
            if held:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in held:
                        pipe.hdel(self.prefix + key, "c:" + self.holder, "t:" + self.holder)
                    await pipe.execute()
        finally:
            if self._owns_client:
                await self._redis.aclose()
