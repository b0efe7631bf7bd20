"""What the control plane needs from the node, and the dependencies routers use to reach it.

A router takes ``node: NodeDep`` or ``metrics: MetricsDep`` as a parameter; :func:`create_app`
puts both on ``app.state``, so routers never import the node and tests pass any object that
satisfies :class:`NodeView`.
"""

from __future__ import annotations

from typing import Annotated, Protocol, cast

from fastapi import Depends, Request

from ..metrics import Metrics


class NodeView(Protocol):
    """The read-only face of a running node that the REST API reports on."""

    @property
    def node_id(self) -> str:
        """The node's name (``Settings.node_id``)."""

    @property
    def version(self) -> str:
        """The gb version the node runs."""

    @property
    def draining(self) -> bool:
        """True once shutdown began: the node takes no new connections."""

    @property
    def started_at(self) -> float:
        """Unix time the node started."""

    @property
    def connection_count(self) -> int:
        """Open client connections."""

    @property
    def channel_count(self) -> int:
        """Channels with at least one local subscriber."""

    async def readiness(self) -> dict[str, bool]:
        """One entry per dependency (``{"edge": True, "broker": False}``); True when usable."""


def node_of(request: Request) -> NodeView:
    """The node the app was created for."""
    return cast(NodeView, request.app.state.node)


def metrics_of(request: Request) -> Metrics:
    """The node's metrics."""
    return cast(Metrics, request.app.state.metrics)


NodeDep = Annotated[NodeView, Depends(node_of)]
MetricsDep = Annotated[Metrics, Depends(metrics_of)]
