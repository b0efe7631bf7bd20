"""Messaging through a whole node: RPC over the WebSocket, the log, the persister inside the
node, real-time events on conv: channels, receipts, recovery — embedded and with Kafka."""

import asyncio
import uuid

import httpx
import orjson
import pytest

from gb.client import GbError, connect
from gb.core.broker import RedisBroker
from gb.core.storage.database import Database
from gb.protocol.codes import ErrorCode

from ...support.pg import control_db
from ...support.services import SHARED_REDIS_URL
from ...support.tansu import own_tansu
from ...support.tenants import make_tenant

__all__ = ["control_db", "own_tansu"]  # fixtures, used by name


@pytest.fixture
async def db(control_db: str):
    database = await Database.open(control_db, pool_size=4)
    yield database
    await database.close()


async def persisted(db: Database, customer: uuid.UUID, message_id: str) -> int:
    async with db.tenant(customer, readonly=True) as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE id = $1", uuid.UUID(message_id)
        )
        return count


async def wait_persisted(db: Database, customer: uuid.UUID, message_id: str) -> None:
    async with asyncio.timeout(15):
        while await persisted(db, customer, message_id) == 0:
            await asyncio.sleep(0.05)


def event(delivery) -> dict:
    return orjson.loads(delivery.payload)


async def test_a_conversation_end_to_end_on_one_node(db, node_factory, tmp_path):
    node = await node_factory(database=db, data_dir=str(tmp_path / "node"))
    customer, instance = await make_tenant(db)
    ids = {"customer": str(customer), "instance": str(instance)}
    alice = await connect(node.ws_url, node.token(user="alice", **ids))
    bob = await connect(node.ws_url, node.token(user="bob", **ids))
    mallory = await connect(node.ws_url, node.token(user="mallory", **ids))
    conv = await alice.rpc("conv.create", {"title": "lunch", "members": ["bob"]})
    channel = f"conv:{conv['id']}"
    sub_a = await alice.subscribe(channel)
    sub_b = await bob.subscribe(channel)
    with pytest.raises(GbError) as denied:
        await mallory.subscribe(channel)
    assert denied.value.code == ErrorCode.FORBIDDEN

    sent = await alice.rpc(
        "msg.send", {"conversation_id": conv["id"], "content": "pizza?", "client_key": "k-1"}
    )
    assert sent["position"] >= 0 and not sent["duplicate"]
    got = event(await sub_b.next(timeout=5))
    assert got["type"] == "message" and got["message"]["content"] == "pizza?"
    assert got["message"]["id"] == sent["id"] and got["message"]["sender"] == "alice"
    assert event(await sub_a.next(timeout=5))["message"]["id"] == sent["id"]
    again = await alice.rpc(
        "msg.send", {"conversation_id": conv["id"], "content": "pizza?", "client_key": "k-1"}
    )
    assert again["id"] == sent["id"] and again["duplicate"]

    # Receipts: bob's delivered and read reach alice live, never backwards.
    for status in ("delivered", "read"):
        await bob.rpc(
            "msg.status",
            {"conversation_id": conv["id"], "message_ids": [sent["id"]], "status": status},
        )
        change = event(await sub_a.next(timeout=5))
        assert change["type"] == "status" and change["status"] == status
        assert change["user"] == "bob"
        assert event(await sub_b.next(timeout=5)) == change
    with pytest.raises(GbError) as backwards:
        await bob.rpc(
            "msg.status",
            {"conversation_id": conv["id"], "message_ids": [sent["id"]], "status": "delivered"},
        )
    assert backwards.value.code == ErrorCode.CONFLICT

    await wait_persisted(db, customer, sent["id"])  # the persister runs inside the node
    assert await persisted(db, customer, sent["id"]) == 1
    recovered = await bob.rpc("msg.recover", {"positions": {conv["id"]: -1}})
    answer = recovered["conversations"][conv["id"]]
    assert [m["id"] for m in answer["messages"]] == [sent["id"]] and answer["complete"]
    with pytest.raises(GbError) as outsider:
        await mallory.rpc("msg.send", {"conversation_id": conv["id"], "content": "hi"})
    assert outsider.value.code == ErrorCode.FORBIDDEN
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        scrape = (await http.get("/metrics")).text
    assert 'gb_messaging_events_total{event="sent"} 1.0' in scrape
    assert 'gb_messaging_events_total{event="duplicates"} 1.0' in scrape
    assert "gb_persister_records_total" in scrape
    for client in (alice, bob, mallory):
        await client.close()


