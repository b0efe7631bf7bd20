"""What the storage commands of the CLI do: ``gb migrate``, ``gb shard add``, ``gb shard list``.

Each opens the control database of ``settings`` (the embedded one when ``database_url`` is
unset), does its work and closes it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gb.core.storage.database import Database, Shard, control_dsn, open_database
from gb.core.storage.migrate import migrate_database

if TYPE_CHECKING:
    from gb.core.config import Settings


async def cli_migrate(settings: Settings) -> dict[str, list[str]]:
    """Migrate the control database (both tracks), then every other registered shard.

    Returns the versions applied per shard name (the control database is shard ``control``).
    """
    dsn = await control_dsn(settings)
    applied = {"control": await migrate_database(dsn, control=True, shard=True)}
    db = await Database.open(dsn, pool_size=1)
    try:
        for shard in await db.shards():
            if shard.id != 0:
                applied[shard.name] = await migrate_database(shard.dsn, control=False, shard=True)
    finally:
        await db.close()
    return applied


async def cli_shard_add(
    settings: Settings, name: str, dsn: str, replicas: Sequence[str] = ()
) -> Shard:
    """Register the shard ``name`` at ``dsn`` (with read replicas) and migrate it."""
    db, _ = await open_database(settings)
    try:
        return await db.add_shard(name, dsn, replicas)
    finally:
        await db.close()


async def cli_shard_list(settings: Settings) -> list[Shard]:
    """Every registered shard, by id."""
    db, _ = await open_database(settings)
    try:
        return await db.shards()
    finally:
        await db.close()
