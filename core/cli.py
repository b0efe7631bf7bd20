"""The ``gb`` command: ``gb serve``, ``gb persister``, ``gb basic``, ``gb token``, ``gb version``,
and the storage and billing verbs."""

from __future__ import annotations

import argparse
import datetime
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import uvloop

import gb

from .auth import mint_token
from .config import ConfigError, Settings, load_settings
from .dev_tenant import ensure_dev_tenant
from .messaging.persister import run_persister
from .node import Node
from .storage.admin import cli_migrate, cli_shard_add, cli_shard_list
from .storage.database import open_database
from .storage.embedded import start_embedded
from .storage.move import MoveError, cli_tenant_move
from .tenancy.billing import InvoiceLocked, invoice
from .tenancy.metering import rollup

log = logging.getLogger("gb")

DEV_SECRET_FILE = "dev-jwt-secret"


def dev_settings(settings: Settings) -> Settings:
    """With no JWT key configured, use (and keep) a development secret in the data directory.

    This is the embedded default: ``make run`` works with nothing configured. The secret is
    created once (mode 0600) so tokens minted with ``gb token`` keep working across restarts.
    """
    if settings.jwt_secret is not None or settings.jwt_public_key is not None:
        return settings
    path = Path(settings.data_dir) / DEV_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return settings.model_copy(update={"jwt_secret": path.read_text().strip()})


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )


def run_worker(settings: Settings, reuse_port: bool) -> None:
    """Run one node process until it is drained."""
    _setup_logging(settings.log_level)

    async def main() -> None:
        db, _ = await open_database(settings)
        # The embedded log belongs to one process: workers sharing a data directory need Kafka.
        messaging = settings.kafka_bootstrap is not None or settings.workers == 1
        if not messaging:
            log.warning("messaging is off: GB_WORKERS > 1 needs GB_KAFKA_BOOTSTRAP (a shared log)")
        elif settings.workers > 1 and settings.broker == "memory":
            # Each worker would keep its own recent cache and keys: recovery could not vouch.
            log.warning("messaging needs GB_BROKER=redis when GB_WORKERS > 1 (shared state)")
        try:
            await Node(settings, reuse_port=reuse_port, database=db, messaging=messaging).run()
        finally:
            await db.close()

    uvloop.run(main())


def _worker_entry(data: dict[str, Any]) -> None:
    run_worker(Settings.model_validate(data), reuse_port=True)


