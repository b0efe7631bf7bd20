"""Guarded channels, server-originated events and the shared presence store on the hub."""

import asyncio
import uuid

import orjson
import pytest

from gb.client import GbError, connect
from gb.core.auth import Identity
from gb.core.broker import RedisBroker
from gb.core.channels import access
from gb.core.messaging.delivery import (
    HubDeliverer,
    conversation_channel,
    conversation_of,
    membership_guard,
)
from gb.core.presence import MemoryPresence, PresenceTable, RedisPresence
from gb.core.rpc import RpcError
from gb.protocol.codes import ErrorCode

from ..support.services import SHARED_REDIS_URL


class Members:
    """Who belongs to which conversation (the test's stand-in for the message service)."""

    def __init__(self) -> None:
        self.members: dict[uuid.UUID, set[str]] = {}
        self.asked = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def is_member(self, identity: Identity, conversation_id: uuid.UUID) -> bool:
        self.asked += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("database away")
        return identity.user in self.members.get(conversation_id, set())


def test_conversation_channels_are_read_only_for_clients() -> None:
    rights = access("conv:" + str(uuid.uuid4()), "alice", frozenset({"admin"}))
    assert rights.subscribe and not rights.publish


def test_conversation_channel_names_round_trip() -> None:
    cid = uuid.uuid4()
    assert conversation_of(conversation_channel(cid)) == cid
    assert conversation_of("conv:not-a-uuid") is None
    assert conversation_of("room") is None


async def test_only_members_subscribe_to_a_guarded_channel(node) -> None:
    members = Members()
    conv = uuid.uuid4()
    members.members[conv] = {"alice"}
    node.node.hub.set_guard("conv:", membership_guard(members))
    alice = await connect(node.ws_url, node.token(user="alice"))
    mallory = await connect(node.ws_url, node.token(user="mallory"))
    sub = await alice.subscribe(conversation_channel(conv))
    with pytest.raises(GbError) as denied:
        await mallory.subscribe(conversation_channel(conv))
    assert denied.value.code == ErrorCode.FORBIDDEN and "not a member" in denied.value.message
    with pytest.raises(GbError) as bad:  # a conv: name that is no conversation id
        await mallory.subscribe("conv:nothing")
    assert bad.value.code == ErrorCode.FORBIDDEN
    assert members.asked == 2  # the malformed name never reached the service
    with pytest.raises(GbError) as readonly:  # members read; only the server writes
        await sub.publish(b"x", ack=True)
    assert readonly.value.code == ErrorCode.FORBIDDEN
    plain = await mallory.subscribe("room")  # unguarded names are not asked about
    assert plain.channel_id and members.asked == 2
    await alice.close()
    await mallory.close()


async def test_a_failing_guard_is_unavailable_not_forbidden(node) -> None:
    members = Members()
    members.fail = True
    node.node.hub.set_guard("conv:", membership_guard(members))
    alice = await connect(node.ws_url, node.token(user="alice"))
    with pytest.raises(GbError) as err:
        await alice.subscribe(conversation_channel(uuid.uuid4()))
    assert err.value.code == ErrorCode.UNAVAILABLE
    await alice.close()


async def test_a_connection_gone_during_the_check_is_not_subscribed(node) -> None:
    members = Members()
    conv = uuid.uuid4()
    members.members[conv] = {"alice"}
    members.gate = asyncio.Event()
    hub = node.node.hub
    hub.set_guard("conv:", membership_guard(members))
    alice = await connect(node.ws_url, node.token(user="alice"))
    pending = asyncio.ensure_future(alice.subscribe(conversation_channel(conv), timeout=5))
    while members.asked == 0:
        await asyncio.sleep(0.01)
    await alice.close()
    while hub.edge.conns:
        await asyncio.sleep(0.01)
    members.gate.set()
    with pytest.raises(Exception):  # noqa: B017 -- closed under the request, any close error
        await pending
    await hub.wait_tasks()
    assert not hub.channels


