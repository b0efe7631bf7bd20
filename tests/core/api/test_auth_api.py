"""Caller identity on the REST control plane: bearer tokens, API keys, and their refusals."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gb.core.api.auth import Principal
from gb.core.config import load_settings
from tests.core.api.tenancy_fixtures import SECRET, Env, api, build_app, control_db

__all__ = ["api", "control_db"]


async def _get(api: Env, headers: dict[str, str], path: str = "/v1/regions") -> httpx.Response:
    return await api.client.get(path, headers=headers)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing credentials: send Authorization: Bearer <token> or X-API-Key"),
        ({"Authorization": "Basic dTpw"}, "Authorization: expected 'Bearer <token>'"),
        ({"Authorization": "Bearer"}, "Authorization: expected 'Bearer <token>'"),
        ({"X-API-Key": "secret"}, "X-API-Key: malformed key (expected gbk_...)"),
        ({"X-API-Key": "gbk_" + "x" * 300}, "X-API-Key: malformed key (expected gbk_...)"),
        ({"X-API-Key": "gbk_nope"}, "X-API-Key: unknown key"),
    ],
)
async def test_refused_credentials(api: Env, headers: dict[str, str], message: str) -> None:
    r = await _get(api, headers)
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "unauthorized", "message": message}}
    assert r.headers["www-authenticate"] == "Bearer"


async def test_refused_tokens(api: Env) -> None:
    r = await _get(api, {"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith("bearer token refused: malformed token")
    r = await _get(api, api.headers(["platform_admin"], ttl=-60))
    assert r.json()["error"]["message"] == "bearer token refused: token expired"
    other = load_settings({"GB_JWT_SECRET": "another-secret-0123456789abcdef-012345"})
    from gb.core.auth import mint_token

    forged = mint_token(
        other, user="x", customer="platform", instance="*", roles=["platform_admin"]
    )
    r = await _get(api, {"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and "signature" in r.json()["error"]["message"].lower()
    r = await _get(api, api.headers(["customer_admin"], customer="acme"))
    assert r.json()["error"]["message"] == "bearer token refused: claim 'cus' is not a customer id"
    both = {**api.platform, "X-API-Key": "gbk_x"}
    r = await _get(api, both)
    assert r.status_code == 401 and "not both" in r.json()["error"]["message"]


async def test_tokens_need_an_authenticator() -> None:
    app = build_app(load_settings({"GB_JWT_SECRET": SECRET}))
    del app.state.authenticator
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gb.test") as client:
        r = await client.get("/v1/regions", headers={"Authorization": "Bearer x.y.z"})
        assert r.status_code == 401 and "no authenticator" in r.json()["error"]["message"]
        # No database configured: the routes and API keys answer 503, not a crash.
        r = await client.get("/v1/regions", headers={"X-API-Key": "gbk_abc"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"


async def test_routes_without_database(api: Env) -> None:
    del api.app.state.db
    r = await _get(api, api.platform)
    assert r.status_code == 503
    assert r.json()["error"]["message"] == "the control plane has no database configured"


async def test_service_is_rebuilt_when_the_database_changes(api: Env) -> None:
    assert (await _get(api, api.platform)).status_code == 200
    first = api.app.state.tenancy
    assert (await _get(api, api.platform)).status_code == 200
    assert api.app.state.tenancy is first
    api.app.state.quotas = type(api.quotas)(api.db, api.quotas.counters)
    assert (await _get(api, api.platform)).status_code == 200
    assert api.app.state.tenancy is not first


async def test_api_key_use_is_stamped_at_most_once_a_minute(api: Env) -> None:
    c = await api.customer("stamp")
    r = await api.client.post(
        f"/v1/customers/{c['id']}/api-keys",
        json={"name": "k", "roles": ["customer_admin"]},
        headers=api.admin(c["id"]),
    )
    key_id, key = uuid.UUID(r.json()["id"]), r.json()["key"]
    assert (await _get(api, {"X-API-Key": key})).status_code == 200
    first = (await api.sql("SELECT last_used_at FROM api_keys WHERE id = $1", key_id))[0][0]
    assert (await _get(api, {"X-API-Key": key})).status_code == 200
    again = (await api.sql("SELECT last_used_at FROM api_keys WHERE id = $1", key_id))[0][0]
    assert first is not None and again == first
    await api.sql(
        "UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = $1", key_id
    )
    assert (await _get(api, {"X-API-Key": key})).status_code == 200
    later = (await api.sql("SELECT last_used_at FROM api_keys WHERE id = $1", key_id))[0][0]
    assert later > first
    # The audit log names the key as the actor of its writes.
    await api.client.patch(
        f"/v1/customers/{c['id']}", json={"metadata": {"a": 1}}, headers={"X-API-Key": key}
    )
    rows = await api.sql(
        "SELECT actor FROM audit_log WHERE action = 'customer.update' AND customer_id = $1",
        uuid.UUID(c["id"]),
    )
    assert [r["actor"] for r in rows] == [f"key:{key_id}"]


def test_principal_rules() -> None:
    cid, iid = uuid.uuid4(), uuid.uuid4()
    platform = Principal("user:p", None, None, frozenset({"platform_admin"}))
    platform.require_platform()
    platform.require_platform_for(cid)
    platform.check_customer(cid)
    platform.check_instance(cid, iid, write=True)
    platform.require_any("customer_admin")
    assert platform.bound_instance() is None

    admin = Principal("user:a", cid, "*", frozenset({"customer_admin"}))
    admin.check_instance(cid, iid, write=True)
    assert admin.bound_instance() is None
    user = Principal("key:k", cid, None, frozenset({"user"}))
    assert user.bound_instance() == ""  # a key with no instance lists no instance
    with pytest.raises(Exception, match=r"instance .* not found"):
        user.check_instance(cid, iid)
