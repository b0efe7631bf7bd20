"""Input checks of the message service: every refusal is a MessagingError naming the field.

Pure functions (no I/O), shared by every transport: RPC and REST pass what they parsed, and
anything a client could send is either accepted in a form PostgreSQL and the log codec take as
it is, or refused with ``BAD_PAYLOAD`` / ``PAYLOAD_TOO_LARGE`` / ``FORBIDDEN``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

import orjson

from gb.protocol.codes import ErrorCode

from .errors import MessagingError, bad_input, forbidden
from .record import KINDS, MAX_CLIENT_KEY, BadRecord, MessageRecord
from .store import MessageQuery

__all__ = [
    "ADMIN_ROLES",
    "MAX_PAGE",
    "MAX_TITLE_CHARS",
    "MAX_USER_CHARS",
    "SYSTEM_SENDERS",
    "history_query",
    "limit",
    "message_fields",
    "parse_uuid",
    "text",
    "unicode",
    "users",
]

ADMIN_ROLES: Final = frozenset({"platform_admin", "customer_admin", "instance_admin"})
"""Roles that manage any conversation of their instance (members, reading its details)."""
SYSTEM_SENDERS: Final = ADMIN_ROLES | {"bot"}
"""Roles that may send ``system`` messages; ``bot`` messages need the ``bot`` role."""

MAX_USER_CHARS: Final = 256
MAX_TITLE_CHARS: Final = 256
MAX_PAGE: Final = 200
MAX_CURSOR_CHARS: Final = 20

_PROBE_ID: Final = UUID("00000000-0000-7000-8000-000000000000")
"""A UUIDv7 to build a record with, only to run the codec's checks."""


def unicode(name: str, value: str) -> str:
    """``value`` unless it holds what UTF-8 cannot carry (a lone surrogate)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise bad_input(name, "not valid Unicode (a lone surrogate)") from None
    return value


def text(name: str, value: object, max_chars: int) -> str:
    """A string of 1..``max_chars`` characters without NUL, valid Unicode."""
    if not isinstance(value, str) or not 1 <= len(value) <= max_chars:
        raise bad_input(name, f"must be a string of 1-{max_chars} characters")
    if "\x00" in value:
        raise bad_input(name, "contains a NUL character")
    return unicode(name, value)


def users(name: str, value: object, max_count: int, *, required: bool = False) -> list[str]:
    """Distinct user strings, in the order given."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise bad_input(name, "must be a list of user names")
    if required and not value:
        raise bad_input(name, "must name at least one user")
    if len(value) > max_count:
        raise bad_input(name, f"at most {max_count} users")
    checked = [text(f"{name}[{i}]", user, MAX_USER_CHARS) for i, user in enumerate(value)]
    return list(dict.fromkeys(checked))


def limit(value: object) -> int:
    if type(value) is not int or not 1 <= value <= MAX_PAGE:
        raise bad_input("limit", f"must be an integer in 1..{MAX_PAGE}")
    return value


def parse_uuid(name: str, value: object) -> UUID:
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise bad_input(name, f"not a valid id: {value!r:.60}")


# -- messages ---------------------------------------------------------------------------------


def message_fields(
    roles: frozenset[str],
    kind: object,
    content: object,
    metadata: object,
    client_key: object,
    *,
    max_content_bytes: int,
    max_metadata_bytes: int,
) -> dict[str, Any]:
    """The metadata to store for a message the caller (``roles``) may send; refusals name the
    field (sizes: ``PAYLOAD_TOO_LARGE`` with the ``limit``)."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise bad_input("kind", f"{kind!r:.40} is not one of {', '.join(sorted(KINDS))}")
    if not isinstance(content, str):
        raise bad_input("content", f"must be a string, not {type(content).__name__}")
    size = len(unicode("content", content).encode())
    if size > max_content_bytes:
        raise MessagingError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"content: {size} bytes; the limit is {max_content_bytes} bytes",
            limit=max_content_bytes,
        )
    fields = _metadata(metadata, max_metadata_bytes)
    key = None if client_key is None else text("client_key", client_key, MAX_CLIENT_KEY)
    _kind_rules(kind, content, fields)
    if kind == "system" and not SYSTEM_SENDERS & roles:
        raise forbidden(f"kind: 'system' needs one of the roles {sorted(SYSTEM_SENDERS)}")
    if kind == "bot" and "bot" not in roles:
        raise forbidden("kind: 'bot' needs the role 'bot'")
    try:  # the codec's checks: what PostgreSQL would refuse (NUL, nesting deeper than 32)
        MessageRecord(
            id=_PROBE_ID,
            customer_id=_PROBE_ID,
            instance_id=_PROBE_ID,
            conversation_id=_PROBE_ID,
            sender="-",  # the sender is the caller's identity, checked on its own
            kind=kind,
            content=content,
            metadata=fields,
            client_key=key,
        )
    except BadRecord as exc:
        raise MessagingError(ErrorCode.BAD_PAYLOAD, str(exc)) from None
    return fields


def _metadata(metadata: object, max_bytes: int) -> dict[str, Any]:
    """A JSON object within ``max_bytes`` (encoded)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise bad_input("metadata", f"must be an object, not {type(metadata).__name__}")
    try:
        encoded = orjson.dumps(metadata)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise bad_input("metadata", f"not plain JSON: {exc}") from None
    if len(encoded) > max_bytes:
        raise MessagingError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"metadata: {len(encoded)} bytes; the limit is {max_bytes} bytes",
            limit=max_bytes,
        )
    return metadata


