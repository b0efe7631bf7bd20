"""Time-ordered ids (UUIDv7, RFC 9562) for messages and conversations.

A message's ``created_at`` is ALWAYS the millisecond inside its id: every copy of the message
(log record, recent cache, ``messages`` row) agrees on it, and the row's partition key follows
from the id, so ``ON CONFLICT (id, created_at)`` makes the persister's inserts idempotent.

Ids made by one process are strictly increasing: within one millisecond the 12 ``rand_a`` bits
are a counter (RFC 9562 method 1, started at a random value in its lower half so a burst of
2048 ids fits before it borrows the next millisecond). The 62 ``rand_b`` bits are random.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from uuid import UUID

__all__ = ["IdGenerator", "created_at_of", "id_at", "new_message_id"]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_VERSION_BITS = 0x7 << 76
_VARIANT_BITS = 0b10 << 62
_RAND_B = (1 << 62) - 1
_SEQ_MAX = 0xFFF
_MAX_MS = (datetime.datetime.max.replace(tzinfo=datetime.UTC) - _EPOCH) // datetime.timedelta(
    milliseconds=1
)


class IdGenerator:
    """Makes increasing UUIDv7s; a lock keeps them unique across threads. The module's
    :func:`new_message_id` uses one shared instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = -1
        self._seq = 0

    def new(self, now_ms: int | None = None) -> UUID:
        """A new UUIDv7, greater than every id this generator made before.

        ``now_ms`` (Unix milliseconds) replaces the clock; when the clock goes back, ids keep
        the last millisecond handed out, so they still increase.
        """
        ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        with self._lock:
            if ms > self._ms:
                self._ms = ms
                self._seq = int.from_bytes(os.urandom(2), "big") & 0x7FF
            elif self._seq < _SEQ_MAX:
                self._seq += 1
            else:  # 4096 ids in one millisecond (or the clock went back): borrow the next one
                self._ms += 1
                self._seq = 0
            ms, seq = self._ms, self._seq
        rand_b = int.from_bytes(os.urandom(8), "big") & _RAND_B
        return UUID(int=(ms << 80) | _VERSION_BITS | (seq << 64) | _VARIANT_BITS | rand_b)


_generator = IdGenerator()


def new_message_id() -> UUID:
    """A new UUIDv7 from the process's generator: increasing within this process."""
    return _generator.new()


def id_at(moment: datetime.datetime) -> UUID:
    """The smallest UUIDv7 of ``moment``'s millisecond: ``id >= id_at(t)`` iff created at/after t.

    ValueError for a naive datetime or a moment before 1970.
    """
    if moment.tzinfo is None:
        raise ValueError("a UUIDv7 time must be timezone-aware")
    ms = (moment - _EPOCH) // datetime.timedelta(milliseconds=1)
    if ms < 0:
        raise ValueError(f"a UUIDv7 cannot carry a time before 1970: {moment.isoformat()}")
    return UUID(int=(ms << 80) | _VERSION_BITS | _VARIANT_BITS)


def created_at_of(message_id: UUID) -> datetime.datetime:
    """The creation time inside a UUIDv7 (its first 48 bits: Unix milliseconds), in UTC.

    ValueError when ``message_id`` is not a UUIDv7 (it then carries no time) or its time is
    past the year 9999.
    """
    if message_id.version != 7:
        raise ValueError(f"{message_id} is not a UUIDv7 (it carries no creation time)")
    ms = message_id.int >> 80
    if ms > _MAX_MS:
        raise ValueError(f"{message_id} carries a time past the year 9999")
    return _EPOCH + datetime.timedelta(milliseconds=ms)
