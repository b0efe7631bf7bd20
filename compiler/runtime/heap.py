"""The host heap: the text, dates, lists and maps a program holds, by handle.

Generated code sees only handles (small integers in the payload of a slot). Handles
``1..n`` are the program's string constants and never go away; the others are given out as
values reach the program and are collected at suspensions, when nothing of the program is on
the wasm stack: a handle survives if some slot of memory still holds it. The objects behind
the handles are plain Python values (lists hold values, not handles), so Python owns the
memory; the heap only bounds it: the number of live handles and an estimate of the bytes
reachable from them (strings by length, containers by item count).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .semantics import Value

_OBJECT = 32  # estimated bytes of one value besides its items or characters
_ITEM = 16


def estimate_size(value: Value, seen: set[int]) -> int:
    """Bytes reachable from ``value`` (each container counted once)."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += _OBJECT + len(v)
        elif isinstance(v, list | tuple | dict):
            if id(v) in seen:
                continue
            seen.add(id(v))
            total += _OBJECT + _ITEM * len(v)
            if isinstance(v, dict):
                stack.extend(v.values())
            else:
                stack.extend(v)
        else:
            total += _ITEM
    return total


class HeapLimitError(Exception):
    """Live values exceed the heap limits (after a collection)."""


class Heap:
    """Handles -> values, with collection and limits."""

    def __init__(self, constants: Iterable[str], max_objects: int, max_bytes: int) -> None:
        self.objects: list[Any] = [None, *constants]  # handle 0 is never used
        self.permanent = len(self.objects)
        self.free: list[int] = []
        self.by_id: dict[int, int] = {}
        self.max_objects = max_objects
        self.max_bytes = max_bytes
        self.live_bytes = 0  # measured at the last collection
        self.allocated_bytes = 0  # estimated since then
        self.allocations = 0  # handles given out since then
        self.next_check = 0  # when to look at wants_collection again (by allocations)
        self.collect_after = 4096  # allocations that make a collection worth it

    def __len__(self) -> int:
        """Handles in use (constants included)."""
        return len(self.objects) - len(self.free)

    def handle(self, value: Any) -> int:
        """The handle of ``value`` (the same one while the value is held)."""
        known = self.by_id.get(id(value))
        if known is not None:
            return known
        if self.free:
            handle = self.free.pop()
            self.objects[handle] = value
        else:
            handle = len(self.objects)
            self.objects.append(value)
        self.by_id[id(value)] = handle
        self.allocations += 1
        return handle

    def charge(self, nbytes: int) -> None:
        """Account for ``nbytes`` of new values (strings built, items added). Garbage is
        only collected at suspensions; far over the limit, the program stops at once."""
        self.allocated_bytes += nbytes
        if self.live_bytes + self.allocated_bytes > 2 * self.max_bytes:
            raise HeapLimitError(
                f"heap limit exceeded: about {self.live_bytes + self.allocated_bytes} bytes "
                f"of values (at most {self.max_bytes})"
            )

    def wants_collection(self) -> bool:
        """Whether enough was allocated since the last collection to collect now."""
        return (
            self.allocations > self.collect_after
            or self.live_bytes + self.allocated_bytes > self.max_bytes
            or len(self.objects) - len(self.free) > self.max_objects
        )

    def collect(self, roots: Iterable[int]) -> None:
        """Free every handle not in ``roots``; re-measure; raise HeapLimitError when the
        live values are over the limits."""
        keep = set(roots)
        objects = self.objects
        for handle in range(self.permanent, len(objects)):
            if handle not in keep and objects[handle] is not None:
                self.by_id.pop(id(objects[handle]), None)
                objects[handle] = None
                self.free.append(handle)
        while len(objects) > self.permanent and objects[-1] is None:
            objects.pop()
        self.free = [h for h in self.free if h < len(objects)]
        seen: set[int] = set()
        self.live_bytes = sum(
            estimate_size(objects[h], seen)
            for h in range(self.permanent, len(objects))
            if objects[h] is not None
        )
        self.allocated_bytes = 0
        self.allocations = 0
        self.next_check = 0
        live = len(self) - self.permanent
        self.collect_after = max(4096, live)
        if live > self.max_objects:
            raise HeapLimitError(
                f"heap limit exceeded: {live} live values (at most {self.max_objects})"
            )
        if self.live_bytes > self.max_bytes:
            raise HeapLimitError(
                f"heap limit exceeded: about {self.live_bytes} bytes of values "
                f"(at most {self.max_bytes})"
            )

    def entries(self) -> list[tuple[int, Any]]:
        """(handle, value) of every handle in use that is not a constant."""
        return [
            (h, self.objects[h])
            for h in range(self.permanent, len(self.objects))
            if self.objects[h] is not None
        ]

    def load(self, entries: Iterable[tuple[int, Any]]) -> None:
        """Put back the handles of a saved heap (after the constants)."""
        for handle, value in entries:
            while len(self.objects) <= handle:
                self.free.append(len(self.objects))
                self.objects.append(None)
            self.objects[handle] = value
            self.by_id[id(value)] = handle
        used = {h for h in range(len(self.objects)) if self.objects[h] is not None}
        self.free = [h for h in self.free if h not in used]
