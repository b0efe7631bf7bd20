"""A private PostgreSQL cluster that a test may stop and start (``initdb`` + ``pg_ctl`` on a free
loopback port, run as the OS user ``postgres`` when the tests run as root). Outage tests use it
so they never touch the machine's shared server."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from gb.core.storage import migrate_database

from .services import free_port


def _server_bin() -> Path:
    """``GB_TEST_PG_BIN``, else the newest Debian PostgreSQL server installed."""
    if "GB_TEST_PG_BIN" in os.environ:
        return Path(os.environ["GB_TEST_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _server_bin()
OS_USER = "postgres"


def run(*args: str) -> None:
    command = [str(PG_BIN / args[0]), *args[1:]]
    if os.geteuid() == 0:
        command = ["runuser", "-u", OS_USER, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


class Cluster:
    """A private PostgreSQL cluster that tests stop and start."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.port = free_port()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.base}'\nfsync = off\n"
                "shared_buffers = 16MB\nmax_connections = 40\n"
            )

    def start(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            return
        run("pg_ctl", "-D", str(self.datadir), "-l", f"{self.base}/log", "-w", "-t", "30", "start")

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "20", "stop")

    async def database(self, *, control: bool) -> str:
        """A new migrated database (the control and shard tracks, or the shard track)."""
        name = f"gbt_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate_database(self.dsn(name), control=control, shard=True)
        return self.dsn(name)


@contextlib.contextmanager
def running_cluster(prefix: str) -> Iterator[Cluster]:
    """A new cluster in a temporary folder, started; stopped and removed on exit."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        user = pwd.getpwnam(OS_USER)
        os.chown(base, user.pw_uid, user.pw_gid)
    pg = Cluster(base)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
