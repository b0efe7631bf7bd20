"""Services stop and return under a messaging node; nothing acknowledged is lost.

- Redis (delivery between nodes, recent cache, keys, presence) stops and returns: sends are
  still acknowledged (the log has them), delivery across nodes degrades and comes back by
  itself, and a client recovers what it missed.
- The Kafka-protocol broker (the log) stops: sends are refused with a retryable UNAVAILABLE,
  never acknowledged; what was acknowledged before is in PostgreSQL.
- PostgreSQL stops and returns: sends go on (membership and limits are cached), the persister
  pauses and catches up.

Each test runs the service it breaks on its own port (a private Redis, tansu, PostgreSQL).
"""

import asyncio
import uuid

import orjson
import pytest

from gb.client import GbError, connect
from gb.core.broker import RedisBroker
from gb.core.storage.database import Database
from gb.protocol.codes import ErrorCode

from ...support.pg import control_db
from ...support.pg_cluster import PG_BIN, running_cluster
from ...support.services import own_redis, wait_until
from ...support.tansu import own_tansu
from ...support.tenants import make_tenant

__all__ = ["control_db", "own_redis", "own_tansu"]  # fixtures, used by name


@pytest.fixture
async def db(control_db: str):
    database = await Database.open(control_db, pool_size=4)
    yield database
    await database.close()


def kafka(bootstrap: str) -> dict[str, object]:
    return {
        "kafka_bootstrap": bootstrap,
        "kafka_replication": 1,
        "kafka_idempotent": "off",  # tansu: no InitProducerId
        "log_topic": f"o-{uuid.uuid4().hex[:8]}",
        "log_partitions": 2,
    }


async def count_rows(db: Database, customer: uuid.UUID, ids: list[str]) -> int:
    async with db.tenant(customer, readonly=True) as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE id = ANY($1::uuid[])", ids
        )
        return n


@pytest.mark.reliability
async def test_redis_stops_and_returns(db, node_factory, tmp_path, own_redis, own_tansu):
    redis = own_redis()
    log = kafka(own_tansu().bootstrap)
    a = await node_factory(
        database=db,
        broker=RedisBroker(redis.url, node_id="ro-a"),
        node_id="ro-a",
        data_dir=str(tmp_path / "a"),
        redis_url=redis.url,
        message_pending_timeout=3,  # how long a restarted Redis is not trusted to vouch
        **log,
    )
    b = await node_factory(
        database=db,
        broker=RedisBroker(redis.url, node_id="ro-b"),
        node_id="ro-b",
        data_dir=str(tmp_path / "b"),
        redis_url=redis.url,
        persister="off",
        message_pending_timeout=3,
        **log,
    )
    customer, instance = await make_tenant(db)
    ids = {"customer": str(customer), "instance": str(instance)}
    alice = await connect(a.ws_url, a.token(user="alice", **ids))
    bob = await connect(b.ws_url, b.token(user="bob", **ids))
    conv = (await alice.rpc("conv.create", {"members": ["bob"]}))["id"]
    sub = await bob.subscribe(f"conv:{conv}")
    first = await alice.rpc("msg.send", {"conversation_id": conv, "content": "before"})
    assert orjson.loads((await sub.next(timeout=5)).payload)["message"]["id"] == first["id"]

    redis.stop()
    during = [
        await alice.rpc(
            "msg.send", {"conversation_id": conv, "content": f"during {i}", "client_key": f"d{i}"}
        )
        for i in range(10)
    ]  # acknowledged: the log has them, Redis is not on the ACK path
    with pytest.raises(TimeoutError):  # no live delivery across nodes meanwhile
        await sub.next(timeout=0.5)

    redis.start()
    await wait_until(lambda: a.node.broker.healthy and b.node.broker.healthy, 20)
    after = await alice.rpc("msg.send", {"conversation_id": conv, "content": "after"})
    event = orjson.loads((await sub.next(timeout=10)).payload)  # delivery is back by itself
    assert event["message"]["id"] == after["id"]
    assert event["prev"] is None  # the cache lost its vouching with Redis: recover first
    # Bob recovers everything after the last position he had proven; it may take until the
    # persister has the outage's messages (the cache cannot vouch for them).
    wanted = [m["id"] for m in (*during, after)]
    async with asyncio.timeout(60):
        while True:
            answer = await bob.rpc("msg.recover", {"positions": {conv: first["position"]}})
            got = answer["conversations"][conv]
            if got["complete"] and len(got["messages"]) == len(wanted):
                break
            await asyncio.sleep(0.2)
    assert [m["id"] for m in got["messages"]] == wanted
    await wait_until_async(lambda: count_rows(db, customer, [first["id"], *wanted]), 12)
    await alice.close()
    await bob.close()


async def wait_until_async(count, expected: int, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while await count() != expected:
            await asyncio.sleep(0.1)


@pytest.mark.reliability
async def test_the_log_broker_stops_and_sends_are_refused(db, node_factory, tmp_path, own_tansu):
    broker = own_tansu()
    node = await node_factory(database=db, data_dir=str(tmp_path / "n"), **kafka(broker.bootstrap))
    customer, instance = await make_tenant(db)
    alice = await connect(
        node.ws_url, node.token(user="alice", customer=str(customer), instance=str(instance))
    )
    conv = (await alice.rpc("conv.create", {"members": ["bob"]}))["id"]
    acked = [
        (await alice.rpc("msg.send", {"conversation_id": conv, "content": f"m{i}"}))["id"]
        for i in range(5)
    ]
    await wait_until_async(lambda: count_rows(db, customer, acked), 5)
    broker.kill()
    with pytest.raises(GbError) as refused:
        await alice.rpc(
            "msg.send",
            {"conversation_id": conv, "content": "lost?", "client_key": "k-out"},
            timeout=60,
        )
    assert refused.value.code == ErrorCode.UNAVAILABLE
    assert refused.value.details["retry_after_ms"] > 0
    async with db.tenant(customer, readonly=True) as conn:
        stored = await conn.fetch("SELECT content FROM messages WHERE conversation_id = $1", conv)
    assert sorted(r["content"] for r in stored) == [f"m{i}" for i in range(5)]
    await alice.close()


@pytest.fixture
def private_pg():
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL server binaries not in {PG_BIN}")
    with running_cluster("gb-outage-pg-") as pg:
        yield pg


@pytest.mark.reliability
async def test_postgresql_stops_and_the_persister_catches_up(private_pg, node_factory, tmp_path):
    dsn = await private_pg.database(control=True)
    database = await Database.open(dsn, pool_size=4, map_ttl=3600)
    try:
        node = await node_factory(
            database=database, data_dir=str(tmp_path / "n"), membership_ttl=300
        )
        customer, instance = await make_tenant(database)
        ids = {"customer": str(customer), "instance": str(instance)}
        alice = await connect(node.ws_url, node.token(user="alice", **ids))
        conv = (await alice.rpc("conv.create", {"members": ["bob"]}))["id"]
        first = await alice.rpc("msg.send", {"conversation_id": conv, "content": "first"})
        await wait_until_async(lambda: count_rows(database, customer, [first["id"]]), 1)
        private_pg.stop()
        during = [
            (await alice.rpc("msg.send", {"conversation_id": conv, "content": f"d{i}"}))["id"]
            for i in range(20)
        ]  # acknowledged: the log has them; membership and limits come from the caches
        persisted = node.node.messaging.persister.metrics
        await asyncio.sleep(1.0)
        private_pg.start()
        await wait_until_async(lambda: count_rows(database, customer, during), 20, timeout=60)
        assert persisted is not None
        await alice.close()
        await node.node.stop()
    finally:
        await database.close()
