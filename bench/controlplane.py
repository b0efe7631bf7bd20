"""Control-plane reads: requests/s of gb's FastAPI app against a bare FastAPI handler.

Two servers, each one process run by uvicorn (loop uvloop, http httptools, access log off)
as a child of this script, both on the same PostgreSQL database of the benchmark's own
(``gbt_bench_<pid>_<hex>``, migrated, dropped at the end), each with a pool of 10 connections:

- **gb**: the node's control plane as ``core/node.py`` builds it — ``create_app(node, metrics)``
  with ``app.state.db`` (``Database``), ``app.state.quotas``, ``app.state.authenticator`` and
  ``include_all(app)``: bearer JWT verified (cached), role checks, ``TenancyService``, shard
  routing, the write fence of ``Database.tenant``, pydantic response models.
- **bare**: a FastAPI app whose handlers run the same SQL the same way — an asyncpg pool, one
  transaction that first does ``set_config('role', 'gb_app', true)`` and
  ``set_config('gb.customer_id', ...)`` (= ``SET LOCAL``; row-level security applies), then the
  same ``SELECT ... FROM instances`` — and return the row(s) as JSON; no auth.

Requests: ``GET /v1/customers/{cid}/instances/{iid}`` (get) and
``GET /v1/customers/{cid}/instances?limit=50`` (list; 60 instances per customer, so a full
page and a next cursor), over 8 customers with a customer-admin token each (sent to both
servers). Load: one client process of this script, a raw asyncio HTTP/1.1 keep-alive client,
C connections (32) each sending its next request when the answer is in, for T seconds after a
warm-up; it counts 200 answers. gb and bare alternate over R rounds and the median round is
kept. Figures: requests/s, p50/p99 latency, server CPU per request and requests per server
CPU-second (psutil: the one core the server can use), the database backends' CPU per request
(the servers' connections, told apart by ``application_name``), and gb / bare.

Run: ``.venv/bin/python bench/controlplane.py [--quick] [--connections C] [--seconds T]``
Appends rows to ``results/controlplane.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
import common
import orjson
import psutil
import tenancy
import uvicorn
import uvloop
from fastapi import FastAPI, HTTPException

from gb.core.api import create_app
from gb.core.api.routers import include_all
from gb.core.auth import Authenticator, mint_token
from gb.core.metrics import Metrics
from gb.core.storage.database import Database
from gb.core.tenancy.counters import MemoryCounters
from gb.core.tenancy.quotas import Quotas

SERVER_KINDS = ("gb", "bare")
ENDPOINTS = ("get", "list")
CUSTOMERS = 8
INSTANCES_PER_CUSTOMER = 60
LIST_LIMIT = 50
POOL_SIZE = 10  # the node's default GB_DB_POOL_SIZE

# What gb's TenancyService runs (INSTANCE_SELECT, fetch_instance, Select.page by created_at).
INSTANCE_SELECT = (
    "SELECT id, customer_id, name, title, description, status, region_id, shard_id, config,"
    " params, created_at, updated_at FROM instances"
)
AS_TENANT = "SELECT set_config('role', 'gb_app', true), set_config('gb.customer_id', $1, true)"


# ------------------------------------------------------------------ the servers (children)


@dataclass
class StaticNode:
    """What the control plane reports about its node (health and /v1/node routes only)."""

    node_id: str = "bench"
    version: str = "bench"
    draining: bool = False
    started_at: float = field(default_factory=time.time)
    connection_count: int = 0
    channel_count: int = 0

    async def readiness(self) -> dict[str, bool]:
        return {}


async def gb_app(dsn: str) -> tuple[FastAPI, Callable[[], Awaitable[None]]]:
    """The node's control-plane app over a Database (as ``Node._start_http`` builds it)."""
    settings = tenancy.bench_settings()
    db = await Database.open(dsn, pool_size=POOL_SIZE)
    app = create_app(StaticNode(), Metrics(process=False))
    app.state.db = db
    app.state.quotas = Quotas(db, MemoryCounters())
    app.state.authenticator = Authenticator(settings)
    include_all(app)
    return app, db.close


