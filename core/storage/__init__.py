"""Storage: the control and shard PostgreSQL databases, their migrations and time partitions.

See ``docs/decisions/0006-tenancy-storage.md`` and ``docs/data-model.md``.
"""

from gb.core.storage.database import Database, Shard, ShardUnavailable, UnknownCustomer
from gb.core.storage.migrate import (
    TRACKS,
    MigrationError,
    migrate,
    migrate_database,
    migrate_dsn,
)
from gb.core.storage.partitions import detach_partitions_before, ensure_partitions

__all__ = [
    "TRACKS",
    "Database",
    "MigrationError",
    "Shard",
    "ShardUnavailable",
    "UnknownCustomer",
    "detach_partitions_before",
    "ensure_partitions",
    "migrate",
    "migrate_database",
    "migrate_dsn",
]
