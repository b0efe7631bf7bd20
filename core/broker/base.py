"""The broker contract: publish/subscribe between nodes.

A broker moves opaque byte payloads between the nodes of a cluster, keyed by topic. It is the
fan-out bus, not a log: delivery is **at most once, best effort**. A message published while a
node is disconnected is lost for that node; durability and replay belong to the log.

Guarantees every implementation gives:

- Per topic, the messages of one publisher (one broker instance) reach each subscriber in the
  order they were published.
- A node that is subscribed to a topic also receives its own publications; the hub filters them
  by an origin marker it keeps inside the payload. The broker never looks into payloads.
- The handler is called on the event loop, never re-entrantly from inside ``publish``.
- Once ``unsubscribe(topic)`` has been called, the handler sees no further message for that topic.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable

__all__ = ["Broker", "BrokerUnavailable", "Handler"]

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]
"""``handler(topic, data)``: called on the event loop, in publish order per topic and publisher.

It must not block; exceptions it raises are logged and counted, and delivery goes on.
"""


class BrokerUnavailable(ConnectionError):  # noqa: N818 -- the name the node API uses
    """The backend cannot be reached (or the broker is not started / closed).

    Retryable: the broker reconnects by itself; callers may retry later or drop the message.
    """


class Broker(abc.ABC):
    """Publish/subscribe between nodes; one instance per node, one handler (the node's hub).

    Counters are plain attributes so a metrics exporter can read them without locks:
    ``published`` (messages the backend accepted), ``received`` (messages handed to the handler),
    ``handler_errors`` (handler calls that raised) and ``reconnects`` (times the backend
    connection was re-established after a loss).
    """

    name: str
    """Implementation name: ``"memory"`` or ``"redis"``."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.published = 0
        self.received = 0
        self.handler_errors = 0
        self.reconnects = 0
        self._handler: Handler | None = None
        self._topics: set[str] = set()
        self._started = False
        self._closed = False

    def set_handler(self, handler: Handler) -> None:
        """Set the one handler that receives every message; only before ``start()``.

        Raises RuntimeError once the broker has been started, so no message can reach a
        handler that was swapped midway.
        """
        if self._started:
            raise RuntimeError(f"{self.name} broker: set_handler() must be called before start()")
        self._handler = handler

    @property
    def topics(self) -> frozenset[str]:
        """The topics currently subscribed (including ones recorded while disconnected)."""
        return frozenset(self._topics)

    @property
    @abc.abstractmethod
    def healthy(self) -> bool:
        """True while the broker is started and its backend connection is up."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect and apply the topics subscribed so far.

        Raises BrokerUnavailable (promptly, within the connect timeout) if the backend cannot be
        reached, and RuntimeError if no handler was set or the broker was already started.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect and stop delivery; forget all topics. Idempotent.

        Publishes still pending fail with BrokerUnavailable.
        """

    @abc.abstractmethod
    async def publish(self, topic: str, data: bytes) -> None:
        """Fan ``data`` out to every node subscribed to ``topic`` (fire and forget).

        Returns once the backend has accepted the message, not when nodes received it.
        Raises BrokerUnavailable while the backend is down or the broker is not running.
        """

    @abc.abstractmethod
    async def subscribe(self, topic: str) -> None:
        """Deliver messages for ``topic`` to the handler. Idempotent.

        While connected it returns once the backend confirmed, so messages published after it
        returns are delivered. While disconnected the topic is recorded and applied on reconnect.
        """

    @abc.abstractmethod
    async def unsubscribe(self, topic: str) -> None:
        """Stop delivering ``topic``; takes effect at the call. Idempotent."""

    def _begin_start(self) -> Handler:
        """Check that ``start()`` may run now; returns the handler."""
        if self._handler is None:
            raise RuntimeError(f"{self.name} broker: set_handler() before start()")
        if self._started:
            raise RuntimeError(f"{self.name} broker: start() called twice")
        self._started = True
        return self._handler

    def _dispatch(self, topic: str, data: bytes) -> None:
        """Hand one incoming message to the handler; an exception is logged, never propagated."""
        if topic not in self._topics:
            return  # unsubscribed (or closed) after the message left the backend
        handler = self._handler
        assert handler is not None, "start() requires a handler"
        self.received += 1
        try:
            handler(topic, data)
        except Exception:
            self.handler_errors += 1
            log.exception("%s broker: handler failed for topic %r", self.name, topic)
