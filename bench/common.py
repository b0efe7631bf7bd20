"""Shared parts of the benchmarks: servers under test, machine facts, CSV rows, tables.

Every server (gb or a peer) is a child process started here in its own process group and
stopped here; :func:`kill_all` runs at exit so a failed benchmark leaves no stray process.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import datetime as dt
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jwt
import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PEERS = BENCH / "peers"
PYTHON = sys.executable
GB_BIN = ROOT / ".venv" / "bin" / "gb"
JWT_SECRET = "bench-secret-not-for-production-0123456789"

SERVERS = ("gb", "picows", "websockets", "node-ws")

#: Settings of ``gb serve`` during benchmarks. The per-connection rate limit (2,000 frames/s by
#: default) is lifted because the echo benchmark sends tens of thousands of frames per second
#: on one connection; logging is kept to warnings so it does not weigh on connect rates.
GB_ENV = {
    "GB_JWT_SECRET": JWT_SECRET,
    "GB_RATE_LIMIT": "1000000",
    "GB_RATE_BURST": "10000000",
    "GB_LOG_LEVEL": "warning",
}


def free_port() -> int:
    """A random free TCP port on 127.0.0.1 (random, so runs do not reuse each other's)."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found in 200 tries")


def git_commit() -> str:
    """The short commit of the tree being measured (``+dirty`` if it has local changes)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine() -> str:
    """``<cores> cores / <mem> GiB``."""
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores / {mem:.0f} GiB"


def versions() -> dict[str, str]:
    """Versions of the stacks compared (Python packages, Node and its ``ws``)."""
    import picows.version
    import uvloop
    import websockets

    out = {
        "python": sys.version.split()[0],
        "picows": picows.version.__version__ if hasattr(picows.version, "__version__") else "?",
        "uvloop": uvloop.__version__,
        "websockets": websockets.__version__,
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    with contextlib.suppress(OSError, ValueError):
        pkg = json.loads((PEERS / "node_modules" / "ws" / "package.json").read_text())
        out["ws"] = pkg["version"]
    return out


def run_header() -> dict[str, str]:
    """Columns every CSV row starts with."""
    now = dt.datetime.now(dt.UTC)
    return {
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "machine": machine(),
        "cpu": cpu_model(),
        "versions": "; ".join(f"{k} {v}" for k, v in versions().items()),
    }


def append_csv(name: str, rows: Sequence[dict[str, Any]]) -> Path:
    """Append ``rows`` to ``results/<name>.csv`` (header written when the file is new)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.csv"
    if not rows:
        return path
    fields = list(rows[0])
    if path.exists() and path.stat().st_size:
        with path.open(newline="") as f:
            existing = next(csv.reader(f), [])
        if existing:
            fields = existing + [k for k in fields if k not in existing]
            if fields != existing:  # a new column: rewrite the file with the wider header
                with path.open(newline="") as f:
                    old = list(csv.DictReader(f))
                with path.open("w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=fields)
                    w.writeheader()
                    w.writerows(old)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerows(rows)
    return path


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print an aligned text table."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    print(f"\n## {title}")
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a: float, b: float) -> float:
    """``a / b``, NaN when either side is missing or ``b`` is zero."""
    if not b or math.isnan(a) or math.isnan(b):
        return float("nan")
    return a / b


def mint_token(user: str = "bench", roles: Sequence[str] = ("user",)) -> str:
    """An HS256 token for gb (claims ``sub``, ``cus``, ``ins``, ``roles``, ``aud``, ``exp``)."""
    claims = {
        "sub": user,
        "cus": "bench",
        "ins": "bench",
        "roles": list(roles),
        "aud": "gb",
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


# ---------------------------------------------------------------- servers under test

_CHILDREN: list[subprocess.Popen[bytes]] = []


def kill_all() -> None:
    """Kill every server this process started that is still running (and its group)."""
    for proc in list(_CHILDREN):
        _stop(proc, grace=2.0)
    _CHILDREN.clear()


atexit.register(kill_all)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the context managers, then atexit


# SIGTERM (e.g. from `timeout`) would otherwise end the process without atexit, leaving
# the servers running. Only in the main process: client processes set up their own.
if multiprocessing.parent_process() is None:
    signal.signal(signal.SIGTERM, _terminate)


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    # The group may still hold workers whose parent has exited: SIGKILL whatever is left.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    if proc in _CHILDREN:
        _CHILDREN.remove(proc)


class Server:
    """A server under test running as a child process group.

    ``kind`` is one of :data:`SERVERS`; ``mode`` is ``broadcast`` or ``echo`` (picows only).
    """

    def __init__(self, kind: str, *, mode: str = "broadcast", workers: int = 1) -> None:
        self.kind = kind
        self.mode = mode
        self.workers = workers
        self.port = free_port()
        self.http_port = free_port() if kind == "gb" else 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.data_dir = tempfile.mkdtemp(prefix=f"gb-bench-{kind}-")
        self.log = Path(self.data_dir) / "server.log"

    @property
    def url(self) -> str:
        """The WebSocket URL clients connect to."""
        return (
            f"ws://127.0.0.1:{self.port}/ws"
            if self.kind == "gb"
            else f"ws://127.0.0.1:{self.port}/"
        )

    def command(self) -> list[str]:
        """The command line that starts this server."""
        if self.kind == "gb":
            return [
                *gb_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--ws-port",
                str(self.port),
                "--http-port",
                str(self.http_port),
                "--workers",
                str(self.workers),
            ]
        if self.kind == "picows":
            return [
                PYTHON,
                str(PEERS / "picows_server.py"),
                "--port",
                str(self.port),
                "--mode",
                self.mode,
            ]
        if self.kind == "websockets":
            return [PYTHON, str(PEERS / "websockets_server.py"), "--port", str(self.port)]
        if self.kind == "node-ws":
            return ["node", str(PEERS / "ws_server.js"), "--port", str(self.port)]
        raise ValueError(f"unknown server kind {self.kind!r}")

    def start(self, timeout: float = 30.0) -> Server:
        """Start the server and wait until it accepts TCP connections (and /healthz for gb)."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, **GB_ENV, GB_DATA_DIR=self.data_dir)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
        _CHILDREN.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: {self.tail()}")
            if _accepts(self.port) and (self.kind != "gb" or self._healthy()):
                # gb workers bind one by one; give them a moment to all be listening.
                time.sleep(0.5 if self.workers > 1 else 0.1)
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} did not start within {timeout} s: {self.tail()}")

    def _healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.http_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def tail(self, lines: int = 15) -> str:
        """The last lines of the server's log (for error messages)."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def processes(self) -> list[psutil.Process]:
        """The processes doing the serving: the workers if it has any, else itself.

        Helpers such as multiprocessing's resource tracker are not workers and not counted.
        """
        assert self.proc is not None
        main = psutil.Process(self.proc.pid)
        workers = []
        for child in main.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if not any("resource_tracker" in part for part in child.cmdline()):
                    workers.append(child)
        return workers or [main]

    def all_processes(self) -> list[psutil.Process]:
        """The server process and all its descendants."""
        assert self.proc is not None
        main = psutil.Process(self.proc.pid)
        return [main, *main.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the server and its workers."""
        total = 0.0
        for p in self.all_processes():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss(self) -> int:
        """Summed resident memory of the serving processes (bytes)."""
        total = 0
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL what is left; remove its data dir and log.

        Set ``BENCH_KEEP_LOGS=1`` to keep them for a post-mortem."""
        if self.proc is not None:
            _stop(self.proc, grace=10.0)
            if os.environ.get("BENCH_KEEP_LOGS"):
                print(f"{self.kind} log kept in {self.log}", file=sys.stderr)
            else:
                shutil.rmtree(self.data_dir, ignore_errors=True)
            self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gb_command() -> list[str]:
    """``.venv/bin/gb``, or the same entry point through the interpreter if not installed."""
    if GB_BIN.exists():
        return [str(GB_BIN)]
    return [PYTHON, "-c", "import sys; from gb.core.cli import main; sys.exit(main(sys.argv[1:]))"]


def _gb_available() -> bool:
    if GB_BIN.exists():
        return True
    try:
        import gb.core.cli  # noqa: F401
    except ImportError:
        return False
    return True


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


def available_servers(wanted: Sequence[str]) -> list[str]:
    """The subset of ``wanted`` that can run here (gb needs its CLI; node-ws needs node + ws)."""
    out = []
    for kind in wanted:
        if kind == "gb" and not _gb_available():
            print("gb: neither .venv/bin/gb nor gb.core.cli is there; skipped", file=sys.stderr)
            continue
        if kind == "node-ws" and not (PEERS / "node_modules" / "ws").exists():
            print("node-ws: run `npm install --prefix bench/peers` first; skipped", file=sys.stderr)
            continue
        out.append(kind)
    return out
