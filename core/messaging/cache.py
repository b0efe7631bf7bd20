"""The recent-history cache: the newest messages of each conversation, and what it can vouch for.

Messages reach PostgreSQL only once the persister has written them; until then a just-sent
message lives in the log and here. Readers (``get_messages``, ``recover``) take PostgreSQL rows
below the persister's watermark ``W`` and this cache above it. Recovery must never hand out a
silent gap, so the cache says exactly which positions it holds *every* message of:

**Floor.** ``floor`` is the lowest position from which the cache has every message of the
conversation. It is set when the first message of a new cache group is added (the message whose
``begin`` found the group without a floor, the *fresh* one), raised when entries are trimmed
(the cache keeps at most ``max_entries`` per conversation) and removed by :meth:`unvouch`.

**Intents.** A sender calls :meth:`begin` *before* appending to the log and :meth:`add` after.
``begin`` records an intent carrying ``above``, the highest position in the cache at that
moment: the coming message's position is greater, because everything in the cache was appended
before it was added. Until the intent is resolved the cache vouches only for positions up to
the smallest ``above`` of the pending intents. An intent whose sender died between append and
add (or whose append failed in an unknown state) turns *stale* after a while; the service then
resolves it from PostgreSQL (:meth:`resolve`).

**Expiry.** Every ``begin``/``add`` sets the group's TTL to ``ttl`` again, so a group vanishes
only after ``ttl`` seconds without a send (or when Redis loses its data). :class:`Snapshot`
carries ``epoch_ms``, the time this cache's memory began (a key created once per Redis data set;
the construction time of a memory cache), so the service can tell an expired group of an idle
conversation from one lost in a restart.

Two implementations behave alike: :class:`RedisRecentCache` (shared by every node: a sorted set
of ids by position, a hash of bodies and a meta hash per conversation, all in the conversation's
hash tag, changed by Lua scripts) and :class:`MemoryRecentCache` (one process, embedded mode).
Redis failures raise :class:`CacheUnavailable`; after one, Redis is not tried again for
``retry_interval`` seconds, so an outage costs one timeout per interval, not one per request.
"""

from __future__ import annotations

import abc
import bisect
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from uuid import UUID

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .model import Message

__all__ = [
    "CacheUnavailable",
    "MemoryRecentCache",
    "Pending",
    "RecentCache",
    "RedisLink",
    "RedisRecentCache",
    "Snapshot",
]

log = logging.getLogger(__name__)

UNVOUCHED: Final = "-"
"""The ``fresh`` value :meth:`RecentCache.unvouch` leaves: no message is the fresh one, yet the
group exists (so it is not mistaken for an expired one) and the next ``begin`` starts afresh."""


class CacheUnavailable(ConnectionError):  # noqa: N818 -- reads like the log's LogUnavailable
    """The cache's store did not answer; the caller degrades (PostgreSQL only, not vouched)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A send between ``begin`` and ``add``: its message will have a position above ``above``."""

    message_id: UUID
    above: int
    since_ms: int
    """When ``begin`` ran, on the cache's clock (Redis ``TIME``)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent read of a conversation's group.

    ``messages``: the cached messages in the position range asked for, ascending. ``present``:
    the group exists (something was begun or added within ``ttl``). ``floor``: see the module
    docstring (None: the cache vouches for nothing now). ``now_ms`` and ``epoch_ms`` are on the
    cache's clock.
    """

    messages: list[Message]
    present: bool
    floor: int | None
    pending: list[Pending]
    now_ms: int
    epoch_ms: int

    @property
    def vouch_to(self) -> int | None:
        """The highest position the cache can vouch for while intents are pending (None: no
        intent pending, no such bound)."""
        return min((p.above for p in self.pending), default=None)


