"""Client idempotency keys: a repeated send answers the first send's result.

A client names each message it sends with its own key. Per ``(customer, sender, key)`` the fast
store (Redis, or memory in embedded mode) holds one of:

- ``pending``: a send with this key is between its claim and its log append;
- ``failed``: that send's append failed, possibly after the log took the record (a Kafka
  timeout leaves it unknown). The message id is kept, so the retry appends *the same id*: if
  both records landed, the persister's insert-if-absent keeps one row;
- ``done``: the first result (message id, conversation, position).

Entries live ``ttl`` seconds. The durable half is PostgreSQL's ``message_keys`` (the persister
writes the first result of every keyed message there), asked whenever the fast store has no
result: after it forgot the key (expiry, Redis restart) and while Redis is down. Only a repeat
that arrives before the first send is persisted *and* after Redis lost the key can slip through
as a second message (with a new id).

A pending entry older than ``stale_after`` (its sender died mid-send) is taken over like a
failed one, reusing its id.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal
from uuid import UUID

from .cache import CacheUnavailable, RedisLink

__all__ = [
    "Claim",
    "IdempotencyStore",
    "KeyResult",
    "KeyStore",
    "MemoryKeyStore",
    "RedisKeyStore",
]

log = logging.getLogger(__name__)

ClaimState = Literal["new", "retry", "busy", "done", "conflict"]


@dataclass(frozen=True, slots=True)
class KeyResult:
    """The first result of a client key."""

    message_id: UUID
    conversation_id: UUID
    position: int


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim.

    ``new``: go ahead with ``message_id`` (the one offered). ``retry``: go ahead, reusing
    ``message_id`` (an earlier attempt's). ``busy``: another send with this key is in flight.
    ``done``: ``result`` is the first result. ``conflict``: the key was used in another
    conversation (``conversation_id``). ``guarded`` is False when no store could record the
    claim (Redis down): concurrent duplicates are then not caught.
    """

    state: ClaimState
    message_id: UUID
    conversation_id: UUID
    result: KeyResult | None = None
    guarded: bool = True


class KeyStore(abc.ABC):
    """The fast store: one entry per key, changed atomically."""

    def __init__(self, *, ttl: float, stale_after: float) -> None:
        if ttl <= 0 or stale_after <= 0:
            raise ValueError(f"key store needs ttl and stale_after > 0, got {ttl}, {stale_after}")
        self.ttl = ttl
        self.stale_after = stale_after

    @abc.abstractmethod
    async def claim(self, key: str, conversation_id: UUID, message_id: UUID) -> Claim:
        """Claim ``key`` for a send of ``message_id`` to ``conversation_id``."""

    @abc.abstractmethod
    async def complete(self, key: str, result: KeyResult) -> None:
        """Store the result (unless a result is stored already: the first one stays)."""

    @abc.abstractmethod
    async def release(self, key: str, message_id: UUID) -> None:
        """The send of ``message_id`` failed: mark the key failed, keeping the id for a retry."""

    async def close(self) -> None:
        """Release connections; the base class holds none."""
        return None


@dataclass(slots=True)
class _Entry:
    state: str  # "p", "f" or "d"
    message_id: UUID
    conversation_id: UUID
    value: int  # pending: since (ms); done: position
    expires_at: float


class MemoryKeyStore(KeyStore):
    """Keys in this process (embedded mode). ``clock``: wall-clock seconds, for tests.

    Expired entries are swept once more than ``max_keys`` are held (threshold doubling).
    """

    def __init__(
        self,
        *,
        ttl: float = 86_400.0,
        stale_after: float = 30.0,
        clock: Callable[[], float] = time.time,
        max_keys: int = 1_000_000,
    ) -> None:
        super().__init__(ttl=ttl, stale_after=stale_after)
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._max_keys = max_keys
        self._sweep_at = max_keys

    def __len__(self) -> int:
        return len(self._entries)

    def _get(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= now:
            del self._entries[key]
            return None
        return entry

    def _put(self, key: str, entry: _Entry) -> None:
        if key not in self._entries and len(self._entries) >= self._sweep_at:
            now = self._clock()
            self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}
            self._sweep_at = max(self._max_keys, 2 * len(self._entries))
        self._entries[key] = entry

    async def claim(self, key: str, conversation_id: UUID, message_id: UUID) -> Claim:
        now = self._clock()
        entry = self._get(key, now)
        if entry is None:
            self._put(
                key, _Entry("p", message_id, conversation_id, int(now * 1000), now + self.ttl)
            )
            return Claim("new", message_id, conversation_id)
        if entry.conversation_id != conversation_id:
            return Claim("conflict", entry.message_id, entry.conversation_id)
        if entry.state == "d":
            result = KeyResult(entry.message_id, entry.conversation_id, entry.value)
            return Claim("done", entry.message_id, entry.conversation_id, result)
        if entry.state == "f" or now * 1000 - entry.value > self.stale_after * 1000:
            entry.state, entry.value, entry.expires_at = "p", int(now * 1000), now + self.ttl
            return Claim("retry", entry.message_id, conversation_id)
        return Claim("busy", entry.message_id, conversation_id)

    async def complete(self, key: str, result: KeyResult) -> None:
        now = self._clock()
        entry = self._get(key, now)
        if entry is None or entry.state != "d":
            self._put(
                key,
                _Entry(
                    "d", result.message_id, result.conversation_id, result.position, now + self.ttl
                ),
            )

    async def release(self, key: str, message_id: UUID) -> None:
        entry = self._get(key, self._clock())
        if entry is not None and entry.state == "p" and entry.message_id == message_id:
            entry.state = "f"


