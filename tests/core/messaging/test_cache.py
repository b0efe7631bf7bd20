"""The recent-history cache, both implementations by one suite (memory, and the real Redis under
a unique prefix), plus Redis outages on a private server."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import pytest
from redis.asyncio import Redis

from gb.core.messaging.cache import (
    UNVOUCHED,
    CacheUnavailable,
    MemoryRecentCache,
    RecentCache,
    RedisLink,
    RedisRecentCache,
)
from gb.core.messaging.ids import created_at_of, new_message_id
from gb.core.messaging.model import Message

from ...support.services import SHARED_REDIS_URL, RedisProcess, own_redis
from .test_service_support import Clock, redis_prefix

__all__ = ["own_redis", "redis_prefix"]

KINDS = ["memory", "redis"]


def message(conversation: UUID, position: int, message_id: UUID | None = None) -> Message:
    message_id = message_id or new_message_id()
    return Message(
        id=message_id,
        conversation_id=conversation,
        position=position,
        sender="alice",
        kind="text",
        content=f"m{position} ünïcode",
        metadata={"n": position, "nested": {"a": [1, 2]}},
        created_at=created_at_of(message_id),
        client_key=None if position % 2 else f"k{position}",
    )


class Caches:
    """Makes caches of one kind; closes them all."""

    def __init__(self, kind: str, prefix: str) -> None:
        self.kind = kind
        self.prefix = prefix
        self.clock = Clock()
        self.made: list[RecentCache] = []

    def __call__(self, **options: Any) -> RecentCache:
        cache: RecentCache
        if self.kind == "memory":
            cache = MemoryRecentCache(clock=self.clock, **options)
        else:
            cache = RedisRecentCache(RedisLink(SHARED_REDIS_URL), prefix=self.prefix, **options)
        self.made.append(cache)
        return cache

    async def expire(self, cache: RecentCache, seconds: float) -> None:
        """Let ``seconds`` pass for the cache's TTLs."""
        if self.kind == "memory":
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=KINDS)
async def caches(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Caches]:
    made = Caches(request.param, redis_prefix)
    yield made
    for cache in made.made:
        await cache.close()


async def test_added_messages_are_read_by_position_range_and_looked_up(caches: Caches) -> None:
    cache = caches()
    conversation = uuid.uuid4()
    messages = [message(conversation, p) for p in (3, 7, 5, 9)]
    for m in messages:
        await cache.add(conversation, m)
    snapshot = await cache.read(conversation, 5)
    assert [m.position for m in snapshot.messages] == [5, 7, 9]
    assert snapshot.messages[0] == messages[2]  # every field survives the round trip
    assert [m.position for m in (await cache.read(conversation, 0, 7)).messages] == [3, 5]
    assert (await cache.read(conversation, 10)).messages == []
    other = uuid.uuid4()
    found = await cache.lookup(conversation, [messages[1].id, other])
    assert found == {messages[1].id: messages[1]}
    assert await cache.lookup(uuid.uuid4(), [messages[1].id]) == {}
    assert snapshot.present
    assert snapshot.floor is None  # added without a begin: nothing to vouch from


async def test_the_fresh_message_sets_the_floor_and_intents_bound_the_vouching(
    caches: Caches,
) -> None:
    cache = caches()
    conversation = uuid.uuid4()
    absent = await cache.read(conversation, 0)
    assert not absent.present and absent.floor is None and absent.vouch_to is None
    first, second = new_message_id(), new_message_id()
    await cache.begin(conversation, first)
    await cache.begin(conversation, second)
    snapshot = await cache.read(conversation, 0)
    assert snapshot.present
    assert {p.message_id: p.above for p in snapshot.pending} == {first: -1, second: -1}
    assert snapshot.vouch_to == -1
    assert all(snapshot.now_ms - 5000 < p.since_ms <= snapshot.now_ms for p in snapshot.pending)
    # The second send was appended first: it is not the fresh one, so no floor yet.
    await cache.add(conversation, message(conversation, 11, second))
    snapshot = await cache.read(conversation, 0)
    assert snapshot.floor is None
    assert [p.message_id for p in snapshot.pending] == [first]
    await cache.add(conversation, message(conversation, 10, first))
    snapshot = await cache.read(conversation, 0)
    assert snapshot.floor == 10
    assert snapshot.pending == [] and snapshot.vouch_to is None
    # A new intent is above everything cached.
    third = new_message_id()
    await cache.begin(conversation, third)
    assert (await cache.read(conversation, 0)).vouch_to == 11


async def test_opening_a_new_conversation_vouches_from_the_start(caches: Caches) -> None:
    cache = caches()
    conversation = uuid.uuid4()
    await cache.open(conversation)
    snapshot = await cache.read(conversation, 0)
    assert snapshot.present and snapshot.floor == 0 and snapshot.messages == []
    started = uuid.uuid4()
    await cache.begin(started, new_message_id())
    await cache.open(started)  # a send came first: its group is left alone
    assert (await cache.read(started, 0)).floor is None


