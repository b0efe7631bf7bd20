"""Instances, feature toggles and quotas: CRUD, the instances quota, every role."""

from __future__ import annotations

import asyncio
import uuid

from gb.core.tenancy.quotas import QuotaName
from tests.core.api.tenancy_fixtures import Env, api, control_db

__all__ = ["api", "control_db"]


async def test_instance_crud(api: Env) -> None:
    c = await api.customer("inst", plan_id="pro")
    admin = api.admin(c["id"])
    base = f"/v1/customers/{c['id']}/instances"
    r = await api.client.post(
        base,
        json={"name": "bot-a", "title": "A", "config": {"k": 1}, "params": {"p": "v"}},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    inst = r.json()
    assert inst["customer_id"] == c["id"] and inst["region_id"] == "local"
    assert inst["shard_id"] == 0 and inst["config"] == {"k": 1} and inst["params"] == {"p": "v"}

    r = await api.client.get(f"{base}/{inst['id']}", headers=admin)
    assert r.status_code == 200 and r.json() == inst
    r = await api.client.patch(
        f"{base}/{inst['id']}",
        json={"title": "A2", "status": "suspended", "config": {"k": 2}},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["title"] == "A2" and r.json()["config"] == {"k": 2}
    r = await api.client.patch(f"{base}/{inst['id']}", json={"config": None}, headers=admin)
    assert r.status_code == 422 and "body.config" in r.json()["error"]["message"]

    r = await api.client.post(base, json={"name": "bot-a"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["message"] == "name: already exists"
    r = await api.client.post(base, json={"name": "bot-z", "region_id": "mars"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["message"] == "region_id: mars does not exist"
    r = await api.client.post(base, json={"name": "Bad Name"}, headers=admin)
    assert r.status_code == 422 and "body.name" in r.json()["error"]["message"]

    second = await api.instance(c["id"], "bot-b", region_id="local")
    r = await api.client.get(base, params={"sort": "-name"}, headers=admin)
    assert [i["name"] for i in r.json()["items"]] == ["bot-b", "bot-a"]
    r = await api.client.get(base, params={"status": "suspended"}, headers=admin)
    assert [i["name"] for i in r.json()["items"]] == ["bot-a"]
    r = await api.client.get(base, params={"name": "bot-", "limit": 1}, headers=admin)
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]

    r = await api.client.delete(f"{base}/{second['id']}", headers=admin)
    assert r.status_code == 204
    assert (await api.client.get(f"{base}/{second['id']}", headers=admin)).status_code == 404
    assert (await api.client.delete(f"{base}/{second['id']}", headers=admin)).status_code == 404
    r = await api.client.patch(f"{base}/{second['id']}", json={"title": "x"}, headers=admin)
    assert r.status_code == 404
    assert (await api.audit(c["id"]))[1:] == [
        "instance.create",
        "instance.update",
        "instance.create",
        "instance.delete",
    ]
    # A customer that does not exist has no shard: 404.
    r = await api.client.get(f"/v1/customers/{uuid.uuid4()}/instances", headers=api.platform)
    assert r.status_code == 404 and r.json()["error"]["message"].startswith("customer ")
    r = await api.client.post(
        f"/v1/customers/{uuid.uuid4()}/instances", json={"name": "x"}, headers=api.platform
    )
    assert r.status_code == 404


async def test_instance_roles(api: Env) -> None:
    c = await api.customer("roles")
    other = await api.customer("roles-other")
    mine = await api.instance(c["id"], "mine")
    theirs = await api.instance(c["id"], "theirs")
    base = f"/v1/customers/{c['id']}/instances"
    inst_admin = api.bound("instance_admin", c["id"], mine["id"])
    user = api.bound("user", c["id"], mine["id"])
    bot = api.bound("bot", c["id"], mine["id"])

    # Instance-bound callers list only their instance, read it, and never see another one.
    for headers in (inst_admin, user, bot):
        r = await api.client.get(base, headers=headers)
        assert [i["id"] for i in r.json()["items"]] == [mine["id"]]
        assert (await api.client.get(f"{base}/{mine['id']}", headers=headers)).status_code == 200
        r = await api.client.get(f"{base}/{theirs['id']}", headers=headers)
        assert r.status_code == 404
    r = await api.client.patch(f"{base}/{mine['id']}", json={"title": "t"}, headers=inst_admin)
    assert r.status_code == 200
    r = await api.client.patch(
        f"{base}/{mine['id']}", json={"status": "active"}, headers=inst_admin
    )
    assert r.status_code == 403 and "customer_admin" in r.json()["error"]["message"]
    for headers in (user, bot):
        r = await api.client.patch(f"{base}/{mine['id']}", json={"title": "t"}, headers=headers)
        assert r.status_code == 403
    for headers in (inst_admin, user):
        assert (await api.client.post(base, json={"name": "n"}, headers=headers)).status_code == 403
        r = await api.client.delete(f"{base}/{mine['id']}", headers=headers)
        assert r.status_code == 403
    # A token without any known role reads nothing of its instance.
    nobody = api.bound("auditor", c["id"], mine["id"])
    assert (await api.client.get(f"{base}/{mine['id']}", headers=nobody)).status_code == 403
    # Another customer's admin: 404 everywhere, even for ids that exist.
    stranger = api.admin(other["id"])
    assert (await api.client.get(base, headers=stranger)).status_code == 404
    assert (await api.client.get(f"{base}/{mine['id']}", headers=stranger)).status_code == 404
    r = await api.client.post(base, json={"name": "n"}, headers=stranger)
    assert r.status_code == 404
    # The other customer's admin asking for this customer's instance under their own customer.
    r = await api.client.get(
        f"/v1/customers/{other['id']}/instances/{mine['id']}", headers=stranger
    )
    assert r.status_code == 404


async def test_instances_quota(api: Env) -> None:
    c = await api.customer("quota", max_instances=2)
    admin = api.admin(c["id"])
    base = f"/v1/customers/{c['id']}/instances"
    # Concurrent creations cannot both pass the check: exactly two of five succeed.
    results = await asyncio.gather(
        *(api.client.post(base, json={"name": f"b{i}"}, headers=admin) for i in range(5))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 403, 403, 403]
    refused = next(r for r in results if r.status_code == 403)
    assert refused.json() == {
        "error": {
            "code": "QUOTA_EXCEEDED",
            "message": "quota instances exceeded (limit 2)",
            "quota": "instances",
            "limit": 2,
        }
    }
    # A platform override lifts the limit at once (the cached limits are dropped).
    r = await api.client.put(
        f"/v1/customers/{c['id']}/quotas/instances", json={"value": 3}, headers=api.platform
    )
    assert r.status_code == 200 and r.json() == {
        "name": "instances",
        "limit": 3,
        "plan_default": 2,
        "override": 3,
    }
    assert (await api.client.post(base, json={"name": "b9"}, headers=admin)).status_code == 201
    assert (await api.client.post(base, json={"name": "b10"}, headers=admin)).status_code == 403


async def test_quotas(api: Env) -> None:
    c = await api.customer("q")
    other = await api.customer("q-other")
    base = f"/v1/customers/{c['id']}/quotas"
    admin = api.admin(c["id"])
    r = await api.client.get(base, headers=admin)
    assert r.status_code == 200
    quotas = {q["name"]: q for q in r.json()}
    assert quotas["messages_per_day"] == {
        "name": "messages_per_day",
        "limit": 5000000,
        "plan_default": 5000000,
        "override": None,
    }
    assert len(quotas) == 6
    r = await api.client.put(f"{base}/messages_per_day", json={"value": 5}, headers=api.platform)
    assert r.status_code == 200 and r.json()["limit"] == 5
    assert (await api.quotas.limits(uuid.UUID(c["id"])))[QuotaName.MESSAGES_PER_DAY] == 5
    r = await api.client.put(f"{base}/messages_per_day", json={"value": 7}, headers=api.platform)
    assert r.json()["override"] == 7
    # Customer admins read but do not set; other tenants see nothing.
    r = await api.client.put(f"{base}/messages_per_day", json={"value": 9}, headers=admin)
    assert r.status_code == 403
    r = await api.client.put(
        f"{base}/messages_per_day", json={"value": 9}, headers=api.admin(other["id"])
    )
    assert r.status_code == 404
    assert (await api.client.get(base, headers=api.admin(other["id"]))).status_code == 404
    r = await api.client.get(base, headers=api.bound("instance_admin", c["id"], "i"))
    assert r.status_code == 403
    r = await api.client.put(f"{base}/bananas", json={"value": 1}, headers=api.platform)
    assert r.status_code == 422 and "path.name" in r.json()["error"]["message"]
    r = await api.client.put(f"{base}/storage_bytes", json={"value": -1}, headers=api.platform)
    assert r.status_code == 422 and "body.value" in r.json()["error"]["message"]

    assert (await api.client.delete(f"{base}/messages_per_day", headers=admin)).status_code == 403
    r = await api.client.delete(f"{base}/messages_per_day", headers=api.platform)
    assert r.status_code == 204
    r = await api.client.delete(f"{base}/messages_per_day", headers=api.platform)
    assert r.status_code == 404 and "quota override" in r.json()["error"]["message"]
    assert (await api.quotas.limits(uuid.UUID(c["id"])))[QuotaName.MESSAGES_PER_DAY] == 5000000
    missing = f"/v1/customers/{uuid.uuid4()}/quotas"
    assert (await api.client.get(missing, headers=api.platform)).status_code == 404
    r = await api.client.put(f"{missing}/instances", json={"value": 1}, headers=api.platform)
    assert r.status_code == 404
    assert (await api.audit(c["id"]))[1:] == ["quota.set", "quota.set", "quota.reset"]


async def test_unnamed_quota_is_unlimited(api: Env) -> None:
    await api.sql(
        "INSERT INTO plans (id, name, quotas) VALUES ('bare', 'Bare', '{\"instances\": 4}')"
    )
    c = await api.customer("bare-co", plan_id="bare")
    r = await api.client.get(f"/v1/customers/{c['id']}/quotas", headers=api.platform)
    quotas = {q["name"]: q for q in r.json()}
    assert quotas["instances"]["limit"] == 4
    assert quotas["storage_bytes"] == {
        "name": "storage_bytes",
        "limit": None,
        "plan_default": None,
        "override": None,
    }


async def test_features(api: Env) -> None:
    c = await api.customer("feat", plan_id="free")  # rooms off, bots on
    inst = await api.instance(c["id"], "f")
    base = f"/v1/customers/{c['id']}/instances/{inst['id']}/features"
    inst_admin = api.bound("instance_admin", c["id"], inst["id"])
    user = api.bound("user", c["id"], inst["id"])
    r = await api.client.get(base, headers=user)
    assert r.status_code == 200 and r.json() == [
        {"feature": "bots", "enabled": True, "source": "plan"},
        {"feature": "rooms", "enabled": False, "source": "plan"},
    ]
    r = await api.client.put(f"{base}/rooms", json={"enabled": True}, headers=inst_admin)
    assert r.status_code == 200 and r.json() == {
        "feature": "rooms",
        "enabled": True,
        "source": "instance",
    }
    r = await api.client.put(f"{base}/beta.x", json={"enabled": True}, headers=inst_admin)
    assert r.status_code == 200
    r = await api.client.put(f"{base}/rooms", json={"enabled": False}, headers=api.admin(c["id"]))
    assert r.status_code == 200
    r = await api.client.get(base, headers=user)
    assert [(f["feature"], f["enabled"], f["source"]) for f in r.json()] == [
        ("beta.x", True, "instance"),
        ("bots", True, "plan"),
        ("rooms", False, "instance"),
    ]
    assert (
        await api.client.put(f"{base}/rooms", json={"enabled": 1.5}, headers=inst_admin)
    ).status_code == 422
    r = await api.client.put(f"{base}/Bad!", json={"enabled": True}, headers=inst_admin)
    assert r.status_code == 422 and "path.feature" in r.json()["error"]["message"]
    assert (
        await api.client.put(f"{base}/rooms", json={"enabled": True}, headers=user)
    ).status_code == 403
    assert (await api.client.delete(f"{base}/rooms", headers=user)).status_code == 403
    assert (await api.client.delete(f"{base}/rooms", headers=inst_admin)).status_code == 204
    r = await api.client.delete(f"{base}/rooms", headers=inst_admin)
    assert r.status_code == 404 and "feature toggle rooms" in r.json()["error"]["message"]
    r = await api.client.get(base, headers=user)
    assert {f["feature"]: f["source"] for f in r.json()}["rooms"] == "plan"

    missing = f"/v1/customers/{c['id']}/instances/{uuid.uuid4()}/features"
    assert (await api.client.get(missing, headers=api.platform)).status_code == 404
    r = await api.client.put(f"{missing}/rooms", json={"enabled": True}, headers=api.platform)
    assert r.status_code == 404
    assert (await api.client.delete(f"{missing}/rooms", headers=api.platform)).status_code == 404
    # Another instance's admin of the same customer: 404.
    elsewhere = api.bound("instance_admin", c["id"], uuid.uuid4())
    assert (await api.client.get(base, headers=elsewhere)).status_code == 404
    assert (await api.audit(c["id"]))[2:] == [
        "feature.set",
        "feature.set",
        "feature.set",
        "feature.reset",
    ]


async def test_instance_search_language(api: Env) -> None:
    c = await api.customer("lang", plan_id="pro")
    admin = api.admin(c["id"])
    base = f"/v1/customers/{c['id']}/instances"
    inst = (await api.client.post(base, json={"name": "bot-l"}, headers=admin)).json()
    assert inst["text_search"] == "simple"
    r = await api.client.patch(
        f"{base}/{inst['id']}", json={"text_search": "english"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["text_search"] == "english"
    r = await api.client.patch(
        f"{base}/{inst['id']}", json={"text_search": "klingon"}, headers=admin
    )
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("text_search: no text-search configuration")
    r = await api.client.patch(f"{base}/{inst['id']}", json={"text_search": "Bad!"}, headers=admin)
    assert r.status_code == 422 and "text_search" in r.json()["error"]["message"]
    r = await api.client.get(f"{base}/{inst['id']}", headers=admin)
    assert r.json()["text_search"] == "english"  # the refused changes left it as it was
