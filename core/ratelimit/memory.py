"""Token buckets in one process: exact, no I/O; also the Redis limiter's fail-open fallback."""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import SCOPES, Limit, RateLimited, RateLimiter, invalid_request

__all__ = ["MemoryRateLimiter"]


class _Bucket:
    __slots__ = ("full_at", "stamp", "tokens")

    def __init__(self, tokens: float, stamp: float, full_at: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.full_at = full_at
        """When the bucket is full again: from then on forgetting it changes nothing."""


class MemoryRateLimiter(RateLimiter):
    """Token buckets held in this process: the limit holds exactly, for this process only.

    ``clock`` gives seconds (monotonic; injectable for tests). Buckets that are full again are
    forgotten in a sweep that runs when more than ``max_keys`` are held (the sweep's threshold
    then doubles with the live count, so its cost stays amortised O(1) per new key).
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._max_keys = max_keys
        self._sweep_at = max_keys

    def __len__(self) -> int:
        """How many buckets are held (full ones may still be held until the next sweep)."""
        return len(self._buckets)

    async def take(
        self, scope: str, key: str, limit: Limit, cost: float = 1.0, *, tenant: str | None = None
    ) -> None:
        """See :meth:`RateLimiter.take`; decided at once from this process's bucket."""
        self.take_nowait(scope, key, limit, cost, tenant=tenant)

    def take_nowait(
        self, scope: str, key: str, limit: Limit, cost: float = 1.0, *, tenant: str | None = None
    ) -> None:
        """:meth:`take` without the coroutine, for callers already on the hot path."""
        if not 0.0 < cost <= limit.burst or scope not in SCOPES:
            raise invalid_request(scope, limit, cost)
        now = self._clock()
        ident = (key if tenant is None else tenant, scope, key)
        bucket = self._buckets.get(ident)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            tokens = limit.burst
        else:
            tokens = min(limit.burst, bucket.tokens + (now - bucket.stamp) * limit.rate)
            if tokens < cost:
                raise RateLimited(scope, key, (cost - tokens) / limit.rate)
        tokens -= cost
        full_at = now + (limit.burst - tokens) / limit.rate
        if bucket is None:
            self._buckets[ident] = _Bucket(tokens, now, full_at)
        else:
            bucket.tokens, bucket.stamp, bucket.full_at = tokens, now, full_at

    def _sweep(self, now: float) -> None:
        """Forget the buckets that are full again (exact: an absent bucket is a full one)."""
        self._buckets = {k: b for k, b in self._buckets.items() if b.full_at > now}
        self._sweep_at = max(self._max_keys, 2 * len(self._buckets))