async def test_trimming_without_a_floor_vouches_for_nothing(caches: Caches) -> None:
    cache = caches(max_entries=1)
    conversation = uuid.uuid4()
    await cache.add(conversation, message(conversation, 1))
    await cache.add(conversation, message(conversation, 2))
    snapshot = await cache.read(conversation, 0)
    assert [m.position for m in snapshot.messages] == [2] and snapshot.floor is None


async def test_trimming_keeps_the_newest_and_raises_the_floor(caches: Caches) -> None:
    cache = caches(max_entries=3)
    conversation = uuid.uuid4()
    first = new_message_id()
    await cache.begin(conversation, first)
    await cache.add(conversation, message(conversation, 0, first))
    for position in range(1, 6):
        await cache.add(conversation, message(conversation, position * 2))
    snapshot = await cache.read(conversation, 0)
    assert [m.position for m in snapshot.messages] == [6, 8, 10]
    assert snapshot.floor == 5  # just above the highest position trimmed away
    trimmed = snapshot.messages[0]
    assert await cache.lookup(conversation, [trimmed.id]) == {trimmed.id: trimmed}


async def test_a_cache_of_no_entries_still_vouches_from_above_the_last(caches: Caches) -> None:
    cache = caches(max_entries=0)
    conversation = uuid.uuid4()
    first = new_message_id()
    await cache.begin(conversation, first)
    await cache.add(conversation, message(conversation, 4, first))
    snapshot = await cache.read(conversation, 0)
    assert snapshot.messages == [] and snapshot.floor == 5
    following = new_message_id()
    await cache.begin(conversation, following)
    assert (await cache.read(conversation, 0)).vouch_to == 4  # floor - 1: above what was added


async def test_drop_forgets_an_intent_and_its_freshness(caches: Caches) -> None:
    cache = caches()
    conversation = uuid.uuid4()
    lost, later = new_message_id(), new_message_id()
    await cache.begin(conversation, lost)
    await cache.drop(conversation, lost)
    assert (await cache.read(conversation, 0)).pending == []
    await cache.begin(conversation, later)  # no fresh one left: this one is
    await cache.add(conversation, message(conversation, 3, later))
    assert (await cache.read(conversation, 0)).floor == 3
    await cache.drop(uuid.uuid4(), lost)  # an absent group: nothing happens


async def test_unvouch_removes_the_floor_until_a_new_fresh_message(caches: Caches) -> None:
    cache = caches()
    conversation = uuid.uuid4()
    first = new_message_id()
    await cache.begin(conversation, first)
    await cache.add(conversation, message(conversation, 1, first))
    await cache.unvouch(conversation)
    snapshot = await cache.read(conversation, 0)
    assert snapshot.present and snapshot.floor is None
    assert [m.position for m in snapshot.messages] == [1]
    following = new_message_id()
    await cache.begin(conversation, following)
    await cache.add(conversation, message(conversation, 8, following))
    assert (await cache.read(conversation, 0)).floor == 8
    await cache.unvouch(uuid.uuid4())  # makes a group that vouches for nothing
    assert UNVOUCHED == "-"


async def test_resolve_adds_a_found_message_or_drops_the_intent(caches: Caches) -> None:
    cache = caches()
    conversation = uuid.uuid4()
    found_id, gone_id = new_message_id(), new_message_id()
    await cache.begin(conversation, found_id)
    await cache.begin(conversation, gone_id)
    await cache.resolve(conversation, found_id, message(conversation, 2, found_id))
    await cache.resolve(conversation, gone_id, None)
    snapshot = await cache.read(conversation, 0)
    assert snapshot.pending == []
    assert snapshot.floor == 2
    assert [m.id for m in snapshot.messages] == [found_id]


async def test_a_message_appended_again_moves_to_its_new_position(caches: Caches) -> None:
    cache = caches()
    conversation = uuid.uuid4()
    again = message(conversation, 4)
    await cache.add(conversation, again)
    await cache.add(conversation, message(conversation, 6))
    moved = message(conversation, 9, again.id)
    await cache.add(conversation, moved)
    snapshot = await cache.read(conversation, 0)
    assert [(m.position, m.id == again.id) for m in snapshot.messages] == [(6, False), (9, True)]
    await cache.add(conversation, moved)  # the same again: no change
    assert len((await cache.read(conversation, 0)).messages) == 2


