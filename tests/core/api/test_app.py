"""Control plane: probes, metrics, node info, OpenAPI contract and the error shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel

from gb import __version__
from gb.core.api import ERROR_RESPONSES, ApiError, NodeDep, create_app
from gb.core.metrics import Metrics


@dataclass
class StaticNode:
    """A NodeView whose state the test sets."""

    node_id: str = "node-a"
    version: str = __version__
    draining: bool = False
    started_at: float = field(default_factory=lambda: time.time() - 12.5)
    connection_count: int = 3
    channel_count: int = 2
    checks: dict[str, bool] = field(default_factory=lambda: {"edge": True, "broker": True})
    failure: Exception | None = None
    delay: float = 0.0

    async def readiness(self) -> dict[str, bool]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        return self.checks


@pytest.fixture
def node() -> StaticNode:
    return StaticNode()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(process=False)


@pytest.fixture
def app(node: StaticNode, metrics: Metrics) -> FastAPI:
    return create_app(node, metrics, readiness_timeout=0.2)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gb.test") as c:
        yield c


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["node"] == "node-a" and body["version"] == __version__
    assert 12.0 <= body["uptime_s"] < 60.0


async def test_healthz_while_draining(client: httpx.AsyncClient, node: StaticNode) -> None:
    node.draining = True
    node.checks = {"broker": False}
    assert (await client.get("/healthz")).status_code == 200  # alive, just not ready


async def test_readyz_ready(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "ready": True,
        "draining": False,
        "checks": {"edge": True, "broker": True},
        "failed": [],
    }


async def test_readyz_names_the_failed_check(client: httpx.AsyncClient, node: StaticNode) -> None:
    node.checks = {"edge": True, "broker": False}
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failed"] == ["broker"] and r.json()["ready"] is False


async def test_readyz_draining(client: httpx.AsyncClient, node: StaticNode) -> None:
    node.draining = True
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {
        "ready": False,
        "draining": True,
        "checks": {"edge": True, "broker": True},
        "failed": ["draining"],
    }


async def test_readyz_when_checks_raise_or_hang(
    client: httpx.AsyncClient, node: StaticNode
) -> None:
    node.failure = RuntimeError("redis gone")
    r = await client.get("/readyz")
    assert (r.status_code, r.json()["failed"], r.json()["checks"]) == (503, ["readiness"], {})
    node.failure = None
    node.delay = 5.0  # longer than the app's 0.2 s readiness timeout
    started = time.monotonic()
    r = await client.get("/readyz")
    assert time.monotonic() - started < 2.0
    assert (r.status_code, r.json()["failed"]) == (503, ["readiness"])


async def test_metrics_endpoint(client: httpx.AsyncClient, metrics: Metrics) -> None:
    metrics.connections.set(5)
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "\ngb_connections 5.0\n" in r.text
    assert "gb_frames_in_total" in r.text


async def test_node_info(client: httpx.AsyncClient, node: StaticNode) -> None:
    r = await client.get("/v1/node")
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("id", "version", "connections", "channels", "draining")} == {
        "id": "node-a",
        "version": __version__,
        "connections": 3,
        "channels": 2,
        "draining": False,
    }
    assert body["started_at"] == node.started_at and body["uptime_s"] >= 12.0


async def test_openapi_is_the_contract(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["info"] == {
        "title": "gb control plane",
        "version": __version__,
        "description": "REST control plane of a gb node.",
    }
    assert {"/healthz", "/readyz", "/metrics", "/v1/node"} <= set(doc["paths"])
    assert {t["name"] for t in doc["tags"]} == {"health", "metrics", "node"}
    schemas = doc["components"]["schemas"]
    assert {"Health", "Readiness", "NodeInfo"} <= set(schemas)
    assert set(schemas["NodeInfo"]["required"]) >= {"id", "version", "connections", "draining"}
    ok = doc["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/Health"}
    unready = doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]
    assert unready["schema"] == {"$ref": "#/components/schemas/Readiness"}
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no route for GET /v1/nope"}}


async def test_wrong_method_is_a_json_405(client: httpx.AsyncClient) -> None:
    r = await client.post("/healthz")
    assert r.status_code == 405
    assert r.json() == {"error": {"code": "method_not_allowed", "message": "Method Not Allowed"}}
    assert r.headers["allow"] == "GET"


class Greeting(BaseModel):
    name: str
    times: int


def _extra_router() -> APIRouter:
    """What a later issue adds: a router with input, reaching the node through NodeDep."""
    router = APIRouter(prefix="/v1/greet", tags=["greet"], responses=ERROR_RESPONSES)

    @router.post("/{lang}")
    async def greet(lang: str, body: Greeting, node: NodeDep) -> dict[str, str]:
        if lang not in ("en", "pt"):
            raise ApiError(404, "unknown_language", f"language {lang!r} is not supported")
        if body.times > 3:
            raise HTTPException(409, "too many greetings")
        if body.times < 0:
            raise HTTPException(418, "negative greetings")
        if body.times == 0:
            raise RuntimeError("secret internals")
        return {"text": f"hello {body.name} from {node.node_id}"}

    return router


async def test_adding_a_router_is_one_line(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.include_router(_extra_router())
    r = await client.post("/v1/greet/en", json={"name": "ana", "times": 1})
    assert (r.status_code, r.json()) == (200, {"text": "hello ana from node-a"})
    doc = (await client.get("/openapi.json")).json()
    invalid = doc["paths"]["/v1/greet/{lang}"]["post"]["responses"]["422"]
    assert invalid["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


async def test_error_shapes_from_routers(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.include_router(_extra_router())

    async def post(lang: str, body: object) -> tuple[int, object]:
        r = await client.post(f"/v1/greet/{lang}", json=body)
        return r.status_code, r.json()

    assert await post("xx", {"name": "a", "times": 1}) == (
        404,
        {"error": {"code": "unknown_language", "message": "language 'xx' is not supported"}},
    )
    assert await post("en", {"name": "a", "times": 9}) == (
        409,
        {"error": {"code": "conflict", "message": "too many greetings"}},
    )
    assert await post("en", {"name": "a", "times": -1}) == (
        418,
        {"error": {"code": "http_418", "message": "negative greetings"}},
    )
    assert await post("en", {"name": "a", "times": 0}) == (
        500,
        {"error": {"code": "internal", "message": "internal error"}},
    )
    status, body = await post("en", {"name": "a", "times": "many"})
    assert status == 422
    assert body == {
        "error": {
            "code": "invalid_request",
            "message": "body.times: Input should be a valid integer, unable to parse string as an "
            "integer",
        }
    }
    status, body = await post("en", {"times": 1})
    assert (status, body["error"]["message"]) == (422, "body.name: Field required")


async def test_a_real_node_serves_the_control_plane(node_factory: Any) -> None:
    """The app under uvicorn in a started node, over real loopback HTTP."""
    handle = await node_factory()
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=5.0) as c:
        ready = await c.get("/readyz")
        assert (ready.status_code, ready.json()["checks"]) == (200, {"edge": True, "broker": True})
        info = (await c.get("/v1/node")).json()
        assert (info["id"], info["connections"], info["draining"]) == ("test-node", 0, False)
        text = (await c.get("/metrics")).text
        assert "\ngb_broker_up 1.0\n" in text
        assert text.count("# TYPE gb_bytes_in_total counter") == 1  # native and ours, one family
        missing = await c.get("/nope")
        assert missing.json()["error"]["code"] == "not_found"
