"""``/v1/customers`` and subscriptions: CRUD, roles, pagination, sorting, filtering, errors."""

from __future__ import annotations

import uuid

import pytest

from gb.core.tenancy.service import TenancyService
from tests.core.api.tenancy_fixtures import Env, api, control_db

__all__ = ["api", "control_db"]


async def test_create_get_update_delete_customer(api: Env) -> None:
    c = await api.customer("acme", plan_id="pro", metadata={"tier": "gold"})
    assert c["name"] == "acme" and c["plan_id"] == "pro" and c["region_id"] == "local"
    assert c["status"] == "active" and c["metadata"] == {"tier": "gold"} and c["shard_id"] == 0
    cid = c["id"]
    rows = await api.sql("SELECT shard_id FROM shard_map WHERE customer_id = $1", uuid.UUID(cid))
    assert [r["shard_id"] for r in rows] == [0]

    r = await api.client.get(f"/v1/customers/{cid}", headers=api.platform)
    assert r.status_code == 200 and r.json() == c

    r = await api.client.patch(
        f"/v1/customers/{cid}",
        json={"status": "suspended", "max_instances": 3},
        headers=api.platform,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended" and r.json()["max_instances"] == 3
    assert r.json()["updated_at"] > c["updated_at"]

    inst = await api.instance(cid, "bot-1")
    r = await api.client.delete(f"/v1/customers/{cid}", headers=api.platform)
    assert r.status_code == 204
    assert (await api.client.get(f"/v1/customers/{cid}", headers=api.platform)).status_code == 404
    assert await api.sql("SELECT 1 FROM instances WHERE id = $1", uuid.UUID(inst["id"])) == []
    assert await api.audit(cid) == [
        "customer.create",
        "customer.update",
        "instance.create",
        "customer.delete",
    ]
    r = await api.client.delete(f"/v1/customers/{cid}", headers=api.platform)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_customer_admin_sees_only_own_customer(api: Env) -> None:
    a = await api.customer("a-corp")
    b = await api.customer("b-corp")
    admin_a = api.admin(a["id"])

    r = await api.client.get("/v1/customers", headers=admin_a)
    assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == [a["id"]]
    assert (await api.client.get(f"/v1/customers/{a['id']}", headers=admin_a)).status_code == 200
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.client.request(
            method, f"/v1/customers/{b['id']}", headers=admin_a, json={"name": "x"}
        )
        assert r.status_code == 404, method
        assert r.json()["error"]["message"] == f"customer {b['id']} not found"
    # Their own customer: renaming is theirs, the rest is the platform's.
    r = await api.client.patch(
        f"/v1/customers/{a['id']}", json={"name": "a-renamed"}, headers=admin_a
    )
    assert r.status_code == 200 and r.json()["name"] == "a-renamed"
    r = await api.client.patch(f"/v1/customers/{a['id']}", json={"plan_id": "pro"}, headers=admin_a)
    assert r.status_code == 403 and "plan_id" in r.json()["error"]["message"]
    r = await api.client.delete(f"/v1/customers/{a['id']}", headers=admin_a)
    assert r.status_code == 403
    r = await api.client.post("/v1/customers", json={"name": "z"}, headers=admin_a)
    assert r.status_code == 403 and "platform_admin" in r.json()["error"]["message"]
    # Any role of the customer reads it; an instance-bound user cannot change it.
    user = api.bound("user", a["id"], uuid.uuid4())
    assert (await api.client.get(f"/v1/customers/{a['id']}", headers=user)).status_code == 200
    r = await api.client.patch(f"/v1/customers/{a['id']}", json={"name": "q"}, headers=user)
    assert r.status_code == 403


async def test_customer_errors(api: Env) -> None:
    await api.customer("dup")
    r = await api.client.post("/v1/customers", json={"name": "dup"}, headers=api.platform)
    assert r.status_code == 409 and r.json()["error"]["message"] == "name: already exists"
    r = await api.client.post(
        "/v1/customers", json={"name": "n", "plan_id": "nope"}, headers=api.platform
    )
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("plan_id:")
    r = await api.client.post(
        "/v1/customers", json={"name": "n", "shard_id": 7}, headers=api.platform
    )
    assert r.status_code == 422 and "shard_id" in r.json()["error"]["message"]
    r = await api.client.post("/v1/customers", json={"name": ""}, headers=api.platform)
    assert r.status_code == 422 and "body.name" in r.json()["error"]["message"]
    r = await api.client.post("/v1/customers", json={"nam": "x"}, headers=api.platform)
    assert r.status_code == 422 and "body.nam" in r.json()["error"]["message"]
    r = await api.client.post(
        "/v1/customers",
        content=b"{not json",
        headers={**api.platform, "content-type": "application/json"},
    )
    assert r.status_code == 422 and "body" in r.json()["error"]["message"]
    r = await api.client.get("/v1/customers/not-a-uuid", headers=api.platform)
    assert r.status_code == 422 and "customer_id" in r.json()["error"]["message"]
    unknown = uuid.uuid4()
    r = await api.client.patch(f"/v1/customers/{unknown}", json={"name": "x"}, headers=api.platform)
    assert r.status_code == 404
    c = await api.customer("other")
    r = await api.client.patch(
        f"/v1/customers/{c['id']}", json={"name": "dup"}, headers=api.platform
    )
    assert r.status_code == 409
    r = await api.client.patch(
        f"/v1/customers/{c['id']}", json={"name": None}, headers=api.platform
    )
    assert r.status_code == 422 and r.json()["error"]["message"] == "body.name: may not be null"
    r = await api.client.patch(
        f"/v1/customers/{c['id']}", json={"region_id": "mars"}, headers=api.platform
    )
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("region_id:")
    # An empty change only touches updated_at.
    r = await api.client.patch(f"/v1/customers/{c['id']}", json={}, headers=api.platform)
    assert r.status_code == 200 and r.json()["name"] == "other"


async def test_customer_pagination_sorting_filtering(api: Env) -> None:
    names = [f"cust-{i:02d}" for i in range(7)]
    made = [await api.customer(n, plan_id="pro" if i % 2 else "free") for i, n in enumerate(names)]
    await api.client.patch(
        f"/v1/customers/{made[3]['id']}", json={"status": "closed"}, headers=api.platform
    )

    async def collect(**params: str | int) -> list[str]:
        seen: list[str] = []
        cursor = None
        for _ in range(20):
            query: dict[str, str | int] = {**params, **({"cursor": cursor} if cursor else {})}
            r = await api.client.get("/v1/customers", params=query, headers=api.platform)
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["items"]) <= int(str(params.get("limit", 50)))
            seen += [c["name"] for c in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError("too many pages")

    assert await collect(limit=2) == names
    assert await collect(limit=3, sort="-created_at") == names[::-1]
    assert await collect(limit=2, sort="-name") == sorted(names, reverse=True)
    assert await collect(limit=50, sort="name") == names
    assert await collect(plan_id="pro") == names[1::2]
    assert await collect(status="closed") == ["cust-03"]
    assert await collect(name="cust-0", limit=4) == names
    assert await collect(name="zzz") == []
    assert await collect(region_id="local", plan_id="free", limit=1) == names[0::2]

    for bad, field in (
        ({"limit": 0}, "query.limit"),
        ({"limit": 201}, "query.limit"),
        ({"sort": "size"}, "query.sort"),
        ({"status": "gone"}, "query.status"),
        ({"cursor": "!!!"}, "cursor"),
    ):
        r = await api.client.get("/v1/customers", params=bad, headers=api.platform)
        assert r.status_code == 422 and r.json()["error"]["message"].startswith(field), bad
    first = await api.client.get("/v1/customers", params={"limit": 1}, headers=api.platform)
    cursor = first.json()["next_cursor"]
    r = await api.client.get(
        "/v1/customers", params={"cursor": cursor, "sort": "name"}, headers=api.platform
    )
    assert r.status_code == 422 and "made for sort=created_at" in r.json()["error"]["message"]


async def test_customer_created_without_shard_is_undone(
    api: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(customer_id: uuid.UUID, shard_id: int | None = None) -> int:
        raise ValueError("shard map refused")

    monkeypatch.setattr(api.db, "assign", refuse)
    r = await api.client.post("/v1/customers", json={"name": "ghost"}, headers=api.platform)
    assert r.status_code == 500
    assert await api.sql("SELECT 1 FROM customers WHERE name = 'ghost'") == []


async def test_subscriptions(api: Env) -> None:
    c = await api.customer("subs")
    admin = api.admin(c["id"])
    base = f"/v1/customers/{c['id']}/subscriptions"
    r = await api.client.post(
        base, json={"plan_id": "pro", "customer_email": "a@b.c", "bot_name": "b"}, headers=admin
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["status"] == "pending_payment" and sub["activated_at"] is None
    assert "payment_token" not in sub

    # The payment flow (platform) activates; the customer admin may only cancel.
    r = await api.client.patch(f"{base}/{sub['id']}", json={"status": "active"}, headers=admin)
    assert r.status_code == 403 and r.json()["error"]["message"].startswith("status:")
    r = await api.client.patch(f"{base}/{sub['id']}", json={"payment_token": "tok"}, headers=admin)
    assert r.status_code == 403 and r.json()["error"]["message"].startswith("payment_token:")
    r = await api.client.patch(
        f"{base}/{sub['id']}",
        json={"status": "active", "last_cc_four_digits": "4242", "payment_token": "t"},
        headers=api.platform,
    )
    assert r.status_code == 200 and r.json()["activated_at"] is not None
    r = await api.client.patch(f"{base}/{sub['id']}", json={"status": "cancelled"}, headers=admin)
    assert r.status_code == 200 and r.json()["cancelled_at"] is not None
    r = await api.client.patch(f"{base}/{sub['id']}", json={"status": None}, headers=admin)
    assert r.status_code == 422
    r = await api.client.patch(
        f"{base}/{sub['id']}", json={"customer_mobile": "555"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["customer_mobile"] == "555"

    r = await api.client.post(base, json={"plan_id": "free", "status": "active"}, headers=admin)
    assert r.status_code == 403
    r = await api.client.post(
        base, json={"plan_id": "free", "status": "active"}, headers=api.platform
    )
    assert r.status_code == 201 and r.json()["activated_at"] is not None
    r = await api.client.post(base, json={"plan_id": "gold"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("plan_id:")
    r = await api.client.post(
        base, json={"plan_id": "free", "last_cc_four_digits": "12"}, headers=api.platform
    )
    assert r.status_code == 422 and "last_cc_four_digits" in r.json()["error"]["message"]

    r = await api.client.get(base, params={"status": "cancelled"}, headers=admin)
    assert [s["id"] for s in r.json()["items"]] == [sub["id"]]
    r = await api.client.get(base, params={"limit": 1}, headers=admin)
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"] is not None
    r = await api.client.get(f"{base}/{sub['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await api.client.get(f"{base}/{uuid.uuid4()}", headers=admin)).status_code == 404
    r = await api.client.patch(f"{base}/{uuid.uuid4()}", json={}, headers=admin)
    assert r.status_code == 404
    missing = f"/v1/customers/{uuid.uuid4()}/subscriptions"
    assert (await api.client.get(missing, headers=api.platform)).status_code == 404
    r = await api.client.post(missing, json={"plan_id": "free"}, headers=api.platform)
    assert r.status_code == 404

    # Another tenant's admin: 404 on every route; a user of the customer: 403.
    other = await api.customer("other-subs")
    for headers, status in ((api.admin(other["id"]), 404), (api.bound("user", c["id"], "i"), 403)):
        assert (await api.client.get(base, headers=headers)).status_code == status
        r = await api.client.get(f"{base}/{sub['id']}", headers=headers)
        assert r.status_code == status
    assert await api.audit(c["id"]) == [
        "customer.create",
        "subscription.create",
        "subscription.update",
        "subscription.update",
        "subscription.update",
        "subscription.create",
    ]


def test_service_type_is_exported() -> None:
    assert TenancyService.__doc__
