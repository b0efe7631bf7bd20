"""The message service's RPC methods (WebSocket RPC_REQUEST frames).

``register(rpc, service)`` adds ``conv.create``, ``conv.list``, ``conv.get``,
``conv.members.add``, ``conv.members.remove``, ``msg.send``, ``msg.get``, ``msg.status``,
``msg.recover`` and ``msg.search``. Params are JSON objects named as in
:class:`~gb.core.messaging.service.MessageService`; ids are UUID strings, times ISO 8601 with a
zone. Unknown or malformed params are ``BAD_PAYLOAD`` naming the field; a
:class:`MessagingError` becomes an ERROR with its code and extra fields (``retry_after_ms``).
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any, Final
from uuid import UUID

from gb.protocol.codes import ErrorCode

from ..rpc import RpcError, RpcRegistry
from ..session import Session
from .errors import MessagingError
from .service import MessageService

__all__ = ["METHODS", "register"]

METHODS: Final = (
    "conv.create",
    "conv.list",
    "conv.get",
    "conv.members.add",
    "conv.members.remove",
    "msg.send",
    "msg.get",
    "msg.status",
    "msg.recover",
    "msg.search",
)

Handler = Callable[[MessageService, Session, "Params"], Awaitable[Any]]


class Params:
    """Typed access to an RPC's params; every problem is BAD_PAYLOAD naming the field."""

    def __init__(self, params: dict[str, Any], allowed: frozenset[str]) -> None:
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise _bad(unknown[0], f"unknown parameter (expected {', '.join(sorted(allowed))})")
        self.params = params

    def _get(self, name: str, required: bool) -> Any:
        value = self.params.get(name)
        if value is None and required:
            raise _bad(name, "required")
        return value

    def uuid(self, name: str, *, required: bool = True) -> UUID | None:
        value = self._get(name, required)
        if value is None:
            return None
        return _parse_uuid(name, value)

    def conversation(self) -> UUID:
        value = self.uuid("conversation_id")
        assert value is not None  # required
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise _bad(name, f"must be a string, not {_kind(value)}")
        return value

    def integer(self, name: str) -> int | None:
        value = self._get(name, False)
        if value is not None and type(value) is not int:
            raise _bad(name, f"must be an integer, not {_kind(value)}")
        return value

    def strings(self, name: str, *, required: bool = False) -> list[str] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad(name, "must be a list of strings")
        return value

    def obj(self, name: str) -> dict[str, Any] | None:
        value = self._get(name, False)
        if value is not None and not isinstance(value, dict):
            raise _bad(name, f"must be an object, not {_kind(value)}")
        return value

    def moment(self, name: str) -> datetime.datetime | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise _bad(name, f"not an ISO 8601 date and time: {value!r:.40}") from None
        if moment.tzinfo is None:
            raise _bad(name, "needs a time zone (e.g. 'Z' or '+00:00')")
        return moment


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _bad(field: str, what: str) -> RpcError:
    return RpcError(ErrorCode.BAD_PAYLOAD, f"{field}: {what}")


def _parse_uuid(name: str, value: object) -> UUID:
    if not isinstance(value, str):
        raise _bad(name, f"must be an id string, not {_kind(value)}")
    try:
        return UUID(value)
    except ValueError:
        raise _bad(name, f"not a valid id: {value!r:.60}") from None


# -- methods ----------------------------------------------------------------------------------


async def _conv_create(svc: MessageService, session: Session, p: Params) -> Any:
    conversation = await svc.create_conversation(
        session.identity,
        title=p.text("title"),
        kind=p.text("kind") or "group",
        members=p.strings("members") or [],
    )
    return conversation.to_wire()


async def _conv_list(svc: MessageService, session: Session, p: Params) -> Any:
    limit = p.integer("limit")
    page = await svc.list_conversations(
        session.identity, cursor=p.text("cursor"), limit=50 if limit is None else limit
    )
    return page.to_wire()


async def _conv_get(svc: MessageService, session: Session, p: Params) -> Any:
    return (await svc.get_conversation(session.identity, p.conversation())).to_wire()


async def _members_add(svc: MessageService, session: Session, p: Params) -> Any:
    users = p.strings("users", required=True) or []
    return {"added": await svc.add_members(session.identity, p.conversation(), users)}


