"""BASIC compile speed: lines per second for a generated 5,000-line dialog.

The program repeats a block in the style of the original's templates (a FUNCTION with an IF,
TALK/HEAR AS, a FOR with a one-line IF, FIND + FOR EACH with interpolated TALKs, SELECT CASE,
SAVE), each copy with its own names, until it has L lines (default 5,000). Phases, each the
best of R rounds (default 2; quick 1): ``parse`` (lexer + parser), ``check`` (against the
standard registry), ``codegen`` (wasm module bytes); ``total`` is their sum (what
``compile_source`` costs); ``wasmtime`` (measured once: wasmtime compiling the module to
machine code, done once per program and process and cached by the runtime). The peer is
CPython's own ``compile()`` of the same program written in Python, in the same process: a C
compiler of a simpler language, for scale.

Run: ``.venv/bin/python bench/basic_compile.py [--quick] [--lines L] [--rounds R]``
Appends rows to ``results/basic_compile.csv``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import wasmtime

from gb.compiler import compile_program
from gb.compiler.check import check
from gb.compiler.stdlib import stdlib_registry
from gb.compiler.syntax import parse

BLOCK = """\
FUNCTION Calc{k}(a, b)
    IF a > b THEN
        Calc{k} = a - b
    ELSE
        Calc{k} = b - a + {k}
    END IF
END FUNCTION
TALK "Question {k}: how many items?"
HEAR answer{k} AS INTEGER
total = total + Calc{k}(answer{k}, {k})
FOR i = 1 TO 10
    IF i MOD 2 = 0 THEN total = total + i
NEXT
rows{k} = FIND "orders.xlsx", "id = ${{total}}"
FOR EACH r IN rows{k}
    TALK "Order ${{r.id}} for ${{r.customer}}"
NEXT
SELECT CASE total MOD 3
    CASE 0
        TALK "zero"
    CASE 1, 2
        TALK "more than zero"
    CASE ELSE
        TALK "other"
END SELECT
SAVE "log.xlsx", answer{k}, total
"""

PY_BLOCK = """\
def calc{k}(a, b):
    if a > b:
        return a - b
    else:
        return b - a + {k}


talk(f"Question {k}: how many items?")
answer{k} = hear("integer")
total = total + calc{k}(answer{k}, {k})
for i in range(1, 11):
    if i % 2 == 0: total = total + i

rows{k} = find("orders.xlsx", f"id = {{total}}")
for r in rows{k}:
    talk(f"Order {{r.id}} for {{r.customer}}")

match total % 3:
    case 0:
        talk("zero")
    case 1 | 2:
        talk("more than zero")
    case _:
        talk("other")

save("log.xlsx", answer{k}, total)
"""


def program(block: str, lines: int, first: str) -> str:
    """Copies of ``block`` (numbered) after ``first`` until the text has ``lines`` lines."""
    out = [first]
    k = 0
    while sum(part.count("\n") for part in out) < lines:
        out.append(block.format(k=k))
        k += 1
    return "".join(out)


def best(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (CI smoke)")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 2)
    registry = stdlib_registry()
    basic_text = program(BLOCK, args.lines, "total = 0\n")
    python_text = program(PY_BLOCK, args.lines, "total = 0\n")
    lines = basic_text.count("\n")
    py_lines = python_text.count("\n")

    parse_s, tree = best(lambda: parse(basic_text, "big.bas"), rounds)
    check_s, problems = best(lambda: check(tree, registry), rounds)
    assert not problems, problems[:3]
    codegen_s, unit = best(lambda: compile_program(tree), rounds)
    total_s = parse_s + check_s + codegen_s
    engine = wasmtime.Engine()
    wasmtime_s, _ = best(lambda: wasmtime.Module(engine, unit.wasm), 1)
    cpython_s, _ = best(lambda: compile(python_text, "big.py", "exec"), rounds)

    header = {**common.run_header(), "mode": "quick" if args.quick else "full"}
    rows = [
        {**header, "phase": phase, "lines": lines, "seconds": round(seconds, 4),
         "lines_per_s": round(count / seconds)}
        for phase, count, seconds in (
            ("parse", lines, parse_s), ("check", lines, check_s), ("codegen", lines, codegen_s),
            ("total", lines, total_s), ("wasmtime", lines, wasmtime_s),
            ("cpython compile()", py_lines, cpython_s),
        )
    ]  # fmt: skip
    for row in rows:
        row["ratio_to_cpython"] = round(row["lines_per_s"] / (py_lines / cpython_s), 3)
        row["wasm_bytes"] = len(unit.wasm)
    common.print_table(
        f"compile a {lines:,}-line dialog ({len(unit.wasm):,} bytes of wasm; best of {rounds})",
        ("phase", "lines", "seconds", "lines/s", "x cpython"),
        [(r["phase"], r["lines"], r["seconds"], r["lines_per_s"], r["ratio_to_cpython"])
         for r in rows],
    )  # fmt: skip
    path = common.append_csv("basic_compile", rows)
    print(f"\nrows: {path}")


if __name__ == "__main__":
    main()
