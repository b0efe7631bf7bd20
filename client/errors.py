"""Exceptions the client SDK raises into user code."""

from __future__ import annotations

from typing import Any

from gb.protocol.codes import ErrorCode


class GbError(Exception):
    """The server answered a request (or sent an unsolicited report) with an ERROR frame.

    ``code`` is an :class:`ErrorCode` member, or the plain integer when the server sent a code
    this SDK does not know; ``details`` is the whole ERROR payload (it may carry extra fields
    such as ``retry_after_ms``).
    """

    def __init__(self, code: ErrorCode | int, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{getattr(code, 'name', code)}: {message}")
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> GbError:
        """Build the error from a parsed ERROR payload ``{code, message, ...}``."""
        raw = payload["code"]
        if not isinstance(raw, int):
            raise TypeError(f"ERROR code {raw!r} is not an integer")
        code: ErrorCode | int
        try:
            code = ErrorCode(raw)
        except ValueError:
            code = raw
        return cls(code, str(payload.get("message", "")), payload)


class ConnectionClosed(Exception):  # noqa: N818 (the name users expect, as in websockets)
    """The WebSocket ended; raised to requests still waiting and to later calls.

    ``code`` is the WebSocket close code (1006 when the socket dropped with no CLOSE frame,
    4000 when the server sent a frame this client could not parse).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class SubscriptionClosed(Exception):  # noqa: N818 (pairs with ConnectionClosed)
    """The subscription was unsubscribed and its queue is drained."""
