"""Probes and metrics: ``/healthz`` (liveness), ``/readyz`` (readiness), ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from .deps import MetricsDep, NodeDep

log = logging.getLogger("gb.core.api")

router = APIRouter(tags=["health"])

DEFAULT_READINESS_TIMEOUT = 2.0
"""Seconds the readiness checks may take before ``/readyz`` answers 503 (probes time out too)."""


class Health(BaseModel):
    """The process is alive."""

    status: Literal["ok"] = "ok"
    node: str = Field(description="The node's id.")
    version: str
    uptime_s: float = Field(description="Seconds since the node started.")


class Readiness(BaseModel):
    """Whether the node should receive traffic, and why not."""

    ready: bool
    draining: bool
    checks: dict[str, bool] = Field(description="Each dependency check and its result.")
    failed: list[str] = Field(
        description="Failed checks; `draining` while shutting down; `readiness` when the checks "
        "raised or timed out."
    )


def uptime(started_at: float) -> float:
    """Seconds since ``started_at`` (never negative, millisecond precision)."""
    return round(max(0.0, time.time() - started_at), 3)


@router.get("/healthz", summary="Liveness: 200 while the process lives")
async def healthz(node: NodeDep) -> Health:
    return Health(node=node.node_id, version=node.version, uptime_s=uptime(node.started_at))


@router.get(
    "/readyz",
    summary="Readiness: 200 when every check passes and the node is not draining",
    responses={503: {"model": Readiness, "description": "Not ready; `failed` says why"}},
)
async def readyz(request: Request, node: NodeDep) -> JSONResponse:
    timeout: float = getattr(request.app.state, "readiness_timeout", DEFAULT_READINESS_TIMEOUT)
    checks: dict[str, bool] = {}
    failed: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            checks = dict(await node.readiness())
    except Exception as exc:  # a probe must answer, whatever a check does
        log.warning("readiness checks failed: %r", exc)
        failed.append("readiness")
    failed.extend(name for name, ok in checks.items() if not ok)
    if node.draining:
        failed.append("draining")
    body = Readiness(ready=not failed, draining=node.draining, checks=checks, failed=failed)
    return JSONResponse(body.model_dump(), status_code=503 if failed else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=PlainTextResponse,
    tags=["metrics"],
)
async def metrics(metrics: MetricsDep) -> Response:
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)
