"""Real-time delivery of conversation events through the hub.

A conversation's events (new messages, receipts, member changes) go to the hub channel
``conv:<conversation id>`` of its tenant: local subscribers get them at once, other nodes
through the broker (Redis). Delivery is best effort by design: every message is in the log
before anyone is told about it, so a client that missed an event (its node died, Redis was
away) gets it back from ``msg.recover`` by position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from ..auth import Identity

CHANNEL_PREFIX = "conv:"


class Deliverer(Protocol):
    """Where the message service sends conversation events."""

    async def conversation_event(
        self,
        customer: str,
        instance: str,
        shard_key: int,
        conversation_id: UUID,
        event: dict[str, Any],
    ) -> None:
        """Deliver ``event`` to every live subscriber of the conversation, on every node;
        ``shard_key`` is the sender's (its identity's), carried in the frame header."""


class EventSink(Protocol):
    """The part of the hub delivery uses (``Hub.publish_event``)."""

    def publish_event(self, scope: str, name: str, shard_key: int, body: dict[str, Any]) -> None:
        """Deliver ``body`` on channel ``name`` of tenant ``scope`` here and on other nodes."""


def conversation_channel(conversation_id: UUID) -> str:
    """The hub channel carrying a conversation's events."""
    return f"{CHANNEL_PREFIX}{conversation_id}"


def conversation_of(channel: str) -> UUID | None:
    """The conversation id of a ``conv:<uuid>`` channel name; None for anything else."""
    if not channel.startswith(CHANNEL_PREFIX):
        return None
    try:
        return UUID(channel[len(CHANNEL_PREFIX) :])
    except ValueError:
        return None


class HubDeliverer:
    """Conversation events as DELIVER frames on the hub (JSON payload, server-originated)."""

    def __init__(self, hub: EventSink) -> None:
        self.hub = hub

    async def conversation_event(
        self,
        customer: str,
        instance: str,
        shard_key: int,
        conversation_id: UUID,
        event: dict[str, Any],
    ) -> None:
        self.hub.publish_event(
            f"{customer}/{instance}", conversation_channel(conversation_id), shard_key, event
        )


class MembershipCheck(Protocol):
    """The part of the message service the subscription guard asks."""

    async def is_member(self, identity: Identity, conversation_id: UUID) -> bool:
        """True when ``identity``'s user belongs to the conversation."""


def membership_guard(service: MembershipCheck) -> Callable[[Identity, str], Any]:
    """A hub guard for ``conv:`` channels: only members of the conversation subscribe."""

    async def guard(identity: Identity, channel: str) -> bool:
        conversation_id = conversation_of(channel)
        if conversation_id is None:
            return False
        return await service.is_member(identity, conversation_id)

    return guard
