"""Isolation in depth behind the API (row-level security as the backstop of a forgotten tenant
filter), routing to shard databases, and the OpenAPI contract of every tenancy route."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from fastapi.routing import APIRoute

from gb.core.api.routers import ROUTERS
from gb.core.tenancy.service import (
    INSTANCE_SELECT,
    PageRequest,
    Select,
    count_instances,
    fetch_customer,
    fetch_instance,
)
from tests.core.api.tenancy_fixtures import Env, api, control_db, open_env
from tests.support.pg import two_shards

__all__ = ["api", "control_db", "two_shards"]


async def test_queries_without_tenant_filter_cannot_leak(api: Env) -> None:
    a = await api.customer("tenant-a")
    b = await api.customer("tenant-b")
    a_id, b_id = uuid.UUID(a["id"]), uuid.UUID(b["id"])
    a_inst = await api.instance(a["id"], "a-one")
    await api.instance(a["id"], "a-two")
    b_inst = await api.instance(b["id"], "b-one")

    # The service's own queries, run in tenant B's transaction, asked for tenant A's rows.
    async with api.db.tenant(b_id) as conn:
        assert await fetch_instance(conn, uuid.UUID(a_inst["id"])) is None
        own = await fetch_instance(conn, uuid.UUID(b_inst["id"]))
        assert own is not None and own["name"] == "b-one"
        assert await count_instances(conn) == 1
        # A list that forgot its customer filter entirely still sees only B.
        page = await Select(INSTANCE_SELECT).page(
            conn,
            PageRequest(limit=200),
            {"created_at": (("created_at", "created_at", "ts"), ("id", "id", "uuid"))},
        )
        assert [i["name"] for i in page.items] == ["b-one"]
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == len(await api.audit(b_id))
    async with api.db.control_tenant(b_id) as conn:
        assert await fetch_customer(conn, a_id) is None
        assert (await fetch_customer(conn, b_id) or {})["name"] == "tenant-b"
        assert await conn.fetchval("SELECT count(*) FROM customers") == 1
        # Writing a row for another tenant is refused by the policy, not just hidden.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO quota_overrides (customer_id, name, value)"
                " VALUES ($1, 'instances', 9)",
                a_id,
            )

    # Through the API: B's admin cannot reach A's instance even by its exact id.
    r = await api.client.get(
        f"/v1/customers/{b['id']}/instances/{a_inst['id']}", headers=api.admin(b["id"])
    )
    assert r.status_code == 404
    r = await api.client.get(
        f"/v1/customers/{a['id']}/instances/{a_inst['id']}", headers=api.admin(b["id"])
    )
    assert r.status_code == 404


async def test_customer_on_another_shard(two_shards: tuple[str, str, str]) -> None:
    control, shard1, _ = two_shards
    async with open_env(control) as api:
        shard = await api.db.add_shard("one", shard1)
        c = await api.customer("sharded", shard_id=shard.id)
        assert c["shard_id"] == shard.id == 1
        inst = await api.instance(c["id"], "far")
        assert inst["shard_id"] == 1
        conn = await asyncpg.connect(shard1)
        try:
            names = await conn.fetch("SELECT name FROM instances")
            actions = await conn.fetch("SELECT action FROM audit_log ORDER BY created_at")
        finally:
            await conn.close()
        assert [r["name"] for r in names] == ["far"]
        assert [r["action"] for r in actions] == ["instance.create"]
        assert await api.sql("SELECT 1 FROM instances") == []
        r = await api.client.get(f"/v1/customers/{c['id']}/instances", headers=api.admin(c["id"]))
        assert [i["name"] for i in r.json()["items"]] == ["far"]
        await api.sql("UPDATE shards SET status = 'draining' WHERE id = 1")
        r = await api.client.post(
            "/v1/customers", json={"name": "late", "shard_id": 1}, headers=api.platform
        )
        assert (
            r.status_code == 422 and r.json()["error"]["message"] == "shard_id: no active shard 1"
        )
        r = await api.client.delete(f"/v1/customers/{c['id']}", headers=api.platform)
        assert r.status_code == 204
        conn = await asyncpg.connect(shard1)
        try:
            assert await conn.fetchval("SELECT count(*) FROM instances") == 0
        finally:
            await conn.close()


async def test_unreachable_shard_is_503(two_shards: tuple[str, str, str]) -> None:
    control, shard1, _ = two_shards
    async with open_env(control) as api:
        await api.db.add_shard("one", shard1)
        c = await api.customer("away", shard_id=1)
        await api.sql(
            "INSERT INTO shards (id, name, dsn) VALUES (9, 'ghost', 'postgresql://x@127.0.0.1:1/x')"
        )
        await api.sql(
            "UPDATE shard_map SET shard_id = 9 WHERE customer_id = $1", uuid.UUID(c["id"])
        )
        api.db.invalidate()
        r = await api.client.get(f"/v1/customers/{c['id']}/instances", headers=api.platform)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"


async def test_openapi_lists_every_route_with_models(api: Env) -> None:
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    routes = [route for router in ROUTERS for route in router.routes]
    assert len(routes) >= 50
    for route in routes:
        assert isinstance(route, APIRoute)
        assert route.path.startswith("/v1/")
        for method in route.methods or ():
            op = paths[route.path][method.lower()]
            assert op["summary"], route.path
            ok = str(route.status_code or 200)
            assert ok in op["responses"], (method, route.path)
            if ok != "204":
                schema = op["responses"][ok]["content"]["application/json"]["schema"]
                assert "$ref" in schema or "items" in schema, (method, route.path)
            for status in ("401", "403", "404", "422"):
                assert status in op["responses"], (method, route.path, status)
            if method in ("POST", "PUT", "PATCH") and op.get("requestBody"):
                body = op["requestBody"]["content"]["application/json"]["schema"]
                assert "$ref" in body, (method, route.path)
            assert {"HTTPBearer": []} in op["security"] and {"APIKeyHeader": []} in op["security"]
    schemas = doc["components"]["schemas"]
    for model in (
        "Customer",
        "CustomerCreate",
        "Instance",
        "InstanceCreate",
        "Quota",
        "Feature",
        "Region",
        "Plan",
        "User",
        "Group",
        "Member",
        "ApiKey",
        "NewApiKey",
        "Usage",
        "Invoice",
        "InvoiceWithLines",
        "Subscription",
        "QuotaErrorBody",
        "ErrorBody",
    ):
        assert model in schemas, model
    quota = paths["/v1/customers/{customer_id}/instances"]["post"]["responses"]
    assert quota["429"]["content"]["application/json"]["schema"]["$ref"].endswith("QuotaErrorBody")
    tags = {t["name"] for t in doc["tags"]}
    assert {"customers", "instances", "billing", "health"} <= tags
