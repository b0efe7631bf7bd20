"""Regions and plans: everyone reads, platform admins write; in-use rows cannot be deleted."""

from __future__ import annotations

import uuid

from tests.core.api.tenancy_fixtures import Env, api, control_db

__all__ = ["api", "control_db"]


async def test_regions(api: Env) -> None:
    c = await api.customer("reg")
    reader = api.bound("user", c["id"], uuid.uuid4())
    r = await api.client.get("/v1/regions", headers=reader)
    assert r.status_code == 200 and [g["id"] for g in r.json()["items"]] == ["local"]
    r = await api.client.post(
        "/v1/regions", json={"id": "eu-west", "name": "Europe"}, headers=reader
    )
    assert r.status_code == 403
    r = await api.client.post(
        "/v1/regions", json={"id": "eu-west", "name": "Europe"}, headers=api.platform
    )
    assert r.status_code == 201 and r.json()["id"] == "eu-west"
    r = await api.client.post(
        "/v1/regions", json={"id": "eu-west", "name": "E"}, headers=api.platform
    )
    assert r.status_code == 409 and r.json()["error"]["message"] == "id: already exists"
    r = await api.client.post("/v1/regions", json={"id": "EU", "name": "E"}, headers=api.platform)
    assert r.status_code == 422 and "body.id" in r.json()["error"]["message"]
    await api.client.post(
        "/v1/regions", json={"id": "us-east", "name": "America"}, headers=api.platform
    )

    r = await api.client.get("/v1/regions", params={"limit": 2}, headers=reader)
    assert [g["name"] for g in r.json()["items"]] == ["America", "Europe"]
    r = await api.client.get(
        "/v1/regions", params={"limit": 2, "cursor": r.json()["next_cursor"]}, headers=reader
    )
    assert [g["name"] for g in r.json()["items"]] == ["Local"]
    r = await api.client.get(
        "/v1/regions", params={"name": "Eu", "sort": "-created_at"}, headers=reader
    )
    assert [g["id"] for g in r.json()["items"]] == ["eu-west"]
    assert (await api.client.get("/v1/regions/eu-west", headers=reader)).json()["name"] == "Europe"
    assert (await api.client.get("/v1/regions/mars", headers=reader)).status_code == 404

    r = await api.client.patch("/v1/regions/eu-west", json={"name": "EU"}, headers=api.platform)
    assert r.status_code == 200 and r.json()["name"] == "EU"
    assert (
        await api.client.patch("/v1/regions/eu-west", json={"name": "x"}, headers=reader)
    ).status_code == 403
    r = await api.client.patch("/v1/regions/mars", json={"name": "x"}, headers=api.platform)
    assert r.status_code == 404

    await api.customer("in-eu", region_id="eu-west")
    r = await api.client.delete("/v1/regions/eu-west", headers=api.platform)
    assert r.status_code == 409 and r.json()["error"]["message"].startswith("customers:")
    assert (await api.client.delete("/v1/regions/us-east", headers=reader)).status_code == 403
    assert (await api.client.delete("/v1/regions/us-east", headers=api.platform)).status_code == 204
    assert (await api.client.delete("/v1/regions/us-east", headers=api.platform)).status_code == 404
    nil = "00000000-0000-0000-0000-000000000000"
    assert await api.audit(nil) == [
        "region.create",
        "region.create",
        "region.update",
        "region.delete",
    ]


async def test_plans(api: Env) -> None:
    r = await api.client.get("/v1/plans", params={"sort": "name"}, headers=api.platform)
    assert [p["id"] for p in r.json()["items"]] == ["enterprise", "free", "pro"]
    free = r.json()["items"][1]
    assert free["quotas"]["instances"] == 1 and free["features"] == {"rooms": False, "bots": True}
    body = {
        "id": "team",
        "name": "Team",
        "monthly_price_cents": 1900,
        "unit_prices": {"message": 7},
        "quotas": {"instances": 5, "storage_bytes": 1000},
        "features": {"rooms": True},
    }
    c = await api.customer("plan-reader")
    reader = api.admin(c["id"])
    assert (await api.client.post("/v1/plans", json=body, headers=reader)).status_code == 403
    r = await api.client.post("/v1/plans", json=body, headers=api.platform)
    assert r.status_code == 201, r.text
    assert r.json()["currency"] == "USD" and r.json()["quotas"] == body["quotas"]
    assert (await api.client.post("/v1/plans", json=body, headers=api.platform)).status_code == 409
    bad = {**body, "id": "x2", "quotas": {"widgets": 1}}
    r = await api.client.post("/v1/plans", json=bad, headers=api.platform)
    assert r.status_code == 422 and "body.quotas.widgets" in r.json()["error"]["message"]

    r = await api.client.get("/v1/plans/team", headers=reader)
    assert r.status_code == 200 and r.json()["unit_prices"] == {"message": 7}
    assert (await api.client.get("/v1/plans/gold", headers=reader)).status_code == 404
    r = await api.client.get("/v1/plans", params={"name": "Te"}, headers=reader)
    assert [p["id"] for p in r.json()["items"]] == ["team"]

    r = await api.client.patch(
        "/v1/plans/team", json={"monthly_price_cents": 2900, "features": {}}, headers=api.platform
    )
    assert r.status_code == 200 and r.json()["monthly_price_cents"] == 2900
    assert r.json()["features"] == {}
    r = await api.client.patch("/v1/plans/team", json={"quotas": None}, headers=api.platform)
    assert r.status_code == 422 and r.json()["error"]["message"] == "body.quotas: may not be null"
    assert (await api.client.patch("/v1/plans/team", json={}, headers=reader)).status_code == 403
    r = await api.client.patch("/v1/plans/gold", json={"name": "G"}, headers=api.platform)
    assert r.status_code == 404

    assert (await api.client.delete("/v1/plans/pro", headers=api.platform)).status_code == 409
    assert (await api.client.delete("/v1/plans/team", headers=reader)).status_code == 403
    assert (await api.client.delete("/v1/plans/team", headers=api.platform)).status_code == 204
    assert (await api.client.delete("/v1/plans/team", headers=api.platform)).status_code == 404
