"""Shared fixtures: a real gb node on free loopback ports, in the test's (uvloop) event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import uvloop

from gb.core.auth import mint_token
from gb.core.config import Settings, load_settings
from gb.core.node import Node

SECRET = "test-secret-0123456789abcdef-0123456789"


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    """Every async test runs on uvloop, the loop the node runs on."""
    return {"uvloop": uvloop.new_event_loop}


def node_settings(tmp: Path, **overrides: Any) -> Settings:
    """Settings of a test node: free ports, a fixed secret, ``overrides`` by field name."""
    env = {
        "GB_JWT_SECRET": SECRET,
        "GB_WS_PORT": "0",
        "GB_HTTP_PORT": "0",
        "GB_NODE_ID": "test-node",
        "GB_DATA_DIR": str(tmp),
        "GB_DRAIN_TIMEOUT": "2",
    }
    env.update({Settings.env_name(k): str(v) for k, v in overrides.items()})
    return load_settings(env)


class NodeHandle:
    """A started node plus what tests need to reach it."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.settings = node.settings

    @property
    def ws_url(self) -> str:
        return self.node.ws_url

    @property
    def http_url(self) -> str:
        return self.node.http_url

    def token(
        self,
        user: str = "u1",
        customer: str = "c1",
        instance: str = "i1",
        roles: Iterable[str] = ("user",),
        ttl: float = 3600,
        shard: int | None = None,
    ) -> str:
        return mint_token(
            self.settings,
            user=user,
            customer=customer,
            instance=instance,
            roles=roles,
            ttl=ttl,
            shard=shard,
        )


NodeFactory = Callable[..., Awaitable[NodeHandle]]


@pytest.fixture
async def node_factory(tmp_path: Path) -> AsyncIterator[NodeFactory]:
    """Start nodes with setting overrides (``await node_factory(heartbeat_interval=0.2)``)."""
    started: list[Node] = []

    async def make(
        *, broker: Any = None, database: Any = None, housekeeping: float = 10.0, **overrides: Any
    ) -> NodeHandle:
        node = Node(
            node_settings(tmp_path, **overrides),
            broker=broker,
            database=database,
            housekeeping_interval=housekeeping,
        )
        await node.start()
        started.append(node)
        return NodeHandle(node)

    yield make
    for node in started:
        if not node._stopped.is_set():
            await node.stop()
    await asyncio.sleep(0.05)  # let aborted sockets report their end
    for node in started:
        assert_released(node)


def assert_released(node: Node) -> None:
    """Debug counters back to zero: a node that leaks connections or subscriptions fails the
    test that leaked them (the uvloop way: every handle created was freed)."""
    hub = node.hub
    if hub is None:
        return
    assert not hub.edge.conns, f"{len(hub.edge.conns)} connections still registered"
    assert not hub.channels, f"channels left: {[c.name for c in hub.channels.values()]}"
    assert len(hub.registry) == 0, "sessions left in the registry"
    assert node.metrics.subscriptions._value.get() == 0, "subscription gauge not back to 0"
    assert node.metrics.connections._value.get() == 0, "connection gauge not back to 0"
    assert not hub._tasks, "background tasks still running"


@pytest.fixture
async def node(node_factory: NodeFactory) -> NodeHandle:
    """One node with the default settings."""
    return await node_factory()