async def _members_remove(svc: MessageService, session: Session, p: Params) -> Any:
    users = p.strings("users", required=True) or []
    return {"removed": await svc.remove_members(session.identity, p.conversation(), users)}


async def _msg_send(svc: MessageService, session: Session, p: Params) -> Any:
    result = await svc.send(
        session.identity,
        p.conversation(),
        kind=p.text("kind") or "text",
        content=p.text("content") or "",
        metadata=p.obj("metadata"),
        client_key=p.text("client_key"),
    )
    return result.to_wire()


async def _msg_get(svc: MessageService, session: Session, p: Params) -> Any:
    limit = p.integer("limit")
    page = await svc.get_messages(
        session.identity,
        p.conversation(),
        sender=p.text("sender"),
        kinds=p.strings("kinds"),
        since=p.moment("since"),
        until=p.moment("until"),
        after_position=p.integer("after_position"),
        before_position=p.integer("before_position"),
        cursor=p.text("cursor"),
        limit=50 if limit is None else limit,
        direction=p.text("direction") or "forward",  # type: ignore[arg-type]  # checked there
    )
    return page.to_wire()


async def _msg_status(svc: MessageService, session: Session, p: Params) -> Any:
    raw = p.strings("message_ids", required=True) or []
    ids = [_parse_uuid(f"message_ids[{i}]", v) for i, v in enumerate(raw)]
    status = p.text("status", required=True) or ""
    results = await svc.update_status(session.identity, p.conversation(), ids, status)
    return {"results": [result.to_wire() for result in results]}


async def _msg_recover(svc: MessageService, session: Session, p: Params) -> Any:
    raw = p.obj("positions")
    if raw is None:
        raise _bad("positions", "required: an object of conversation id -> last position")
    positions: dict[UUID, int] = {}
    for key, value in raw.items():
        if type(value) is not int:
            raise _bad(f"positions.{key:.40}", f"must be an integer, not {_kind(value)}")
        positions[_parse_uuid(f"positions.{key:.40}", key)] = value
    results = await svc.recover(session.identity, positions)
    return {"conversations": {str(cid): result.to_wire() for cid, result in results.items()}}


async def _msg_search(svc: MessageService, session: Session, p: Params) -> Any:
    limit = p.integer("limit")
    page = await svc.search(
        session.identity,
        p.text("query", required=True) or "",
        conversation_id=p.uuid("conversation_id", required=False),
        sender=p.text("sender"),
        since=p.moment("since"),
        until=p.moment("until"),
        limit=20 if limit is None else limit,
        cursor=p.text("cursor"),
    )
    return page.to_dict()


_HANDLERS: Final[dict[str, tuple[Handler, frozenset[str]]]] = {
    "conv.create": (_conv_create, frozenset({"title", "kind", "members"})),
    "conv.list": (_conv_list, frozenset({"cursor", "limit"})),
    "conv.get": (_conv_get, frozenset({"conversation_id"})),
    "conv.members.add": (_members_add, frozenset({"conversation_id", "users"})),
    "conv.members.remove": (_members_remove, frozenset({"conversation_id", "users"})),
    "msg.send": (
        _msg_send,
        frozenset({"conversation_id", "kind", "content", "metadata", "client_key"}),
    ),
    "msg.get": (
        _msg_get,
        frozenset(
            {
                "conversation_id",
                "sender",
                "kinds",
                "since",
                "until",
                "after_position",
                "before_position",
                "cursor",
                "limit",
                "direction",
            }
        ),
    ),
    "msg.status": (_msg_status, frozenset({"conversation_id", "message_ids", "status"})),
    "msg.recover": (_msg_recover, frozenset({"positions"})),
    "msg.search": (
        _msg_search,
        frozenset({"query", "conversation_id", "sender", "since", "until", "limit", "cursor"}),
    ),
}


def _method(svc: MessageService, handler: Handler, allowed: frozenset[str]) -> Any:
    async def method(session: Session, params: dict[str, Any]) -> Any:
        try:
            return await handler(svc, session, Params(params, allowed))
        except MessagingError as exc:
            raise RpcError(exc.code, exc.message, **exc.payload()) from None

    return method


def register(rpc: RpcRegistry, svc: MessageService) -> None:
    """Register every messaging method of ``svc`` on ``rpc``."""
    for name in METHODS:
        handler, allowed = _HANDLERS[name]
        rpc.register(name, _method(svc, handler, allowed))