async def test_two_nodes_share_the_kafka_log_and_deliver_through_redis(
    db, node_factory, tmp_path, own_tansu
):
    broker = own_tansu()
    kafka = {
        "kafka_bootstrap": broker.bootstrap,
        "kafka_replication": 1,
        "kafka_idempotent": "off",  # tansu has no InitProducerId
        "log_topic": f"t-{uuid.uuid4().hex[:8]}",
        "log_partitions": 4,
        "redis_url": SHARED_REDIS_URL,
    }
    a = await node_factory(
        database=db,
        broker=RedisBroker(SHARED_REDIS_URL, node_id="msg-a"),
        node_id="msg-a",
        data_dir=str(tmp_path / "a"),
        **kafka,
    )
    b = await node_factory(
        database=db,
        broker=RedisBroker(SHARED_REDIS_URL, node_id="msg-b"),
        node_id="msg-b",
        data_dir=str(tmp_path / "b"),
        persister="off",  # one persister is enough; b's consumer would share the group
        **kafka,
    )
    assert isinstance(a.node.broker, RedisBroker)
    customer, instance = await make_tenant(db)
    ids = {"customer": str(customer), "instance": str(instance)}
    alice = await connect(a.ws_url, a.token(user="alice", **ids))
    bob = await connect(b.ws_url, b.token(user="bob", **ids))
    conv = await alice.rpc("conv.create", {"members": ["bob"]})
    sub_b = await bob.subscribe(f"conv:{conv['id']}")
    positions = []
    for i in range(20):
        sent = await alice.rpc("msg.send", {"conversation_id": conv["id"], "content": f"m{i}"})
        positions.append(sent["position"])
    assert positions == sorted(positions) and len(set(positions)) == 20
    live = [event(await sub_b.next(timeout=10))["message"]["content"] for _ in range(20)]
    assert live == [f"m{i}" for i in range(20)]
    # Bob reconnects to node a and asks for what came after the fifth message.
    await bob.close()
    bob = await connect(a.ws_url, a.token(user="bob", **ids))
    recovered = await bob.rpc("msg.recover", {"positions": {conv["id"]: positions[4]}})
    answer = recovered["conversations"][conv["id"]]
    assert [m["content"] for m in answer["messages"]] == [f"m{i}" for i in range(5, 20)]
    await wait_persisted(
        db,
        customer,
        (
            await alice.rpc(
                "msg.get", {"conversation_id": conv["id"], "direction": "backward", "limit": 1}
            )
        )["items"][0]["id"],
    )
    await alice.close()
    await bob.close()


async def test_presence_status_across_the_tenant(db, node_factory, tmp_path):
    node = await node_factory(database=db, data_dir=str(tmp_path / "p"))
    customer, instance = await make_tenant(db)
    ids = {"customer": str(customer), "instance": str(instance)}
    alice = await connect(node.ws_url, node.token(user="alice", **ids))
    bob = await connect(node.ws_url, node.token(user="bob", **ids))
    async with asyncio.timeout(5):
        while True:
            answer = await alice.rpc("presence.status", {"users": ["alice", "bob", "carol"]})
            if answer["bob"]["online"]:
                break
            await asyncio.sleep(0.02)
    assert answer["alice"] == {"online": True, "last_seen": None, "sessions": 1}
    assert answer["carol"] == {"online": False, "last_seen": None, "sessions": 0}
    await bob.close()
    async with asyncio.timeout(5):
        while (await alice.rpc("presence.status", {"users": ["bob"]}))["bob"]["online"]:
            await asyncio.sleep(0.02)
    gone = (await alice.rpc("presence.status", {"users": ["bob"]}))["bob"]
    assert gone["last_seen"] is not None and gone["sessions"] == 0
    for bad in ({}, {"users": []}, {"users": [""]}, {"users": ["x"] * 501}, {"users": "bob"}):
        with pytest.raises(GbError) as err:
            await alice.rpc("presence.status", bad)
        assert err.value.code == ErrorCode.BAD_PAYLOAD
    node.node.hub.presence = None  # the store as a stopped one: unreachable
    store = node.node.messaging.presence
    await store.close()
    with pytest.raises(GbError) as down:
        await alice.rpc("presence.status", {"users": ["bob"]})
    assert down.value.code == ErrorCode.UNAVAILABLE
    await alice.close()