_CLAIM_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'p|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. string.format('%d', now),
             'PX', ARGV[3])
  return {'new', ARGV[1], ARGV[2], '0'}
end
local s, id, conv, x = string.match(v, '^(%a)|([^|]*)|([^|]*)|(.*)$')
if conv ~= ARGV[2] then return {'conflict', id, conv, x} end
if s == 'd' then return {'done', id, conv, x} end
if s == 'f' or now - tonumber(x) > tonumber(ARGV[4]) then
  redis.call('SET', KEYS[1], 'p|' .. id .. '|' .. conv .. '|' .. string.format('%d', now),
             'PX', ARGV[3])
  return {'retry', id, conv, '0'}
end
return {'busy', id, conv, x}
"""
"""``KEYS`` the key; ``ARGV`` message id, conversation id, ttl ms, stale-after ms. Values are
``<state>|<message id>|<conversation id>|<since ms or position>``."""

_COMPLETE_SCRIPT: Final = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'd' then return 0 end
redis.call('SET', KEYS[1], 'd|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3], 'PX', ARGV[4])
return 1
"""
"""``KEYS`` the key; ``ARGV`` message id, conversation id, position, ttl ms."""

_RELEASE_SCRIPT: Final = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s, id, conv = string.match(v, '^(%a)|([^|]*)|([^|]*)|')
if s ~= 'p' or id ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'f|' .. id .. '|' .. conv .. '|0', 'KEEPTTL')
return 1
"""
"""``KEYS`` the key; ``ARGV`` message id."""


class RedisKeyStore(KeyStore):
    """Keys in Redis, shared by every node; raises CacheUnavailable when Redis fails."""

    def __init__(
        self,
        link: RedisLink,
        *,
        ttl: float = 86_400.0,
        stale_after: float = 30.0,
        prefix: str = "gb:ik:",
    ) -> None:
        super().__init__(ttl=ttl, stale_after=stale_after)
        self.link = link
        self.prefix = prefix
        self._ttl_ms = max(1, round(ttl * 1000))
        self._stale_ms = max(1, round(stale_after * 1000))
        self._claim = link.script(_CLAIM_SCRIPT)
        self._complete = link.script(_COMPLETE_SCRIPT)
        self._release = link.script(_RELEASE_SCRIPT)

    async def claim(self, key: str, conversation_id: UUID, message_id: UUID) -> Claim:
        args = (str(message_id), str(conversation_id), self._ttl_ms, self._stale_ms)
        reply = await self.link.run(self._claim, (self.prefix + key,), args)
        state, mid, conv, value = (part.decode() for part in reply)
        result = KeyResult(UUID(mid), UUID(conv), int(value)) if state == "done" else None
        return Claim(state, UUID(mid), UUID(conv), result)

    async def complete(self, key: str, result: KeyResult) -> None:
        args = (str(result.message_id), str(result.conversation_id), result.position, self._ttl_ms)
        await self.link.run(self._complete, (self.prefix + key,), args)

    async def release(self, key: str, message_id: UUID) -> None:
        await self.link.run(self._release, (self.prefix + key,), (str(message_id),))

    async def close(self) -> None:
        await self.link.close()


DurableLookup = Callable[[UUID, str, str], Awaitable[KeyResult | None]]
"""``(customer id, sender, client key)`` -> the first result in ``message_keys``, or None."""


class IdempotencyStore:
    """The fast store with the durable fallback (see the module docstring)."""

    def __init__(self, fast: KeyStore, durable: DurableLookup | None = None) -> None:
        self.fast = fast
        self.durable = durable
        self.degraded = 0
        """Claims decided without the fast store (it was unavailable)."""

    @staticmethod
    def key(customer_id: UUID, sender: str, client_key: str) -> str:
        """The store key: the customer's hash tag, then sender and key (lengths make it
        unambiguous whatever characters they hold)."""
        return f"{{{customer_id}}}:{len(sender)}:{sender}:{client_key}"

    async def claim(
        self,
        customer_id: UUID,
        sender: str,
        client_key: str,
        conversation_id: UUID,
        message_id: UUID,
    ) -> Claim:
        """Claim the key for a send; see :class:`Claim` for the answers."""
        key = self.key(customer_id, sender, client_key)
        try:
            claim = await self.fast.claim(key, conversation_id, message_id)
        except CacheUnavailable:
            self.degraded += 1
            claim = Claim("new", message_id, conversation_id, guarded=False)
        if claim.state not in ("new", "retry") or self.durable is None:
            return claim
        first = await self.durable(customer_id, sender, client_key)
        if first is None:
            return claim
        if claim.guarded:
            await self._store(key, first)
        if first.conversation_id != conversation_id:
            return Claim("conflict", first.message_id, first.conversation_id)
        return Claim("done", first.message_id, first.conversation_id, first, claim.guarded)

    async def complete(
        self, customer_id: UUID, sender: str, client_key: str, result: KeyResult
    ) -> None:
        """Remember the first result (best effort: ``message_keys`` has it once persisted)."""
        await self._store(self.key(customer_id, sender, client_key), result)

    async def _store(self, key: str, result: KeyResult) -> None:
        try:
            await self.fast.complete(key, result)
        except CacheUnavailable:
            self.degraded += 1

    async def release(
        self, customer_id: UUID, sender: str, client_key: str, message_id: UUID
    ) -> None:
        """The send failed: a retry may claim the key again (and reuses the id)."""
        try:
            await self.fast.release(self.key(customer_id, sender, client_key), message_id)
        except CacheUnavailable:
            self.degraded += 1

    async def close(self) -> None:
        await self.fast.close()
