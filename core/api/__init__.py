"""REST control plane of a node: :func:`create_app` and what routers build on."""

from .app import create_app
from .deps import MetricsDep, NodeDep, NodeView
from .errors import ERROR_RESPONSES, ApiError, ErrorBody

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "MetricsDep",
    "NodeDep",
    "NodeView",
    "create_app",
]
