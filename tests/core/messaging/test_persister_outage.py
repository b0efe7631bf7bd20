"""PostgreSQL stops and returns: the persister pauses, keeps what it has, and catches up.

The tests run a PostgreSQL cluster of their own (``initdb`` + ``pg_ctl`` on a free loopback
port, as the OS user ``postgres`` when run as root), which they stop and start again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gb.core.log import EmbeddedLog
from gb.core.messaging.persister import Persister
from gb.core.storage.database import Database

from ...support.pg import control_db
from ...support.pg_cluster import PG_BIN, Cluster, running_cluster
from ...support.tenants import make_tenant
from .test_persister_support import (
    TOPIC,
    append,
    count,
    message,
    metric,
    persister,
    rows,
    running,
    wait_until,
)

__all__ = ["control_db"]

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason=f"PostgreSQL server binaries not in {PG_BIN}"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster("gb-persister-pg-") as pg:
        yield pg


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedLog]:
    opened = EmbeddedLog(tmp_path / "log", partitions_default=4)
    await opened.start()
    await opened.ensure_topic(TOPIC, 4)
    yield opened
    await opened.close()


def lag(p: Persister) -> float:
    return sum(metric(p, "gb_persister_lag_records", partition=str(n)) for n in range(4))


async def test_postgresql_stops_and_returns(cluster: Cluster, log: EmbeddedLog) -> None:
    cluster.start()
    dsn = await cluster.database(control=True)
    db = await Database.open(dsn, pool_size=4, map_ttl=0.5)
    try:
        customer, instance = await make_tenant(db)
        p = persister(db, log, retry_max=0.2)
        async with running(p):
            await append(log, *(message(customer, instance) for _ in range(50)))
            await wait_until(lambda: metric(p, "gb_persister_records_total") == 50)
            cluster.stop()
            idle_errors = metric(p, "gb_persister_errors_total", kind="database")
            # idle: the periodic watermark refresh cannot read the shard list, and says so
            await wait_until(
                lambda: metric(p, "gb_persister_errors_total", kind="database") > idle_errors
            )
            await append(log, *(message(customer, instance) for _ in range(50)))
            # writes fail, then (the shard map cache expired) routing fails too: it waits
            await wait_until(lambda: metric(p, "gb_persister_errors_total", kind="database") > 8)
            await wait_until(lambda: lag(p) == 50 and metric(p, "gb_persister_lag_seconds") > 0.5)
            assert metric(p, "gb_persister_records_total") == 50
            cluster.start()
            await wait_until(lambda: metric(p, "gb_persister_records_total") == 100)
            await wait_until(lambda: lag(p) == 0)
            assert metric(p, "gb_persister_lag_seconds") == 0
        assert metric(p, "gb_persister_duplicates_total") == 0
        assert await count(dsn) == 100

        # closed during an outage: the batch is left to the next owner, never lost
        cluster.stop()
        last = message(customer, instance)
        await append(log, last)
        waiting = persister(db, log, retry_max=0.1)
        async with running(waiting):
            await wait_until(
                lambda: metric(waiting, "gb_persister_errors_total", kind="database") >= 2
            )
        cluster.start()
        assert await count(dsn) == 100
        final = persister(db, log)
        async with running(final):
            await wait_until(lambda: metric(final, "gb_persister_records_total") == 1)
        assert [r["id"] for r in await rows(dsn, "SELECT id FROM messages WHERE id = $1", last.id)]
    finally:
        cluster.start()
        await db.close()


async def test_one_shard_down_holds_only_its_rows(
    cluster: Cluster, control_db: str, log: EmbeddedLog
) -> None:
    cluster.start()
    shard_dsn = await cluster.database(control=False)
    db = await Database.open(control_db, pool_size=4)
    try:
        await db.add_shard("private", shard_dsn)
        up_customer, up_instance = await make_tenant(db, shard=0)
        down_customer, down_instance = await make_tenant(db, shard=1)
        p = persister(db, log, retry_max=0.2, linger=0.3)  # the held rows share one batch
        async with running(p):
            await append(log, message(down_customer, down_instance))
            await wait_until(lambda: metric(p, "gb_persister_records_total") == 1)
            cluster.stop()
            # rows of the shard that is up go on landing; the idle shard's watermarks fail
            await append(log, *(message(up_customer, up_instance) for _ in range(20)))
            await wait_until(lambda: metric(p, "gb_persister_records_total") == 21)
            await wait_until(lambda: metric(p, "gb_persister_errors_total", kind="database") >= 1)
            held = [message(down_customer, down_instance) for _ in range(10)]
            await append(log, *held, *(message(up_customer, up_instance) for _ in range(5)))
            await wait_until(lambda: metric(p, "gb_persister_records_total") == 26)
            await wait_until(lambda: metric(p, "gb_persister_errors_total", kind="database") >= 4)
            assert await count(control_db) == 25
            assert lag(p) > 0
            cluster.start()
            await wait_until(lambda: metric(p, "gb_persister_records_total") == 36)
            assert p._consumer is not None
            ends = {n: e for n, e in (await p._consumer.end_offsets()).items() if e}

            async def marked() -> bool:
                got = await rows(shard_dsn, "SELECT partition, next_offset FROM log_watermarks")
                return {m["partition"]: m["next_offset"] for m in got} == ends

            await wait_until(marked)
        assert await count(shard_dsn) == 11
        assert metric(p, "gb_persister_duplicates_total") == 0
    finally:
        cluster.start()
        await db.close()
