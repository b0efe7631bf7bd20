"""Helpers of the persister tests: messages, a running persister, rows read back, metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gb.core.log import Log
from gb.core.messaging.ids import new_message_id
from gb.core.messaging.persister import Persister
from gb.core.messaging.record import MessageRecord, encode
from gb.core.storage.database import Database

TOPIC = "gb.messages"


def message(customer: uuid.UUID, instance: uuid.UUID, **changes: Any) -> MessageRecord:
    fields: dict[str, Any] = {
        "id": new_message_id(),
        "customer_id": customer,
        "instance_id": instance,
        "conversation_id": uuid.uuid4(),
        "sender": "alice",
        "kind": "text",
        "content": "hello world",
    }
    fields.update(changes)
    return MessageRecord(**fields)


async def append(log: Log, *messages: MessageRecord) -> list[tuple[int, int]]:
    """Append in order; (partition, offset) of each."""
    return [await log.append(TOPIC, m.key, encode(m)) for m in messages]


def persister(db: Database, log: Log, **options: Any) -> Persister:
    settings: dict[str, Any] = {
        "topic": TOPIC,
        "poll": 0.05,
        "linger": 0.01,
        "retry_initial": 0.02,
        "retry_max": 0.2,
        "watermark_interval": 0.1,
        "lag_interval": 0.05,
    }
    settings.update(options)
    return Persister(db, log, **settings)


@asynccontextmanager
async def running(p: Persister) -> AsyncIterator[asyncio.Task[None]]:
    """``p`` started and running in a task; closed (drained) on exit."""
    await p.start()
    task = asyncio.create_task(p.run())
    try:
        yield task
    finally:
        await p.close()
        if not task.cancelled():
            await asyncio.wait([task])


async def wait_until(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    """Poll ``predicate`` (sync or async) until it is true; fails after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.02)


async def rows(dsn: str, sql: str = "SELECT * FROM messages ORDER BY id", *args: Any) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def count(dsn: str, table: str = "messages") -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return value
    finally:
        await conn.close()


def metric(p: Persister, name: str, **labels: str) -> float:
    value = p.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
