"""Databases of the tests' own on the machine's PostgreSQL (``GB_TEST_PG_DSN``, superuser).

Every test gets fresh databases named ``gbt_<uuid hex>``, dropped (``WITH (FORCE)``) afterwards;
no other database is ever touched. Migrated databases are cloned (``CREATE DATABASE ... TEMPLATE``)
from a template migrated once per test process, named ``gbt_tpl_<pid>_<hex>_<tracks>`` so that
parallel runs on one machine never collide; templates are dropped when the process exits, and
those left by a process that died are dropped by the next run.

Test modules import the fixtures by name and list them in ``__all__`` (importlib import mode)::

    from tests.support.pg import control_db, fresh_db
    __all__ = ["control_db", "fresh_db"]
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import uuid
import weakref
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gb.core.storage import migrate_database

PG_ADMIN_DSN = os.environ.get("GB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

_RUN = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
_TEMPLATE_NAME = re.compile(r"gbt_tpl_(\d+)_[0-9a-f]{8}_\w+")
_templates: dict[str, str] = {}  # tracks ("both", "shard") -> template database name
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def dsn_of(name: str) -> str:
    """The DSN of database ``name`` on the test server."""
    parts = urlsplit(PG_ADMIN_DSN)
    return urlunsplit(parts._replace(path="/" + name))


def name_of(dsn: str) -> str:
    """The database name of a DSN made by :func:`dsn_of`."""
    return urlsplit(dsn).path.lstrip("/")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(template: str = "template0") -> str:
    """A fresh database ``gbt_<uuid hex>`` (empty, or a copy of ``template``); returns its DSN."""
    name = f"gbt_{uuid.uuid4().hex}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return dsn_of(name)


async def drop_database(dsn: str) -> None:
    """Drop a database made here (only ``gbt_*`` names), closing its connections."""
    name = name_of(dsn)
    assert name.startswith("gbt_"), f"refusing to drop {name!r}: not a test database"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def create_migrated_database(*, control: bool = True, shard: bool = True) -> str:
    """A fresh database with the tracks asked for migrated, partitions included; returns its DSN."""
    return await create_database(await _template(control=control, shard=shard))


async def _template(*, control: bool, shard: bool) -> str:
    kind = "both" if control and shard else "control" if control else "shard"
    loop = asyncio.get_running_loop()
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        if kind not in _templates:
            await _drop_orphan_templates()
            name = f"gbt_tpl_{_RUN}_{kind}"
            await _admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
            try:
                await migrate_database(dsn_of(name), control=control, shard=shard)
            except BaseException:
                await _admin(f'DROP DATABASE "{name}" WITH (FORCE)')
                raise
            _templates[kind] = name
    return _templates[kind]


async def _drop_orphan_templates() -> None:
    """Drop templates of test processes that are gone (killed before their exit hook ran)."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'gbt_tpl_%'")
        for row in names:
            match = _TEMPLATE_NAME.fullmatch(row["datname"])
            if match is not None and not _alive(int(match[1])):
                await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


@atexit.register
def _drop_templates() -> None:
    if not _templates:
        return

    async def drop() -> None:
        for name in _templates.values():
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    asyncio.run(drop())


@pytest.fixture
async def fresh_db() -> AsyncIterator[str]:
    """An empty database's DSN, dropped after the test."""
    dsn = await create_database()
    yield dsn
    await drop_database(dsn)


@pytest.fixture
async def control_db() -> AsyncIterator[str]:
    """A database migrated with the control and shard tracks (the control DB serving as shard 0)."""
    dsn = await create_migrated_database(control=True, shard=True)
    yield dsn
    await drop_database(dsn)


@pytest.fixture
async def two_shards() -> AsyncIterator[tuple[str, str, str]]:
    """(control DSN, shard 1 DSN, shard 2 DSN): the control database migrated with both tracks,
    the shards with the shard track. The shards are not registered in ``shards``."""
    dsns: list[str] = []
    try:
        dsns.append(await create_migrated_database(control=True, shard=True))
        dsns.append(await create_migrated_database(control=False, shard=True))
        dsns.append(await create_migrated_database(control=False, shard=True))
        yield dsns[0], dsns[1], dsns[2]
    finally:
        for dsn in dsns:
            await drop_database(dsn)