def _kind_rules(kind: str, content: str, metadata: dict[str, Any]) -> None:
    """The rules of each message kind."""
    if kind == "text" and not content:
        raise bad_input("content", "a text message needs content")
    if kind == "rich" and not metadata:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise bad_input("content", "a rich message needs a JSON object in content or metadata")
    if kind == "file":
        _file_reference(metadata)


def _file_reference(ref: dict[str, Any]) -> None:
    """A file message's metadata is its file reference: ``url`` or ``id``, ``name``, ``size``
    (bytes), ``mime`` (``type/subtype``)."""
    locator = ref.get("url", ref.get("id"))
    if not isinstance(locator, str) or not locator:
        raise bad_input("metadata.url", "a file message needs a file reference: url or id")
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        raise bad_input("metadata.name", "a file message needs the file's name")
    size = ref.get("size")
    if type(size) is not int or size < 0:
        raise bad_input("metadata.size", "a file message needs the file's size in bytes (>= 0)")
    mime = ref.get("mime")
    if not isinstance(mime, str) or mime.count("/") != 1 or not all(mime.split("/")):
        raise bad_input("metadata.mime", "a file message needs a media type like 'image/png'")


# -- history queries --------------------------------------------------------------------------


def _aware(name: str, value: object) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        raise bad_input(name, "must be a timezone-aware date and time")
    return value


def _position(name: str, value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < -1:
        raise bad_input(name, "must be an integer >= -1")
    return value


def history_query(
    sender: object,
    kinds: object,
    since: object,
    until: object,
    after: object,
    before: object,
    cursor: object,
    page: object,
    direction: object,
) -> MessageQuery:
    """A validated history query; BAD_PAYLOAD naming the parameter.

    ``cursor`` is ``f<position>`` (forward) or ``b<position>`` (backward): the position the page
    ended at, an exclusive bound combined with ``after``/``before``.
    """
    if direction not in ("forward", "backward"):
        raise bad_input("direction", "must be 'forward' or 'backward'")
    descending = direction == "backward"
    sender_text = None if sender is None else text("sender", sender, MAX_USER_CHARS)
    kind_set = None
    if kinds is not None:
        if isinstance(kinds, str) or not isinstance(kinds, Sequence) or not kinds:
            raise bad_input("kinds", "must be a non-empty list of message kinds")
        unknown = [k for k in kinds if not isinstance(k, str) or k not in KINDS]
        if unknown:
            raise bad_input("kinds", f"unknown kinds {unknown!r:.60}")
        kind_set = frozenset(kinds)
    lo, hi = _position("after_position", after), _position("before_position", before)
    if cursor is not None:
        mark = "b" if descending else "f"
        digits = cursor[1:] if isinstance(cursor, str) else ""
        if (
            not isinstance(cursor, str)
            or cursor[:1] != mark
            or not 0 < len(digits) <= MAX_CURSOR_CHARS
            or not (digits.isascii() and digits.isdigit())
        ):
            raise bad_input("cursor", f"not a cursor of a {direction} page: {cursor!r:.40}")
        at = int(digits)
        if descending:
            hi = at if hi is None else min(hi, at)
        else:
            lo = at if lo is None else max(lo, at)
    return MessageQuery(
        sender=sender_text,
        kinds=kind_set,
        since=_aware("since", since),
        until=_aware("until", until),
        after=lo,
        before=hi,
        limit=limit(page),
        descending=descending,
    )
