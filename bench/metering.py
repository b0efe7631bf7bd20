"""Usage metering overhead on the hot path: ns per ``UsageRecorder.record()`` call.

Calls ``record(customer, instance, "message")`` N times (default 1,000,000) over K distinct
(customer, instance) keys (default 10,000, cycled, built beforehand), and the same work as a
bare dict increment inline (the tuple key and ``d[key] += 1``) as the reference; an empty loop
over the same keys is measured too and subtracted in the ``net`` column. Each figure is the best
of R rounds; the recorder's dict is swapped out (as ``flush`` does) before every round, so every
round pays each key's first insertion once, as a flush interval does. Ids are measured as text
(what the node's token identity holds; ``str`` caches its hash) and as ``UUID`` objects (whose
hash is computed in Python on every call). No I/O: ``flush`` runs in the background and is not
part of the per-message cost. Target: <= 1 us per message.

Run: ``.venv/bin/python bench/metering.py [--calls N] [--keys K] [--rounds R]``
Appends a row to ``results/metering.csv``.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from gb.core.storage.database import Database
from gb.core.tenancy.metering import UsageRecorder

Pairs = list[tuple[Any, Any]]


def empty_loop(pairs: Pairs) -> None:
    for _customer, _instance in pairs:
        pass


def bare_dict(pairs: Pairs) -> None:
    counts: dict[tuple[Any, Any, str], int] = {}
    for customer, instance in pairs:
        key = (customer, instance, "message")
        try:
            counts[key] += 1
        except KeyError:
            counts[key] = 1


def recorder_loop(recorder: UsageRecorder) -> Callable[[Pairs], None]:
    def run(pairs: Pairs) -> None:
        recorder._pending = {}  # what flush's swap does: every round starts from empty
        record = recorder.record
        for customer, instance in pairs:
            record(customer, instance, "message")

    return run


def best_ns_per_call(fn: Callable[[Pairs], None], pairs: Pairs, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn(pairs)
        best = min(best, time.perf_counter_ns() - start)
    return best / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    customers = [uuid.uuid4() for _ in range(max(1, args.keys // 10))]
    keys = [(customers[n % len(customers)], uuid.uuid4()) for n in range(args.keys)]
    header = common.run_header()
    rows: list[dict[str, Any]] = []
    # Ids as the node's token identity holds them (text), and as UUID objects.
    for ids, id_of in (("str", str), ("UUID", lambda value: value)):
        as_ids = [(id_of(customer), id_of(instance)) for customer, instance in keys]
        pairs = [as_ids[n % len(as_ids)] for n in range(args.calls)]
        # record() never touches the database; flush (not measured) would.
        recorder = UsageRecorder(cast(Database, None), max_keys=args.keys + 1)
        loop_ns = best_ns_per_call(empty_loop, pairs, args.rounds)
        dict_ns = best_ns_per_call(bare_dict, pairs, args.rounds)
        record_ns = best_ns_per_call(recorder_loop(recorder), pairs, args.rounds)
        assert sum(recorder._pending.values()) == args.calls
        for name, ns in (("bare dict", dict_ns), ("record()", record_ns)):
            rows.append(
                {
                    **header,
                    "what": name,
                    "ids": ids,
                    "calls": args.calls,
                    "keys": args.keys,
                    "ns_per_call": round(ns, 1),
                    "net_ns_per_call": round(ns - loop_ns, 1),
                    "empty_loop_ns": round(loop_ns, 1),
                    "ratio_to_dict": round(ns / dict_ns, 2),
                }
            )
    common.print_table(
        f"usage metering: {args.calls:,} calls over {args.keys:,} keys (best of {args.rounds})",
        ("what", "ids", "ns/call", "net ns/call", "x dict"),
        [
            (r["what"], r["ids"], r["ns_per_call"], r["net_ns_per_call"], r["ratio_to_dict"])
            for r in rows
        ],
    )
    path = common.append_csv("metering", rows)
    print(f"\ntarget <= 1000 ns per message; rows: {path}")


if __name__ == "__main__":
    main()