def serve(settings: Settings) -> int:
    """``gb serve``: one process, or ``workers`` processes sharing the ports."""
    dev = settings.jwt_secret is None and settings.jwt_public_key is None
    settings = dev_settings(settings)
    if settings.database_url is None:
        # Started here, so every worker joins the same embedded server (pgserver shares it).
        settings = settings.model_copy(update={"database_url": start_embedded(settings.data_dir)})
    dev_tenant = uvloop.run(_bootstrap(settings, dev))
    if settings.workers == 1:
        print(_banner(settings, dev_tenant), flush=True)
        run_worker(settings, reuse_port=False)
        return 0
    # Every worker must bind the same ports, so choose them before starting any.
    fixed = settings.model_copy(
        update={
            "ws_port": settings.ws_port or _free_port(settings.host),
            "http_port": settings.http_port or _free_port(settings.host),
        }
    )
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i in range(settings.workers):
        worker = fixed.model_copy(update={"node_id": f"{settings.node_id}-w{i}"})
        proc = ctx.Process(target=_worker_entry, args=(worker.model_dump(),), name=f"gb-w{i}")
        proc.start()
        procs.append(proc)
    print(_banner(fixed, dev_tenant), flush=True)

    def forward(signum: int, frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    return max((proc.exitcode or 0) for proc in procs)


async def _bootstrap(settings: Settings, dev: bool) -> tuple[str, str] | None:
    """Migrate the control database; in development mode make sure the ``dev`` customer and
    its ``default`` instance exist, and return their ids for the banner's token."""
    db, _ = await open_database(settings)
    try:
        return await ensure_dev_tenant(db) if dev else None
    finally:
        await db.close()


def _banner(s: Settings, dev_tenant: tuple[str, str] | None) -> str:
    lines = [
        f"gb {gb.__version__}: {s.workers} worker(s)",
        f"  WebSocket  ws://{s.host}:{s.ws_port}/ws",
        f"  HTTP       http://{s.host}:{s.http_port}  (/healthz /readyz /metrics /docs)",
    ]
    if dev_tenant is not None:
        customer, instance = dev_tenant
        roles = ["platform_admin", "customer_admin"]
        token = mint_token(s, user="dev", customer=customer, instance=instance, roles=roles)
        lines.append(f"  dev token  {token}")
    return "\n".join(lines)


async def _invoice_month(settings: Settings, customer: str, month: str) -> UUID:
    """Roll every day of ``month`` up (idempotent), then price it into a draft invoice."""
    first = datetime.date.fromisoformat(f"{month}-01")
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    customer_id = UUID(customer)
    db, _ = await open_database(settings)
    try:
        day = first
        while day < following:
            await rollup(db, day)
            day += datetime.timedelta(days=1)
        return await invoice(db, customer_id, first)
    finally:
        await db.close()


async def _storage_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        for name, versions in (await cli_migrate(settings)).items():
            print(f"{name}: {', '.join(versions) if versions else 'up to date'}")
    elif args.command == "shard" and args.shard_command == "add":
        try:
            shard = await cli_shard_add(settings, args.name, args.dsn, args.replica)
        except ValueError as exc:
            print(f"gb: {exc}", file=sys.stderr)
            return 2
        print(f"shard {shard.id} {shard.name} added")
    elif args.command == "shard":
        for shard in await cli_shard_list(settings):
            replicas = f" replicas={','.join(shard.replica_dsns)}" if shard.replica_dsns else ""
            print(f"{shard.id}\t{shard.name}\t{shard.status}{replicas}")
    elif args.command == "billing":
        try:
            invoice_id = await _invoice_month(settings, args.customer, args.month)
        except (ValueError, LookupError, InvoiceLocked) as exc:
            print(f"gb: {exc}", file=sys.stderr)
            return 2
        print(f"invoice {invoice_id}")
    else:
        try:
            report = await cli_tenant_move(settings, args.customer, args.to_shard)
        except MoveError as exc:
            print(f"gb: {exc}", file=sys.stderr)
            return 2
        print(report)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gb", description="General Bots server (gb).")
    parser.add_argument("--config", help="TOML settings file (also GB_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve", help="run a node (WebSocket edge + control plane)")
    srv.add_argument("--host")
    srv.add_argument("--ws-port")
    srv.add_argument("--http-port")
    srv.add_argument("--workers", help="processes sharing the ports (SO_REUSEPORT)")
    srv.add_argument("--broker", help="memory or redis")
    tok = sub.add_parser("token", help="mint a client token (development and tests)")
    tok.add_argument("--user", required=True)
    tok.add_argument("--customer", default="dev")
    tok.add_argument("--instance", default="default")
    tok.add_argument("--roles", default="", help="comma-separated roles")
    tok.add_argument("--ttl", type=float, default=3600.0, help="seconds")
    tok.add_argument("--shard", type=int)
    sub.add_parser("version", help="print the version")
    sub.add_parser("persister", help="persist the Kafka message log to PostgreSQL (scale-out)")
    # Listed for the help text; ``main`` hands ``gb basic ...`` to the compiler's own parser.
    sub.add_parser("basic", help="BASIC dialogs: compile, run, dump (gb basic --help)")
    sub.add_parser("migrate", help="apply pending migrations to the control database and shards")
    shard = sub.add_parser("shard", help="shard management").add_subparsers(
        dest="shard_command", required=True
    )
    add = shard.add_parser("add", help="register (and migrate) a shard database")
    add.add_argument("name")
    add.add_argument("dsn")
    add.add_argument("--replica", action="append", default=[], help="a read replica's DSN")
    shard.add_parser("list", help="the registered shards")
    tenant = sub.add_parser("tenant", help="tenant management").add_subparsers(
        dest="tenant_command", required=True
    )
    move = tenant.add_parser("move", help="move a customer's rows to another shard, online")
    move.add_argument("customer", help="the customer id")
    move.add_argument("--to", type=int, required=True, dest="to_shard", help="target shard id")
    billing = sub.add_parser("billing", help="usage roll-up and invoices").add_subparsers(
        dest="billing_command", required=True
    )
    bill = billing.add_parser("invoice", help="roll a month's usage up and price it (a draft)")
    bill.add_argument("customer", help="the customer id")
    bill.add_argument("--month", required=True, help="YYYY-MM")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gb`` console command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["basic"]:  # the compiler imports nothing of the server, nor its settings
        from gb.compiler.cli import main as basic_main  # noqa: PLC0415 -- wasmtime only here

        return basic_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(gb.__version__)
        return 0
    env = {k: v for k, v in os.environ.items() if k.startswith("GB_")}
    for flag in ("host", "ws_port", "http_port", "workers", "broker"):
        value = getattr(args, flag, None)
        if value is not None:
            env[Settings.env_name(flag)] = value
    try:
        settings = load_settings(env, file=args.config)
    except ConfigError as exc:
        print(f"gb: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command in ("migrate", "shard", "tenant", "billing"):
        return uvloop.run(_storage_command(args, settings))
    if args.command == "persister":
        _setup_logging(settings.log_level)
        try:
            uvloop.run(run_persister(settings))
        except ValueError as exc:
            print(f"gb: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "token":
        settings = dev_settings(settings)
        roles = [r for r in args.roles.split(",") if r]
        try:
            token = mint_token(
                settings,
                user=args.user,
                customer=args.customer,
                instance=args.instance,
                roles=roles,
                ttl=args.ttl,
                shard=args.shard,
            )
        except ConfigError as exc:  # RS256-only deployments mint tokens elsewhere
            print(f"gb: cannot mint a token here: {exc}", file=sys.stderr)
            return 2
        print(token)
        return 0
    return serve(settings)
