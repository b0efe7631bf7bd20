"""Client idempotency keys: both fast stores by one suite (memory; the real Redis under a unique
prefix), the durable fallback, and a Redis outage on a private server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import pytest

from gb.core.messaging.cache import RedisLink
from gb.core.messaging.idempotency import (
    IdempotencyStore,
    KeyResult,
    KeyStore,
    MemoryKeyStore,
    RedisKeyStore,
)

from ...support.services import SHARED_REDIS_URL, RedisProcess, own_redis
from .test_service_support import Clock, redis_prefix

__all__ = ["own_redis", "redis_prefix"]


class Stores:
    def __init__(self, kind: str, prefix: str) -> None:
        self.kind = kind
        self.prefix = prefix
        self.clock = Clock()
        self.made: list[KeyStore] = []

    def __call__(self, **options: Any) -> KeyStore:
        store: KeyStore
        if self.kind == "memory":
            store = MemoryKeyStore(clock=self.clock, **options)
        else:
            store = RedisKeyStore(RedisLink(SHARED_REDIS_URL), prefix=self.prefix, **options)
        self.made.append(store)
        return store

    async def wait(self, seconds: float) -> None:
        if self.kind == "memory":
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Stores]:
    made = Stores(request.param, redis_prefix)
    yield made
    for store in made.made:
        await store.close()


async def test_the_first_result_answers_every_repeat(stores: Stores) -> None:
    store = stores()
    conversation, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    claim = await store.claim("k", conversation, first)
    assert (claim.state, claim.message_id, claim.guarded) == ("new", first, True)
    await store.complete("k", KeyResult(first, conversation, 7))
    await store.complete("k", KeyResult(second, conversation, 9))  # the first result stays
    repeat = await store.claim("k", conversation, second)
    assert repeat.state == "done"
    assert repeat.result == KeyResult(first, conversation, 7)


async def test_a_key_of_another_conversation_conflicts(stores: Stores) -> None:
    store = stores()
    conversation, message_id = uuid.uuid4(), uuid.uuid4()
    await store.claim("k", conversation, message_id)
    other = await store.claim("k", uuid.uuid4(), uuid.uuid4())
    assert (other.state, other.conversation_id, other.message_id) == (
        "conflict",
        conversation,
        message_id,
    )
    await store.complete("k", KeyResult(message_id, conversation, 1))
    assert (await store.claim("k", uuid.uuid4(), uuid.uuid4())).state == "conflict"


async def test_in_flight_keys_are_busy_until_stale_then_retried_with_their_id(
    stores: Stores,
) -> None:
    store = stores(stale_after=0.3)
    conversation, message_id = uuid.uuid4(), uuid.uuid4()
    await store.claim("k", conversation, message_id)
    busy = await store.claim("k", conversation, uuid.uuid4())
    assert (busy.state, busy.message_id) == ("busy", message_id)
    await stores.wait(0.4)
    retry = await store.claim("k", conversation, uuid.uuid4())
    assert (retry.state, retry.message_id) == ("retry", message_id)
    assert (await store.claim("k", conversation, uuid.uuid4())).state == "busy"  # taken over


async def test_a_failed_send_is_retried_with_the_same_id(stores: Stores) -> None:
    store = stores()
    conversation, message_id = uuid.uuid4(), uuid.uuid4()
    await store.claim("k", conversation, message_id)
    await store.release("k", uuid.uuid4())  # another attempt's id: ignored
    assert (await store.claim("k", conversation, uuid.uuid4())).state == "busy"
    await store.release("k", message_id)
    retry = await store.claim("k", conversation, uuid.uuid4())
    assert (retry.state, retry.message_id) == ("retry", message_id)
    await store.complete("k", KeyResult(message_id, conversation, 3))
    await store.release("k", message_id)  # done stays done
    assert (await store.claim("k", conversation, uuid.uuid4())).state == "done"
    await store.release("absent", message_id)  # nothing to release


async def test_keys_are_forgotten_after_the_ttl(stores: Stores) -> None:
    store = stores(ttl=0.3)
    conversation, message_id = uuid.uuid4(), uuid.uuid4()
    await store.claim("k", conversation, message_id)
    await store.complete("k", KeyResult(message_id, conversation, 3))
    await stores.wait(0.4)
    assert (await store.claim("k", conversation, uuid.uuid4())).state == "new"


def test_bad_store_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="ttl and stale_after > 0"):
        MemoryKeyStore(ttl=0)
    with pytest.raises(ValueError, match="ttl and stale_after > 0"):
        MemoryKeyStore(stale_after=-1)


async def test_memory_keys_are_swept_past_max_keys() -> None:
    clock = Clock()
    store = MemoryKeyStore(clock=clock, ttl=10, max_keys=3)
    for i in range(3):
        await store.claim(f"k{i}", uuid.uuid4(), uuid.uuid4())
    clock.advance(11)
    await store.claim("fresh", uuid.uuid4(), uuid.uuid4())
    assert len(store) == 1


def test_store_keys_cannot_collide() -> None:
    customer = uuid.uuid4()
    assert IdempotencyStore.key(customer, "a:b", "c") != IdempotencyStore.key(customer, "a", "b:c")
    assert str(customer) in IdempotencyStore.key(customer, "a", "b")


class Durable:
    """The durable half as PostgreSQL would answer it (what the persister wrote)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, str, str], KeyResult] = {}
        self.calls = 0

    async def __call__(self, customer: UUID, sender: str, key: str) -> KeyResult | None:
        self.calls += 1
        return self.rows.get((customer, sender, key))


async def test_the_durable_half_answers_what_the_fast_store_forgot() -> None:
    durable = Durable()
    store = IdempotencyStore(MemoryKeyStore(), durable)
    customer, conversation = uuid.uuid4(), uuid.uuid4()
    first = KeyResult(uuid.uuid4(), conversation, 12)
    durable.rows[(customer, "alice", "k")] = first
    claim = await store.claim(customer, "alice", "k", conversation, uuid.uuid4())
    assert (claim.state, claim.result) == ("done", first)
    calls = durable.calls
    again = await store.claim(customer, "alice", "k", conversation, uuid.uuid4())
    assert again.state == "done" and durable.calls == calls  # the fast store knows it now
    other = await store.claim(customer, "alice", "k2", conversation, uuid.uuid4())
    assert other.state == "new"
    durable.rows[(customer, "bob", "k")] = first
    elsewhere = await store.claim(customer, "bob", "k", uuid.uuid4(), uuid.uuid4())
    assert (elsewhere.state, elsewhere.conversation_id) == ("conflict", conversation)


async def test_without_the_fast_store_claims_are_unguarded_but_durable(
    own_redis: Callable[..., RedisProcess],
) -> None:
    server = own_redis()
    durable = Durable()
    store = IdempotencyStore(RedisKeyStore(RedisLink(server.url, command_timeout=0.3)), durable)
    customer, conversation = uuid.uuid4(), uuid.uuid4()
    server.stop()
    message_id = uuid.uuid4()
    claim = await store.claim(customer, "alice", "k", conversation, message_id)
    assert (claim.state, claim.message_id, claim.guarded) == ("new", message_id, False)
    await store.complete(customer, "alice", "k", KeyResult(message_id, conversation, 1))
    await store.release(customer, "alice", "k", message_id)
    first = KeyResult(uuid.uuid4(), conversation, 4)
    durable.rows[(customer, "alice", "k2")] = first
    found = await store.claim(customer, "alice", "k2", conversation, uuid.uuid4())
    assert (found.state, found.result, found.guarded) == ("done", first, False)
    assert store.degraded == 4
    await store.close()