class RecentCache(abc.ABC):
    """Recent messages per conversation with the vouching state described in the module."""

    shared: bool
    """True when several processes use the same store (its data can outlive one of them, and
    be lost while they run)."""

    def __init__(self, *, max_entries: int, ttl: float) -> None:
        if max_entries < 0 or ttl <= 0:
            raise ValueError(f"cache needs max_entries >= 0 and ttl > 0, got {max_entries}, {ttl}")
        self.max_entries = max_entries
        self.ttl = ttl

    @abc.abstractmethod
    async def open(self, conversation_id: UUID) -> None:
        """Start vouching from position 0 for a conversation just created (it has no message
        yet); a group that exists already is left as it is."""

    @abc.abstractmethod
    async def begin(self, conversation_id: UUID, message_id: UUID) -> None:
        """Record the intent to append ``message_id`` (before the log append)."""

    @abc.abstractmethod
    async def add(self, conversation_id: UUID, message: Message) -> int | None:
        """Add an appended message; resolves its intent (if any), may set or raise the floor.

        Returns the message's vouched predecessor: the position of the conversation's previous
        message (-1: none, the cache holds the conversation from its start) when the cache can
        prove nothing lies between them — the message is at or above the floor and no other
        intent is pending that could land below it. None when it cannot. Live events carry it,
        so a client advances its recovery cursor only over gaps proven empty (positions are log
        offsets and skip numbers, so a client cannot see a gap by itself).
        """

    @abc.abstractmethod
    async def drop(self, conversation_id: UUID, message_id: UUID) -> None:
        """Forget the intent of a message known never to have been appended."""

    @abc.abstractmethod
    async def unvouch(self, conversation_id: UUID) -> None:
        """Stop vouching for the conversation until a new fresh message: a message was appended
        that neither its ``begin`` nor its ``add`` recorded."""

    @abc.abstractmethod
    async def read(self, conversation_id: UUID, lo: int, hi: int | None = None) -> Snapshot:
        """The group's state and its messages with ``lo <= position`` (``< hi`` when given)."""

    @abc.abstractmethod
    async def lookup(self, conversation_id: UUID, ids: Sequence[UUID]) -> dict[UUID, Message]:
        """The cached messages among ``ids``."""

    async def resolve(self, conversation_id: UUID, message_id: UUID, found: Message | None) -> None:
        """Settle a stale intent: add the message found in PostgreSQL, or drop the intent."""
        if found is None:
            await self.drop(conversation_id, message_id)
        else:
            await self.add(conversation_id, found)

    async def close(self) -> None:
        """Release connections; the base class holds none."""
        return None


# -- memory ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Group:
    expires_at: float
    positions: list[tuple[int, UUID]] = field(default_factory=list)  # sorted
    bodies: dict[UUID, Message] = field(default_factory=dict)
    floor: int | None = None
    fresh: str | None = None
    pending: dict[UUID, tuple[int, int]] = field(default_factory=dict)  # id -> (above, since)


