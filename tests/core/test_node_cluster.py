"""Several nodes joined by the Redis broker: in one process, then as real processes."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import httpx
import orjson
import pytest

from gb.client import GbError, connect
from gb.core.auth import mint_token
from gb.core.broker import RedisBroker
from gb.core.config import load_settings
from gb.core.storage.database import Database
from gb.protocol.codes import CloseCode, ErrorCode

from ..conftest import SECRET
from ..support.pg import control_db
from ..support.services import SHARED_REDIS_URL, free_port, own_redis, wait_until
from ..support.tenants import make_tenant

__all__ = ["control_db", "own_redis"]  # fixtures, used by name


def tenant() -> str:
    """A customer id no other test or run shares, so channels never collide on the shared Redis."""
    return f"c-{uuid.uuid4().hex[:12]}"


async def two_nodes(node_factory, url=SHARED_REDIS_URL):
    a = await node_factory(node_id="node-a", broker=RedisBroker(url, node_id="node-a"))
    b = await node_factory(node_id="node-b", broker=RedisBroker(url, node_id="node-b"))
    return a, b


async def test_publish_on_one_node_reaches_subscribers_on_another(node_factory):
    a, b = await two_nodes(node_factory)
    cus = tenant()
    alice = await connect(a.ws_url, a.token(user="alice", customer=cus))
    bob = await connect(b.ws_url, b.token(user="bob", customer=cus))
    sa = await alice.subscribe("room")
    sb = await bob.subscribe("room")
    for i in range(100):
        await sa.publish(b"m%d" % i, echo=False, ack=(i == 99))
    got = [(await sb.next(timeout=5)).payload for _ in range(100)]
    assert got == [b"m%d" % i for i in range(100)]  # in order, each once
    await sb.publish(b"reply", ack=True)
    assert (await sa.next(timeout=5)).payload == b"reply"
    with pytest.raises(TimeoutError):  # the publisher's own node does not deliver it twice
        await sb.next(timeout=0.1) if (await sb.next(timeout=5)).payload == b"reply" else None
    await alice.close()
    await bob.close()


async def test_presence_events_cross_nodes(node_factory):
    a, b = await two_nodes(node_factory)
    cus = tenant()
    alice = await connect(a.ws_url, a.token(user="alice", customer=cus))
    bob = await connect(b.ws_url, b.token(user="bob", customer=cus))
    await alice.subscribe("room", presence=True)
    await asyncio.wait_for(alice.events.get(), 5)  # alice's own join
    await bob.subscribe("room", presence=True)
    event = orjson.loads((await asyncio.wait_for(alice.events.get(), 5)).payload)
    assert event["event"] == "join" and event["user"] == "bob"
    await bob.close()
    event = orjson.loads((await asyncio.wait_for(alice.events.get(), 5)).payload)
    assert event["event"] == "leave" and event["user"] == "bob"
    await alice.close()


async def test_last_local_unsubscribe_leaves_the_broker_topic(node_factory):
    a, _ = await two_nodes(node_factory)
    cus = tenant()
    alice = await connect(a.ws_url, a.token(user="alice", customer=cus))
    sub = await alice.subscribe("room")
    assert len(a.node.broker.topics) == 1
    await sub.unsubscribe()
    await wait_until(lambda: not a.node.broker.topics, 5)
    await alice.close()


async def test_broker_outage_refuses_acks_but_keeps_local_delivery(node_factory, own_redis):
    redis = own_redis()
    a, b = await two_nodes(node_factory, redis.url)
    client = await connect(a.ws_url, a.token())
    other = await connect(b.ws_url, b.token(user="other"))
    sub = await client.subscribe("room")
    redis.stop()
    await wait_until(lambda: not a.node.broker.healthy, 10)
    with pytest.raises(GbError) as info:
        await sub.publish(b"local only", ack=True)
    assert info.value.code == ErrorCode.UNAVAILABLE
    assert (await sub.next(timeout=5)).payload == b"local only"
    # A new channel is accepted now and joined on the broker when it returns.
    late = await client.subscribe("late")
    async with httpx.AsyncClient(base_url=a.http_url) as http:
        assert (await http.get("/readyz")).status_code == 503
    redis.start()
    await wait_until(lambda: a.node.broker.healthy and b.node.broker.healthy, 15)
    await sub.publish(b"back", ack=True)
    assert (await sub.next(timeout=5)).payload == b"back"
    other_late = await other.subscribe("late")
    await other_late.publish(b"across again", echo=False, ack=True)
    assert (await late.next(timeout=5)).payload == b"across again"
    await client.close()
    await other.close()


# --- real processes ------------------------------------------------------------------------


def gb_serve(*args: str, **env: str) -> tuple[subprocess.Popen[bytes], int, int]:
    ws, http = free_port(), free_port()
    full_env = {
        **os.environ,
        "GB_JWT_SECRET": SECRET,
        "GB_WS_PORT": str(ws),
        "GB_HTTP_PORT": str(http),
        "GB_DRAIN_TIMEOUT": "3",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gb", "serve", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return proc, ws, http


async def wait_ready(http: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    async with httpx.AsyncClient() as client:
        async with asyncio.timeout(timeout):
            while True:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                try:
                    if (await client.get(f"http://127.0.0.1:{http}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise


async def tenant_tokens(dsn: str, users: list[str]) -> list[str]:
    """Tokens of a new tenant in the control database ``dsn`` (the processes' database)."""
    db = await Database.open(dsn, pool_size=1)
    try:
        customer, instance = await make_tenant(db)
    finally:
        await db.close()
    settings = load_settings({"GB_JWT_SECRET": SECRET})
    return [
        mint_token(settings, user=u, customer=str(customer), instance=str(instance)) for u in users
    ]


@pytest.mark.multiprocess
async def test_two_gb_processes_deliver_through_redis(tmp_path, control_db):
    procs = [
        gb_serve(
            GB_BROKER="redis",
            GB_NODE_ID=f"proc-{i}",
            GB_DATA_DIR=str(tmp_path / str(i)),
            GB_DATABASE_URL=control_db,
        )
        for i in range(2)
    ]
    try:
        for proc, _, http in procs:
            await wait_ready(http, proc)
        tokens = await tenant_tokens(control_db, ["u0", "u1"])
        clients = [
            await connect(f"ws://127.0.0.1:{ws}/ws", token)
            for token, (_, ws, _) in zip(tokens, procs, strict=True)
        ]
        assert [c.welcome["node"] for c in clients] == ["proc-0", "proc-1"]
        subs = [await c.subscribe("cross") for c in clients]
        await subs[0].publish(b"from proc-0", echo=False, ack=True)
        assert (await subs[1].next(timeout=5)).payload == b"from proc-0"
        closes = [c.closed for c in clients]
    finally:
        codes = [stop(proc) for proc, _, _ in procs]
    assert codes == [0, 0]
    assert [(await asyncio.wait_for(f, 5))[0] for f in closes] == [CloseCode.DRAINING] * 2


@pytest.mark.multiprocess
async def test_workers_share_the_port_and_drain_together(tmp_path, control_db):
    proc, ws, http = gb_serve(
        "--workers",
        "2",
        GB_NODE_ID="pool",
        GB_DATA_DIR=str(tmp_path),
        GB_DATABASE_URL=control_db,
    )
    try:
        await wait_ready(http, proc)
        async with httpx.AsyncClient() as api, asyncio.timeout(20):
            seen: set[str] = set()
            while len(seen) < 2:  # both workers listen (the HTTP port is shared too)
                url = f"http://127.0.0.1:{http}/v1/node"  # a new TCP connection each time
                seen.add((await api.get(url, headers={"Connection": "close"})).json()["id"])
        (token,) = await tenant_tokens(control_db, ["u"])
        clients = [await connect(f"ws://127.0.0.1:{ws}/ws", token) for _ in range(24)]
        nodes = {c.welcome["node"] for c in clients}
        assert nodes == {"pool-w0", "pool-w1"}  # the kernel spread connections over both
    finally:
        code = stop(proc)
    assert code == 0
    for c in clients:
        assert (await asyncio.wait_for(c.closed, 5))[0] == CloseCode.DRAINING
