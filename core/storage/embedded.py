"""The embedded PostgreSQL of a node without ``GB_DATABASE_URL`` (the ``pgserver`` wheel).

The server lives in ``<data_dir>/pg`` and listens only on a Unix socket (no TCP port to clash
with). pgserver shares one server between the processes that open the same directory and stops
it when the last of them exits. Run as root, pgserver runs PostgreSQL as the system user
``pgserver`` (created if missing) and makes the parents of the directory traversable.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

_servers: dict[Path, PostgresServer] = {}


def _pgdata(data_dir: Path) -> Path:
    return (data_dir / "pg").expanduser().resolve()


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the PostgreSQL in ``data_dir/pg`` and return a DSN asyncpg accepts.

    Blocks while the server initialises (a few seconds the first time); run it in a thread
    from async code.
    """
    # Imported here: only embedded mode needs it, and pgserver warns at import time when
    # XDG_RUNTIME_DIR is unset (it then keeps its lock file under /tmp, which is fine).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from pgserver.postgres_server import get_server  # noqa: PLC0415

    pgdata = _pgdata(data_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata)
    _servers[pgdata] = server
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql://postgres@/postgres?host={quote(str(socket_dir))}"


def stop_embedded(data_dir: Path) -> bool:
    """Let go of the server started here for ``data_dir``; it stops when no process uses it.

    Returns False when this process did not start one. (Without this call pgserver lets go
    at interpreter exit.)
    """
    server = _servers.pop(_pgdata(data_dir), None)
    if server is None:
        return False
    server.cleanup()
    return True
