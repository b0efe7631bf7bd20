"""Shared rate limits per user and per tenant: the RateLimiter contract and its implementations.

``base`` holds the contract (:class:`Limit`, :class:`RateLimited`, :class:`RateLimiter`),
``memory`` the one-process token buckets, ``redis`` the buckets every node shares through one
Lua script, with a local fast path of leased tokens. The per-connection frame limit is a
different thing: it lives in the native edge (``Conn.allow``) and costs no shared state.
"""

from __future__ import annotations

from .base import SCOPES, Limit, RateLimited, RateLimiter
from .memory import MemoryRateLimiter
from .redis import RateLimitStats, RedisRateLimiter

__all__ = [
    "SCOPES",
    "Limit",
    "MemoryRateLimiter",
    "RateLimitStats",
    "RateLimited",
    "RateLimiter",
    "RedisRateLimiter",
]
