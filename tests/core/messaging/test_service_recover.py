"""Recovery: everything after a position, in order, with no silent gap, from PostgreSQL below the
persister's watermark and the recent cache above it; ``complete`` False wherever neither can
vouch. Real PostgreSQL, EmbeddedLog, persister; Redis where the shared cache matters."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from redis.asyncio import Redis

from gb.core.log import LogUnavailable
from gb.core.messaging.cache import MemoryRecentCache, RedisLink, RedisRecentCache
from gb.core.messaging.errors import MessagingError
from gb.core.messaging.ids import new_message_id
from gb.core.messaging.record import MessageRecord, encode
from gb.protocol.codes import ErrorCode

from ...support.services import SHARED_REDIS_URL, RedisProcess, own_redis
from .test_service_support import TOPIC, Clock, Env, control_db, db, env, redis_prefix

__all__ = ["control_db", "db", "env", "own_redis", "redis_prefix"]

Make = Callable[..., Any]


async def crashed_send(e: Env, conversation: UUID, content: str = "lost") -> tuple[UUID, int]:
    """A sender that registered its intent and appended, then died before the cache add."""
    message_id = new_message_id()
    await e.svc.cache.begin(conversation, message_id)
    record = MessageRecord(
        id=message_id,
        customer_id=e.customer,
        instance_id=e.instance,
        conversation_id=conversation,
        sender="bob",
        kind="text",
        content=content,
    )
    _, position = await e.log.append(TOPIC, record.key, encode(record))
    return message_id, position


async def recover(e: Env, conversation: UUID, after: int, user: str = "bob") -> Any:
    return (await e.svc.recover(e.who(user), {conversation: after}))[conversation]


async def conversation_in(e: Env, partition: int) -> UUID:
    """A conversation whose log partition is ``partition``."""
    while True:
        made = await e.svc.create_conversation(e.who(), members=["bob"])
        if e.partition(made.id) == partition:
            return made.id


async def test_a_new_conversation_recovers_completely_before_and_after_persisting(
    env: Make,
) -> None:
    e: Env = await env()
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = [await e.svc.send(e.who(), conversation, content=f"m{i}") for i in range(3)]
    result = await recover(e, conversation, -1)
    assert result.complete and [m.id for m in result.messages] == [s.id for s in sent]
    after_first = await recover(e, conversation, sent[0].position)
    assert [m.id for m in after_first.messages] == [s.id for s in sent[1:]]
    await e.persist(conversation, sent[1].position)
    more = await e.svc.send(e.who(), conversation, content="after persisting")
    result = await recover(e, conversation, -1)
    assert result.complete
    assert [m.id for m in result.messages] == [*(s.id for s in sent), more.id]
    current = await recover(e, conversation, more.position)
    assert current.complete and current.messages == []
    wire = current.to_wire()
    assert wire == {"messages": [], "complete": True}


async def test_a_send_in_flight_stops_the_answer_below_it(env: Make) -> None:
    e: Env = await env()
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    first = await e.svc.send(e.who(), conversation, content="first")
    await e.svc.cache.begin(conversation, new_message_id())  # another node is appending
    later = await e.svc.send(e.who(), conversation, content="later")
    result = await recover(e, conversation, -1)
    assert not result.complete  # "later" may sit above the one in flight: not yet
    assert [m.id for m in result.messages] == [first.id]
    assert later.position > first.position
    assert e.svc.stats.recoveries_incomplete == 1


async def test_a_stale_intent_whose_message_landed_is_settled_from_postgresql(
    env: Make,
) -> None:
    clock = Clock()
    e: Env = await env(cache=MemoryRecentCache(clock=clock), pending_timeout=1.0)
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    first = await e.svc.send(e.who(), conversation, content="first")
    lost, position = await crashed_send(e, conversation)
    clock.advance(2)
    result = await recover(e, conversation, -1)
    assert not result.complete and [m.id for m in result.messages] == [first.id]
    await e.persist(conversation, position)
    result = await recover(e, conversation, -1)
    assert result.complete
    assert [m.id for m in result.messages] == [first.id, lost]
    assert e.svc.stats.stale_resolved == 1
    assert (await e.svc.cache.read(conversation, 0)).pending == []


async def test_a_stale_intent_that_never_landed_is_dropped_once_later_records_are_in(
    env: Make,
) -> None:
    e: Env = await env(pending_timeout=0.05)
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    await e.svc.cache.begin(conversation, new_message_id())  # its sender died before appending
    await asyncio.sleep(0.15)
    later = await e.svc.send(e.who(), conversation, content="later")
    assert not (await recover(e, conversation, -1)).complete  # nothing proves it yet
    await e.persist(conversation, later.position)
    result = await recover(e, conversation, -1)
    assert result.complete and [m.id for m in result.messages] == [later.id]
    assert e.svc.stats.stale_resolved == 1


async def test_without_the_cache_only_what_postgresql_holds_is_returned(
    env: Make, own_redis: Callable[..., RedisProcess]
) -> None:
    server = own_redis()
    e: Env = await env(cache=RedisRecentCache(RedisLink(server.url, command_timeout=0.3)))
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    first = await e.svc.send(e.who(), conversation, content="persisted")
    await e.persist(conversation, first.position)
    await e.svc.send(e.who(), conversation, content="only cached")
    server.stop()
    result = await recover(e, conversation, -1)
    assert not result.complete and [m.id for m in result.messages] == [first.id]


async def test_an_expired_group_of_an_idle_conversation_is_vouched_by_postgresql(
    env: Make,
) -> None:
    clock = Clock()
    e: Env = await env(cache=MemoryRecentCache(clock=clock, ttl=60))
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = await e.svc.send(e.who(), conversation, content="old")
    await e.persist(conversation, sent.position)
    clock.advance(61)  # idle for longer than the TTL, in a cache older than the TTL
    result = await recover(e, conversation, -1)
    assert result.complete and [m.id for m in result.messages] == [sent.id]


async def test_after_a_restart_the_persister_must_prove_it_has_caught_up(env: Make) -> None:
    e: Env = await env(pending_timeout=0.05)
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = await e.svc.send(e.who(), conversation, content="before the restart")
    await e.persist(conversation, sent.position)
    e.svc.cache = MemoryRecentCache()  # the process restarted: the cache is empty
    result = await recover(e, conversation, -1)
    assert not result.complete and [m.id for m in result.messages] == [sent.id]
    await asyncio.sleep(0.1)
    neighbour = await conversation_in(e, e.partition(conversation))
    proof = await e.svc.send(e.who(), neighbour, content="newer, same partition")
    await e.persist(neighbour, proof.position)
    result = await recover(e, conversation, -1)
    assert result.complete and [m.id for m in result.messages] == [sent.id]


async def test_the_log_end_proves_an_idle_partition_is_persisted(env: Make) -> None:
    ends: dict[int, int] = {}
    fail = False

    async def log_end(topic: str, partition: int) -> int:
        assert topic == TOPIC
        if fail:
            raise LogUnavailable("broker down")
        return ends[partition]

    e: Env = await env(log_end=log_end)
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = await e.svc.send(e.who(), conversation, content="x")
    await e.persist(conversation, sent.position)
    e.svc.cache = MemoryRecentCache()
    ends[e.partition(conversation)] = sent.position + 2  # the log holds one more record
    assert not (await recover(e, conversation, -1)).complete
    ends[e.partition(conversation)] = sent.position + 1
    assert (await recover(e, conversation, -1)).complete
    fail = True
    assert not (await recover(e, conversation, -1)).complete


async def test_a_new_shared_data_set_is_trusted_only_after_the_pending_timeout(
    env: Make, redis_prefix: str
) -> None:
    cache = RedisRecentCache(RedisLink(SHARED_REDIS_URL), prefix=redis_prefix)
    e: Env = await env(cache=cache, pending_timeout=5.0)
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = await e.svc.send(e.who(), conversation, content="x")
    result = await recover(e, conversation, -1)
    assert not result.complete and result.messages == []  # a just-restarted Redis, maybe
    client = Redis.from_url(SHARED_REDIS_URL)
    await client.set(redis_prefix + "epoch", str(int(time.time() * 1000) - 60_000))
    await client.aclose()
    result = await recover(e, conversation, -1)
    assert result.complete and [m.id for m in result.messages] == [sent.id]


async def test_a_cache_failing_while_settling_leaves_the_answer_incomplete(
    env: Make, own_redis: Callable[..., RedisProcess]
) -> None:
    server = own_redis("--rename-command", "ZADD", "")
    cache = RedisRecentCache(RedisLink(server.url, command_timeout=0.3, retry_interval=0.01))
    e: Env = await env(cache=cache, pending_timeout=0.05)
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = await e.svc.send(e.who(), conversation, content="x")  # the cache add fails
    await e.persist(conversation, sent.position)
    await asyncio.sleep(0.1)
    errors = e.svc.stats.cache_errors
    result = await recover(e, conversation, -1)
    assert not result.complete and [m.id for m in result.messages] == [sent.id]  # PostgreSQL's
    assert e.svc.stats.cache_errors == errors + 1 and e.svc.stats.stale_resolved == 0


async def test_long_gaps_come_in_pages(env: Make) -> None:
    e: Env = await env(recover_limit=2)
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = [await e.svc.send(e.who(), conversation, content=f"m{i}") for i in range(3)]
    first = await recover(e, conversation, -1)
    assert not first.complete and [m.id for m in first.messages] == [s.id for s in sent[:2]]
    rest = await recover(e, conversation, first.messages[-1].position)
    assert rest.complete and [m.id for m in rest.messages] == [sent[2].id]


async def test_recovery_input_and_access_per_conversation(env: Make) -> None:
    e: Env = await env()
    mine = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    theirs = (await e.svc.create_conversation(e.who("carol"))).id
    unknown = uuid.uuid4()
    results = await e.svc.recover(e.who("bob"), {mine: -1, theirs: -1, unknown: 5})
    assert results[mine].complete and results[mine].error is None
    forbidden = results[theirs].to_wire()["error"]
    assert forbidden["code"] == ErrorCode.FORBIDDEN and forbidden["name"] == "FORBIDDEN"
    assert results[unknown].error is not None
    assert results[unknown].error.code == ErrorCode.NOT_FOUND
    for positions, message in (
        ({mine: -2}, "must be an integer >= -1"),
        ({mine: True}, "must be an integer >= -1"),
        ({uuid.uuid4(): 0 for _ in range(501)}, "at most 500 conversations"),
    ):
        with pytest.raises(MessagingError) as info:
            await e.svc.recover(e.who("bob"), positions)
        assert info.value.code == ErrorCode.BAD_PAYLOAD and message in info.value.message
