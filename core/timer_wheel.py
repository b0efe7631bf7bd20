"""A hashed timer wheel: one periodic tick serves every connection's timers.

Why: a ``loop.call_later`` handle per connection costs a heap entry and an object each;
at tens of thousands of connections one tick that looks only at the slot now due is cheaper.
The wheel does no I/O and reads no clock: time is passed in, so tests drive it directly.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

T = TypeVar("T")


class TimerWheel(Generic[T]):
    """Items with deadlines, bucketed in ``slots`` slots of ``tick`` seconds.

    An item whose deadline lies beyond one turn of the wheel waits in its slot and is put
    back when the slot comes round early; so any deadline is allowed. An item is returned
    by :meth:`advance` at most one tick late and never early.
    """

    def __init__(self, tick: float, slots: int, now: float) -> None:
        if tick <= 0 or slots < 1:
            raise ValueError("tick must be > 0 and slots >= 1")
        self.tick = tick
        self._slots: list[list[tuple[float, T]]] = [[] for _ in range(slots)]
        # The absolute index of the first slot not finished yet. The slot ``now`` falls in is
        # never finished: items later in that same tick must be found by the next advance.
        self._cursor = math.floor(now / tick)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def schedule(self, item: T, deadline: float) -> None:
        """Return ``item`` from :meth:`advance` once ``now >= deadline``."""
        index = max(math.floor(deadline / self.tick), self._cursor)
        self._slots[index % len(self._slots)].append((deadline, item))
        self._size += 1

    def advance(self, now: float) -> list[T]:
        """Take out every item whose deadline is ``<= now``, in no particular order."""
        due: list[T] = []
        last = math.floor(now / self.tick)
        n = len(self._slots)
        # After a long pause one turn covers every slot; more turns would find nothing new.
        first = max(self._cursor, last - n + 1)
        for index in range(first, last + 1):
            slot = self._slots[index % n]
            if not slot:
                continue
            keep = []
            for deadline, item in slot:
                if deadline <= now:
                    due.append(item)
                else:
                    keep.append((deadline, item))
            self._slots[index % n] = keep
        self._cursor = last
        self._size -= len(due)
        return due
