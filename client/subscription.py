"""A channel subscription: a bounded queue of deliveries that never grows past its size."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from .errors import ConnectionClosed, SubscriptionClosed

if TYPE_CHECKING:
    from .connection import Client


class Delivery(NamedTuple):
    """One publication as received: ``payload`` is byte-for-byte what was published."""

    channel_id: int
    payload: bytes
    flags: int


class Subscription:
    """Deliveries of one channel, in arrival order; async-iterable.

    When the queue holds ``queue_size`` deliveries, further ones are dropped and counted in
    ``dropped_overflow`` (the newest are dropped, so what is kept stays in order). Iteration
    ends after :meth:`unsubscribe` or a normal close (code 1000) once the queue is drained; any
    other close raises :class:`ConnectionClosed` from the iterator.
    """

    def __init__(
        self, client: Client, name: str, channel_id: int, subscribers: int, queue_size: int
    ) -> None:
        self.name = name
        self.channel_id = channel_id
        self.subscribers = subscribers
        self.dropped_overflow = 0
        self._client = client
        self._size = queue_size
        self._items: deque[Delivery] = deque()
        self._getters: list[asyncio.Future[None]] = []
        self._ended: SubscriptionClosed | ConnectionClosed | None = None

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} id={self.channel_id} queued={len(self._items)}>"

    @property
    def queued(self) -> int:
        """Deliveries waiting to be read."""
        return len(self._items)

    def _push(self, delivery: Delivery) -> None:
        # Called by the client's receive path for every DELIVER: keep it short.
        items = self._items
        if len(items) >= self._size:
            self.dropped_overflow += 1
            return
        items.append(delivery)
        if self._getters:
            self._wake()

    def _wake(self) -> None:
        for getter in self._getters:
            if not getter.done():
                getter.set_result(None)
        self._getters.clear()

    def _end_unsubscribed(self) -> None:
        self._end(SubscriptionClosed(f"unsubscribed from {self.name!r}"))

    def _end_closed(self, code: int, reason: str) -> None:
        self._end(ConnectionClosed(code, reason))

    def _end(self, reason: SubscriptionClosed | ConnectionClosed) -> None:
        if self._ended is None:
            self._ended = reason
            self._wake()

    async def next(self, timeout: float | None = None) -> Delivery:  # noqa: ASYNC109
        """The next delivery; waits up to ``timeout`` seconds (``TimeoutError`` after that).

        Raises :class:`SubscriptionClosed` after :meth:`unsubscribe`, or
        :class:`ConnectionClosed` when the connection ended, once the queue is drained.
        """
        if self._items:
            return self._items.popleft()
        async with asyncio.timeout(timeout):
            while not self._items:
                if self._ended is not None:
                    raise self._raise_ended()
                getter = self._client._loop.create_future()
                self._getters.append(getter)
                try:
                    await getter
                except BaseException:
                    if getter in self._getters:
                        self._getters.remove(getter)
                    raise
        return self._items.popleft()

    def _raise_ended(self) -> Exception:
        # A fresh exception per raise: one instance raised twice would pile up tracebacks.
        ended = self._ended
        if isinstance(ended, ConnectionClosed):
            return ConnectionClosed(ended.code, ended.reason)
        return SubscriptionClosed(f"unsubscribed from {self.name!r}")

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        try:
            return await self.next()
        except SubscriptionClosed:
            raise StopAsyncIteration from None
        except ConnectionClosed as exc:
            if exc.code == 1000:
                raise StopAsyncIteration from None
            raise

    async def publish(self, payload: bytes, *, ack: bool = False, echo: bool = True) -> None:
        """Publish ``payload`` to this channel (see :meth:`Client.publish`)."""
        await self._client.publish(self.channel_id, payload, ack=ack, echo=echo)

    async def unsubscribe(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Leave the channel. Deliveries already queued can still be read, then iteration ends."""
        await self._client._unsubscribe(self, timeout)
