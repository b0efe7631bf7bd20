"""The control plane: a thin FastAPI app over a running node.

Adding an area is one line: ``app.include_router(tenants.router)``; handlers reach the node
through the dependencies in :mod:`gb.core.api.deps` and fail through :mod:`gb.core.api.errors`.
"""

from __future__ import annotations

from fastapi import FastAPI

from gb import __version__

from ..metrics import Metrics
from . import health, node
from .deps import NodeView
from .errors import install_error_handlers

TAGS = [
    {"name": "health", "description": "Liveness and readiness probes."},
    {"name": "metrics", "description": "Prometheus metrics of this process."},
    {"name": "node", "description": "This node's identity and load."},
]


def create_app(
    node_view: NodeView,
    metrics: Metrics,
    *,
    readiness_timeout: float = health.DEFAULT_READINESS_TIMEOUT,
) -> FastAPI:
    """The control-plane app of ``node_view``; ``/openapi.json`` is its contract."""
    app = FastAPI(
        title="gb control plane",
        version=__version__,
        description="REST control plane of a gb node.",
        openapi_tags=TAGS,
    )
    app.state.node = node_view
    app.state.metrics = metrics
    app.state.readiness_timeout = readiness_timeout
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(node.router)
    return app
