"""The messaging REST API on the control-plane app: bearer tokens, the error shape and statuses
(400-range, 429 with Retry-After, 503), over the real service, PostgreSQL and log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gb.core.api import create_app
from gb.core.auth import Authenticator, mint_token
from gb.core.config import load_settings
from gb.core.messaging.rest import install
from gb.core.messaging.search import Search
from gb.core.metrics import Metrics
from gb.core.ratelimit import Limit, MemoryRateLimiter
from gb.core.tenancy.service import hash_api_key

from ..api.tenancy_fixtures import SECRET, StaticNode
from .test_service_support import Env, control_db, db, env

__all__ = ["control_db", "db", "env"]

Make = Callable[..., Any]
SETTINGS = load_settings({"GB_JWT_SECRET": SECRET})


class Api:
    def __init__(self, e: Env, client: httpx.AsyncClient, app: Any) -> None:
        self.e = e
        self.client = client
        self.app = app

    def auth(
        self, user: str = "alice", *roles: str, customer: object = None, instance: object = None
    ) -> dict[str, str]:
        token = mint_token(
            SETTINGS,
            user=user,
            customer=str(customer or self.e.customer),
            instance=str(instance or self.e.instance),
            roles=list(roles or ("user",)),
        )
        return {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, url: str, user: str = "alice", **kw: Any) -> httpx.Response:
        headers = {**self.auth(user), **kw.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kw)


ApiMaker = Callable[..., Any]


@pytest.fixture
async def api(env: Make) -> AsyncIterator[ApiMaker]:
    clients: list[httpx.AsyncClient] = []

    async def make(**options: Any) -> Api:
        e: Env = await env(**options)
        app = create_app(StaticNode(), Metrics(process=False))
        app.state.authenticator = Authenticator(SETTINGS)
        app.state.db = e.db
        install(app, e.svc)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://gb")
        clients.append(client)
        return Api(e, client, app)

    yield make
    for client in clients:
        await client.aclose()


def error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    assert body["code"] == code, body
    return body


async def test_conversations_members_messages_receipts_and_recovery(api: ApiMaker) -> None:
    a: Api = await api()
    r = await a.call("POST", "/v1/conversations", json={"title": "T", "members": ["bob"]})
    assert r.status_code == 201, r.text
    conversation = r.json()["id"]
    assert [m["user"] for m in r.json()["members"]] == ["alice", "bob"]
    r = await a.call("GET", "/v1/conversations", params={"limit": 5})
    assert [c["id"] for c in r.json()["items"]] == [conversation]
    assert r.json()["next_cursor"] is None
    r = await a.call("GET", f"/v1/conversations/{conversation}", user="bob")
    assert r.status_code == 200 and r.json()["title"] == "T"
    r = await a.call("POST", f"/v1/conversations/{conversation}/members", json={"users": ["c"]})
    assert r.json() == {"added": ["c"]}
    r = await a.call(
        "DELETE", f"/v1/conversations/{conversation}/members", params={"users": ["c", "x"]}
    )
    assert r.json() == {"removed": ["c"]}
    url = f"/v1/conversations/{conversation}/messages"
    r = await a.call("POST", url, json={"content": "hi"}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["duplicate"] is False and sent["conversation_id"] == conversation
    r = await a.call("POST", url, json={"content": "hi", "client_key": "k1"})
    assert r.status_code == 200 and r.json()["id"] == sent["id"] and r.json()["duplicate"]
    r = await a.call(
        "POST",
        url,
        json={"kind": "rich", "metadata": {"card": 1}},
        headers={"Idempotency-Key": "k2"},
    )
    rich = r.json()
    r = await a.call(
        "GET",
        url,
        user="bob",
        params={
            "kinds": ["text", "rich"],
            "direction": "backward",
            "limit": 1,
            "since": "2000-01-01T00:00:00Z",
            "after_position": -1,
        },
    )
    page = r.json()
    assert [m["id"] for m in page["items"]] == [rich["id"]]
    assert page["items"][0]["metadata"] == {"card": 1}
    r = await a.call("GET", url, params={"cursor": page["next_cursor"], "direction": "backward"})
    assert [m["id"] for m in r.json()["items"]] == [sent["id"]]
    r = await a.call(
        "POST",
        f"{url}/status",
        user="bob",
        json={"message_ids": [sent["id"], rich["id"]], "status": "read"},
    )
    assert r.status_code == 200, r.text
    assert [x["summary"]["read"] for x in r.json()["results"]] == [1, 1]
    r = await a.call(
        "POST",
        f"{url}/status",
        user="bob",
        json={"message_ids": [sent["id"]], "status": "delivered"},
    )
    assert "already read" in error(r, 409, "conflict")["message"]
    recover = f"/v1/conversations/{conversation}/recover"
    r = await a.call("POST", recover, user="bob", json={"after": sent["position"]})
    assert r.json() == {"messages": [r.json()["messages"][0]], "complete": True}
    assert r.json()["messages"][0]["id"] == rich["id"]
    r = await a.call("GET", recover, user="bob")
    assert [m["id"] for m in r.json()["messages"]] == [sent["id"], rich["id"]]
    r = await a.call("GET", recover, user="eve")
    error(r, 403, "forbidden")


async def test_search_over_rest(api: ApiMaker) -> None:
    a: Api = await api(search=None)
    r = await a.call("GET", "/v1/messages/search", params={"query": "x"})
    assert "not configured" in error(r, 503, "unavailable")["message"]
    a.e.svc.searcher = Search(a.e.db)
    conversation = (await a.call("POST", "/v1/conversations", json={})).json()["id"]
    r = await a.call(
        "POST", f"/v1/conversations/{conversation}/messages", json={"content": "ripe pears"}
    )
    sent = r.json()
    await a.e.persist(uuid.UUID(conversation), sent["position"])
    r = await a.call(
        "GET",
        "/v1/messages/search",
        params={"query": "pears", "conversation_id": conversation, "limit": 5},
    )
    assert r.status_code == 200, r.text
    assert [h["id"] for h in r.json()["hits"]] == [sent["id"]]
    assert "<b>pears</b>" in r.json()["hits"][0]["highlight"]


async def test_refusals_in_the_error_shape(api: ApiMaker) -> None:
    a: Api = await api(max_content_bytes=10, limiter=MemoryRateLimiter(), user_limit=Limit(0.01, 2))
    conversation = (await a.call("POST", "/v1/conversations", json={})).json()["id"]
    other = (await a.call("POST", "/v1/conversations", json={})).json()["id"]
    url = f"/v1/conversations/{conversation}/messages"
    error(await a.call("GET", f"/v1/conversations/{uuid.uuid4()}"), 404, "not_found")
    error(await a.call("POST", url, user="eve", json={"content": "x"}), 403, "forbidden")
    big = error(await a.call("POST", url, json={"content": "x" * 11}), 413, "too_large")
    assert big["limit"] == 10 and "the limit is 10 bytes" in big["message"]
    bad = error(
        await a.call("POST", url, json={"content": "x", "colour": 1}), 422, "invalid_request"
    )
    assert "colour" in bad["message"]
    mismatch = await a.call(
        "POST", url, json={"content": "x", "client_key": "a"}, headers={"Idempotency-Key": "b"}
    )
    assert "Idempotency-Key" in error(mismatch, 422, "invalid_request")["message"]
    cursor = await a.call("GET", url, params={"cursor": "zz"})
    assert "cursor" in error(cursor, 422, "invalid_request")["message"]
    r = await a.call("POST", url, json={"content": "1"}, headers={"Idempotency-Key": "k"})
    assert r.status_code == 201
    r = await a.call(
        "POST", f"/v1/conversations/{other}/messages", json={"content": "1"},
        headers={"Idempotency-Key": "k"},
    )  # fmt: skip
    error(r, 409, "conflict")
    r = await a.call("POST", url, json={"content": "2"})
    limited = error(r, 429, "rate_limited")
    assert limited["retry_after_ms"] > 0 and limited["scope"] == "user"
    assert int(r.headers["Retry-After"]) >= 1
    r = await a.client.get("/v1/conversations")
    assert r.status_code == 401


async def test_an_outage_is_503_with_retry_after(api: ApiMaker) -> None:
    a: Api = await api()
    conversation = (await a.call("POST", "/v1/conversations", json={})).json()["id"]
    await a.e.log.close()
    r = await a.call("POST", f"/v1/conversations/{conversation}/messages", json={"content": "x"})
    assert "not sent" in error(r, 503, "unavailable")["message"]
    assert r.headers["Retry-After"] == "1"
    a.app.state.messaging = None
    r = await a.call("GET", "/v1/conversations")
    assert "not configured" in error(r, 503, "unavailable")["message"]


async def test_credentials_must_name_one_customer_and_instance(api: ApiMaker) -> None:
    a: Api = await api()
    r = await a.client.get(
        "/v1/conversations", headers=a.auth("root", "platform_admin", customer="platform")
    )
    error(r, 403, "forbidden")
    r = await a.client.get("/v1/conversations", headers=a.auth(instance="main"))
    assert "bound to one customer and instance" in error(r, 403, "forbidden")["message"]


async def test_api_keys_act_as_themselves_when_bound_to_an_instance(api: ApiMaker) -> None:
    a: Api = await api()
    keys = {}
    async with a.e.db.platform() as conn:
        for name, instance in (("bound", a.e.instance), ("wide", None)):
            key = f"gbk_{uuid.uuid4().hex}"
            keys[name] = key
            keys[name + "_id"] = await conn.fetchval(
                "INSERT INTO api_keys (customer_id, instance_id, name, prefix, key_hash, roles)"
                " VALUES ($1, $2, $3, 'gbk_', $4, '{bot}') RETURNING id",
                a.e.customer,
                instance,
                name,
                hash_api_key(key),
            )
    r = await a.client.post(
        "/v1/conversations", json={"members": ["alice"]}, headers={"X-API-Key": keys["bound"]}
    )
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == f"key:{keys['bound_id']}"
    r = await a.client.get("/v1/conversations", headers={"X-API-Key": keys["wide"]})
    assert "bound to one customer and instance" in error(r, 403, "forbidden")["message"]


async def test_the_openapi_lists_the_messaging_routes(api: ApiMaker) -> None:
    a: Api = await api()
    spec = (await a.client.get("/openapi.json")).json()
    paths = set(spec["paths"])
    assert {
        "/v1/conversations",
        "/v1/conversations/{conversation_id}",
        "/v1/conversations/{conversation_id}/members",
        "/v1/conversations/{conversation_id}/messages",
        "/v1/conversations/{conversation_id}/messages/status",
        "/v1/conversations/{conversation_id}/recover",
        "/v1/messages/search",
    } <= paths
    assert any(tag["name"] == "messaging" for tag in spec["tags"])
