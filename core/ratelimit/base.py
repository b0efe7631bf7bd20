"""The rate-limit contract: token buckets keyed by scope, tenant and key.

A bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per second; a request
takes ``cost`` tokens or is refused with the time after which it could pass. An absent bucket
is a full one, so buckets that are full again may be forgotten (expiry) without changing any
decision.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Final

__all__ = ["SCOPES", "Limit", "RateLimited", "RateLimiter"]

SCOPES: Final = frozenset({"user", "tenant"})
"""The scopes a limit applies to: one user (within a tenant), or a whole tenant."""


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` tokens per second, at most ``burst`` tokens at once (both finite, > 0)."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not (0.0 < self.rate < math.inf and 0.0 < self.burst < math.inf):
            raise ValueError(f"a limit needs a finite rate and burst > 0, got {self!r}")


class RateLimited(Exception):  # noqa: N818 -- the name the message API reports
    """A request was refused by the ``scope`` limit (``"user"`` or ``"tenant"``) of ``key``.

    ``retry_after`` is the number of seconds after which the same request could pass if
    nothing else took tokens from the bucket meanwhile (an earliest time, not a promise).
    """

    def __init__(self, scope: str, key: str, retry_after: float) -> None:
        self.scope = scope
        self.key = key
        self.retry_after = retry_after
        super().__init__(
            f"{scope} rate limit exceeded for {key!r}; retry after {retry_after:.3f} s"
        )

    @property
    def retry_after_ms(self) -> int:
        """``retry_after`` rounded up to whole milliseconds, at least 1 (the wire unit)."""
        return max(1, math.ceil(self.retry_after * 1000))

    def payload(self) -> dict[str, str | int]:
        """The body of a ``RATE_LIMITED`` error: which limit refused, and when to retry."""
        return {"scope": self.scope, "key": self.key, "retry_after_ms": self.retry_after_ms}


def invalid_request(scope: str, limit: Limit, cost: float) -> ValueError:
    """The error for a request no bucket can ever admit, or a scope that is not in SCOPES."""
    if scope not in SCOPES:
        return ValueError(f"unknown rate-limit scope {scope!r}: expected one of {sorted(SCOPES)}")
    return ValueError(f"cost {cost!r} must be > 0 and at most the burst of {limit!r}")


class RateLimiter(abc.ABC):
    """Token buckets per ``(tenant, scope, key)``; one instance per node.

    ``take`` either admits a request (its tokens are gone) or raises :class:`RateLimited`;
    it never waits for tokens. Buckets of different scopes, keys or tenants are independent.
    """

    @abc.abstractmethod
    async def take(
        self, scope: str, key: str, limit: Limit, cost: float = 1.0, *, tenant: str | None = None
    ) -> None:
        """Take ``cost`` tokens from the ``scope`` bucket of ``key`` under ``limit``.

        ``tenant`` names the tenant the key belongs to (a user's tenant); it defaults to
        ``key``, which is what a ``"tenant"`` scope means. Raises :class:`RateLimited` when the
        bucket holds fewer than ``cost`` tokens, ValueError for a scope outside SCOPES or a
        ``cost`` outside ``(0, limit.burst]`` (a request that could never pass).
        """

    async def close(self) -> None:
        """Release connections; the base class holds none, so there is nothing to release."""
        return None
