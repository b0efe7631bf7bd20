"""A tenancy-aware node (with a database): known tenants only, connection quotas, metering,
and the tenancy REST API mounted."""

import asyncio

import httpx
import pytest

from gb.client import GbError, connect
from gb.core.storage.database import Database
from gb.protocol.codes import CloseCode, ErrorCode

from ..support.pg import control_db
from ..support.tenants import make_tenant, set_quota

__all__ = ["control_db"]  # a fixture, used by name


@pytest.fixture
async def db(control_db: str):
    database = await Database.open(control_db, pool_size=4)
    yield database
    await database.close()


async def test_sessions_must_name_a_known_customer_and_instance(node_factory, db):
    node = await node_factory(database=db)
    customer, instance = await make_tenant(db)
    client = await connect(node.ws_url, node.token(customer=str(customer), instance=str(instance)))
    assert client.welcome["customer"] == str(customer)
    await client.close()
    for cus, ins in (("not-a-uuid", str(instance)), (str(instance), str(instance))):
        with pytest.raises(GbError) as info:
            await connect(node.ws_url, node.token(customer=cus, instance=ins))
        assert info.value.code == ErrorCode.TOKEN_INVALID


async def test_connection_quota_per_instance(node_factory, db):
    node = await node_factory(database=db)
    customer, instance = await make_tenant(db)
    await set_quota(db, customer, "connections_per_instance", 2)
    token = node.token(customer=str(customer), instance=str(instance))
    first = await connect(node.ws_url, token)
    second = await connect(node.ws_url, token)
    with pytest.raises(GbError) as info:
        await connect(node.ws_url, token)
    assert info.value.code == ErrorCode.QUOTA_EXCEEDED
    assert info.value.details["quota"] == "connections_per_instance"
    assert info.value.details["limit"] == 2
    await first.close()
    await asyncio.sleep(0.1)  # the quota is given back when the socket ends
    third = await connect(node.ws_url, token)
    await second.close()
    await third.close()


async def test_connection_minutes_are_metered(node_factory, db):
    node = await node_factory(database=db, housekeeping=0.05)  # rounds run during the test
    customer, instance = await make_tenant(db)
    client = await connect(node.ws_url, node.token(customer=str(customer), instance=str(instance)))
    await client.close()
    await asyncio.sleep(0.1)
    assert node.node.recorder is not None
    await node.node.recorder.flush()
    async with db.tenant(customer) as conn:
        rows = await conn.fetch("SELECT kind, quantity, instance_id FROM usage_events")
    assert [(r["kind"], r["quantity"], r["instance_id"]) for r in rows] == [
        ("connection_minute", 1, instance)
    ]
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        text = (await http.get("/metrics")).text
    labels = f'customer="{customer}",instance="{instance}",kind="connection_minute"'
    assert f"gb_usage_total{{{labels}}} 1.0" in text


async def test_a_dead_database_refuses_sessions_with_a_retryable_close(node_factory, db):
    node = await node_factory(database=db)
    customer, instance = await make_tenant(db)
    token = node.token(customer=str(customer), instance=str(instance))
    await db.close()  # every pool gone: the quota lookup fails
    node.node.quotas.invalidate()
    with pytest.raises(GbError) as info:
        await connect(node.ws_url, token)
    assert info.value.code == ErrorCode.UNAVAILABLE


async def test_tenancy_routes_are_served(node_factory, db):
    node = await node_factory(database=db)
    token = node.token(customer="00000000-0000-0000-0000-000000000000", roles=["platform_admin"])
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        response = await http.get("/v1/plans", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert {p["id"] for p in response.json()["items"]} >= {"free", "pro", "enterprise"}
        openapi = (await http.get("/openapi.json")).json()
    assert "/v1/customers" in openapi["paths"]


async def test_drain_releases_quotas(node_factory, db):
    node = await node_factory(database=db)
    customer, instance = await make_tenant(db)
    client = await connect(node.ws_url, node.token(customer=str(customer), instance=str(instance)))
    await node.node.drain()
    code, _ = await asyncio.wait_for(client.closed, 5)
    assert code == CloseCode.DRAINING
    assert await node.node.quotas.connections(customer, instance) == 0


async def test_dev_tenant_is_made_once(db):
    from gb.core.dev_tenant import ensure_dev_tenant

    first = await ensure_dev_tenant(db)
    assert await ensure_dev_tenant(db) == first


async def test_housekeeping_round_makes_partitions_and_rolls_usage_up(node_factory, db, caplog):
    node = await node_factory(database=db)
    customer, instance = await make_tenant(db)
    node.node.recorder.record(customer, instance, "message", 3)
    await node.node.recorder.flush()
    await node.node._housekeeping_round(True)
    async with db.tenant(customer) as conn:
        day = await conn.fetchval(
            "SELECT quantity FROM usage_rollups WHERE kind = 'message' AND period = 'day'"
            " AND instance_id = $1",
            instance,
        )
    assert day == 3
    await db.close()  # a dependency away: the round logs and the node goes on
    await node.node._housekeeping_round(True)
    assert "housekeeping round failed" in caplog.text


async def test_a_session_that_leaves_during_admission_gives_its_quota_back(node_factory, db):
    from ..support.raw import raw_connect

    node = await node_factory(database=db)
    customer, instance = await make_tenant(db)
    peer = await raw_connect(node.ws_url)
    peer.hello(node.token(customer=str(customer), instance=str(instance)))
    peer.transport.disconnect()  # gone before the quota lookup answers
    await node.node.hub.wait_tasks()
    assert await node.node.quotas.connections(customer, instance) == 0


async def test_resolve_cached_answers_from_the_caches_only(db):
    from gb.core.auth import Authenticator, mint_token
    from gb.core.config import load_settings
    from gb.core.tenancy.counters import MemoryCounters
    from gb.core.tenancy.quotas import Quotas
    from gb.core.tenant_gate import resolve_cached

    from ..conftest import SECRET

    settings = load_settings({"GB_JWT_SECRET": SECRET})
    auth, quotas = Authenticator(settings), Quotas(db, MemoryCounters())
    customer, instance = await make_tenant(db)
    token = mint_token(settings, user="u", customer=str(customer), instance=str(instance))
    db.invalidate()
    assert resolve_cached(auth, db, quotas, token) is None  # the map is cold
    await db.shard_of(customer)
    assert resolve_cached(auth, db, quotas, token) is None  # the quotas are cold
    await quotas.limits(customer)
    identity, shard, limits = resolve_cached(auth, db, quotas, token)
    assert identity.customer_id == customer and shard.id == 0 and limits
