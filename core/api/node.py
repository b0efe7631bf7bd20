"""``/v1/node``: what this node is and how loaded it is."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .deps import NodeDep
from .health import uptime

router = APIRouter(prefix="/v1", tags=["node"])


class NodeInfo(BaseModel):
    """A node's identity and load."""

    id: str = Field(description="The node's id.")
    version: str
    connections: int = Field(description="Open client connections.")
    channels: int = Field(description="Channels with at least one local subscriber.")
    draining: bool = Field(description="True while the node shuts down.")
    started_at: float = Field(description="Unix time the node started.")
    uptime_s: float


@router.get("/node", summary="This node's identity and load")
async def node_info(node: NodeDep) -> NodeInfo:
    return NodeInfo(
        id=node.node_id,
        version=node.version,
        connections=node.connection_count,
        channels=node.channel_count,
        draining=node.draining,
        started_at=node.started_at,
        uptime_s=uptime(node.started_at),
    )
