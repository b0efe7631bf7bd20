"""Monthly time partitions of the append-mostly tables (messages, logs, usage events, audit...).

Every range-partitioned table of the ``public`` schema (partitioned on a ``timestamptz`` column,
``created_at`` by convention) gets one partition per calendar month in UTC, named
``<table>_pYYYYMM``. :func:`ensure_partitions` creates them ahead (at migrate time and daily by the
node) and is idempotent and safe to run from several nodes at once; :func:`detach_partitions_before`
detaches old months (kept as plain tables, to archive or drop) so the hot table stays small.

Partitions get no privileges of their own: ``gb_app`` reaches rows only through the parent, where
row-level security applies, and cannot read a partition (or a detached month) directly.
"""

from __future__ import annotations

import datetime
import re

import asyncpg

_LOCK_CLASS = 0x6762  # "gb", shared with the migrator
_PARTITION_LOCK = 100  # serialises partition creation between nodes

_PARENTS = """
SELECT c.relname
FROM pg_partitioned_table p
JOIN pg_class c ON c.oid = p.partrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND p.partstrat = 'r' AND NOT c.relispartition
ORDER BY c.relname
"""

_CHILDREN = """
SELECT c.relname
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class parent ON parent.oid = i.inhparent
JOIN pg_namespace n ON n.oid = parent.relnamespace
WHERE n.nspname = 'public' AND parent.relname = $1
ORDER BY c.relname
"""


def month_start(day: datetime.date, offset: int = 0) -> datetime.date:
    """The first day of the month ``offset`` months away from ``day``'s month."""
    index = day.year * 12 + day.month - 1 + offset
    return datetime.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: datetime.date) -> str:
    """``messages_p202507``: the partition of ``table`` holding ``month``."""
    return f"{table}_p{month.year:04d}{month.month:02d}"


async def ensure_partitions(
    conn: asyncpg.Connection,
    *,
    today: datetime.date | None = None,
    months_back: int = 1,
    months_ahead: int = 3,
) -> list[str]:
    """Create the missing monthly partitions from ``months_back`` months before ``today``'s month
    (UTC today by default) to ``months_ahead`` months after it, for every range-partitioned table.

    Returns the names created (empty when all existed). A month whose name is taken by a
    detached partition is not created again: that month stays archived.
    """
    if months_back < 0 or months_ahead < 0:
        raise ValueError("months_back and months_ahead must be >= 0")
    day = today if today is not None else datetime.datetime.now(datetime.UTC).date()
    months = [month_start(day, k) for k in range(-months_back, months_ahead + 1)]
    created: list[str] = []
    for table in [r["relname"] for r in await conn.fetch(_PARENTS)]:
        # One short transaction per table: creating a partition locks its parent.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_CLASS, _PARTITION_LOCK)
            for month in months:
                name = partition_name(table, month)
                if await conn.fetchval("SELECT to_regclass($1)", _quote(name)) is not None:
                    continue
                await conn.execute(
                    f"CREATE TABLE {_quote(name)} PARTITION OF {_quote(table)} "
                    f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
                    f"TO ('{month_start(month, 1).isoformat()} 00:00:00+00')"
                )
                created.append(name)
    return created


async def detach_partitions_before(
    conn: asyncpg.Connection, table: str, before: datetime.date
) -> list[str]:
    """Detach (not drop) the monthly partitions of ``table`` that end on or before ``before``;
    return their names. Their rows are no longer visible through ``table``."""
    pattern = re.compile(re.escape(table) + r"_p(\d{4})(\d{2})")
    detached: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_CLASS, _PARTITION_LOCK)
        for row in await conn.fetch(_CHILDREN, table):
            match = pattern.fullmatch(row["relname"])
            if match is None:
                continue
            month = datetime.date(int(match[1]), int(match[2]), 1)
            if month_start(month, 1) <= before:
                await conn.execute(
                    f"ALTER TABLE {_quote(table)} DETACH PARTITION {_quote(row['relname'])}"
                )
                detached.append(row["relname"])
    return detached


def _quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
