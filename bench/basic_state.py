"""Suspend/resume cost and saved-state size of a typical dialog.

The dialog (below) is an order conversation in the style of the original's templates: it
loads 100 customer rows with FIND, keeps a few strings, numbers and a list, and waits for the
user three times (HEAR, HEAR AS INTEGER, HEAR AS BOOLEAN). At every wait it is saved to bytes
and restored (in this process; the tests prove restores in another one). Figures per wait,
best of R rounds (default 200; quick 50): ``save`` µs and bytes, ``restore`` µs (a new
wasmtime instance from the cached module, memory and heap loaded), ``resume`` µs (from giving
the answer to the next suspension). Peer, in the same run: ``pickle`` of the dialog's
variables (what a host would have to store without the VM), its time and size.

Run: ``.venv/bin/python bench/basic_state.py [--quick] [--rounds R]``
Appends rows to ``results/basic_state.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from gb.compiler import Dialog, compile_source
from gb.compiler.stdlib import ScriptedContext, TableStore, stdlib_registry
from gb.compiler.stdlib.running import bind, start_dialog

DIALOG = """\
TALK "Welcome! Who is ordering?"
customers = FIND "customers.xlsx"
HEAR name
cart = NEW ARRAY
total = 0
FOR EACH c IN customers
    IF c.city = "Rio" THEN total = total + 1
NEXT
TALK "Hello ${name}, ${total} customers are in Rio. How many pens?"
HEAR qty AS INTEGER
cart[0] = {"item": "pen", "qty": qty, "price": 2.5}
TALK "Shall I confirm ${qty} pens?"
HEAR confirmed AS BOOLEAN
IF confirmed THEN SAVE "orders.xlsx", name, qty
TALK "Done."
"""

ANSWERS = ["Ana Souza", "12", "yes"]


def customers() -> TableStore:
    cities = ["Rio", "São Paulo", "Recife", "Curitiba"]
    rows = [{"id": n, "name": f"Customer {n}", "city": cities[n % 4], "orders": n * 3 % 17,
             "since": f"{1 + n % 28:02d}/{1 + n % 12:02d}/2020"} for n in range(100)]  # fmt: skip
    return TableStore({"customers.xlsx": rows, "orders.xlsx": []})


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


async def one_conversation(unit: Any, registry: Any) -> list[dict[str, Any]]:
    """Run the dialog, saving and restoring it at each wait; measurements per wait."""
    ctx = ScriptedContext(tables=customers(), inputs=list(ANSWERS))
    dialog = start_dialog(unit, registry, ctx)
    out: list[dict[str, Any]] = []
    resume_s = 0.0
    while True:
        start = time.perf_counter()
        suspension = dialog.step(1 << 30)
        while suspension.reason == "call" and suspension.keyword != "HEAR":
            await dialog.perform(ctx, suspension.keyword, suspension.args)
            suspension = dialog.step(1 << 30)
        resume_s += time.perf_counter() - start
        if suspension.reason == "done":
            return out
        assert suspension.reason == "call", suspension
        save_s, data = timed(dialog.save)
        restore_s, dialog = timed(lambda d=data: Dialog.restore(unit, registry, d))  # type: ignore[misc]
        bind(ctx, dialog)
        variables = dialog.variables()
        pickle_s, pickled = timed(lambda v=variables: pickle.dumps(v))  # type: ignore[misc]
        out.append({"line": suspension.line, "save_s": save_s, "restore_s": restore_s,
                    "resume_s": resume_s, "bytes": len(data), "pickle_s": pickle_s,
                    "pickle_bytes": len(pickled)})  # fmt: skip
        # The answer arrives: HEAR takes it, and the dialog runs to its next suspension.
        start = time.perf_counter()
        await dialog.perform(ctx, "HEAR", suspension.args)
        resume_s = time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (CI smoke)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (50 if args.quick else 200)
    registry = stdlib_registry()
    unit = compile_source(DIALOG, "order.bas", registry)
    runs = [asyncio.run(one_conversation(unit, registry)) for _ in range(rounds)]
    header = {**common.run_header(), "mode": "quick" if args.quick else "full"}
    rows = []
    for wait, first in enumerate(runs[0]):

        def fastest(key: str, wait: int = wait) -> float:
            return min(run[wait][key] for run in runs) * 1e6

        rows.append({**header, "wait": wait + 1, "line": first["line"],
                     "save_us": round(fastest("save_s"), 1), "state_bytes": first["bytes"],
                     "restore_us": round(fastest("restore_s"), 1),
                     "resume_us": round(fastest("resume_s"), 1),
                     "pickle_us": round(fastest("pickle_s"), 1),
                     "pickle_bytes": first["pickle_bytes"],
                     "bytes_ratio_to_pickle": round(first["bytes"] / first["pickle_bytes"],
                                                    2)})  # fmt: skip
    common.print_table(
        f"suspend/resume of a typical dialog (best of {rounds} conversations)",
        ("wait", "line", "save us", "bytes", "restore us", "resume us", "pickle us",
         "pickle bytes", "x pickle bytes"),
        [(r["wait"], r["line"], r["save_us"], r["state_bytes"], r["restore_us"], r["resume_us"],
          r["pickle_us"], r["pickle_bytes"], r["bytes_ratio_to_pickle"]) for r in rows],
    )  # fmt: skip
    path = common.append_csv("basic_state", rows)
    print(f"\nrows: {path}")


if __name__ == "__main__":
    main()