class MemoryRecentCache(RecentCache):
    """The cache in this process (embedded mode): same rules, no I/O, never unavailable.

    ``clock`` gives wall-clock seconds (injectable for tests). Expired groups are dropped when
    touched, and swept once more than ``max_groups`` are held (the threshold then doubles with
    the live count, as in the memory rate limiter).
    """

    shared = False

    def __init__(
        self,
        *,
        max_entries: int = 500,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
        max_groups: int = 100_000,
    ) -> None:
        super().__init__(max_entries=max_entries, ttl=ttl)
        self._clock = clock
        self._groups: dict[UUID, _Group] = {}
        self._max_groups = max_groups
        self._sweep_at = max_groups
        self.epoch_ms = self._now_ms()

    def __len__(self) -> int:
        return len(self._groups)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _live(self, conversation_id: UUID) -> _Group | None:
        group = self._groups.get(conversation_id)
        if group is not None and group.expires_at <= self._clock():
            del self._groups[conversation_id]
            return None
        return group

    def _touch(self, conversation_id: UUID) -> _Group:
        group = self._live(conversation_id)
        now = self._clock()
        if group is None:
            if len(self._groups) >= self._sweep_at:
                self._groups = {k: g for k, g in self._groups.items() if g.expires_at > now}
                self._sweep_at = max(self._max_groups, 2 * len(self._groups))
            group = self._groups[conversation_id] = _Group(now + self.ttl)
        group.expires_at = now + self.ttl
        return group

    async def open(self, conversation_id: UUID) -> None:
        if self._live(conversation_id) is None:
            self._touch(conversation_id).floor = 0

    async def begin(self, conversation_id: UUID, message_id: UUID) -> None:
        group = self._touch(conversation_id)
        above = group.positions[-1][0] if group.positions else -1
        if group.floor is not None:
            above = max(above, group.floor - 1)
        elif group.fresh in (None, UNVOUCHED):
            group.fresh = str(message_id)
        group.pending[message_id] = (above, self._now_ms())

    async def add(self, conversation_id: UUID, message: Message) -> int | None:
        group = self._touch(conversation_id)
        known = group.bodies.get(message.id)
        if known is None or known.position != message.position:
            if known is not None:  # appended again (a retry reusing its id): the newest wins
                group.positions.remove((known.position, message.id))
            bisect.insort(group.positions, (message.position, message.id))
        group.bodies[message.id] = message
        group.pending.pop(message.id, None)
        if group.fresh == str(message.id):
            group.fresh = None
            group.floor = message.position
        prev = self._predecessor(group, message.position)
        excess = len(group.positions) - self.max_entries
        if excess > 0:
            gone, group.positions = group.positions[:excess], group.positions[excess:]
            for _, message_id in gone:
                del group.bodies[message_id]
            top = gone[-1][0]
            if group.floor is not None and group.floor <= top:
                group.floor = top + 1
        return prev

    @staticmethod
    def _predecessor(group: _Group, position: int) -> int | None:
        """See :meth:`RecentCache.add` (the Lua twin is in ADD_SCRIPT)."""
        floor = group.floor
        if floor is None or position < floor:
            return None
        if any(above < position for above, _ in group.pending.values()):
            return None
        index = bisect.bisect_left(group.positions, (position,))
        if index > 0:
            below = group.positions[index - 1][0]
            return below if below >= floor else None
        return -1 if floor == 0 else None

    async def drop(self, conversation_id: UUID, message_id: UUID) -> None:
        group = self._live(conversation_id)
        if group is not None:
            group.pending.pop(message_id, None)
            if group.fresh == str(message_id):
                group.fresh = None

    async def unvouch(self, conversation_id: UUID) -> None:
        group = self._touch(conversation_id)
        group.floor = None
        group.fresh = UNVOUCHED

    async def read(self, conversation_id: UUID, lo: int, hi: int | None = None) -> Snapshot:
        group = self._live(conversation_id)
        now = self._now_ms()
        if group is None:
            return Snapshot([], False, None, [], now, self.epoch_ms)
        start = bisect.bisect_left(group.positions, (lo,))
        end = len(group.positions) if hi is None else bisect.bisect_left(group.positions, (hi,))
        messages = [group.bodies[mid] for _, mid in group.positions[start:end]]
        pending = [Pending(mid, above, since) for mid, (above, since) in group.pending.items()]
        return Snapshot(messages, True, group.floor, pending, now, self.epoch_ms)

    async def lookup(self, conversation_id: UUID, ids: Sequence[UUID]) -> dict[UUID, Message]:
        group = self._live(conversation_id)
        if group is None:
            return {}
        return {mid: group.bodies[mid] for mid in ids if mid in group.bodies}


# -- Redis ----------------------------------------------------------------------------------

_NOW_MS = (
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
)

BEGIN_SCRIPT: Final = (
    _NOW_MS
    + """
local above = -1
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #top > 0 then above = tonumber(top[2]) end
local floor = redis.call('HGET', KEYS[3], 'floor')
if floor then
  above = math.max(above, tonumber(floor) - 1)
else
  local fresh = redis.call('HGET', KEYS[3], 'fresh')
  if not fresh or fresh == ARGV[3] then redis.call('HSET', KEYS[3], 'fresh', ARGV[1]) end
end
redis.call('HSET', KEYS[3], 'p:' .. ARGV[1], string.format('%d:%d', above, now))
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
"""
)
"""``KEYS`` z (ids by position), d (bodies), h (meta); ``ARGV`` id, ttl ms, the unvouched mark."""

OPEN_SCRIPT: Final = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'floor', '0')
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 1
"""
"""``KEYS`` z, h; ``ARGV`` ttl ms."""

ADD_SCRIPT: Final = """
local id, pos = ARGV[1], tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], pos, id)
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('HDEL', KEYS[3], 'p:' .. id)
if redis.call('HGET', KEYS[3], 'fresh') == id then
  redis.call('HDEL', KEYS[3], 'fresh')
  redis.call('HSET', KEYS[3], 'floor', ARGV[2])
end
local prev = false
local floor = tonumber(redis.call('HGET', KEYS[3], 'floor'))
if floor and pos >= floor then
  local blocked = false
  local meta = redis.call('HGETALL', KEYS[3])
  for i = 1, #meta, 2 do
    if string.sub(meta[i], 1, 2) == 'p:'
        and tonumber(string.match(meta[i + 1], '^-?%d+')) < pos then
      blocked = true
    end
  end
  if not blocked then
    local below = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '-inf', 'WITHSCORES',
                             'LIMIT', 0, 1)
    if #below > 0 then
      if tonumber(below[2]) >= floor then prev = tonumber(below[2]) end
    elseif floor == 0 then
      prev = -1
    end
  end
