"""Readonly tenant transactions on a real streaming replica.

The test makes a PostgreSQL cluster of its own (``initdb`` + ``pg_ctl``, on a free loopback
port) and a hot standby of it (``pg_basebackup -R``, another port), registers the primary as a
shard with the standby as its replica, writes through ``tenant()`` and reads through
``tenant(readonly=True)`` on the standby. The clusters run as the OS user ``postgres`` (initdb
refuses root) in a temporary directory of theirs, and are stopped at teardown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from gb.core.storage.database import Database
from tests.support.pg import control_db
from tests.support.services import free_port

__all__ = ["control_db"]

PG_BIN = Path(os.environ.get("GB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason=f"PostgreSQL server binaries not in {PG_BIN}"
)


def run(*args: str, timeout: float = 60) -> None:
    """Run a server binary as the OS user ``postgres`` (as root) or as ourselves."""
    command = [str(PG_BIN / args[0]), *args[1:]]
    if os.geteuid() == 0:
        command = ["runuser", "-u", OS_USER, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=timeout)


@dataclass
class Cluster:
    datadir: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def configure(self, **settings: str) -> None:
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            f"{self.datadir}.log",
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "20", "stop")


@pytest.fixture
def primary_and_replica() -> Iterator[tuple[Cluster, Cluster]]:
    base = Path(tempfile.mkdtemp(prefix="gb-replica-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(OS_USER)
        os.chown(base, user.pw_uid, user.pw_gid)
    primary = Cluster(base / "primary", free_port())
    replica = Cluster(base / "replica", free_port())
    try:
        run("initdb", "-D", str(primary.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        common = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{base}'",
            "fsync": "off",
            "shared_buffers": "16MB",
            "max_connections": "30",
        }
        primary.configure(
            port=str(primary.port), wal_level="replica", max_wal_senders="4", **common
        )
        with (primary.datadir / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        primary.start()
        run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(replica.datadir), "-R", "-X", "stream", "-c", "fast"),
        )
        replica.configure(port=str(replica.port), hot_standby="on")
        replica.start()
        yield primary, replica
    finally:
        for cluster in (replica, primary):
            try:
                cluster.stop()
            except subprocess.SubprocessError:  # a wedged server: report, go on
                logging.getLogger(__name__).exception("could not stop %s", cluster.datadir)
        shutil.rmtree(base, ignore_errors=True)


async def wait_for_replay(primary: Cluster, replica: Cluster, timeout: float = 10) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    conn = await asyncpg.connect(primary.dsn)
    try:
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await conn.close()
    conn = await asyncpg.connect(replica.dsn)
    try:
        async with asyncio.timeout(timeout):
            while not await conn.fetchval(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn
            ):
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


@pytest.mark.timeout(120)
async def test_readonly_transactions_are_served_by_the_streaming_replica(
    primary_and_replica: tuple[Cluster, Cluster],
    control_db: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    primary, replica = primary_and_replica
    db = await Database.open(control_db, pool_size=3, map_ttl=60.0)
    try:
        shard = await db.add_shard("replicated", primary.dsn, [replica.dsn])
        customers = []
        for name in ("alice", "bob"):
            async with db.platform() as conn:
                customer = await conn.fetchval(
                    "INSERT INTO customers (name, plan_id, region_id) "
                    "VALUES ($1, 'free', 'local') RETURNING id",
                    f"{name}-{uuid.uuid4().hex[:8]}",
                )
            await db.assign(customer, shard.id)
            customers.append(customer)
        alice, bob = customers

        for customer, name in ((alice, "alice-bot"), (bob, "bob-bot")):
            async with db.tenant(customer) as conn:
                assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
                await conn.execute(
                    "INSERT INTO instances (customer_id, name) VALUES ($1, $2)", customer, name
                )
        await wait_for_replay(primary, replica)

        async with db.tenant(alice, readonly=True) as conn:
            assert await conn.fetchval("SELECT pg_is_in_recovery()") is True  # the standby
            assert await conn.fetchval("SELECT current_user") == "gb_app"
            assert [r["name"] for r in await conn.fetch("SELECT name FROM instances")] == [
                "alice-bot"
            ]
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with db.tenant(alice, readonly=True) as conn:
                await conn.execute(
                    "INSERT INTO instances (customer_id, name) VALUES ($1, 'nope')", alice
                )

        # The standby goes away: reads fall back to the primary, with a warning.
        await asyncio.to_thread(replica.stop)
        with caplog.at_level(logging.WARNING, logger="gb.core.storage.database"):
            async with db.tenant(bob, readonly=True) as conn:
                assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
                assert await conn.fetchval("SELECT array_agg(name) FROM instances") == ["bob-bot"]
        assert any(
            "replica 0 of shard 'replicated' unavailable" in r.getMessage() for r in caplog.records
        )
    finally:
        await db.close()
