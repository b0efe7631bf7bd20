"""BASIC execution speed: compiled dialogs in wasmtime against the same loops in CPython.

Programs (each run as a whole dialog, compile time excluded; the peer is the same loop as a
Python function, run in the same process right before or after):

- **numeric**: ``total = total + i * i / 3 - i`` for i = 1..N (N = 3,000,000; quick
  1,000,000), a nested loop of N/1000 x 1000 multiplications/additions, and the first loop
  with ``(i * i) MOD 7`` — numbers stay in wasm registers and linear memory (MOD is a host
  call in this version). Target: >= 10x faster than CPython.
- **string**: ``s = s & "x"`` then ``LEN``/``MID`` on it, N/300 times — text
  lives in the host heap, so every operation is a host call (CPython's own strings are C code:
  expect BASIC to be slower here).
- **keyword call**: a loop calling the cheapest standard keyword, ``SET FILTER i`` (it stores
  one option), K times (K = 50,000; quick 20,000) against the same loop without the call;
  the difference per call is the cost of one keyword host call (``step`` suspends, the host
  checks the arguments and performs it, ``resume``), printed beside a direct Python call of
  the same function.

Each figure is the best of R rounds (default 3; quick 2). Run:
``.venv/bin/python bench/basic_exec.py [--quick] [--n N] [--calls K] [--rounds R]``
Appends rows to ``results/basic_exec.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from gb.compiler import Dialog, Limits, Registry, compile_source
from gb.compiler.stdlib import ScriptedContext, stdlib_registry
from gb.compiler.stdlib.conversation import set_filter

NUMERIC = """\
total = 0
FOR i = 1 TO {n}
    total = total + i * i / 3 - i
NEXT
RETURN total
"""

MODULO = """\
total = 0
FOR i = 1 TO {n}
    total = total + (i * i) MOD 7
NEXT
RETURN total
"""

NESTED = """\
acc = 0
FOR i = 1 TO {outer}
    FOR j = 1 TO 1000
        acc = acc + i * j - j
    NEXT
NEXT
RETURN acc
"""

STRING = """\
s = ""
count = 0
FOR i = 1 TO {n}
    s = s & "x"
    count = count + LEN(MID(s, i - 1, 1))
NEXT
RETURN count
"""

CALLS = """\
FOR i = 1 TO {n}
    SET FILTER i
NEXT
RETURN 0
"""

EMPTY = """\
FOR i = 1 TO {n}
NEXT
RETURN 0
"""


def py_numeric(n: int) -> float:
    total = 0.0
    for i in range(1, n + 1):
        total = total + i * i / 3 - i
    return total


def py_modulo(n: int) -> float:
    total = 0.0
    for i in range(1, n + 1):
        total = total + (i * i) % 7
    return total


def py_nested(outer: int) -> float:
    acc = 0.0
    for i in range(1, outer + 1):
        for j in range(1, 1001):
            acc = acc + i * j - j
    return acc


def py_string(n: int) -> float:
    s = ""
    count = 0.0
    for i in range(1, n + 1):
        s = s + "x"
        count = count + len(s[i - 1 : i])
    return count


def best(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """Best wall time in seconds of ``fn`` over ``rounds`` runs, and its last result."""
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def basic(source: str, reg: Registry) -> Callable[[], Any]:
    unit = compile_source(source, "bench.bas", reg)
    limits = Limits(fuel=None, wall_seconds=None)

    def run() -> Any:
        dialog = Dialog.start(unit, reg, limits=limits)
        return asyncio.run(dialog.run(ScriptedContext(), budget=1 << 30))

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke)")
    parser.add_argument("--n", type=int, default=None, help="numeric loop iterations")
    parser.add_argument("--calls", type=int, default=None, help="keyword calls")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    n = args.n or (1_000_000 if args.quick else 3_000_000)
    calls = args.calls or (20_000 if args.quick else 50_000)
    rounds = args.rounds or (2 if args.quick else 3)
    strings = n // 300
    reg = stdlib_registry()
    header = {**common.run_header(), "mode": "quick" if args.quick else "full"}
    rows: list[dict[str, Any]] = []

    cases = [
        ("numeric", n, NUMERIC.format(n=n), lambda: py_numeric(n)),
        ("nested", n, NESTED.format(outer=n // 1000), lambda: py_nested(n // 1000)),
        ("numeric MOD", n, MODULO.format(n=n), lambda: py_modulo(n)),
        ("string", strings, STRING.format(n=strings), lambda: py_string(strings)),
    ]
    for name, size, source, peer in cases:
        basic_s, basic_result = best(basic(source, reg), rounds)
        python_s, python_result = best(peer, rounds)
        assert basic_result == python_result, (name, basic_result, python_result)
        rows.append({**header, "what": name, "iterations": size, "basic_s": round(basic_s, 4),
                     "cpython_s": round(python_s, 4),
                     "speedup_vs_cpython": round(python_s / basic_s, 2)})  # fmt: skip

    call_s, _ = best(basic(CALLS.format(n=calls), reg), rounds)
    empty_s, _ = best(basic(EMPTY.format(n=calls), reg), rounds)
    ctx = ScriptedContext()
    direct_s, _ = best(lambda: [set_filter(ctx, float(i)) for i in range(calls)], rounds)
    per_call_ns = (call_s - empty_s) / calls * 1e9
    rows.append({**header, "what": "keyword call", "iterations": calls,
                 "basic_s": round(call_s, 4), "cpython_s": round(direct_s, 4),
                 "ns_per_call": round(per_call_ns), "loop_without_call_s": round(empty_s, 4),
                 "direct_python_call_ns": round(direct_s / calls * 1e9)})  # fmt: skip

    common.print_table(
        f"BASIC execution vs CPython (best of {rounds})",
        ("what", "iterations", "basic s", "cpython s", "x cpython"),
        [(r["what"], r["iterations"], r["basic_s"], r["cpython_s"],
          r.get("speedup_vs_cpython", "-")) for r in rows[:-1]],
    )  # fmt: skip
    last = rows[-1]
    direct_ns = last["direct_python_call_ns"]
    print(f"\nkeyword host call: {last['ns_per_call']:,} ns per call ({calls:,} calls; "
          f"a direct Python call: {direct_ns} ns)")  # fmt: skip
    columns = list(dict.fromkeys(key for row in rows for key in row))  # every row, every column
    path = common.append_csv("basic_exec", [{k: row.get(k) for k in columns} for row in rows])
    print(f"target: numeric >= 10x CPython; rows: {path}")


if __name__ == "__main__":
    main()
