"""What the message-service tests share: a clock, Redis under unique prefixes, a service over
a real PostgreSQL, a real embedded log and the real persister, and an event collector.

Test modules import the fixtures they use by name and list them in ``__all__``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from redis.asyncio import Redis

from gb.core.auth import Identity
from gb.core.log import EmbeddedLog, partition_for
from gb.core.messaging.cache import MemoryRecentCache, RecentCache, RedisLink, RedisRecentCache
from gb.core.messaging.idempotency import IdempotencyStore, MemoryKeyStore, RedisKeyStore
from gb.core.messaging.persister import Persister
from gb.core.messaging.service import MessageService
from gb.core.messaging.store import key_lookup, lookup_key, watermark
from gb.core.storage.database import Database
from tests.support.pg import control_db
from tests.support.services import SHARED_REDIS_URL, wait_until
from tests.support.tenants import make_tenant

__all__ = [
    "TOPIC",
    "Clock",
    "Env",
    "Events",
    "control_db",
    "db",
    "delete_prefix",
    "env",
    "redis_prefix",
]

TOPIC = "gb.messages"
PARTITIONS = 4


class Clock:
    """A settable clock (seconds) for the memory stores' expiry."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def delete_prefix(prefix: str) -> None:
    """Delete one test's keys (SCAN under its unique prefix; the shared Redis is never flushed)."""
    client = Redis.from_url(SHARED_REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the shared Redis, cleaned up afterwards."""
    prefix = f"gbt:{uuid.uuid4().hex[:12]}:"
    yield prefix
    await delete_prefix(prefix)


@pytest.fixture
async def db(control_db: str) -> AsyncIterator[Database]:
    database = await Database.open(control_db, pool_size=4)
    yield database
    await database.close()


class Events:
    """The test's Deliverer: collects conversation events (an observer, not a mock)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, UUID, dict[str, Any]]] = []
        self.fail = False

    async def conversation_event(
        self,
        customer: str,
        instance: str,
        shard_key: int,
        conversation_id: UUID,
        event: dict[str, Any],
    ) -> None:
        if self.fail:
            raise ConnectionError("hub gone")
        self.items.append((customer, instance, conversation_id, event))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for *_, event in self.items if event["type"] == kind]


@dataclass
class Env:
    """A service over real parts, its tenant, and helpers."""

    db: Database
    log: EmbeddedLog
    svc: MessageService
    customer: UUID
    instance: UUID
    events: Events
    directory: Path
    topic: str = "gb.messages"

    def who(self, user: str = "alice", *roles: str) -> Identity:
        return Identity(
            customer=str(self.customer),
            instance=str(self.instance),
            user=user,
            roles=frozenset(roles or ("user",)),
            expires_at=time.time() + 3600,
            customer_id=self.customer,
            instance_id=self.instance,
        )

    def partition(self, conversation_id: UUID) -> int:
        return partition_for(conversation_id.bytes, PARTITIONS)

    async def watermark(self, conversation_id: UUID) -> int:
        async with self.db.tenant(self.customer, readonly=True) as conn:
            return await watermark(conn, self.topic, self.partition(conversation_id))

    async def persist(self, conversation_id: UUID, position: int) -> None:
        """Run the real persister until ``position`` of the conversation's partition is in."""
        persister = Persister(
            self.db, self.log, topic=self.topic, poll=0.02, linger=0.0, watermark_interval=0.01
        )
        await persister.start()
        task = asyncio.ensure_future(persister.run())
        try:
            deadline = time.monotonic() + 10
            while await self.watermark(conversation_id) <= position:
                assert time.monotonic() < deadline, "the persister did not catch up"
                await asyncio.sleep(0.02)
        finally:
            await persister.close()
            await task

    async def key_row(self, sender: str, client_key: str) -> Any:
        async with self.db.tenant(self.customer, readonly=True) as conn:
            return await lookup_key(conn, self.customer, sender, client_key)


def memory_parts(
    clock: Callable[[], float] = time.time, **cache: Any
) -> tuple[RecentCache, IdempotencyStore]:
    return (
        MemoryRecentCache(clock=clock, **cache),
        IdempotencyStore(MemoryKeyStore(clock=clock)),
    )


def redis_parts(prefix: str, **cache: Any) -> tuple[RecentCache, IdempotencyStore]:
    link = RedisLink(SHARED_REDIS_URL)
    return (
        RedisRecentCache(link, prefix=prefix + "rc:", **cache),
        IdempotencyStore(RedisKeyStore(RedisLink(SHARED_REDIS_URL), prefix=prefix + "ik:")),
    )


EnvFactory = Callable[..., Any]


@pytest.fixture
async def env(db: Database, tmp_path: Path) -> AsyncIterator[EnvFactory]:
    """``await env(**service_options)``: a service with memory stores unless ``cache``/``keys``
    are given; every part is closed afterwards."""
    made: list[Env] = []

    async def make(**options: Any) -> Env:
        customer, instance = await make_tenant(db)
        log = EmbeddedLog(tmp_path / f"log{len(made)}")
        await log.start()
        # One topic per service: envs of one test share the database (and its watermarks).
        topic = TOPIC if not made else f"{TOPIC}.{len(made)}"
        await log.ensure_topic(topic, PARTITIONS)
        cache, keys = memory_parts()
        options.setdefault("cache", cache)
        keys = options.setdefault("keys", keys)
        if keys.durable is None:
            keys.durable = key_lookup(db)
        events = Events()
        options.setdefault("deliverer", events)
        svc = MessageService(db, log, topic=topic, partitions=PARTITIONS, **options)
        made.append(Env(db, log, svc, customer, instance, events, tmp_path, topic))
        return made[-1]

    yield make
    for item in made:
        await item.svc.cache.close()
        await item.svc.keys.close()
        await item.log.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    await wait_until(predicate, timeout)
