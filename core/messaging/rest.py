"""The messaging REST API: ``/v1/conversations/...`` and ``/v1/messages/search``.

Mount with :func:`install` (the service on ``app.state.messaging``, the router, and the error
handler). Callers authenticate as everywhere in the control plane (:data:`Caller`: a bearer
token, or an API key bound to one instance); they act as the token's user (``sub``), an API
key as ``key:<id>``. Errors use the control plane's shape ``{"error": {"code", "message",
...}}`` with the service's extra fields (``limit``, ``quota``, ``retry_after_ms``); 429 and 503
carry ``Retry-After`` (seconds) when the service says when to retry.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal, cast
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gb.protocol.codes import ErrorCode

from ..api.auth import Caller, Principal
from ..api.errors import ErrorBody
from ..api.routers.common import Input
from ..auth import Identity
from .errors import HTTP_STATUS, MessagingError
from .model import Page
from .service import MessageService
from .validate import MAX_PAGE

__all__ = ["TAGS", "install", "router"]

router = APIRouter(prefix="/v1", tags=["messaging"])

TAGS = [{"name": "messaging", "description": "Conversations, messages, receipts and search."}]

_CODES = {
    ErrorCode.BAD_PAYLOAD: "invalid_request",
    ErrorCode.FORBIDDEN: "forbidden",
    ErrorCode.NOT_FOUND: "not_found",
    ErrorCode.CONFLICT: "conflict",
    ErrorCode.PAYLOAD_TOO_LARGE: "too_large",
    ErrorCode.RATE_LIMITED: "rate_limited",
    ErrorCode.QUOTA_EXCEEDED: "QUOTA_EXCEEDED",
    ErrorCode.UNAVAILABLE: "unavailable",
}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("Missing or refused credentials"),
    403: _error("Not a member, a role that may not do this, or no instance-bound credential"),
    404: _error("No such conversation or message (or another tenant's)"),
    422: _error("Invalid request; the message names the field"),
    503: _error("A dependency (database, log) is down; retry (Retry-After)"),
}
SEND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES,
    409: _error("The idempotency key was used in another conversation"),
    413: _error("Content or metadata over the limit; the message names it"),
    429: _error("Rate limit or daily message quota; Retry-After when known"),
}

ConversationId = Annotated[UUID, Path(description="The conversation's id.")]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items per page, 1..{MAX_PAGE}.")]
PageCursor = Annotated[
    str | None, Query(max_length=1024, description="`next_cursor` of the previous page.")
]


# -- the caller and the service ---------------------------------------------------------------


def service_of(request: Request) -> MessageService:
    """The node's message service (``app.state.messaging``)."""
    service = cast(MessageService | None, getattr(request.app.state, "messaging", None))
    if service is None:
        raise MessagingError(ErrorCode.UNAVAILABLE, "messaging is not configured on this node")
    return service


def identity_of(
    caller: Caller, service: Annotated[MessageService, Depends(service_of)]
) -> Identity:
    """The caller as the message service sees it: a user of one instance of one customer."""
    return _identity(caller, service)


def _identity(caller: Principal, service: MessageService) -> Identity:
    instance = None
    if caller.instance is not None:
        try:
            instance = UUID(caller.instance)
        except ValueError:
            instance = None
    if caller.customer_id is None or instance is None:
        raise MessagingError(
            ErrorCode.FORBIDDEN, "messaging needs a credential bound to one customer and instance"
        )
    shard = service.db.shard_cached(caller.customer_id)
    return Identity(
        customer=str(caller.customer_id),
        instance=str(instance),
        user=caller.actor.removeprefix("user:"),
        roles=caller.roles,
        expires_at=math.inf,
        shard_key=0 if shard is None else shard.id,
        customer_id=caller.customer_id,
        instance_id=instance,
    )


Svc = Annotated[MessageService, Depends(service_of)]
Who = Annotated[Identity, Depends(identity_of)]


# -- models -----------------------------------------------------------------------------------


class Member(BaseModel):
    user: str
    role: Literal["owner", "member"]
    joined_at: dt.datetime


class Conversation(BaseModel):
    """A conversation; ``members`` is present when one conversation is read."""

    id: UUID
    instance_id: UUID
    kind: Literal["direct", "group", "bot"]
    title: str | None
    created_by: str | None
    created_at: dt.datetime
    members: list[Member] | None = None


class ConversationPage(BaseModel):
    items: list[Conversation]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last.")


