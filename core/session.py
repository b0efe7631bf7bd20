"""An authenticated session on one connection, and its resume token.

The resume token lets a client that reconnects (to any node) keep its session id: it is the
session id, user and scope, signed with HMAC-SHA256 under a key every node shares. It grants
nothing by itself: HELLO still authenticates with a JWT, and the token is honoured only for
the same user and tenant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from .auth import Identity


@dataclass(slots=True)
class Session:
    """Who is on a connection, from WELCOME until the socket ends."""

    id: str
    identity: Identity
    version: int
    client: str
    resumed: bool
    created_at: float = field(default_factory=time.time)


class ResumeTokens:
    """Issues and checks resume tokens under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"gb-resume\x00" + key).digest()

    def issue(self, session_id: str, identity: Identity) -> str:
        """A token naming ``session_id`` for this identity's user and tenant."""
        body = f"{session_id}\x00{identity.scope}\x00{identity.user}".encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")

    def session_id(self, token: object, identity: Identity) -> str | None:
        """The session id in ``token`` if it is genuine and belongs to ``identity``."""
        if not isinstance(token, str) or len(token) > 1024:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        mac, body = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()[:16]):
            return None
        parts = body.decode(errors="replace").split("\x00")
        if len(parts) != 3 or parts[1] != identity.scope or parts[2] != identity.user:
            return None
        return parts[0]


def new_session_id() -> str:
    """A random, URL-safe session id."""
    return secrets.token_urlsafe(12)
