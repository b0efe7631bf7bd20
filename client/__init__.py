"""Python client SDK of gb over the reference codec.

::

    from gb.client import connect

    async with await connect("ws://127.0.0.1:8765/ws", token) as client:
        sub = await client.subscribe("room-1")
        await sub.publish(b"hello")
        delivery = await sub.next(timeout=5)
"""

from gb.protocol.codec import Frame
from gb.protocol.codes import ErrorCode, Flag, FrameType

from .connection import EVENT_QUEUE_SIZE, Client, connect
from .errors import ConnectionClosed, GbError, SubscriptionClosed
from .subscription import Delivery, Subscription
from .timeline import Timeline

__all__ = [
    "EVENT_QUEUE_SIZE",
    "Client",
    "ConnectionClosed",
    "Delivery",
    "ErrorCode",
    "Flag",
    "Frame",
    "FrameType",
    "GbError",
    "Subscription",
    "SubscriptionClosed",
    "Timeline",
    "connect",
]