class Message(BaseModel):
    """A message; ``position`` orders a conversation (it may skip numbers)."""

    id: UUID
    conversation_id: UUID
    position: int
    sender: str
    kind: Literal["text", "rich", "file", "system", "bot"]
    content: str
    metadata: dict[str, Any]
    created_at: dt.datetime
    client_key: str | None


class MessagePage(BaseModel):
    items: list[Message]
    next_cursor: str | None = Field(description="Continues in the same direction; null: done.")


class Sent(BaseModel):
    """The acknowledgement: the message is durable in the log."""

    id: UUID
    conversation_id: UUID
    position: int
    created_at: dt.datetime
    duplicate: bool = Field(
        description="True when the idempotency key had been used: the first result."
    )


class NewConversation(Input):
    title: str | None = Field(None, min_length=1, max_length=256)
    kind: Literal["direct", "group", "bot"] = "group"
    members: list[str] = Field(default_factory=list, description="Users besides the caller.")


class Users(Input):
    users: list[str] = Field(min_length=1, description="User names (the tokens' `sub`).")


class Added(BaseModel):
    added: list[str] = Field(description="Users who were not members before.")


class Removed(BaseModel):
    removed: list[str] = Field(description="Users who were members.")


class NewMessage(Input):
    kind: Literal["text", "rich", "file", "system", "bot"] = "text"
    content: str = ""
    metadata: dict[str, Any] | None = None
    client_key: str | None = Field(
        None, min_length=1, max_length=256, description="Or the `Idempotency-Key` header."
    )


class StatusUpdate(Input):
    message_ids: list[UUID] = Field(min_length=1)
    status: Literal["delivered", "read"]


class Summary(BaseModel):
    delivered: int
    read: int
    members: int


class StatusResult(BaseModel):
    message_id: UUID
    status: Literal["delivered", "read"]
    summary: Summary
    changed: bool


class StatusResults(BaseModel):
    results: list[StatusResult]


class RecoverFrom(Input):
    after: int = Field(-1, ge=-1, description="The last position the client saw (-1: none).")


class Recovery(BaseModel):
    """What the client missed; ``complete`` False: ask again from the last position."""

    messages: list[Message]
    complete: bool


class Hit(Message):
    rank: float
    highlight: str = Field(description="The content with the matched words marked (HTML-safe).")


class Hits(BaseModel):
    hits: list[Hit]
    next_cursor: str | None


# -- routes -----------------------------------------------------------------------------------


@router.post(
    "/conversations", status_code=201, summary="Create a conversation", responses=RESPONSES
)
async def create_conversation(svc: Svc, who: Who, body: NewConversation) -> Conversation:
    made = await svc.create_conversation(
        who, title=body.title, kind=body.kind, members=body.members
    )
    return Conversation.model_validate(made.to_wire())


@router.get("/conversations", summary="The caller's conversations", responses=RESPONSES)
async def list_conversations(
    svc: Svc, who: Who, limit: PageLimit = 50, cursor: PageCursor = None
) -> ConversationPage:
    page: Page[Any] = await svc.list_conversations(who, cursor=cursor, limit=limit)
    return ConversationPage.model_validate(page.to_wire())


@router.get("/conversations/{conversation_id}", summary="A conversation", responses=RESPONSES)
async def get_conversation(svc: Svc, who: Who, conversation_id: ConversationId) -> Conversation:
    return Conversation.model_validate((await svc.get_conversation(who, conversation_id)).to_wire())


@router.post(
    "/conversations/{conversation_id}/members", summary="Add members", responses=SEND_RESPONSES
)
async def add_members(svc: Svc, who: Who, conversation_id: ConversationId, body: Users) -> Added:
    return Added(added=await svc.add_members(who, conversation_id, body.users))


@router.delete(
    "/conversations/{conversation_id}/members", summary="Remove members", responses=RESPONSES
)
async def remove_members(
    svc: Svc,
    who: Who,
    conversation_id: ConversationId,
    users: Annotated[list[str], Query(min_length=1, description="Users to remove.")],
) -> Removed:
    return Removed(removed=await svc.remove_members(who, conversation_id, users))


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    summary="Send a message (200 with duplicate=true for a repeated idempotency key)",
    responses=SEND_RESPONSES,
)
async def send(
    svc: Svc,
    who: Who,
    conversation_id: ConversationId,
    body: NewMessage,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=256, description="The client's key.")
    ] = None,
) -> Sent:
    key = body.client_key
    if idempotency_key is not None:
        if key is not None and key != idempotency_key:
            raise MessagingError(
                ErrorCode.BAD_PAYLOAD, "client_key: differs from the Idempotency-Key header"
            )
        key = idempotency_key
    result = await svc.send(
        who,
        conversation_id,
        kind=body.kind,
        content=body.content,
        metadata=body.metadata,
        client_key=key,
    )
    if result.duplicate:
        response.status_code = 200
    return Sent.model_validate(result.to_wire())


