"""Users, groups and memberships of an instance (GuaribasUser, GuaribasGroup, GuaribasUserGroup)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.core.api.tenancy_fixtures import Env, api, control_db

__all__ = ["api", "control_db"]


async def _setup(api: Env) -> tuple[dict[str, Any], dict[str, Any], str]:
    c = await api.customer("people")
    inst = await api.instance(c["id"], "people-bot")
    return c, inst, f"/v1/customers/{c['id']}/instances/{inst['id']}"


async def test_user_crud(api: Env) -> None:
    c, inst, base = await _setup(api)
    writer = api.bound("instance_admin", c["id"], inst["id"])
    reader = api.bound("bot", c["id"], inst["id"])
    r = await api.client.post(
        f"{base}/users",
        json={
            "user_system_id": "+5511999",
            "display_name": "Ana",
            "locale": "pt-BR",
            "params": {"a": 1},
        },
        headers=writer,
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["instance_id"] == inst["id"] and user["params"] == {"a": 1}
    assert user["agent_mode"] is None and user["locale"] == "pt-BR"
    r = await api.client.get(f"{base}/users/{user['id']}", headers=reader)
    assert r.status_code == 200 and r.json() == user
    r = await api.client.patch(
        f"{base}/users/{user['id']}",
        json={"email": "ana@x.io", "agent_mode": "human", "params": {"b": 2}},
        headers=writer,
    )
    assert r.status_code == 200 and r.json()["email"] == "ana@x.io"
    assert r.json()["params"] == {"b": 2} and r.json()["agent_mode"] == "human"
    r = await api.client.patch(f"{base}/users/{user['id']}", json={"params": None}, headers=writer)
    assert r.status_code == 422 and "body.params" in r.json()["error"]["message"]
    r = await api.client.patch(
        f"{base}/users/{user['id']}", json={"locale": "xx_YY"}, headers=writer
    )
    assert r.status_code == 422 and "body.locale" in r.json()["error"]["message"]
    r = await api.client.post(f"{base}/users", json={"user_system_id": "+5511999"}, headers=writer)
    assert r.status_code == 409 and r.json()["error"]["message"] == "user_system_id: already exists"
    r = await api.client.post(f"{base}/users", json={}, headers=writer)
    assert r.status_code == 422 and "body.user_system_id" in r.json()["error"]["message"]

    for i in range(4):
        await api.client.post(
            f"{base}/users", json={"user_system_id": f"web-{i}", "email": f"{i}@x"}, headers=writer
        )
    r = await api.client.get(f"{base}/users", params={"sort": "-name", "limit": 2}, headers=reader)
    page = r.json()
    assert [u["user_system_id"] for u in page["items"]] == ["web-3", "web-2"]
    r = await api.client.get(
        f"{base}/users",
        params={"sort": "-name", "limit": 2, "cursor": page["next_cursor"]},
        headers=reader,
    )
    assert [u["user_system_id"] for u in r.json()["items"]] == ["web-1", "web-0"]
    r = await api.client.get(
        f"{base}/users", params={"name": "web-", "sort": "name"}, headers=reader
    )
    assert len(r.json()["items"]) == 4 and r.json()["next_cursor"] is None
    r = await api.client.get(f"{base}/users", params={"email": "2@x"}, headers=reader)
    assert [u["user_system_id"] for u in r.json()["items"]] == ["web-2"]

    # Readers do not write; writers of another instance see nothing.
    r = await api.client.post(f"{base}/users", json={"user_system_id": "z"}, headers=reader)
    assert r.status_code == 403
    assert (
        await api.client.delete(f"{base}/users/{user['id']}", headers=reader)
    ).status_code == 403
    stranger = api.bound("instance_admin", c["id"], uuid.uuid4())
    assert (await api.client.get(f"{base}/users", headers=stranger)).status_code == 404
    r = await api.client.get(f"{base}/users/{user['id']}", headers=api.admin(uuid.uuid4()))
    assert r.status_code == 404

    assert (
        await api.client.delete(f"{base}/users/{user['id']}", headers=writer)
    ).status_code == 204
    assert (await api.client.get(f"{base}/users/{user['id']}", headers=reader)).status_code == 404
    assert (
        await api.client.delete(f"{base}/users/{user['id']}", headers=writer)
    ).status_code == 404
    r = await api.client.patch(f"{base}/users/{user['id']}", json={}, headers=writer)
    assert r.status_code == 404
    missing = f"/v1/customers/{c['id']}/instances/{uuid.uuid4()}"
    assert (await api.client.get(f"{missing}/users", headers=api.platform)).status_code == 404
    r = await api.client.post(
        f"{missing}/users", json={"user_system_id": "u"}, headers=api.platform
    )
    assert r.status_code == 404
    actions = await api.audit(c["id"])
    assert actions.count("user.create") == 5 and actions[-1] == "user.delete"
    assert "user.update" in actions


async def test_groups_and_members(api: Env) -> None:
    c, inst, base = await _setup(api)
    admin = api.admin(c["id"])
    user = api.bound("user", c["id"], inst["id"])
    users = []
    for name in ("bob", "amy", "cid"):
        r = await api.client.post(f"{base}/users", json={"user_system_id": name}, headers=admin)
        users.append(r.json())
    r = await api.client.post(f"{base}/groups", json={"display_name": "Sales"}, headers=admin)
    assert r.status_code == 201, r.text
    sales = r.json()
    r = await api.client.post(f"{base}/groups", json={"display_name": "Sales"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["message"] == "display_name: already exists"
    r = await api.client.post(f"{base}/groups", json={"display_name": ""}, headers=admin)
    assert r.status_code == 422
    support = (
        await api.client.post(f"{base}/groups", json={"display_name": "Support"}, headers=admin)
    ).json()
    r = await api.client.get(f"{base}/groups", params={"sort": "-name"}, headers=user)
    assert [g["display_name"] for g in r.json()["items"]] == ["Support", "Sales"]
    r = await api.client.get(f"{base}/groups", params={"name": "Sa"}, headers=user)
    assert [g["id"] for g in r.json()["items"]] == [sales["id"]]
    assert (await api.client.get(f"{base}/groups/{sales['id']}", headers=user)).json() == sales
    r = await api.client.patch(
        f"{base}/groups/{sales['id']}", json={"display_name": "Sales BR"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["display_name"] == "Sales BR"
    r = await api.client.patch(
        f"{base}/groups/{sales['id']}", json={"display_name": "Support"}, headers=admin
    )
    assert r.status_code == 409

    for u in users:
        r = await api.client.put(f"{base}/groups/{sales['id']}/members/{u['id']}", headers=admin)
        assert r.status_code == 200 and r.json() == {
            "group_id": sales["id"],
            "user_id": u["id"],
            "added": True,
        }
    r = await api.client.put(f"{base}/groups/{sales['id']}/members/{users[0]['id']}", headers=admin)
    assert r.json()["added"] is False
    await api.client.put(f"{base}/groups/{support['id']}/members/{users[0]['id']}", headers=admin)

    r = await api.client.get(
        f"{base}/groups/{sales['id']}/members", params={"limit": 2}, headers=user
    )
    first = r.json()
    assert [m["user_system_id"] for m in first["items"]] == ["bob", "amy"]
    assert all("joined_at" in m for m in first["items"])
    r = await api.client.get(
        f"{base}/groups/{sales['id']}/members",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=user,
    )
    assert [m["user_system_id"] for m in r.json()["items"]] == ["cid"]
    r = await api.client.get(
        f"{base}/groups/{sales['id']}/members", params={"sort": "name"}, headers=user
    )
    assert [m["user_system_id"] for m in r.json()["items"]] == ["amy", "bob", "cid"]
    r = await api.client.get(
        f"{base}/users/{users[0]['id']}/groups", params={"sort": "name"}, headers=user
    )
    assert [g["display_name"] for g in r.json()["items"]] == ["Sales BR", "Support"]
    r = await api.client.get(f"{base}/users/{users[0]['id']}/groups", headers=user)
    assert len(r.json()["items"]) == 2

    # Unknown group or user, and a user's removal.
    nobody = uuid.uuid4()
    r = await api.client.put(f"{base}/groups/{sales['id']}/members/{nobody}", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["message"] == f"user {nobody} not found"
    r = await api.client.put(f"{base}/groups/{nobody}/members/{users[0]['id']}", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["message"] == f"group {nobody} not found"
    assert (
        await api.client.get(f"{base}/groups/{nobody}/members", headers=user)
    ).status_code == 404
    assert (await api.client.get(f"{base}/users/{nobody}/groups", headers=user)).status_code == 404
    assert (await api.client.get(f"{base}/groups/{nobody}", headers=user)).status_code == 404
    r = await api.client.patch(f"{base}/groups/{nobody}", json={"display_name": "x"}, headers=admin)
    assert r.status_code == 404
    r = await api.client.delete(
        f"{base}/groups/{sales['id']}/members/{users[1]['id']}", headers=admin
    )
    assert r.status_code == 204
    r = await api.client.delete(
        f"{base}/groups/{sales['id']}/members/{users[1]['id']}", headers=admin
    )
    assert r.status_code == 404 and "membership" in r.json()["error"]["message"]

    # Readers do not write.
    assert (
        await api.client.post(f"{base}/groups", json={"display_name": "x"}, headers=user)
    ).status_code == 403
    r = await api.client.put(f"{base}/groups/{sales['id']}/members/{users[1]['id']}", headers=user)
    assert r.status_code == 403
    r = await api.client.delete(
        f"{base}/groups/{sales['id']}/members/{users[0]['id']}", headers=user
    )
    assert r.status_code == 403

    assert (
        await api.client.delete(f"{base}/groups/{support['id']}", headers=admin)
    ).status_code == 204
    assert (
        await api.client.delete(f"{base}/groups/{support['id']}", headers=admin)
    ).status_code == 404
    r = await api.client.get(f"{base}/users/{users[0]['id']}/groups", headers=user)
    assert [g["id"] for g in r.json()["items"]] == [sales["id"]]
    actions = await api.audit(c["id"])
    assert actions.count("group.member.add") == 4 and actions.count("group.member.remove") == 1
    assert actions[-1] == "group.delete"
