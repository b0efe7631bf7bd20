"""What the message service returns: messages, conversations, members, pages and results.

Every type has ``to_wire()``: the JSON-ready dict that RPC results, REST bodies and realtime
events carry. A message on the wire is::

    {"id", "conversation_id", "position", "sender", "kind", "content", "metadata",
     "created_at" (ISO 8601, UTC), "client_key"}
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar
from uuid import UUID

from .errors import MessagingError
from .record import KINDS

__all__ = [
    "CONVERSATION_KINDS",
    "KINDS",
    "ROLES",
    "STATUSES",
    "Conversation",
    "Member",
    "Message",
    "Page",
    "RecoveryResult",
    "SendResult",
    "StatusResult",
    "StatusSummary",
]

CONVERSATION_KINDS: Final = ("direct", "group", "bot")
"""``conversations.kind``: two people, any number, or a conversation with a bot."""
ROLES: Final = ("owner", "member")
"""``conversation_members.role``: owners manage the members."""
STATUSES: Final = {"delivered": 1, "read": 2}
"""Receipt names and their ``message_status.status`` values (only ever move up)."""
STATUS_NAMES: Final = {value: name for name, value in STATUSES.items()}


class Wire(Protocol):
    """Anything with a JSON-ready form."""

    def to_wire(self) -> Any: ...


T = TypeVar("T", bound=Wire)


@dataclass(frozen=True, slots=True)
class Message:
    """One message; ``position`` is its log offset (ordered within the conversation)."""

    id: UUID
    conversation_id: UUID
    position: int
    sender: str
    kind: str
    content: str
    metadata: dict[str, Any]
    created_at: datetime.datetime
    client_key: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "conversation_id": str(self.conversation_id),
            "position": self.position,
            "sender": self.sender,
            "kind": self.kind,
            "content": self.content,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
            "client_key": self.client_key,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Message:
        """The message of a wire dict (as the recent cache keeps it)."""
        return cls(
            id=UUID(data["id"]),
            conversation_id=UUID(data["conversation_id"]),
            position=int(data["position"]),
            sender=data["sender"],
            kind=data["kind"],
            content=data["content"],
            metadata=data["metadata"],
            created_at=datetime.datetime.fromisoformat(data["created_at"]),
            client_key=data["client_key"],
        )


@dataclass(frozen=True, slots=True)
class Member:
    """A member of a conversation (``user`` is the identity's user string)."""

    user: str
    role: str
    joined_at: datetime.datetime

    def to_wire(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role, "joined_at": self.joined_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation of one instance; ``members`` is None where they were not read (lists)."""

    id: UUID
    instance_id: UUID
    kind: str
    title: str | None
    created_by: str | None
    created_at: datetime.datetime
    members: tuple[Member, ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": str(self.id),
            "instance_id": str(self.instance_id),
            "kind": self.kind,
            "title": self.title,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }
        if self.members is not None:
            wire["members"] = [member.to_wire() for member in self.members]
        return wire


@dataclass(frozen=True, slots=True)
class SendResult:
    """The answer to a send: the message's id and position; ``duplicate`` when the client key
    had been used before and this is the first send's result."""

    id: UUID
    conversation_id: UUID
    position: int
    created_at: datetime.datetime
    duplicate: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "conversation_id": str(self.conversation_id),
            "position": self.position,
            "created_at": self.created_at.isoformat(),
            "duplicate": self.duplicate,
        }


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items of a list; pass ``next_cursor`` back for the next page (None: this is the last)."""

    items: list[T]
    next_cursor: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "items": [item.to_wire() for item in self.items],
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True, slots=True)
class StatusSummary:
    """Receipts of one message: how many members have it delivered (read counts too) and read,
    out of ``members`` (the conversation's members now, the sender included)."""

    delivered: int
    read: int
    members: int

    def to_wire(self) -> dict[str, int]:
        return {"delivered": self.delivered, "read": self.read, "members": self.members}


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The caller's status of one message after an update, and the message's summary."""

    message_id: UUID
    status: str
    summary: StatusSummary
    changed: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {
            "message_id": str(self.message_id),
            "status": self.status,
            "summary": self.summary.to_wire(),
            "changed": self.changed,
        }


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """What a reconnecting client missed in one conversation, in position order.

    ``complete``: these are all the messages after the position the client named, as of now.
    False when a range could not be vouched for yet (it is in the log, not yet in PostgreSQL
    nor in the recent cache) or when a page limit cut the answer: ask again from the last
    position received. ``error`` is set (and nothing returned) when the caller may not read the
    conversation (anymore).
    """

    messages: list[Message] = field(default_factory=list)
    complete: bool = True
    error: MessagingError | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "messages": [message.to_wire() for message in self.messages],
            "complete": self.complete,
        }
        if self.error is not None:
            wire["error"] = self.error.to_wire()
        return wire
