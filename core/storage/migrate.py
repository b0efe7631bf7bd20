"""Versioned SQL migrations: plain ``NNNN_name.sql`` files per track, each applied once.

Two tracks: ``control`` (the control database) and ``shard`` (every shard database; shard 0 is the
control database itself, so one database may carry both). A file runs in its own transaction
together with its record in ``gb_schema_migrations (track, version, checksum, applied_at)``, so a
failing file leaves the database exactly as it was (the bookkeeping table included). A
transaction-level advisory lock per track makes concurrent migrators (several nodes starting at
once) apply each file once. A file changed after it was applied is refused by its checksum: write a
new file instead. Statements that cannot run in a transaction (``CREATE INDEX CONCURRENTLY``) do not
belong in a migration.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from gb.core.storage.partitions import ensure_partitions

TRACKS = ("control", "shard")
"""The migration tracks, in the order a database carrying both is migrated."""

_FILE_NAME = re.compile(r"^(?P<number>\d{4})_[a-z0-9_]+\.sql$")
_LOCK_CLASS = 0x6762  # "gb": the advisory-lock namespace of the migrator
_BOOTSTRAP_LOCK = 0  # serialises the creation of the bookkeeping table across tracks

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS gb_schema_migrations (
    track       text NOT NULL,
    version     text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (track, version)
)
"""


class MigrationError(RuntimeError):
    """A migration could not be applied or was changed after it was; the message names the file
    and the database error."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: ``version`` is its name without ``.sql`` (``0001_control``)."""

    version: str
    sql: str
    checksum: str


def migrations_dir(track: str) -> Traversable:
    """The directory holding the migration files of ``track`` shipped in the package."""
    return resources.files(__package__) / "migrations" / track


def load_migrations(track: str, directory: Traversable | None = None) -> list[Migration]:
    """The migration files of ``track`` (from ``directory``, the package's by default), in order.

    Files not named ``NNNN_name.sql`` are ignored; two files with the same number are an error.
    """
    _check_track(track)
    folder = directory if directory is not None else migrations_dir(track)
    found: dict[str, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None or not entry.is_file():
            continue
        number = match["number"]
        if number in found:
            raise MigrationError(
                f"{track}: {entry.name} and {found[number].version}.sql share number {number}"
            )
        data = entry.read_bytes()
        found[number] = Migration(
            version=entry.name.removesuffix(".sql"),
            sql=data.decode(),
            checksum=hashlib.sha256(data).hexdigest(),
        )
    return [found[number] for number in sorted(found)]


async def migrate(
    conn: asyncpg.Connection, track: str, *, directory: Traversable | None = None
) -> list[str]:
    """Apply the pending migrations of ``track`` on ``conn``; return the versions applied.

    Raises :class:`MigrationError` when a file fails (that file leaves no trace; files before it
    stay applied) or when an applied file has changed since.
    """
    migrations = load_migrations(track, directory)
    applied: list[str] = []
    for migration in migrations:
        if await _apply(conn, track, migration):
            applied.append(migration.version)
    return applied


async def migrate_dsn(dsn: str, track: str) -> list[str]:
    """:func:`migrate` on a connection of its own to ``dsn``."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, track)
    finally:
        await conn.close()


async def migrate_database(dsn: str, *, control: bool, shard: bool) -> list[str]:
    """Migrate the tracks asked for on ``dsn`` (control first), then create the shard track's
    time partitions ahead. Returns what was applied as ``track/version``."""
    conn = await asyncpg.connect(dsn)
    try:
        applied: list[str] = []
        for track, wanted in zip(TRACKS, (control, shard), strict=True):
            if wanted:
                applied += [f"{track}/{v}" for v in await migrate(conn, track)]
        if shard:
            await ensure_partitions(conn)
        return applied
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection, track: str, migration: Migration) -> bool:
    """Apply one migration unless it already is; False when it was (checksum verified)."""
    try:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, $2)", _LOCK_CLASS, _track_key(track)
            )
            if await conn.fetchval("SELECT to_regclass('gb_schema_migrations')") is None:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", _LOCK_CLASS, _BOOTSTRAP_LOCK
                )
                await conn.execute(_BOOKKEEPING)
            checksum = await conn.fetchval(
                "SELECT checksum FROM gb_schema_migrations WHERE track = $1 AND version = $2",
                track,
                migration.version,
            )
            if checksum is not None:
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"{track}/{migration.version}.sql changed after it was applied "
                        f"(checksum {checksum[:12]}... in the database, "
                        f"{migration.checksum[:12]}... on disk): add a new migration instead"
                    )
                return False
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO gb_schema_migrations (track, version, checksum) VALUES ($1, $2, $3)",
                track,
                migration.version,
                migration.checksum,
            )
    except asyncpg.PostgresError as exc:
        where = _line_of(migration.sql, getattr(exc, "position", None))
        raise MigrationError(
            f"{track}/{migration.version}.sql failed{where}: {type(exc).__name__}: {exc}"
        ) from exc
    return True


def _line_of(sql: str, position: str | None) -> str:
    """' at line N' for the 1-based character ``position`` PostgreSQL reports (syntax errors)."""
    if not position:
        return ""
    return f" at line {sql.count(chr(10), 0, int(position) - 1) + 1}"


def _track_key(track: str) -> int:
    return TRACKS.index(track) + 1


def _check_track(track: str) -> None:
    if track not in TRACKS:
        raise ValueError(f"unknown migration track {track!r}; expected one of {TRACKS}")
