"""The embedded PostgreSQL (pgserver) of a node without GB_DATABASE_URL: start, migrate, query."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from gb.core.config import load_settings
from gb.core.storage.database import open_database
from gb.core.storage.embedded import start_embedded, stop_embedded
from gb.core.storage.migrate import migrate_database


@pytest.mark.timeout(60)
async def test_embedded_server_starts_migrates_and_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        async with asyncio.timeout(20):
            dsn = await asyncio.to_thread(start_embedded, data_dir)
            assert dsn.startswith("postgresql://postgres@/postgres?host=/")
            assert (data_dir / "pg" / "PG_VERSION").exists()
            applied = await migrate_database(dsn, control=True, shard=True)
            assert {"control/0001", "shard/0001"} <= {a.split("_")[0] for a in applied}
            conn = await asyncpg.connect(dsn)
            try:
                assert await conn.fetchval("SELECT 1") == 1
                assert await conn.fetchval("SELECT count(*) FROM plans") == 3
            finally:
                await conn.close()
            # A node without GB_DATABASE_URL joins the same server; migrating again is a no-op.
            settings = load_settings({"GB_DATA_DIR": str(data_dir)})
            db, node_dsn = await open_database(settings)
            try:
                assert node_dsn == dsn
                assert [s.name for s in await db.shards()] == ["control"]
            finally:
                await db.close()
    finally:
        stopped = await asyncio.to_thread(stop_embedded, data_dir)
    assert stopped
    assert not stop_embedded(data_dir)  # nothing left to stop
    with pytest.raises(OSError):
        await asyncpg.connect(dsn, timeout=5)