def _decoded(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for column in ("config", "params"):
        if isinstance(row[column], str):
            row[column] = orjson.loads(row[column])
    return row


async def bare_app(dsn: str) -> tuple[FastAPI, Callable[[], Awaitable[None]]]:
    """A FastAPI app doing the same queries over a bare asyncpg pool, without auth."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE)
    app = FastAPI()

    @app.get("/v1/customers/{customer_id}/instances/{instance_id}")
    async def get_instance(customer_id: UUID, instance_id: UUID) -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval(AS_TENANT, str(customer_id))
            record = await conn.fetchrow(f"{INSTANCE_SELECT} WHERE id = $1", instance_id)
        if record is None:
            raise HTTPException(404, "instance not found")
        return _decoded(record)

    @app.get("/v1/customers/{customer_id}/instances")
    async def list_instances(customer_id: UUID, limit: int = 50) -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval(AS_TENANT, str(customer_id))
            records = await conn.fetch(
                f"{INSTANCE_SELECT} ORDER BY created_at ASC, id ASC LIMIT {limit + 1}"
            )
        items = [_decoded(r) for r in records[:limit]]
        cursor = None
        if len(records) > limit:
            last = items[-1]
            key = ["created_at", [last["created_at"].isoformat(), str(last["id"])]]
            cursor = base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")
        return {"items": items, "next_cursor": cursor}

    return app, pool.close


async def serve(kind: str, dsn: str, port: int) -> None:
    """Serve the ``kind`` app on 127.0.0.1:``port`` until SIGTERM."""
    app, close = await (gb_app(dsn) if kind == "gb" else bare_app(dsn))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        workers=1,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await close()


# ------------------------------------------------------------------ the load (child)


async def load(
    port: int, requests: list[bytes], connections: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """Keep-alive clients: send, read the whole answer, send the next; count the 200s.

    Prints ``start`` when the measured window opens (the parent samples CPU then) and returns
    the figures of the window; answers to requests in flight when it closes are not counted.
    """
    state = {"measuring": False, "stop": False}
    latencies: list[int] = []
    counts = {"ok": 0, "other": 0}
    body_bytes: list[int] = []
    clock = time.perf_counter_ns

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = index
        try:
            while not state["stop"]:
                request = requests[n % len(requests)]
                n += 1
                started = clock()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                lower = head.lower()
                at = lower.index(b"content-length:") + 15
                length = int(lower[at : lower.index(b"\r\n", at)])
                await reader.readexactly(length)
                if state["measuring"]:
                    latencies.append(clock() - started)
                    if status == 200:
                        counts["ok"] += 1
                    else:
                        counts["other"] += 1
                    if len(body_bytes) < 1:
                        body_bytes.append(length)
        finally:
            writer.close()

    tasks = [asyncio.create_task(connection(i)) for i in range(connections)]
    await asyncio.sleep(warmup)
    failed = [t for t in tasks if t.done() and t.exception() is not None]
    if failed:
        state["stop"] = True
        raise RuntimeError(f"{len(failed)} connections failed: {failed[0].exception()!r}")
    cpu = psutil.Process().cpu_times()
    state["measuring"] = True
    print("start", flush=True)
    opened = time.monotonic()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    elapsed = time.monotonic() - opened
    state["stop"] = True
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    after = psutil.Process().cpu_times()
    return {
        "ok": counts["ok"],
        "other": counts["other"],
        "errors": sum(1 for r in results if isinstance(r, BaseException)),
        "elapsed": elapsed,
        "p50_ms": common.percentile(latencies, 0.5) / 1e6,
        "p99_ms": common.percentile(latencies, 0.99) / 1e6,
        "body_bytes": body_bytes[0] if body_bytes else 0,
        "client_cpu_s": after.user + after.system - cpu.user - cpu.system,
    }


def client_main(args: argparse.Namespace) -> None:
    requests = [r.encode() for r in json.loads(Path(args.requests).read_text())]
    budget = args.warmup + args.seconds + 60  # bounded whatever the server does

    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(
            load(args.port, requests, args.connections, args.warmup, args.seconds), budget
        )

    print(json.dumps(uvloop.run(bounded())), flush=True)


# ------------------------------------------------------------------ the parent


def _request(port: int, path: str, token: str) -> str:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    )


class Child:
    """A child process of this script in its own process group, stopped with the run."""

    def __init__(self, args: list[str], log: Path, *, stdout_pipe: bool = False) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                [common.PYTHON, __file__, *args],
                stdout=subprocess.PIPE if stdout_pipe else out,
                stderr=out,
                cwd=common.ROOT,
                start_new_session=True,
            )
        common._CHILDREN.append(self.proc)  # killed by common.kill_all on any exit

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        return line.decode().strip()

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        common._stop(self.proc, grace=5.0)


async def _start_server(
    kind: str, dsn: str, workdir: Path, timeout: float = 30.0
) -> tuple[Child, int]:
    port = common.free_port()
    child = Child(["--serve", kind, "--dsn", dsn, "--port", str(port)], workdir / f"{kind}.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited: {child.tail()}")
        if common._accepts(port):
            return child, port
        await asyncio.sleep(0.1)
    child.stop()
    raise RuntimeError(f"{kind} server did not start in {timeout} s: {child.tail()}")


async def _db_cpu(admin: asyncpg.Connection, app_name: str) -> dict[int, float]:
    """CPU seconds so far of each database backend serving ``app_name``."""
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app_name
    )
    out = {}
    for row in rows:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(row["pid"]).cpu_times()
            out[row["pid"]] = t.user + t.system
    return out


def _get(port: int, path: str, token: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


@dataclass
class Run:
    """One measured window of one server and endpoint."""

    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float
    db_cpu_us: float
    client_cpu_s: float
    ok: int
    other: int
    errors: int
    body_bytes: int


async def _measure(
    server: Child,
    port: int,
    kind: str,
    requests_file: Path,
    args: argparse.Namespace,
    admin: asyncpg.Connection,
    workdir: Path,
) -> Run:
    client = Child(
        [
            "--client",
            "--port",
            str(port),
            "--requests",
            str(requests_file),
            "--connections",
            str(args.connections),
            "--warmup",
            str(args.warmup),
            "--seconds",
            str(args.seconds),
        ],
        workdir / "client.log",
        stdout_pipe=True,
    )
    try:
        budget = args.warmup + args.seconds + 60
        line = await client.readline(budget)
        if line != "start":
            raise RuntimeError(f"client against {kind} failed ({line!r}): {client.tail()}")
        app_name = f"gb_bench_{kind}"
        db_before = await _db_cpu(admin, app_name)
        cpu_before = server.cpu_seconds()
        line = await client.readline(budget)
        cpu = server.cpu_seconds() - cpu_before
        db_after = await _db_cpu(admin, app_name)
        if not line.startswith("{"):
            raise RuntimeError(f"client against {kind} failed ({line!r}): {client.tail()}")
        result = json.loads(line)
    finally:
        client.stop()
    db_cpu = sum(v - db_before.get(pid, 0.0) for pid, v in db_after.items())
    ok = result["ok"]
    return Run(
        rate=ok / result["elapsed"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        server_cpu_us=cpu / ok * 1e6 if ok else float("nan"),
        db_cpu_us=db_cpu / ok * 1e6 if ok else float("nan"),
        client_cpu_s=result["client_cpu_s"],
        ok=ok,
        other=result["other"],
        errors=result["errors"],
        body_bytes=result["body_bytes"],
    )


async def run(args: argparse.Namespace, kinds: list[str]) -> list[dict[str, Any]]:
    settings = tenancy.bench_settings()
    workdir = Path(tempfile.mkdtemp(prefix="gb-bench-controlplane-"))
    servers: dict[str, tuple[Child, int]] = {}
    try:
        async with tenancy.bench_database() as name:
            admin_dsn = tenancy.dsn_of(name)
            setup = await Database.open(admin_dsn, pool_size=2)  # registers shard 0
            await setup.close()
            made = await tenancy.create_tenants(
                admin_dsn, CUSTOMERS, instances=INSTANCES_PER_CUSTOMER, plan="enterprise"
            )
            tokens = {
                customer: mint_token(
                    settings,
                    user="admin",
                    customer=str(customer),
                    instance="*",
                    roles=["customer_admin"],
                )
                for customer, _ in made
            }
            for kind in kinds:
                dsn = tenancy.dsn_of(name, application_name=f"gb_bench_{kind}")
                servers[kind] = await _start_server(kind, dsn, workdir)
            paths = {
                "get": [
                    (f"/v1/customers/{c}/instances/{i}", tokens[c])
                    for n in range(INSTANCES_PER_CUSTOMER)
                    for c, instances in made
                    for i in instances[n : n + 1]
                ],
                "list": [
                    (f"/v1/customers/{c}/instances?limit={LIST_LIMIT}", tokens[c]) for c, _ in made
                ],
            }
            # Both answer the same rows before anything is measured.
            for kind, (_, port) in servers.items():
                for endpoint, requests in paths.items():
                    status, body = await asyncio.to_thread(_get, port, *requests[0])
                    got = body["id"] if endpoint == "get" else len(body["items"])
                    want = requests[0][0].rsplit("/", 1)[1] if endpoint == "get" else LIST_LIMIT
                    if status != 200 or got != want:
                        raise RuntimeError(f"{kind} {endpoint}: {status} {str(body)[:200]}")
            files = {}
            for kind, (_, port) in servers.items():
                for endpoint, requests in paths.items():
                    path = workdir / f"{kind}-{endpoint}.json"
                    path.write_text(json.dumps([_request(port, p, t) for p, t in requests]))
                    files[kind, endpoint] = path
            admin = await asyncpg.connect(admin_dsn)
            try:
                runs: dict[tuple[str, str], list[Run]] = {}
                for round_no in range(args.rounds):
                    order = kinds if round_no % 2 == 0 else kinds[::-1]
                    for endpoint in ENDPOINTS:
                        for kind in order:
                            child, port = servers[kind]
                            measured = await _measure(
                                child, port, kind, files[kind, endpoint], args, admin, workdir
                            )
                            runs.setdefault((kind, endpoint), []).append(measured)
                            print(
                                f"round {round_no + 1} {endpoint:4} {kind:4}: "
                                f"{measured.rate:,.0f} req/s",
                                flush=True,
                            )
            finally:
                await admin.close()
    finally:
        for child, _ in servers.values():
            child.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for (kind, endpoint), windows in runs.items():
        median = sorted(windows, key=lambda r: r.rate)[len(windows) // 2]
        rows.append(
            {
                "server": kind,
                "endpoint": endpoint,
                "connections": args.connections,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "req_per_s": round(median.rate, 1),
                "req_per_s_all": " ".join(f"{r.rate:.0f}" for r in windows),
                "p50_ms": round(median.p50_ms, 3),
                "p99_ms": round(median.p99_ms, 3),
                "server_cpu_us_per_req": round(median.server_cpu_us, 1),
                "req_per_server_cpu_s": round(1e6 / median.server_cpu_us, 1),
                "db_cpu_us_per_req": round(median.db_cpu_us, 1),
                "client_cpu_s": round(median.client_cpu_s, 2),
                "responses_200": median.ok,
                "responses_other": median.other,
                "connection_errors": median.errors,
                "body_bytes": median.body_bytes,
            }
        )
    for row in rows:
        bare = next(
            (r for r in rows if r["server"] == "bare" and r["endpoint"] == row["endpoint"]), None
        )
        row["ratio_to_bare"] = round(
            common.ratio(row["req_per_s"], bare["req_per_s"] if bare else float("nan")), 3
        )
        row["cpu_ratio_to_bare"] = round(
            common.ratio(
                row["req_per_server_cpu_s"], bare["req_per_server_cpu_s"] if bare else float("nan")
            ),
            3,
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Measure both servers, print a table, append rows to ``results/controlplane.csv``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (~30 s, CI smoke)")
    parser.add_argument("--connections", type=int, default=32, help="C keep-alive connections")
    parser.add_argument("--seconds", type=float, default=None, help="T per window (6; quick 2)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (1; quick 0.5)")
    parser.add_argument("--rounds", type=int, default=None, help="R rounds (3; quick 1)")
    parser.add_argument("--servers", default=None, help="subset of gb,bare (default both)")
    # The children: a server, or the load client.
    parser.add_argument("--serve", choices=SERVER_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, full, small in (("seconds", 6.0, 2.0), ("warmup", 1.0, 0.5), ("rounds", 3, 1)):
        if getattr(args, key) is None:
            setattr(args, key, small if args.quick else full)
    if args.serve:
        uvloop.run(serve(args.serve, args.dsn, args.port))
        return []
    if args.client:
        client_main(args)
        return []
    wanted = [k for k in (args.servers or "").split(",") if k in SERVER_KINDS]
    kinds = wanted or list(SERVER_KINDS)
    header = common.run_header()
    measured = uvloop.run(run(args, kinds))
    rows = [{**header, "mode": "quick" if args.quick else "full", **r} for r in measured]
    common.print_table(
        f"control-plane reads: {args.connections} keep-alive connections, {args.seconds:g} s "
        f"windows, median of {args.rounds}",
        (
            "endpoint",
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "srv CPU µs/req",
            "req/CPU-s",
            "DB CPU µs/req",
            "x bare",
            "x bare/CPU",
        ),
        [
            (
                r["endpoint"],
                r["server"],
                r["req_per_s"],
                r["p50_ms"],
                r["p99_ms"],
                r["server_cpu_us_per_req"],
                r["req_per_server_cpu_s"],
                r["db_cpu_us_per_req"],
                r["ratio_to_bare"],
                r["cpu_ratio_to_bare"],
            )
            for r in sorted(rows, key=lambda r: (r["endpoint"], r["server"]))
        ],
    )
    path = common.append_csv("controlplane", rows)
    print(f"\nrows: {path}")
    return rows


if __name__ == "__main__":
    main()
