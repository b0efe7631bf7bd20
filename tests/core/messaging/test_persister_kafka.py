"""The persister on the Kafka log (a private tansu broker), and ``gb persister``'s entry point."""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gb.core.config import load_settings
from gb.core.log import KafkaLog
from gb.core.messaging.persister import run_persister
from gb.core.storage.database import Database

from ...support.pg import control_db
from ...support.services import free_port
from ...support.tansu import TansuProcess, own_tansu
from ...support.tenants import make_tenant
from .test_persister_support import (
    TOPIC,
    append,
    count,
    message,
    metric,
    persister,
    running,
    wait_until,
)

__all__ = ["control_db", "own_tansu"]


def kafka(broker: TansuProcess) -> KafkaLog:
    return KafkaLog(
        broker.bootstrap,
        request_timeout_ms=2000,
        replication_factor=1,
        idempotent=False,  # tansu has no InitProducerId
        session_timeout_ms=2000,
    )


@pytest.fixture
async def producer(own_tansu: Callable[[], TansuProcess]) -> AsyncIterator[KafkaLog]:
    log = kafka(own_tansu())
    await log.start()
    await log.ensure_topic(TOPIC, 4)
    yield log
    await log.close()


async def test_two_persisters_on_kafka_write_everything_once(
    control_db: str, producer: KafkaLog
) -> None:
    db = await Database.open(control_db, pool_size=4)
    try:
        customer, instance = await make_tenant(db)
        a = persister(db, producer, batch_max=100, linger=0.02)
        b = persister(db, producer, batch_max=100, linger=0.02)
        async with running(a), running(b):

            def owned() -> int:
                return sum(len(p._consumer.assignment) for p in (a, b) if p._consumer)

            await wait_until(lambda: owned() == 4 and all(
                p._consumer and p._consumer.assignment for p in (a, b)))  # fmt: skip
            await asyncio.gather(
                *(append(producer, message(customer, instance)) for _ in range(300))
            )

            def total(name: str, **labels: str) -> float:
                return sum(metric(p, name, **labels) for p in (a, b))

            await wait_until(lambda: total("gb_persister_records_total") == 300, timeout=30)
            lag = [str(n) for n in range(4)]
            await wait_until(
                lambda: sum(total("gb_persister_lag_records", partition=n) for n in lag) == 0
            )
            assert all(metric(p, "gb_persister_records_total") > 0 for p in (a, b))
        assert await count(control_db) == 300
        assert sum(metric(p, "gb_persister_duplicates_total") for p in (a, b)) == 0
    finally:
        await db.close()


async def test_broker_gone_is_counted_not_fatal(
    control_db: str, own_tansu: Callable[[], TansuProcess]
) -> None:
    broker = own_tansu()
    log = kafka(broker)
    await log.start()
    await log.ensure_topic(TOPIC, 2)
    db = await Database.open(control_db, pool_size=4)
    try:
        customer, instance = await make_tenant(db)
        p = persister(db, log)
        async with running(p):
            await append(log, message(customer, instance))
            await wait_until(lambda: metric(p, "gb_persister_records_total") == 1)
            broker.kill()
            await wait_until(lambda: metric(p, "gb_persister_errors_total", kind="log") >= 2)
        assert await count(control_db) == 1
    finally:
        await db.close()
        await log.close()


async def test_gb_persister_runs_until_sigterm_and_serves_metrics(
    control_db: str, producer: KafkaLog, tmp_path: Path
) -> None:
    port = free_port()
    settings = load_settings({
        "GB_DATABASE_URL": control_db,
        "GB_KAFKA_BOOTSTRAP": producer.bootstrap,
        "GB_HTTP_PORT": str(port),
        "GB_DATA_DIR": str(tmp_path),
        "GB_NODE_ID": "persister-test",
        "GB_LOG_TOPIC": TOPIC,
    })  # fmt: skip
    db = await Database.open(control_db, pool_size=2)
    try:
        customer, instance = await make_tenant(db)
        await append(producer, *(message(customer, instance) for _ in range(5)))
        task = asyncio.create_task(run_persister(settings))

        async def persisted() -> bool:
            return await count(control_db) == 5

        await wait_until(persisted, timeout=30)

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())

        text = await asyncio.to_thread(scrape)
        assert "gb_persister_records_total 5.0" in text
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 20)

    finally:
        await db.close()


async def test_gb_persister_needs_kafka(tmp_path: Path) -> None:
    settings = load_settings({"GB_DATA_DIR": str(tmp_path)})
    with pytest.raises(ValueError, match="GB_KAFKA_BOOTSTRAP"):
        await run_persister(settings)