@router.get(
    "/conversations/{conversation_id}/messages", summary="Read history", responses=RESPONSES
)
async def get_messages(
    svc: Svc,
    who: Who,
    conversation_id: ConversationId,
    sender: Annotated[str | None, Query(max_length=256)] = None,
    kinds: Annotated[list[Literal["text", "rich", "file", "system", "bot"]] | None, Query()] = None,
    since: Annotated[dt.datetime | None, Query(description="created_at >= since")] = None,
    until: Annotated[dt.datetime | None, Query(description="created_at < until")] = None,
    after_position: Annotated[int | None, Query(ge=-1)] = None,
    before_position: Annotated[int | None, Query(ge=-1)] = None,
    direction: Literal["forward", "backward"] = "forward",
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> MessagePage:
    page = await svc.get_messages(
        who,
        conversation_id,
        sender=sender,
        kinds=kinds,
        since=since,
        until=until,
        after_position=after_position,
        before_position=before_position,
        cursor=cursor,
        limit=limit,
        direction=direction,
    )
    return MessagePage.model_validate(page.to_wire())


@router.post(
    "/conversations/{conversation_id}/messages/status",
    summary="Receipts: delivered or read (never backwards)",
    responses={**RESPONSES, 409: _error("The status would move backwards (read -> delivered)")},
)
async def update_status(
    svc: Svc, who: Who, conversation_id: ConversationId, body: StatusUpdate
) -> StatusResults:
    results = await svc.update_status(who, conversation_id, body.message_ids, body.status)
    return StatusResults.model_validate({"results": [r.to_wire() for r in results]})


async def _recover(
    svc: MessageService, who: Identity, conversation_id: UUID, after: int
) -> Recovery:
    result = (await svc.recover(who, {conversation_id: after}))[conversation_id]
    if result.error is not None:
        raise result.error
    return Recovery.model_validate(result.to_wire())


@router.post(
    "/conversations/{conversation_id}/recover",
    summary="What the client missed after a position",
    responses=RESPONSES,
)
async def recover(
    svc: Svc, who: Who, conversation_id: ConversationId, body: RecoverFrom
) -> Recovery:
    return await _recover(svc, who, conversation_id, body.after)


@router.get(
    "/conversations/{conversation_id}/recover",
    summary="What the client missed after a position",
    responses=RESPONSES,
)
async def recover_get(
    svc: Svc,
    who: Who,
    conversation_id: ConversationId,
    after: Annotated[int, Query(ge=-1, description="The last position seen (-1: none).")] = -1,
) -> Recovery:
    return await _recover(svc, who, conversation_id, after)


@router.get(
    "/messages/search", summary="Full-text search of the caller's messages", responses=RESPONSES
)
async def search(
    svc: Svc,
    who: Who,
    query: Annotated[str, Query(min_length=1, max_length=256)],
    conversation_id: UUID | None = None,
    sender: Annotated[str | None, Query(max_length=256)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: PageCursor = None,
) -> Hits:
    page = await svc.search(
        who,
        query,
        conversation_id=conversation_id,
        sender=sender,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return Hits.model_validate(page.to_dict())


# -- mounting ---------------------------------------------------------------------------------


async def _messaging_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MessagingError)
    detail = {"code": _CODES[exc.code], "message": exc.message, **exc.payload()}
    headers = {}
    if exc.retry_after_ms is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_ms / 1000)))
    return JSONResponse({"error": detail}, status_code=HTTP_STATUS[exc.code], headers=headers)


def install(app: FastAPI, service: MessageService) -> None:
    """Serve ``service`` on ``app``: its routes, and its errors in the API's shape."""
    app.state.messaging = service
    app.add_exception_handler(MessagingError, _messaging_error)
    app.include_router(router)
    app.openapi_tags = [*(app.openapi_tags or []), *TAGS]
