"""API keys (shown once, hashed, revocable), usage read-outs and invoices."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from tests.core.api.tenancy_fixtures import Env, api, control_db

__all__ = ["api", "control_db"]

NIL = uuid.UUID(int=0)


async def test_api_key_lifecycle(api: Env) -> None:
    c = await api.customer("keys")
    inst = await api.instance(c["id"], "k-bot")
    admin = api.admin(c["id"])
    base = f"/v1/customers/{c['id']}/api-keys"
    r = await api.client.post(
        base, json={"name": "ci", "roles": ["customer_admin", "customer_admin"]}, headers=admin
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("gbk_") and created["prefix"] == key[:12]
    assert created["roles"] == ["customer_admin"] and created["revoked_at"] is None
    stored = await api.sql("SELECT key_hash FROM api_keys WHERE id = $1", uuid.UUID(created["id"]))
    assert stored[0]["key_hash"] == hashlib.sha256(key.encode()).digest()

    # The key works as its roles, and is never shown again.
    with_key = {"X-API-Key": key}
    r = await api.client.get(f"/v1/customers/{c['id']}", headers=with_key)
    assert r.status_code == 200 and r.json()["name"] == "keys"
    r = await api.client.get(f"{base}/{created['id']}", headers=with_key)
    assert r.status_code == 200 and "key" not in r.json() and r.json()["last_used_at"] is not None
    r = await api.client.get(base, headers=admin)
    assert [k["prefix"] for k in r.json()["items"]] == [created["prefix"]]
    assert "key" not in r.json()["items"][0]

    # An instance-bound key is confined to its instance.
    r = await api.client.post(
        base, json={"name": "bot", "roles": ["user"], "instance_id": inst["id"]}, headers=admin
    )
    bot_key = {"X-API-Key": r.json()["key"]}
    instances = f"/v1/customers/{c['id']}/instances"
    assert (await api.client.get(f"{instances}/{inst['id']}", headers=bot_key)).status_code == 200
    r = await api.client.get(instances, headers=bot_key)
    assert [i["id"] for i in r.json()["items"]] == [inst["id"]]
    assert (await api.client.get(base, headers=bot_key)).status_code == 403

    # Validation: duplicate name, unknown instance, no role, platform role from a tenant.
    r = await api.client.post(base, json={"name": "ci", "roles": ["user"]}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["message"] == "name: already exists"
    r = await api.client.post(
        base, json={"name": "x", "roles": ["user"], "instance_id": str(uuid.uuid4())}, headers=admin
    )
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("instance_id:")
    r = await api.client.post(base, json={"name": "x", "roles": []}, headers=admin)
    assert r.status_code == 422 and "body.roles" in r.json()["error"]["message"]
    r = await api.client.post(base, json={"name": "x", "roles": ["root"]}, headers=admin)
    assert r.status_code == 422 and "body.roles" in r.json()["error"]["message"]
    r = await api.client.post(base, json={"name": "x", "roles": ["platform_admin"]}, headers=admin)
    assert r.status_code == 403 and "platform_admin" in r.json()["error"]["message"]
    r = await api.client.post(
        base, json={"name": "ops", "roles": ["platform_admin"]}, headers=api.platform
    )
    assert r.status_code == 201
    ops = {"X-API-Key": r.json()["key"]}
    assert (await api.client.get("/v1/customers", headers=ops)).status_code == 200

    # Revoking is at once and idempotent.
    r = await api.client.delete(f"{base}/{created['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    again = await api.client.delete(f"{base}/{created['id']}", headers=admin)
    assert again.json()["revoked_at"] == r.json()["revoked_at"]
    r = await api.client.get(f"/v1/customers/{c['id']}", headers=with_key)
    assert r.status_code == 401 and r.json()["error"]["message"] == "X-API-Key: key revoked"
    r = await api.client.get(base, params={"status": "revoked"}, headers=admin)
    assert [k["name"] for k in r.json()["items"]] == ["ci"]
    r = await api.client.get(base, params={"status": "active", "sort": "name"}, headers=admin)
    assert [k["name"] for k in r.json()["items"]] == ["bot", "ops"]
    r = await api.client.get(base, params={"name": "o"}, headers=admin)
    assert [k["name"] for k in r.json()["items"]] == ["ops"]

    unknown = uuid.uuid4()
    assert (await api.client.get(f"{base}/{unknown}", headers=admin)).status_code == 404
    assert (await api.client.delete(f"{base}/{unknown}", headers=admin)).status_code == 404
    stranger = api.admin(uuid.uuid4())
    assert (await api.client.get(base, headers=stranger)).status_code == 404
    r = await api.client.delete(f"{base}/{created['id']}", headers=stranger)
    assert r.status_code == 404
    missing = f"/v1/customers/{uuid.uuid4()}/api-keys"
    assert (await api.client.get(missing, headers=api.platform)).status_code == 404
    r = await api.client.post(missing, json={"name": "x", "roles": ["user"]}, headers=api.platform)
    assert r.status_code == 404
    actions = await api.audit(c["id"])
    assert actions.count("api_key.create") == 3 and actions.count("api_key.revoke") == 2


async def _rollups(api: Env, customer: uuid.UUID, instances: list[uuid.UUID]) -> None:
    rows = []
    for month in (1, 2, 3):
        start = dt.date(2026, month, 1)
        rows.append((customer, NIL, "message", "month", start, 100 * month))
        rows.append((customer, NIL, "bot_run", "month", start, month))
        for n, inst in enumerate(instances):
            rows.append((customer, inst, "message", "month", start, 10 * month + n))
    for day in (1, 2):
        rows.append((customer, NIL, "message", "day", dt.date(2026, 3, day), day))
    conn_rows = [
        "INSERT INTO usage_rollups (customer_id, instance_id, kind, period, period_start, quantity)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
    ]
    for row in rows:
        await api.sql(conn_rows[0], *row)


async def test_usage(api: Env) -> None:
    c = await api.customer("usage")
    a = await api.instance(c["id"], "ua")
    b = await api.instance(c["id"], "ub")
    cid = uuid.UUID(c["id"])
    await _rollups(api, cid, [uuid.UUID(a["id"]), uuid.UUID(b["id"])])
    admin = api.admin(c["id"])
    base = f"/v1/customers/{c['id']}/usage"

    r = await api.client.get(base, params={"kind": "message"}, headers=admin)
    assert r.status_code == 200
    assert [(u["period_start"], u["quantity"], u["instance_id"]) for u in r.json()["items"]] == [
        ("2026-01-01", 100, None),
        ("2026-02-01", 200, None),
        ("2026-03-01", 300, None),
    ]
    r = await api.client.get(
        base,
        params={"start": "2026-02-01", "end": "2026-03-01", "sort": "-period_start"},
        headers=admin,
    )
    assert [(u["kind"], u["quantity"]) for u in r.json()["items"]] == [
        ("message", 200),
        ("bot_run", 2),
    ]
    r = await api.client.get(base, params={"period": "day"}, headers=admin)
    assert [u["quantity"] for u in r.json()["items"]] == [1, 2]
    assert r.json()["items"][0]["period"] == "day"

    # Per instance, paged.
    seen = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"by": "instance", "limit": 4}
        if cursor:
            params["cursor"] = cursor
        r = await api.client.get(base, params=params, headers=admin)
        seen += [(u["period_start"], u["instance_id"]) for u in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and len(set(seen)) == 6
    assert {i for _, i in seen} == {a["id"], b["id"]}

    # One instance: its admin reads it, its users do not, other instances' admins see nothing.
    inst_base = f"/v1/customers/{c['id']}/instances/{a['id']}/usage"
    inst_admin = api.bound("instance_admin", c["id"], a["id"])
    r = await api.client.get(inst_base, params={"kind": "message"}, headers=inst_admin)
    assert [u["quantity"] for u in r.json()["items"]] == [10, 20, 30]
    assert all(u["instance_id"] == a["id"] for u in r.json()["items"])
    r = await api.client.get(inst_base, headers=api.bound("user", c["id"], a["id"]))
    assert r.status_code == 403
    assert (await api.client.get(base, headers=inst_admin)).status_code == 403
    r = await api.client.get(inst_base, headers=api.bound("instance_admin", c["id"], b["id"]))
    assert r.status_code == 404
    r = await api.client.get(
        f"/v1/customers/{c['id']}/instances/{uuid.uuid4()}/usage", headers=admin
    )
    assert r.status_code == 404
    r = await api.client.get(base, params={"period": "year"}, headers=admin)
    assert r.status_code == 422 and "query.period" in r.json()["error"]["message"]
    r = await api.client.get(base, params={"start": "yesterday"}, headers=admin)
    assert r.status_code == 422 and "query.start" in r.json()["error"]["message"]
    assert (await api.client.get(base, headers=api.admin(uuid.uuid4()))).status_code == 404


async def test_invoices(api: Env) -> None:
    c = await api.customer("billing")
    inst = await api.instance(c["id"], "billed")
    cid = uuid.UUID(c["id"])
    ids = []
    for month, status in ((1, "paid"), (2, "issued"), (3, "draft")):
        rows = await api.sql(
            "INSERT INTO invoices (customer_id, period_start, period_end, plan_id, currency,"
            " total_cents, status) VALUES ($1, $2, $3, 'pro', 'USD', $4, $5) RETURNING id",
            cid,
            dt.date(2026, month, 1),
            dt.date(2026, month + 1, 1),
            5000 + month,
            status,
        )
        ids.append(rows[0]["id"])
    await api.sql(
        "INSERT INTO invoice_lines (invoice_id, customer_id, instance_id, kind, quantity,"
        " unit_price_mcents, amount_cents) VALUES ($1, $2, NULL, 'subscription', 1, 4900000, 4900),"
        " ($1, $2, $3, 'message', 1000, 10, 10)",
        ids[0],
        cid,
        uuid.UUID(inst["id"]),
    )
    admin = api.admin(c["id"])
    base = f"/v1/customers/{c['id']}/invoices"
    r = await api.client.get(base, headers=admin)
    assert [i["period_start"] for i in r.json()["items"]] == [
        "2026-03-01",
        "2026-02-01",
        "2026-01-01",
    ]
    r = await api.client.get(base, params={"status": "issued"}, headers=admin)
    assert [i["total_cents"] for i in r.json()["items"]] == [5002]
    r = await api.client.get(
        base,
        params={"start": "2026-02-01", "end": "2026-04-01", "sort": "period_start"},
        headers=admin,
    )
    assert [i["status"] for i in r.json()["items"]] == ["issued", "draft"]
    r = await api.client.get(base, params={"sort": "created_at", "limit": 2}, headers=admin)
    assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]

    r = await api.client.get(f"{base}/{ids[0]}", headers=admin)
    assert r.status_code == 200
    invoice = r.json()
    assert invoice["status"] == "paid" and invoice["period_end"] == "2026-02-01"
    assert [
        (line["kind"], line["quantity"], line["amount_cents"]) for line in invoice["lines"]
    ] == [
        ("message", 1000.0, 10),
        ("subscription", 1.0, 4900),
    ]
    assert invoice["lines"][0]["instance_id"] == inst["id"]
    assert (await api.client.get(f"{base}/{uuid.uuid4()}", headers=admin)).status_code == 404
    assert (
        await api.client.get(f"{base}/{ids[0]}", headers=api.admin(uuid.uuid4()))
    ).status_code == 404
    r = await api.client.get(base, headers=api.bound("instance_admin", c["id"], inst["id"]))
    assert r.status_code == 403
    missing = f"/v1/customers/{uuid.uuid4()}/invoices"
    assert (await api.client.get(missing, headers=api.platform)).status_code == 404
