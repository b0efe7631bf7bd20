"""``presence.status``: who of a list of users is online, and when the others were last seen.

Answers from the shared store, so it sees the sessions of every node; scoped to the caller's
tenant (one instance). A store that cannot be reached is ``UNAVAILABLE`` (retryable).
"""

from __future__ import annotations

from typing import Any

from gb.protocol.codes import ErrorCode

from ..rpc import RpcError, RpcRegistry
from ..session import Session
from .base import PresenceStore, PresenceUnavailable

MAX_USERS = 500
"""Users one call may ask about."""


def register(rpc: RpcRegistry, store: PresenceStore) -> None:
    """Register ``presence.status`` on ``rpc``, answering from ``store``."""

    async def status(session: Session, params: dict[str, Any]) -> Any:
        users = params.get("users")
        if (
            not isinstance(users, list)
            or not users
            or not all(isinstance(u, str) and 0 < len(u) <= 256 for u in users)
        ):
            raise RpcError(ErrorCode.BAD_PAYLOAD, "users: a non-empty list of user ids expected")
        if len(users) > MAX_USERS:
            raise RpcError(ErrorCode.BAD_PAYLOAD, f"users: at most {MAX_USERS} per call")
        try:
            found = await store.status(session.identity.scope, users)
        except PresenceUnavailable as exc:
            raise RpcError(
                ErrorCode.UNAVAILABLE,
                f"presence store unavailable, retry: {exc}",
                retry_after_ms=1000,
            ) from None
        return {
            user: {"online": s.online, "last_seen": s.last_seen, "sessions": s.sessions}
            for user, s in found.items()
        }

    rpc.register("presence.status", status)