async def test_server_events_reach_subscribers_here_and_on_other_nodes(node_factory) -> None:
    a = await node_factory(node_id="ev-a", broker=RedisBroker(SHARED_REDIS_URL, node_id="ev-a"))
    b = await node_factory(node_id="ev-b", broker=RedisBroker(SHARED_REDIS_URL, node_id="ev-b"))
    customer = f"c-{uuid.uuid4().hex[:12]}"
    conv = uuid.uuid4()
    members = Members()
    members.members[conv] = {"alice", "bob"}
    for n in (a, b):
        n.node.hub.set_guard("conv:", membership_guard(members))
    alice = await connect(a.ws_url, a.token(user="alice", customer=customer))
    bob = await connect(b.ws_url, b.token(user="bob", customer=customer))
    sa = await alice.subscribe(conversation_channel(conv))
    sb = await bob.subscribe(conversation_channel(conv))
    deliverer = HubDeliverer(a.node.hub)
    event = {"type": "message", "message": {"id": "m1", "content": "hi"}}
    await deliverer.conversation_event(customer, "i1", 7, conv, event)
    local = await sa.next(timeout=5)
    remote = await sb.next(timeout=5)
    assert orjson.loads(local.payload) == event == orjson.loads(remote.payload)
    # An event for a conversation nobody here follows still goes to the other nodes.
    other = uuid.uuid4()
    members.members[other] = {"bob"}
    sb2 = await bob.subscribe(conversation_channel(other))
    await deliverer.conversation_event(customer, "i1", 7, other, {"type": "members"})
    assert orjson.loads((await sb2.next(timeout=5)).payload) == {"type": "members"}
    await alice.close()
    await bob.close()


async def test_rpc_errors_carry_their_extra_fields(node) -> None:
    async def slow_down(session, params):
        raise RpcError(ErrorCode.RATE_LIMITED, "too many messages", retry_after_ms=1500)

    node.node.rpc.register("test.limited", slow_down)
    alice = await connect(node.ws_url, node.token(user="alice"))
    with pytest.raises(GbError) as err:
        await alice.rpc("test.limited")
    assert err.value.code == ErrorCode.RATE_LIMITED
    assert err.value.details["retry_after_ms"] == 1500
    await alice.close()


async def test_presence_goes_through_the_shared_store(node) -> None:
    hub = node.node.hub
    table = PresenceTable()
    hub.presence = MemoryPresence("node-x", ttl=30.0, table=table)
    await hub.presence.start()
    try:
        alice = await connect(node.ws_url, node.token(user="alice"))
        scope = "c1/i1"
        statuses = await hub.presence.status(scope, ["alice", "zed"])
        while not statuses["alice"].online:
            await asyncio.sleep(0.01)
            statuses = await hub.presence.status(scope, ["alice", "zed"])
        assert not statuses["zed"].online
        sub = await alice.subscribe("room", presence=True)
        await asyncio.wait_for(alice.events.get(), 5)  # alice's own join event
        # Another node's member of the same channel, seen through the shared table.
        other = MemoryPresence("node-y", ttl=30.0, table=table)
        await other.start()
        await other.join(scope, "room", "s-remote", "bob")
        answer = await alice.presence(sub.channel_id)
        users = sorted((m["user"], m["node"]) for m in answer["members"])
        assert users == [("alice", "node-x"), ("bob", "node-y")]
        await sub.unsubscribe()
        await hub.wait_tasks()
        assert [m.user for m in await hub.presence.members(scope, "room")] == ["bob"]
        await alice.close()
        await hub.wait_tasks()
        while (await hub.presence.status(scope, ["alice"]))["alice"].online:
            await asyncio.sleep(0.01)
        await other.close()
    finally:
        await hub.presence.close()


async def test_presence_store_down_is_reported_and_does_not_break_sessions(node) -> None:
    hub = node.node.hub
    hub.presence = RedisPresence("redis://127.0.0.1:1/0", "node-z", ttl=30.0)  # never started
    alice = await connect(node.ws_url, node.token(user="alice"))
    sub = await alice.subscribe("room", presence=True)
    await asyncio.wait_for(alice.events.get(), 5)
    with pytest.raises(GbError) as err:
        await alice.presence(sub.channel_id)
    assert err.value.code == ErrorCode.UNAVAILABLE
    await sub.unsubscribe()
    await alice.close()
    await hub.wait_tasks()
    hub.presence = None


async def test_conversation_channels_need_a_guard(node) -> None:
    alice = await connect(node.ws_url, node.token(user="alice"))  # a node without messaging
    with pytest.raises(GbError) as err:
        await alice.subscribe(conversation_channel(uuid.uuid4()))
    assert err.value.code == ErrorCode.UNAVAILABLE and "not served" in err.value.message
    await alice.close()