async def test_groups_expire_after_the_ttl_without_sends(caches: Caches) -> None:
    cache = caches(ttl=0.3)
    conversation = uuid.uuid4()
    first = new_message_id()
    await cache.begin(conversation, first)
    await cache.add(conversation, message(conversation, 0, first))
    await caches.expire(cache, 0.2)
    await cache.begin(conversation, new_message_id())  # refreshes the TTL
    await caches.expire(cache, 0.2)
    assert (await cache.read(conversation, 0)).present
    await caches.expire(cache, 0.4)
    snapshot = await cache.read(conversation, 0)
    assert not snapshot.present and snapshot.messages == [] and snapshot.floor is None
    assert await cache.lookup(conversation, [first]) == {}


async def test_the_epoch_is_stable_while_the_data_set_lives(caches: Caches) -> None:
    cache = caches()
    first = await cache.read(uuid.uuid4(), 0)
    await asyncio.sleep(0.01)
    second = await cache.read(uuid.uuid4(), 0)
    assert first.epoch_ms == second.epoch_ms <= second.now_ms
    assert second.now_ms - second.epoch_ms < 60_000


def test_bad_cache_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries >= 0 and ttl > 0"):
        MemoryRecentCache(max_entries=-1)
    with pytest.raises(ValueError, match="max_entries >= 0 and ttl > 0"):
        MemoryRecentCache(ttl=0)


async def test_memory_groups_are_swept_past_max_groups() -> None:
    clock = Clock()
    cache = MemoryRecentCache(clock=clock, ttl=10, max_groups=4)
    for _ in range(4):
        await cache.add(uuid.uuid4(), message(uuid.uuid4(), 1))
    clock.advance(11)
    kept = uuid.uuid4()
    await cache.add(kept, message(kept, 1))
    assert len(cache) == 1
    assert cache.shared is False
    assert await cache.close() is None


async def test_redis_keys_share_the_conversations_hash_slot(redis_prefix: str) -> None:
    cache = RedisRecentCache(RedisLink(SHARED_REDIS_URL), prefix=redis_prefix)
    conversation = uuid.uuid4()
    keys = cache.keys(conversation)
    assert all(f"{{{conversation}}}" in key for key in keys)
    assert cache.shared is True
    await cache.close()


async def test_an_old_data_set_keeps_its_epoch(redis_prefix: str) -> None:
    client = Redis.from_url(SHARED_REDIS_URL)
    await client.set(redis_prefix + "epoch", "1000")
    await client.aclose()
    cache = RedisRecentCache(RedisLink(SHARED_REDIS_URL), prefix=redis_prefix)
    assert (await cache.read(uuid.uuid4(), 0)).epoch_ms == 1000
    await cache.close()


async def test_redis_outage_raises_unavailable_rests_then_recovers(
    own_redis: Callable[..., RedisProcess], caplog: pytest.LogCaptureFixture
) -> None:
    server = own_redis()
    clock = Clock(0.0)
    link = RedisLink(server.url, command_timeout=0.3, retry_interval=5.0, clock=clock)
    cache = RedisRecentCache(link)
    conversation = uuid.uuid4()
    await cache.add(conversation, message(conversation, 1))
    first_epoch = (await cache.read(conversation, 0)).epoch_ms
    assert link.healthy
    server.stop()
    with pytest.raises(CacheUnavailable, match="Redis unavailable"):
        await cache.begin(conversation, new_message_id())
    assert not link.healthy and link.errors == 1
    assert "degrading" in caplog.text
    with pytest.raises(CacheUnavailable, match="resting"):  # no new attempt meanwhile
        await cache.read(conversation, 0)
    with pytest.raises(CacheUnavailable, match="resting"):
        await cache.lookup(conversation, [uuid.uuid4()])
    assert link.errors == 3
    clock.advance(6)  # time to try again: still down, one more failure, no second warning
    with pytest.raises(CacheUnavailable, match="Redis unavailable: "):
        await cache.read(conversation, 0)
    assert caplog.text.count("degrading") == 1
    server.start()  # a new, empty data set on the same port
    clock.advance(6)
    snapshot = await cache.read(conversation, 0)
    assert link.healthy and "available again" in caplog.text
    assert not snapshot.present  # the data were lost with the restart ...
    assert snapshot.epoch_ms > first_epoch  # ... and the epoch says so
    await cache.close()


async def test_a_shared_client_is_not_closed_by_the_link(redis_prefix: str) -> None:
    client = Redis.from_url(SHARED_REDIS_URL)
    link = RedisLink(client=client)
    cache = RedisRecentCache(link, prefix=redis_prefix)
    await cache.add(uuid.uuid4(), message(uuid.uuid4(), 1))
    await cache.close()
    assert await client.ping()
    await client.aclose()


def test_snapshot_times_are_utc_milliseconds() -> None:
    now = datetime.datetime.now(datetime.UTC).timestamp() * 1000
    cache = MemoryRecentCache()
    assert abs(cache.epoch_ms - now) < 5000
