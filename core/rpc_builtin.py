"""RPC methods of the node itself: ``echo``, ``whoami`` and ``node.info``."""

from __future__ import annotations

from typing import Any, Protocol

from .rpc import RpcRegistry
from .session import Session


class _NodeInfo(Protocol):
    node_id: str
    version: str

    @property
    def connection_count(self) -> int: ...

    @property
    def channel_count(self) -> int: ...


def register_builtins(rpc: RpcRegistry, node: _NodeInfo) -> None:
    """Register the node's own methods on ``rpc``."""

    async def echo(session: Session, params: dict[str, Any]) -> Any:
        """The params, unchanged (round-trip checks and benchmarks)."""
        return params

    async def whoami(session: Session, params: dict[str, Any]) -> Any:
        """The caller's session and identity as the node sees them."""
        identity = session.identity
        return {
            "session": session.id,
            "user": identity.user,
            "customer": identity.customer,
            "instance": identity.instance,
            "roles": sorted(identity.roles),
            "shard_key": identity.shard_key,
            "expires_at": identity.expires_at,
        }

    async def node_info(session: Session, params: dict[str, Any]) -> Any:
        """The node's id, version and load."""
        return {
            "node": node.node_id,
            "version": node.version,
            "connections": node.connection_count,
            "channels": node.channel_count,
        }

    rpc.register("echo", echo)
    rpc.register("whoami", whoami)
    rpc.register("node.info", node_info)
