"""What a debugging client hears, in real time: one asyncio queue per subscriber.

Kinds: ``started`` (script), ``output`` (text of a TALK), ``waiting`` (a HEAR waits for
``sendMessage``), ``paused`` (line, reason ``breakpoint`` or ``step``), ``resumed``,
``finished`` (result), ``error`` (line, message), ``stopped``, ``refactored`` (code).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

#: Events that end a run (a client following one run stops there).
TERMINAL = frozenset({"finished", "error", "stopped"})


class DebugState(enum.IntEnum):
    """The original's debugger states (``state`` numbers and ``stateInfo`` texts)."""

    STOPPED = 0
    RUNNING = 1
    BREAK = 2
    FAIL = 3

    @property
    def info(self) -> str:
        return {0: "Stopped", 1: "Running (Debug)", 2: "Break", 3: "Fail"}[self.value]


def plain(value: Any) -> Any:
    """A BASIC value as JSON-ready data (dates as ISO text, NaN/infinities by name)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class DebugEvent:
    """One event of a bot's debugging session."""

    kind: str
    bot_id: str
    state: DebugState
    line: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "botId": self.bot_id,
            "state": int(self.state),
            "stateInfo": self.state.info,
            "line": self.line,
            **plain(self.data),
        }


class Subscription:
    """A subscriber's queue of events (``async for event in subscription``). A subscriber
    that falls ``limit`` events behind loses the oldest ones (counted in ``dropped``) rather
    than letting the debugger's memory grow."""

    def __init__(self, limit: int = 1000) -> None:
        self.queue: asyncio.Queue[DebugEvent | None] = asyncio.Queue(limit)
        self.dropped = 0
        self.closed = False

    def deliver(self, event: DebugEvent) -> None:
        if self.closed:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def close(self) -> None:
        """End the iteration (after the events already queued)."""
        if not self.closed:
            self.closed = True
            if self.queue.full():
                self.queue.get_nowait()
                self.dropped += 1
            self.queue.put_nowait(None)

    async def get(self) -> DebugEvent | None:
        """The next event; None once closed."""
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[DebugEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[DebugEvent]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event
