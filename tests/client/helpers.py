"""Helpers of the client SDK tests (the fake node itself is the ``fake`` fixture)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gb.client import Client, connect
from gb.protocol.codec import encode
from gb.protocol.codes import FrameType

SHARD = 7  # the fake node's WELCOME shard_key


async def until(condition: Callable[[], object], timeout: float = 3.0) -> None:
    """Wait, bounded, until ``condition()`` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


async def open_client(fake: Any, **kwargs: Any) -> Client:
    client = await connect(fake.url, "tok", **kwargs)
    await until(lambda: fake.peers and fake.peer.hello is not None)
    return client


def deliver(cid: int, payload: bytes, flags: int = 0) -> bytes:
    return encode(FrameType.DELIVER, payload, flags=flags, shard_key=SHARD, channel_id=cid)
