"""In-process broker: one node alone, or several "nodes" in one process sharing a MemoryBus."""

from __future__ import annotations

import asyncio

from .base import Broker, BrokerUnavailable

__all__ = ["MemoryBroker", "MemoryBus"]


class MemoryBus:
    """The shared medium of MemoryBroker instances: who is subscribed to which topic.

    Brokers that share a bus exchange messages as if they were nodes on one Redis; brokers on
    different buses never see each other. All brokers on a bus must run on one event loop.
    """

    def __init__(self) -> None:
        self.subscribers: dict[str, set[MemoryBroker]] = {}

    def attach(self, topic: str, broker: MemoryBroker) -> None:
        """Route ``topic`` to ``broker`` (idempotent)."""
        self.subscribers.setdefault(topic, set()).add(broker)

    def detach(self, topic: str, broker: MemoryBroker) -> None:
        """Stop routing ``topic`` to ``broker`` (idempotent); empty topics are dropped."""
        brokers = self.subscribers.get(topic)
        if brokers is None:
            return
        brokers.discard(broker)
        if not brokers:
            del self.subscribers[topic]


class MemoryBroker(Broker):
    """Broker whose backend is a MemoryBus; never disconnects once started.

    Delivery is asynchronous: ``publish`` schedules one ``loop.call_soon`` per subscribed
    broker, so the handler never runs inside ``publish`` and call_soon's FIFO keeps publish
    order per topic. At most once like every broker: a message published while a broker is
    not subscribed is not kept for it.
    """

    name = "memory"

    def __init__(self, node_id: str = "memory", bus: MemoryBus | None = None) -> None:
        super().__init__(node_id)
        self.bus = bus if bus is not None else MemoryBus()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def healthy(self) -> bool:
        """True between ``start()`` and ``close()``."""
        return self._started and not self._closed

    async def start(self) -> None:
        """Join the bus with the topics subscribed so far."""
        self._begin_start()
        self._loop = asyncio.get_running_loop()
        for topic in self._topics:
            self.bus.attach(topic, self)

    async def close(self) -> None:
        """Leave the bus; messages already scheduled for this broker are dropped. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for topic in self._topics:
            self.bus.detach(topic, self)
        self._topics.clear()

    async def publish(self, topic: str, data: bytes) -> None:
        """Schedule delivery to every broker on the bus subscribed to ``topic``."""
        if not self.healthy:
            raise BrokerUnavailable(f"memory broker {self.node_id!r} is not running")
        for broker in self.bus.subscribers.get(topic, ()):
            loop = broker._loop
            assert loop is not None, "only started brokers are attached"
            loop.call_soon(broker._dispatch, topic, data)
        self.published += 1

    async def subscribe(self, topic: str) -> None:
        """Route ``topic`` here; before ``start()`` it is recorded and applied at start."""
        if self._closed:
            raise BrokerUnavailable(f"memory broker {self.node_id!r} is closed")
        self._topics.add(topic)
        if self._started:
            self.bus.attach(topic, self)

    async def unsubscribe(self, topic: str) -> None:
        """Stop routing ``topic`` here, including messages already scheduled."""
        self._topics.discard(topic)
        self.bus.detach(topic, self)
