"""Micro benchmark of the wasm encoder: build and encode a module of 10,000 functions.

Prints microseconds per emitted instruction for building (Code.emit: checks and encodes each
instruction), for encoding the module, and for printing its WAT. Run:
    .venv/bin/python bench/basic_wasm_encode.py [functions]
"""

from __future__ import annotations

import sys
import time

from gb.compiler.wasm import F64, I32, Module


def build(functions: int) -> tuple[Module, int]:
    """Functions shaped like generated dialog code: slot loads/stores, arithmetic, branches."""
    m = Module()
    host = m.import_func("env", "host_call", [I32, I32], [I32])
    m.memory(1)
    pc = m.global_(I32, 0, name="pc")
    count = 0
    for i in range(functions):
        f = m.func(f"f{i}", [I32], [I32], locals=[I32, F64])
        c = f.code
        for line in range(4):
            c.mark(line)
            for op, *imms in (
                ("i32.const", line), ("global.set", pc),
                ("local.get", 0), ("f64.load", 3, 8 + 16 * line), ("f64.const", 1.0), ("f64.add",),
                ("local.set", 2), ("local.get", 0), ("local.get", 2), ("f64.store", 3, 24),
                ("block",), ("local.get", 1), ("br_if", 0), ("i32.const", i), ("local.get", 0),
                ("call", host), ("local.set", 1), ("end",),
            ):  # fmt: skip
                c.emit(op, *imms)
                count += 1
        c.emit("local.get", 1)
        count += 1
    return m, count


def main() -> None:
    functions = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    t0 = time.perf_counter()
    m, count = build(functions)
    t1 = time.perf_counter()
    data = m.encode()
    t2 = time.perf_counter()
    text = m.wat()
    t3 = time.perf_counter()
    per = 1e6 / count
    print(f"{functions} functions, {count} instructions, {len(data)} bytes, {len(text)} WAT chars")
    print(f"build (emit) : {(t1 - t0) * per:6.3f} µs/instruction  ({t1 - t0:.3f} s)")
    print(f"encode       : {(t2 - t1) * per:6.3f} µs/instruction  ({t2 - t1:.3f} s)")
    print(f"wat          : {(t3 - t2) * per:6.3f} µs/instruction  ({t3 - t2:.3f} s)")


if __name__ == "__main__":
    main()
