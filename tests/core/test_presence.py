"""One suite for both presence stores (memory, Redis) plus Redis-only adversity.

The shared Redis is used with a unique scope per test and never flushed; entries use short
ttls and last-seen stamps a short ``last_seen_ttl``, so nothing a test writes outlives it by
more than a minute. Tests that stop, freeze or reconfigure a server start their own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import NoPermissionError, ResponseError

from gb.core.presence import (
    PRESENCE_KINDS,
    Member,
    MemoryPresence,
    PresenceStore,
    PresenceTable,
    PresenceUnavailable,
    RedisPresence,
    UserStatus,
    create_presence,
)
from gb.core.presence.base import CHUNK, channel_key, last_seen_key, user_key
from gb.core.presence.redis import MAX_BATCH

from ..support.services import SHARED_REDIS_URL, RedisProcess, own_redis

__all__ = ["own_redis"]  # a fixture, used by name

LAST_SEEN_TTL = 60.0

MakeNode = Callable[..., Awaitable[PresenceStore]]


@pytest.fixture
def scope() -> str:
    """A tenant scope no other test (or parallel run) uses."""
    return f"t-{uuid.uuid4().hex}"


@pytest.fixture(params=PRESENCE_KINDS)
async def make_node(request: pytest.FixtureRequest) -> AsyncIterator[MakeNode]:
    """Factory of nodes of one store kind; nodes made by one test share one backend."""
    kind: str = request.param
    table = PresenceTable()
    stores: list[PresenceStore] = []

    async def make(
        *, ttl: float = 5.0, last_seen_ttl: float = LAST_SEEN_TTL, start: bool = True
    ) -> PresenceStore:
        node_id = f"node{len(stores)}"
        store: PresenceStore
        if kind == "memory":
            store = MemoryPresence(node_id, table, ttl=ttl, last_seen_ttl=last_seen_ttl)
        else:
            store = RedisPresence(SHARED_REDIS_URL, node_id, ttl=ttl, last_seen_ttl=last_seen_ttl)
        stores.append(store)
        if start:
            await store.start()
        return store

    yield make
    for store in stores:
        await store.close()


async def heartbeat_until(
    store: PresenceStore, done: Callable[[], Awaitable[bool]], timeout: float
) -> None:
    """Heartbeat ``store`` every 0.1 s until ``done()`` (bounded by ``timeout``)."""
    async with asyncio.timeout(timeout):
        while not await done():
            await store.heartbeat()
            await asyncio.sleep(0.1)


def sessions_of(members: list[Member]) -> set[tuple[str, str, str]]:
    return {(m.session, m.user, m.node) for m in members}


# -- the shared suite: both kinds -------------------------------------------------------------


async def test_online_offline_and_last_seen(make_node: MakeNode, scope: str) -> None:
    node = await make_node()
    assert await node.status(scope, ["ann"]) == {"ann": UserStatus(False, None, 0)}
    await node.online(scope, "ann", "s1")
    await node.online(scope, "ann", "s2")
    await node.online(scope, "ann", "s2")  # again: renews, still two sessions
    assert await node.status(scope, ["ann", "bob"]) == {
        "ann": UserStatus(True, None, 2),
        "bob": UserStatus(False, None, 0),
    }
    await node.offline(scope, "ann", "s1")
    assert await node.status(scope, ["ann"]) == {"ann": UserStatus(True, None, 1)}
    before = time.time()
    await node.offline(scope, "ann", "s2")
    status = (await node.status(scope, ["ann"]))["ann"]
    assert status.online is False
    assert status.sessions == 0
    assert status.last_seen is not None
    assert before - 1 <= status.last_seen <= time.time() + 1
    assert node.local_entries == (0, 0)


async def test_offline_of_unknown_session_changes_nothing(make_node: MakeNode, scope: str) -> None:
    node = await make_node()
    await node.offline(scope, "ann", "never")  # no such session anywhere
    await node.online(scope, "ann", "s1")
    await node.offline(scope, "ann", "other")  # the user has one, but not this one
    assert await node.status(scope, ["ann"]) == {"ann": UserStatus(True, None, 1)}
    assert await node.status(scope, []) == {}


async def test_two_nodes_see_each_others_members(make_node: MakeNode, scope: str) -> None:
    node_a, node_b = await make_node(), await make_node()
    assert await node_a.join(scope, "room", "sa", "ann") == 1
    assert await node_b.join(scope, "room", "sb", "bob") == 2
    expected = {("sa", "ann", "node0"), ("sb", "bob", "node1")}
    assert sessions_of(await node_a.members(scope, "room")) == expected
    assert sessions_of(await node_b.members(scope, "room")) == expected
    assert await node_b.count(scope, "room") == 2
    assert await node_a.leave(scope, "room", "sb") == 2  # sb belongs to node B, not to A
    assert await node_a.leave(scope, "room", "sa") == 1
    assert await node_b.members(scope, "room") == [Member("sb", "bob", "node1")]
    assert await node_b.leave(scope, "room", "sb") == 0
    assert await node_a.members(scope, "room") == []
    assert await node_a.count(scope, "nobody-here") == 0


async def test_users_online_on_two_nodes(make_node: MakeNode, scope: str) -> None:
    node_a, node_b = await make_node(), await make_node()
    await node_a.online(scope, "ann", "s1")
    await node_b.online(scope, "ann", "s2")
    assert (await node_a.status(scope, ["ann"]))["ann"] == UserStatus(True, None, 2)
    await node_b.offline(scope, "ann", "s2")
    assert (await node_b.status(scope, ["ann"]))["ann"] == UserStatus(True, None, 1)


async def test_join_again_renews_and_replaces_the_user(make_node: MakeNode, scope: str) -> None:
    node = await make_node()
    assert await node.join(scope, "room", "s1", "ann") == 1
    assert await node.join(scope, "room", "s1", "ann") == 1
    assert await node.join(scope, "room", "s1", "bob") == 1
    assert await node.members(scope, "room") == [Member("s1", "bob", "node0")]
    assert node.local_entries == (0, 1)
    assert await node.join(scope, "room", "s2", "ann") == 2
    assert await node.leave(scope, "room", "s1") == 1
    assert node.local_entries == (0, 1)


async def test_scopes_are_separate(make_node: MakeNode, scope: str) -> None:
    node = await make_node()
    other = scope + "-other"
    await node.join(scope, "room", "s1", "ann")
    await node.online(scope, "ann", "s1")
    assert await node.count(other, "room") == 0
    assert (await node.status(other, ["ann"]))["ann"] == UserStatus(False, None, 0)
    assert await node.leave(other, "room", "s1") == 0
    assert await node.count(scope, "room") == 1


async def test_crashed_node_vanishes_after_ttl(make_node: MakeNode, scope: str) -> None:
    crashed, alive = await make_node(ttl=1.0), await make_node(ttl=1.0)
    await crashed.online(scope, "ann", "sa")
    await crashed.join(scope, "room", "sa", "ann")
    await alive.online(scope, "bob", "sb")
    await alive.join(scope, "room", "sb", "bob")
    await crashed.close(withdraw=False)  # a crash: nothing removed, no more heartbeats
    assert await alive.count(scope, "room") == 2
    crashed_at = time.time()

    async def crashed_gone() -> bool:
        return await alive.count(scope, "room") == 1

    await heartbeat_until(alive, crashed_gone, timeout=5)
    assert time.time() - crashed_at >= 0.8  # not before its ttl ran out
    assert await alive.members(scope, "room") == [Member("sb", "bob", "node1")]
    status = await alive.status(scope, ["ann", "bob"])
    assert status["bob"] == UserStatus(True, None, 1)
    assert status["ann"].online is False
    assert status["ann"].last_seen is not None
    assert crashed_at - 2 <= status["ann"].last_seen <= crashed_at + 1


async def test_heartbeat_keeps_entries_past_the_ttl(make_node: MakeNode, scope: str) -> None:
    node = await make_node(ttl=0.5)
    assert node.heartbeat_interval == pytest.approx(0.5 / 3)
    await node.heartbeat()  # nothing held yet: nothing to do
    await node.online(scope, "ann", "s1")
    await node.join(scope, "room", "s1", "ann")
    assert node.local_entries == (1, 1)
    deadline = time.monotonic() + 1.2  # more than twice the ttl
    while time.monotonic() < deadline:
        await node.heartbeat()
        await asyncio.sleep(0.1)
    assert await node.count(scope, "room") == 1
    assert (await node.status(scope, ["ann"]))["ann"] == UserStatus(True, None, 1)
    await asyncio.sleep(0.7)  # no heartbeat for longer than the ttl
    assert await node.count(scope, "room") == 0
    assert (await node.status(scope, ["ann"]))["ann"].online is False


async def test_heartbeat_does_not_revive_a_later_leave(make_node: MakeNode, scope: str) -> None:
    node = await make_node()
    await node.online(scope, "ann", "s1")
    await node.join(scope, "room", "s1", "ann")
    # The heartbeat snapshots its entries before the leave; the leave must still win.
    await asyncio.gather(
        node.heartbeat(), node.leave(scope, "room", "s1"), node.offline(scope, "ann", "s1")
    )
    assert await node.count(scope, "room") == 0
    assert (await node.status(scope, ["ann"]))["ann"].online is False


async def test_clean_close_withdraws_entries(make_node: MakeNode, scope: str) -> None:
    leaving, staying = await make_node(), await make_node()
    await leaving.online(scope, "ann", "s1")
    await leaving.online(scope, "ann", "s2")
    await leaving.join(scope, "room", "s1", "ann")
    await staying.join(scope, "room", "s3", "bob")
    await leaving.close()
    await leaving.close()  # idempotent
    assert await staying.members(scope, "room") == [Member("s3", "bob", "node1")]
    status = (await staying.status(scope, ["ann"]))["ann"]
    assert status.online is False
    assert status.last_seen is not None


async def test_last_seen_expires(make_node: MakeNode, scope: str) -> None:
    node = await make_node(last_seen_ttl=0.3)
    await node.online(scope, "ann", "s1")
    await node.offline(scope, "ann", "s1")
    assert (await node.status(scope, ["ann"]))["ann"].last_seen is not None
    await asyncio.sleep(0.4)
    assert (await node.status(scope, ["ann"]))["ann"] == UserStatus(False, None, 0)


async def test_many_members_and_concurrent_calls(make_node: MakeNode, scope: str) -> None:
    node_a, node_b = await make_node(), await make_node()
    total = CHUNK * 2 + 100  # a heartbeat of several chunks
    await asyncio.gather(  # more calls at once than one pipeline carries
        *(node_a.join(scope, "big", f"s{n}", f"u{n % 7}") for n in range(total))
    )
    await asyncio.gather(*(node_a.online(scope, f"u{n}", f"s{n}") for n in range(MAX_BATCH)))
    assert node_a.local_entries == (MAX_BATCH, total)
    await node_a.heartbeat()
    assert await node_b.count(scope, "big") == total
    members = await node_b.members(scope, "big")
    assert len(members) == total
    assert {m.node for m in members} == {"node0"}
    statuses = await node_b.status(scope, [f"u{n}" for n in range(MAX_BATCH)])
    assert all(s.online for s in statuses.values())


async def test_bad_names_are_refused(make_node: MakeNode, scope: str) -> None:
    node = await make_node()
    for bad in ("", "a{b", "a}b"):
        with pytest.raises(ValueError, match="scope"):
            await node.join(bad, "room", "s1", "ann")
        with pytest.raises(ValueError, match="scope"):
            await node.status(bad, ["ann"])
    with pytest.raises(ValueError):
        await node.join(scope, "room\ud800", "s1", "ann")  # not encodable: the key
    with pytest.raises(ValueError, match="Unicode"):
        await node.join(scope, "room", "s1\ud800", "ann")  # not encodable: the member
    with pytest.raises(ValueError, match="Unicode"):
        await node.online(scope, "ann", "s1\ud800")
    assert node.local_entries == (0, 0)  # nothing recorded by a refused call
    with pytest.raises(ValueError, match="positive"):
        await make_node(ttl=0)
    with pytest.raises(ValueError, match="positive"):
        await make_node(last_seen_ttl=-1)


async def test_lifecycle_errors(make_node: MakeNode, scope: str) -> None:
    node = await make_node(start=False)
    with pytest.raises(PresenceUnavailable, match="not started"):
        await node.online(scope, "ann", "s1")
    await node.start()
    with pytest.raises(RuntimeError, match="twice"):
        await node.start()
    await node.close()
    for call in (
        node.heartbeat(),
        node.count(scope, "room"),
        node.members(scope, "room"),
        node.join(scope, "room", "s1", "ann"),
        node.leave(scope, "room", "s1"),
        node.offline(scope, "ann", "s1"),
    ):
        with pytest.raises(PresenceUnavailable, match="closed"):
            await call
    with pytest.raises(RuntimeError, match="after close"):
        await node.start()
    never_started = await make_node(start=False)
    await never_started.close()  # nothing to withdraw, nothing to disconnect from


def test_create_presence() -> None:
    memory = create_presence("memory", SHARED_REDIS_URL, "n1", 3.0)
    assert isinstance(memory, MemoryPresence)
    assert (memory.node_id, memory.ttl) == ("n1", 3.0)
    redis = create_presence("redis", "redis://127.0.0.1:1", "n2", 4.0)
    assert isinstance(redis, RedisPresence)
    assert (redis.url, redis.node_id, redis.ttl) == ("redis://127.0.0.1:1", "n2", 4.0)
    with pytest.raises(ValueError, match="unknown presence kind 'kafka'"):
        create_presence("kafka", SHARED_REDIS_URL, "n3", 1.0)


# -- memory only ------------------------------------------------------------------------------


async def test_memory_heartbeat_sweeps_what_nobody_reads(scope: str) -> None:
    clock = [1000.0]
    table = PresenceTable(clock=lambda: clock[0])
    crashed = MemoryPresence("a", table, ttl=1.0, last_seen_ttl=10.0)
    alive = MemoryPresence("b", table, ttl=1.0, last_seen_ttl=10.0)
    await crashed.start()
    await alive.start()
    assert table.stores == {crashed, alive}
    await crashed.online(scope, "ann", "s1")
    await crashed.join(scope, "room", "s1", "ann")
    await alive.online(scope, "bob", "s2")
    await crashed.close(withdraw=False)
    assert table.stores == {alive}
    clock[0] += 2  # past the ttl: ann's entries are dead but still stored
    assert channel_key(scope, "room") in table.sets
    await alive.heartbeat()
    assert set(table.sets) == {user_key(scope, "bob")}
    assert set(table.stamps) == {last_seen_key(scope, "ann"), last_seen_key(scope, "bob")}
    clock[0] += 9.5  # ann's stamp (from t=1000) is past last_seen_ttl, bob's is renewed
    await alive.heartbeat()
    assert set(table.stamps) == {last_seen_key(scope, "bob")}
    await alive.offline(scope, "bob", "s2")
    assert table.sets == {}  # an empty set is no key, as in Redis
    await alive.close()


# -- Redis only -------------------------------------------------------------------------------


async def test_redis_layout_uses_hash_tags_and_key_expiry(scope: str) -> None:
    node = RedisPresence(SHARED_REDIS_URL, "n1", ttl=5.0, last_seen_ttl=LAST_SEEN_TTL)
    await node.start()
    client = Redis.from_url(SHARED_REDIS_URL)
    try:
        await node.online(scope, "ann", "s1")
        await node.join(scope, "room", "s1", "ann")
        keys: list[Any] = sorted(await client.keys(f"gb:pr:{{{scope}}}:*"))
        assert keys == [
            f"gb:pr:{{{scope}}}:c:room".encode(),
            f"gb:pr:{{{scope}}}:ls:ann".encode(),
            f"gb:pr:{{{scope}}}:u:ann".encode(),
        ]
        assert len({key_slot(key) for key in keys}) == 1  # one tenant, one cluster slot
        for key in keys:
            assert 0 < await client.pttl(key) <= LAST_SEEN_TTL * 1000
        scored: list[Any] = await client.zrange(keys[0], 0, -1, withscores=True)
        server_ms = int((await client.time())[0]) * 1000
        assert scored[0][0] == b'["s1","ann","n1"]'
        assert server_ms < scored[0][1] <= server_ms + 6000  # a deadline of the server's clock
    finally:
        await node.close()
        await client.aclose()


async def test_redis_error_reply_reaches_the_caller(scope: str) -> None:
    node = RedisPresence(SHARED_REDIS_URL, "n1", ttl=5.0)
    await node.start()
    client = Redis.from_url(SHARED_REDIS_URL)
    try:
        await client.set(channel_key(scope, "room"), b"not a sorted set", ex=60)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await node.join(scope, "room", "s1", "ann")
        assert await node.count(scope, "other") == 0  # the store goes on working
        await client.delete(channel_key(scope, "room"))
        await node.heartbeat()  # the refused join was recorded and is written now
        assert await node.members(scope, "room") == [Member("s1", "ann", "n1")]
    finally:
        await node.close()
        await client.aclose()


async def test_redis_cancelled_caller_does_not_break_the_batch(scope: str) -> None:
    node = RedisPresence(SHARED_REDIS_URL, "n1", ttl=5.0)
    await node.start()
    try:
        task = asyncio.create_task(node.join(scope, "room", "s1", "ann"))
        await asyncio.sleep(0)  # queued, not answered yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await node.count(scope, "room") == 1  # the write went out all the same
    finally:
        await node.close()


async def test_redis_outage_raises_and_recovers(
    own_redis: Callable[..., RedisProcess], scope: str
) -> None:
    server = own_redis()
    node = RedisPresence(server.url, "n1", ttl=30.0, connect_timeout=0.5, command_timeout=0.5)
    other = RedisPresence(server.url, "n2", ttl=30.0, connect_timeout=0.5, command_timeout=0.5)
    await node.start()
    await other.start()
    try:
        await node.online(scope, "ann", "s1")
        await node.join(scope, "room", "s1", "ann")
        server.stop()
        started = time.monotonic()
        with pytest.raises(PresenceUnavailable, match="redis presence 'n1'"):
            await node.join(scope, "room", "s2", "bob")  # refused, but recorded
        with pytest.raises(PresenceUnavailable):
            await node.online(scope, "bob", "s2")
        with pytest.raises(PresenceUnavailable):
            await node.status(scope, ["ann"])
        with pytest.raises(PresenceUnavailable):
            await node.heartbeat()
        assert time.monotonic() - started < 5  # prompt, not hanging
        server.start()  # same port, empty data: everything was lost, the script too

        async def repaired() -> bool:
            try:
                await node.heartbeat()
            except PresenceUnavailable:
                return False
            return True

        async with asyncio.timeout(10):
            while not await repaired():
                await asyncio.sleep(0.05)
        assert sessions_of(await other.members(scope, "room")) == {
            ("s1", "ann", "n1"),
            ("s2", "bob", "n1"),
        }
        status = await other.status(scope, ["ann", "bob"])
        assert status == {"ann": UserStatus(True, None, 1), "bob": UserStatus(True, None, 1)}
    finally:
        await node.close()
        await other.close()


async def test_redis_frozen_server_times_out_and_recovers(
    own_redis: Callable[..., RedisProcess], scope: str
) -> None:
    server = own_redis()
    node = RedisPresence(server.url, "n1", ttl=30.0, command_timeout=0.3)
    await node.start()
    try:
        await node.join(scope, "room", "s1", "ann")
        server.freeze()
        started = time.monotonic()
        with pytest.raises(PresenceUnavailable, match="Timeout"):
            await node.count(scope, "room")
        assert time.monotonic() - started < 3
        server.thaw()
        async with asyncio.timeout(10):
            while True:
                try:
                    assert await node.count(scope, "room") == 1
                    break
                except PresenceUnavailable:
                    await asyncio.sleep(0.05)
    finally:
        await node.close()


async def test_redis_start_and_close_while_unreachable(
    own_redis: Callable[..., RedisProcess], scope: str
) -> None:
    server = own_redis()
    server.stop()
    node = RedisPresence(server.url, "n1", ttl=30.0, connect_timeout=0.5)
    with pytest.raises(PresenceUnavailable, match=server.url):
        await node.start()
    server.start()
    await node.start()  # may be called again after a failed start
    await node.join(scope, "room", "s1", "ann")
    server.stop()
    await node.close()  # withdrawing fails: logged, the entries are left to expire
    with pytest.raises(PresenceUnavailable, match="closed"):
        await node.count(scope, "room")


async def test_redis_closing_fails_calls_in_flight(
    own_redis: Callable[..., RedisProcess], scope: str
) -> None:
    server = own_redis()
    node = RedisPresence(server.url, "n1", ttl=30.0, command_timeout=5.0)
    await node.start()
    server.freeze()  # calls stay in flight until close
    calls = [asyncio.create_task(node.count(scope, f"room{n}")) for n in range(3)]
    await asyncio.sleep(0.1)
    calls[0].cancel()  # a caller that gave up: its future is done already
    await asyncio.sleep(0)
    await node.close(withdraw=False)
    results: list[Any] = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, PresenceUnavailable) for r in results[1:]), results
    server.thaw()


async def test_redis_reloads_a_flushed_script_and_reports_other_failures(
    own_redis: Callable[..., RedisProcess], scope: str
) -> None:
    server = own_redis()
    admin = Redis.from_url(server.url)
    await admin.acl_setuser(
        "gb", enabled=True, passwords=["+secret"], keys=["*"], commands=["+@all"]
    )
    node = RedisPresence(server.url.replace("//", "//gb:secret@"), "n1", ttl=30.0)
    await node.start()
    try:
        await node.join(scope, "room", "s1", "ann")
        await admin.script_flush()
        assert await node.join(scope, "room", "s2", "bob") == 2  # NOSCRIPT: loaded again
        await admin.script_flush()
        await admin.acl_setuser("gb", commands=["-script"])
        with pytest.raises(NoPermissionError):  # not an outage: the error as Redis gave it
            await node.count(scope, "room")
        await admin.acl_setuser("gb", commands=["+script"])
        assert await node.count(scope, "room") == 2
    finally:
        await node.close()
        await admin.aclose()
