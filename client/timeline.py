"""A conversation's messages as a client should keep them: complete, in order, each once.

Positions are log offsets: they grow within a conversation but skip numbers, so a client cannot
see a missed message from positions alone. The server helps: every live ``message`` event on a
``conv:<id>`` channel carries ``prev``, the position of the conversation's previous message when
the server can prove nothing lies between (None when it cannot). A :class:`Timeline` keeps a
*cursor*, the position up to which it holds every message, and moves it only over proven links
(``prev == cursor``) or with a ``msg.recover`` answer, which is contiguous from the position
asked. Anything else marks the conversation as needing recovery; :meth:`Timeline.recover` asks
the server from the cursor::

    timeline = Timeline()
    sub = await client.subscribe(f"conv:{conv}")
    async for delivery in sub:
        timeline.on_event(orjson.loads(delivery.payload))
        if timeline.stale:
            await timeline.recover(client)
"""

from __future__ import annotations

from typing import Any

from .connection import Client

START = -1
"""The cursor of a conversation nothing is known of: every position is after it."""


class Timeline:
    """Messages of conversations by position, with a proven cursor per conversation."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[int, dict[str, Any]]] = {}
        """Conversation id -> position -> message (the wire dict)."""
        self.cursors: dict[str, int] = {}
        """Conversation id -> the position up to which every message is held."""
        self.stale: set[str] = set()
        """Conversations with a message that may be missing: recover them."""
        self._links: dict[str, dict[int, int]] = {}  # conv -> prev -> position, ahead of cursor

    def cursor(self, conversation: str) -> int:
        """The position up to which every message of ``conversation`` is held."""
        return self.cursors.get(conversation, START)

    def ordered(self, conversation: str) -> list[dict[str, Any]]:
        """The held messages of ``conversation`` in position order."""
        held = self.messages.get(conversation, {})
        return [held[p] for p in sorted(held)]

    def on_event(self, event: dict[str, Any]) -> None:
        """Take one event of a ``conv:`` channel (other event types are ignored here)."""
        if event.get("type") != "message":
            return
        message = event["message"]
        conversation = message["conversation_id"]
        position = message["position"]
        self.messages.setdefault(conversation, {})[position] = message
        prev = event.get("prev")
        if position <= self.cursor(conversation):
            return  # already proven (a late duplicate)
        if prev is None:
            self.stale.add(conversation)
            return
        self._links.setdefault(conversation, {})[prev] = position
        self._follow(conversation)
        if self._links[conversation]:  # a link that does not reach the cursor: a gap before it
            self.stale.add(conversation)

    def on_recovered(self, conversation: str, result: dict[str, Any]) -> None:
        """Take one conversation's ``msg.recover`` answer (asked from this cursor)."""
        held = self.messages.setdefault(conversation, {})
        cursor = self.cursor(conversation)
        for message in result["messages"]:  # contiguous from the cursor asked, in order
            held[message["position"]] = message
            cursor = max(cursor, message["position"])
        self.cursors[conversation] = cursor
        links = self._links.setdefault(conversation, {})
        for prev in [p for p in links if p < cursor]:
            del links[prev]
        self._follow(conversation)
        if result["complete"] and not links:
            self.stale.discard(conversation)

    async def recover(
        self,
        client: Client,
        conversations: list[str] | None = None,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (public API, as Client.rpc)
    ) -> bool:
        """Ask the server for what follows the cursors (default: the stale conversations);
        True when every answer was complete. Errors of the call (GbError, ConnectionClosed)
        propagate; a conversation the caller may no longer read stops being stale."""
        wanted = sorted(self.stale) if conversations is None else conversations
        if not wanted:
            return True
        positions = {c: self.cursor(c) for c in wanted}
        answer = await client.rpc("msg.recover", {"positions": positions}, timeout=timeout)
        complete = True
        for conversation, result in answer["conversations"].items():
            if "error" in result:
                self.stale.discard(conversation)  # no longer readable: nothing to recover
                complete = False
                continue
            self.on_recovered(conversation, result)
            complete = complete and result["complete"]
        return complete

    def _follow(self, conversation: str) -> None:
        links = self._links.setdefault(conversation, {})
        cursor = self.cursor(conversation)
        while cursor in links:
            cursor = links.pop(cursor)
        self.cursors[conversation] = cursor
