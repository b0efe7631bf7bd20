"""Presence in Redis: sorted sets scored by deadline, renewed by heartbeats, trimmed in Lua.

Layout (``{scope}`` is a hash tag, so one tenant's keys share a Redis Cluster slot and one
script may touch them all):

- ``gb:pr:{scope}:c:<channel>``  sorted set, member ``["session", "user", "node"]``
- ``gb:pr:{scope}:u:<user>``     sorted set, member ``["session", "node"]``
- ``gb:pr:{scope}:ls:<user>``    string, last-seen stamp in ms, expires after ``last_seen_ttl``

Scores are deadlines in ms of the server's ``TIME``, so node clocks do not matter. A set's key
expiry is kept at least ``ttl`` ahead, so a set nobody reads or writes again disappears by
itself. All calls of a store go through one queue: the calls made during one loop tick travel
as one pipeline of EVALSHA (one round trip), and batches go out one after another, which keeps
this node's writes in call order.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import (
    DEFAULT_LAST_SEEN_TTL,
    DEFAULT_TTL,
    Op,
    PresenceStore,
    PresenceUnavailable,
    Result,
)

__all__ = ["SCRIPT", "RedisPresence"]

_NETWORK_ERRORS: Final = (RedisConnectionError, RedisTimeoutError, OSError)
"""Errors that mean "the server is unreachable" (the builtin TimeoutError is an OSError)."""

SCRIPT: Final = """
-- KEYS[i] is the key of op i, ARGV[3]:sub(i, i) its code (see OpCode) and line i of ARGV[4]
-- its member (members are JSON, which has no raw newline); ARGV[1] is the entry ttl and
-- ARGV[2] the last-seen ttl, in ms. The answer is one JSON array with a value per op: one
-- reply is far cheaper for a client to parse than a reply per op or per member.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local codes, lines, at = ARGV[3], ARGV[4], 1
local trimmed, added, out = {}, {}, {}
-- 'now' is one instant for the whole call: a set trimmed once stays trimmed.
local function trim(key)
  if not trimmed[key] then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    trimmed[key] = true
  end
end
for i, key in ipairs(KEYS) do
  local code = codes:sub(i, i)
  local stop = lines:find('\\n', at, true)
  local member = lines:sub(at, stop - 1)
  at = stop + 1
  local result = '0'
  if code == 'A' then
    trim(key)
    redis.call('ZADD', key, now + ttl, member)
    added[key] = true
  elseif code == 'R' then
    redis.call('ZREM', key, member)
  elseif code == 'S' then
    redis.call('SET', key, now, 'PX', ARGV[2])
  elseif code == 'G' then
    result = redis.call('GET', key) or 'null'
  else
    trim(key)
    if code == 'C' then
      result = tostring(redis.call('ZCARD', key))
    else
      result = '[' .. table.concat(redis.call('ZRANGE', key, 0, -1), ',') .. ']'
    end
  end
  out[i] = result
