"""The one error type of the message service, carrying a protocol error code.

The transports translate it: RPC answers an ERROR frame with ``code`` and the extra fields
(``retry_after_ms`` of ``RATE_LIMITED``, ``quota``/``limit`` of ``QUOTA_EXCEEDED``); REST answers
the matching HTTP status (:data:`HTTP_STATUS`) in the control plane's error shape.
"""

from __future__ import annotations

from typing import Any, Final

from gb.protocol.codes import ErrorCode

__all__ = ["HTTP_STATUS", "RETRYABLE", "MessagingError", "bad_input", "forbidden", "not_found"]

RETRYABLE: Final = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED})
"""Codes after which the same request may succeed unchanged (later)."""

HTTP_STATUS: Final = {
    ErrorCode.BAD_PAYLOAD: 422,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.UNAVAILABLE: 503,
}
"""The HTTP status of each code the service raises."""


class MessagingError(Exception):
    """A refused or failed request: ``code`` says which kind, ``message`` names the culprit.

    ``retry_after_ms`` is set for ``RATE_LIMITED`` (and may be for ``UNAVAILABLE``); ``extra``
    holds more machine-readable fields for the error payload (``quota``, ``limit``, ``scope``).
    """

    def __init__(
        self, code: ErrorCode, message: str, retry_after_ms: int | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms
        self.extra = extra

    @property
    def retryable(self) -> bool:
        """True when retrying the same request later may succeed."""
        return self.code in RETRYABLE

    def payload(self) -> dict[str, Any]:
        """The extra fields of the error (``retry_after_ms`` included when set)."""
        fields = dict(self.extra)
        if self.retry_after_ms is not None:
            fields["retry_after_ms"] = self.retry_after_ms
        return fields

    def to_wire(self) -> dict[str, Any]:
        """``{"code", "name", "message", ...payload}``: the ERROR frame body, also used inside
        results that carry a per-item error (recovery of one conversation)."""
        return {
            "code": int(self.code),
            "name": self.code.name,
            "message": self.message,
            **self.payload(),
        }


def bad_input(field: str, what: str) -> MessagingError:
    """``BAD_PAYLOAD`` naming the field: ``"<field>: <what is wrong>"``."""
    return MessagingError(ErrorCode.BAD_PAYLOAD, f"{field}: {what}")


def not_found(kind: str, ident: object) -> MessagingError:
    """``NOT_FOUND``; also what another tenant's or instance's ids get, so they leak nothing."""
    return MessagingError(ErrorCode.NOT_FOUND, f"{kind} {ident} not found")


def forbidden(message: str) -> MessagingError:
    """``FORBIDDEN`` with the reason."""
    return MessagingError(ErrorCode.FORBIDDEN, message)
