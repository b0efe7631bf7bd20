"""RPC methods reachable over the WebSocket (RPC_REQUEST → RPC_RESPONSE).

Later parts (messaging, rooms, bots) register their methods here; the node registers a few
of its own (``echo``, ``whoami``, ``node.info``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gb.protocol.codes import ErrorCode

from .session import Session

Method = Callable[[Session, dict[str, Any]], Awaitable[Any]]


class RpcError(Exception):
    """An RPC failure reported to the caller as an ERROR frame with ``code``."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra
        """More fields for the ERROR payload (``retry_after_ms`` of RATE_LIMITED, ...)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    fn: Method
    roles: frozenset[str] | None


class RpcRegistry:
    """Methods by name, each with the roles allowed to call it (``None`` = every caller)."""

    def __init__(self) -> None:
        self._methods: dict[str, _Entry] = {}

    def register(self, name: str, fn: Method, *, roles: frozenset[str] | None = None) -> None:
        """Add ``name``; registering a name twice is a programming error."""
        if name in self._methods:
            raise ValueError(f"RPC method {name!r} is already registered")
        self._methods[name] = _Entry(fn, roles)

    def names(self) -> list[str]:
        """The registered method names, sorted."""
        return sorted(self._methods)

    async def call(self, session: Session, request: Any) -> Any:
        """Run the request ``{"method": str, "params": object}``; raises :class:`RpcError`."""
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            raise RpcError(ErrorCode.BAD_PAYLOAD, "method: a string is required")
        params = request.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RpcError(ErrorCode.BAD_PAYLOAD, "params: must be an object")
        entry = self._methods.get(request["method"])
        if entry is None:
            raise RpcError(ErrorCode.UNKNOWN_METHOD, f"no method {request['method']!r}")
        if entry.roles is not None and not entry.roles & session.identity.roles:
            raise RpcError(
                ErrorCode.FORBIDDEN,
                f"{request['method']!r} needs one of the roles {sorted(entry.roles)}",
            )
        return await entry.fn(session, params)