end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5])
if excess > 0 then
  local gone = redis.call('ZRANGE', KEYS[1], 0, excess - 1, 'WITHSCORES')
  for i = 1, #gone, 2 do redis.call('HDEL', KEYS[2], gone[i]) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
  local top = tonumber(gone[#gone])
  local floor = redis.call('HGET', KEYS[3], 'floor')
  if floor and tonumber(floor) <= top then
    redis.call('HSET', KEYS[3], 'floor', string.format('%d', top + 1))
  end
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return prev
"""
"""``KEYS`` z, d, h; ``ARGV`` id, position, body (JSON), ttl ms, max entries. Returns the vouched
predecessor (nil: none vouched), as :meth:`MemoryRecentCache._predecessor`."""

DROP_SCRIPT: Final = """
redis.call('HDEL', KEYS[1], 'p:' .. ARGV[1])
if redis.call('HGET', KEYS[1], 'fresh') == ARGV[1] then redis.call('HDEL', KEYS[1], 'fresh') end
return 1
"""
"""``KEYS`` h; ``ARGV`` id."""

UNVOUCH_SCRIPT: Final = """
redis.call('HDEL', KEYS[1], 'floor')
redis.call('HSET', KEYS[1], 'fresh', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
"""``KEYS`` h; ``ARGV`` the unvouched mark, ttl ms."""

READ_SCRIPT: Final = (
    _NOW_MS
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local bodies = {}
for i = 1, #ids do bodies[i] = redis.call('HGET', KEYS[2], ids[i]) end
local present = redis.call('EXISTS', KEYS[1], KEYS[3])
return {now, present, bodies, redis.call('HGETALL', KEYS[3])}
"""
)
"""``KEYS`` z, d, h; ``ARGV`` min and max score (``(`` for exclusive, ``+inf``)."""

LOOKUP_SCRIPT: Final = """
local bodies = {}
for i = 1, #ARGV do bodies[i] = redis.call('HGET', KEYS[1], ARGV[i]) end
return bodies
"""
"""``KEYS`` d; ``ARGV`` ids. A missing body is ``false`` (nil on the client)."""

EPOCH_SCRIPT: Final = (
    _NOW_MS
    + """
redis.call('SET', KEYS[1], string.format('%d', now), 'NX')
return tonumber(redis.call('GET', KEYS[1]))
"""
)
"""``KEYS`` the epoch key: created with the server's time the first time any node reads it, so
it is as old as the data set (a restart without persistence starts a new one)."""


class RedisLink:
    """A Redis client that fails fast: short timeouts, no retries, and after a failure no new
    attempt for ``retry_interval`` seconds (callers degrade meanwhile). Shared by the cache and
    the idempotency store.

    ``client``: use this client (its owner closes it) instead of a pool built from ``url``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        *,
        name: str = "gb-messaging",
        client: Redis | None = None,
        command_timeout: float = 0.5,
        retry_interval: float = 1.0,
        max_connections: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if client is None:
            pool = BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=command_timeout,
                protocol=2,
                socket_connect_timeout=command_timeout,
                socket_timeout=command_timeout,
                retry=Retry(NoBackoff(), 0),
                client_name=name,
            )
            client = Redis.from_pool(pool)
            self._owns = True
        else:
            self._owns = False
        self.client: Redis = client
        self.name = name
        self.retry_interval = retry_interval
        self._clock = clock
        self._down_until = 0.0
        self._down = False
        self.errors = 0
        """Failed calls, and calls refused while Redis was considered down."""

    @property
    def healthy(self) -> bool:
        """False from a failed call until the next successful one."""
        return not self._down

    def script(self, text: str) -> Any:
        return self.client.register_script(text)

    async def run(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a registered script; CacheUnavailable when Redis fails or is resting."""
        if self._down and self._clock() < self._down_until:
            self.errors += 1
            raise CacheUnavailable(f"{self.name}: Redis unavailable (resting after a failure)")
        try:
            result = await script(keys=list(keys), args=list(args))
        except (RedisError, OSError) as exc:
            self.errors += 1
            self._down_until = self._clock() + self.retry_interval
            if not self._down:
                self._down = True
                log.warning("%s: Redis unavailable (%s); degrading", self.name, exc)
            raise CacheUnavailable(f"{self.name}: Redis unavailable: {exc}") from exc
        if self._down:
            self._down = False
            log.warning("%s: Redis available again", self.name)
        return result

    async def close(self) -> None:
        if self._owns:
            await self.client.aclose()


def _decode(body: bytes | str) -> Message:
    return Message.from_wire(orjson.loads(body))


def encode_message(message: Message) -> bytes:
    """The cached form of a message: its wire dict as JSON."""
    return orjson.dumps(message.to_wire())


def _pending(meta: Iterable[tuple[str, str]]) -> tuple[int | None, list[Pending]]:
    floor: int | None = None
    pending: list[Pending] = []
    for name, value in meta:
        if name == "floor":
            floor = int(value)
        elif name.startswith("p:"):
            above, since = value.split(":")
            pending.append(Pending(UUID(name[2:]), int(above), int(since)))
    return floor, pending


class RedisRecentCache(RecentCache):
    """The cache shared by every node, in Redis (see the module docstring).

    Keys: ``<prefix>{<conversation>}:z`` (ids scored by position), ``:d`` (id -> JSON body),
    ``:h`` (``floor``, ``fresh``, ``p:<id>`` = ``<above>:<since ms>``) and ``<prefix>epoch``.
    """

    shared = True

    def __init__(
        self,
        link: RedisLink,
        *,
        max_entries: int = 500,
        ttl: float = 3600.0,
        prefix: str = "gb:rc:",
    ) -> None:
        super().__init__(max_entries=max_entries, ttl=ttl)
        self.link = link
        self.prefix = prefix
        self._ttl_ms = max(1, round(ttl * 1000))
        self._open = link.script(OPEN_SCRIPT)
        self._begin = link.script(BEGIN_SCRIPT)
        self._add = link.script(ADD_SCRIPT)
        self._drop = link.script(DROP_SCRIPT)
        self._unvouch = link.script(UNVOUCH_SCRIPT)
        self._read = link.script(READ_SCRIPT)
        self._epoch = link.script(EPOCH_SCRIPT)
        self._lookup = link.script(LOOKUP_SCRIPT)

    def keys(self, conversation_id: UUID) -> tuple[str, str, str]:
        """The sorted set, bodies and meta keys of a conversation."""
        base = f"{self.prefix}{{{conversation_id}}}:"
        return base + "z", base + "d", base + "h"

    async def open(self, conversation_id: UUID) -> None:
        z, _, h = self.keys(conversation_id)
        await self.link.run(self._open, (z, h), (self._ttl_ms,))

    async def begin(self, conversation_id: UUID, message_id: UUID) -> None:
        args = (str(message_id), self._ttl_ms, UNVOUCHED)
        await self.link.run(self._begin, self.keys(conversation_id), args)

    async def add(self, conversation_id: UUID, message: Message) -> int | None:
        args = (
            str(message.id),
            message.position,
            encode_message(message),
            self._ttl_ms,
            self.max_entries,
        )
        prev = await self.link.run(self._add, self.keys(conversation_id), args)
        return None if prev is None else int(prev)

    async def drop(self, conversation_id: UUID, message_id: UUID) -> None:
        await self.link.run(self._drop, self.keys(conversation_id)[2:], (str(message_id),))

    async def unvouch(self, conversation_id: UUID) -> None:
        args = (UNVOUCHED, self._ttl_ms)
        await self.link.run(self._unvouch, self.keys(conversation_id)[2:], args)

    async def read(self, conversation_id: UUID, lo: int, hi: int | None = None) -> Snapshot:
        top = "+inf" if hi is None else f"({hi}"
        now, present, bodies, meta = await self.link.run(
            self._read, self.keys(conversation_id), (lo, top)
        )
        epoch = await self.link.run(self._epoch, (self.prefix + "epoch",), ())
        pairs = [(meta[i].decode(), meta[i + 1].decode()) for i in range(0, len(meta), 2)]
        floor, pending = _pending(pairs)
        messages = [_decode(body) for body in bodies]
        return Snapshot(messages, present > 0, floor, pending, int(now), int(epoch))

    async def lookup(self, conversation_id: UUID, ids: Sequence[UUID]) -> dict[UUID, Message]:
        bodies_key = self.keys(conversation_id)[1]
        bodies = await self.link.run(self._lookup, (bodies_key,), [str(mid) for mid in ids])
        return {mid: _decode(body) for mid, body in zip(ids, bodies, strict=True) if body}

    async def close(self) -> None:
        await self.link.close()