end
-- Keep a set's key alive at least as long as its newest member.
for key in pairs(added) do
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
return '[' .. table.concat(out, ',') .. ']'
"""
_SHA: Final = hashlib.sha1(SCRIPT.encode()).hexdigest()

MAX_BATCH: Final = 1024
"""Most script calls in one pipeline; a longer queue goes out in several batches, in order."""

_Entry = tuple[list[tuple[str, list[Op]]], "asyncio.Future[list[list[Result]]]"]
"""One ``_execute``: its calls and the future of their results."""


class RedisPresence(PresenceStore):
    """PresenceStore over one Redis server (or, by the hash tags, a cluster-ready layout).

    ``connect_timeout`` bounds connecting and ``start``; ``command_timeout`` bounds each read
    of a reply, so a frozen server makes calls fail with PresenceUnavailable in about that
    time. Failed commands are not retried here: every operation is idempotent, and the next
    heartbeat writes this node's entries again.
    """

    name = "redis"

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        node_id: str = "redis",
        *,
        ttl: float = DEFAULT_TTL,
        last_seen_ttl: float = DEFAULT_LAST_SEEN_TTL,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
    ) -> None:
        super().__init__(node_id, ttl=ttl, last_seen_ttl=last_seen_ttl)
        self.url = url
        self._connect_timeout = connect_timeout
        self._client: Redis = Redis.from_url(
            url,
            protocol=2,
            socket_connect_timeout=connect_timeout,
            socket_timeout=command_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=f"gb-presence-{re.sub(r'[^!-~]', '_', node_id)}",
        )
        self._pending: list[_Entry] = []
        self._inflight: list[_Entry] = []
        self._wakeup = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._client.script_load(SCRIPT)
        except _NETWORK_ERRORS as exc:
            raise self._unavailable(exc) from exc
        self._flusher = asyncio.create_task(
            self._flush_forever(), name=f"gb-presence-flush-{self.node_id}"
        )

    async def _disconnect(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        closed = PresenceUnavailable(f"redis presence {self.node_id!r} closed")
        for _, future in self._inflight + self._pending:
            if not future.done():
                future.set_exception(closed)
        self._inflight, self._pending = [], []
        await self._client.aclose()

    async def _execute(self, calls: list[tuple[str, list[Op]]]) -> list[list[Result]]:
        future: asyncio.Future[list[list[Result]]] = asyncio.get_running_loop().create_future()
        self._pending.append((calls, future))
        self._wakeup.set()
        return await future

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                self._inflight = self._take_batch()
                await self._flush(self._inflight)
                self._inflight = []

    def _take_batch(self) -> list[_Entry]:
        """The oldest entries holding up to MAX_BATCH calls (always at least one entry)."""
        pending = self._pending
        size = n = 0
        while n < len(pending) and (n == 0 or size + len(pending[n][0]) <= MAX_BATCH):
            size += len(pending[n][0])
            n += 1
        batch, self._pending = pending[:n], pending[n:]
        return batch

    async def _flush(self, batch: list[_Entry]) -> None:
        calls = [call for entry_calls, _ in batch for call in entry_calls]
        results: list[Any]
        try:
            results = await self._run(calls)
        except Exception as exc:  # whatever it is, it must reach the callers, not the loop
            error = self._unavailable(exc) if isinstance(exc, _NETWORK_ERRORS) else exc
            results = [error] * len(calls)
        start = 0
        for entry_calls, future in batch:
            mine = results[start : start + len(entry_calls)]
            start += len(entry_calls)
            if future.done():
                continue  # the caller was cancelled; the writes may have happened anyway
            failure = next((r for r in mine if isinstance(r, Exception)), None)
            if failure is not None:
                future.set_exception(failure)
            else:
                future.set_result([orjson.loads(reply) for reply in mine])

    async def _run(self, calls: list[tuple[str, list[Op]]]) -> list[Any]:
        """Run ``calls`` as one pipeline; after a script cache loss (a restarted or flushed
        server), load the script and run again from the first call that missed it. The
        re-run repeats only idempotent ops, and keeps the order of writes."""
        results = await self._pipeline(calls)
        missing = next((n for n, r in enumerate(results) if isinstance(r, NoScriptError)), None)
        if missing is not None:
            await self._client.script_load(SCRIPT)
            results[missing:] = await self._pipeline(calls[missing:])
        return results

    async def _pipeline(self, calls: list[tuple[str, list[Op]]]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        ttls = (self._ttl_ms, self._last_seen_ttl_ms)
        for _, ops in calls:
            codes, keys, members = zip(*ops, strict=True)
            lines = b"\n".join(members) + b"\n"
            pipe.execute_command("EVALSHA", _SHA, len(ops), *keys, *ttls, "".join(codes), lines)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    def _unavailable(self, exc: BaseException) -> PresenceUnavailable:
        return PresenceUnavailable(f"redis presence {self.node_id!r}: {self.url}: {exc}")
