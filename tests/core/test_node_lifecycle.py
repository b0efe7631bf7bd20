"""Capacity, drain, metrics and the control plane of a running node."""

import asyncio

import httpx
import picows
import pytest

from gb.client import connect
from gb.core import native
from gb.protocol.codec import encode_json
from gb.protocol.codes import CloseCode, FrameType

from ..support.raw import raw_connect, raw_session


async def test_over_capacity_is_refused_with_4008(node_factory):
    node = await node_factory(max_connections=2)
    a = await connect(node.ws_url, node.token())
    b = await connect(node.ws_url, node.token())
    extra = await raw_connect(node.ws_url)
    assert await extra.close_code() == CloseCode.OVER_CAPACITY
    assert await a.rpc("echo", {}) == {}
    await a.close()
    await b.close()


async def test_drain_asks_clients_to_reconnect_elsewhere(node):
    client = await connect(node.ws_url, node.token())
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        assert (await http.get("/readyz")).status_code == 200
        drain = asyncio.ensure_future(node.node.drain())
        code, _ = await asyncio.wait_for(client.closed, 5)
        assert code == CloseCode.DRAINING
        await asyncio.wait_for(drain, 5)
    assert node.node.draining
    with pytest.raises(OSError):
        await raw_connect(node.ws_url)  # the listener is gone


async def test_while_draining_readyz_fails_and_upgrades_get_503(node_factory):
    node = await node_factory(drain_timeout=1, send_buffer_limit="64MiB")
    # A peer that stops reading with a backlog: its close cannot flush, so the node waits.
    stubborn = await raw_session(node.ws_url, node.token(user="stubborn"))
    stubborn.send(encode_json(FrameType.SUBSCRIBE, {"channel": "flood"}, request_id=1))
    await stubborn.next_of(FrameType.ACK)
    stubborn.transport.underlying_transport.pause_reading()
    publisher = await connect(node.ws_url, node.token(user="publisher"))
    sub = await publisher.subscribe("flood")
    (conn,) = [c for c in node.node.hub.edge.conns if c.session.identity.user == "stubborn"]
    for _ in range(2000):  # bounded: 128 MB at most
        await sub.publish(b"x" * 65536, echo=False, ack=True)
        if conn.transport.underlying_transport.get_write_buffer_size():
            break
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        drain = asyncio.ensure_future(node.node.drain())
        await asyncio.sleep(0.1)
        response = await http.get("/readyz")
        assert response.status_code == 503 and "draining" in response.text
        assert node.node._listener_factory(_Request(b"/ws")).status == 503
        await asyncio.wait_for(drain, 5)
    assert node.node.connection_count == 0


class _Request:
    def __init__(self, path: bytes) -> None:
        self.path = path


async def test_metrics_count_frames_deliveries_and_latency(node):
    a = await connect(node.ws_url, node.token())
    sub = await a.subscribe("room")
    for _ in range(5):
        await sub.publish(b"m", ack=True)
    for _ in range(5):
        await sub.next(timeout=5)
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        text = (await http.get("/metrics")).text
    assert 'gb_frames_in_total{type="PUBLISH"} 5.0' in text
    assert "gb_fanout_deliveries_total 5.0" in text
    assert "gb_publish_to_deliver_seconds_count 5.0" in text
    assert "gb_connections 1.0" in text
    assert 'gb_closes_total{code="AUTH_FAILED"} 0.0' in text
    await a.close()


async def test_healthz_and_node_info(node):
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        health = (await http.get("/healthz")).json()
        info = (await http.get("/v1/node")).json()
        openapi = (await http.get("/openapi.json")).json()
    assert health["status"] == "ok" and health["node"] == "test-node"
    assert info["connections"] == 0 and info["draining"] is False
    assert openapi["info"]["title"] == "gb control plane"


def test_native_build_is_required(monkeypatch):
    loaded = native.load()
    assert {m.name for m in loaded} == {"frame", "edge"} and all(m.digest for m in loaded)
    with pytest.raises(native.NativeBuildError, match="not built"):
        native.load(("no_such_module",))
    monkeypatch.setattr(native.importlib, "import_module", lambda name: picows)
    with pytest.raises(native.NativeBuildError, match="not a native build"):
        native.load(("frame",))


async def test_stop_without_start_and_drain_twice(tmp_path, node_factory):
    from gb.core.node import Node

    from ..conftest import node_settings

    idle = Node(node_settings(tmp_path))
    await idle.stop()  # nothing was started: nothing to stop, no error
    node = await node_factory()
    await node.node.drain()
    await node.node.drain()  # already drained: returns at once
    assert node.node.draining
