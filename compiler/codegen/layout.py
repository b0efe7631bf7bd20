"""The contract between generated code and the runtime: value tags, step results, the control
block and other fixed places in linear memory, and the host imports with their signatures.

Every BASIC value in memory is a 16-byte slot: ``i32 tag`` at +0, payload at +8 (``f64`` for a
number, 0/1 for a boolean, an ``i32`` handle into the host heap for text, dates, lists and
maps; ``null`` has tag 0 and payload 0). In wasm code a value travels as the pair
``(i32 tag, i64 payload bits)``.

Memory, from address 0::

    control block   CONTROL_SIZE bytes: program counter, frame pointer, line, budget ...
    RET             one slot: a keyword's result, a FUNCTION's result, the dialog's result
    keyword args    one slot per argument of the widest keyword call of the program
    breakpoints     one byte per source line (1 = stop there)
    globals         one slot per global variable
    stack           frames of the BASIC call stack: a 16-byte header (tag 0, return block,
                    caller's frame, function index) and then slots for parameters, locals,
                    the result and temporaries
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wasm import F64, I32, I64, ValType

# ---- value tags -------------------------------------------------------------------------------

NULL, NUMBER, BOOL, STRING, DATE, LIST, MAP = range(7)
TAG_NAMES = ("null", "number", "boolean", "string", "date", "list", "map")
SLOT = 16

# ---- why step() returned --------------------------------------------------------------------

DONE, CALL, BUDGET, BREAK, ERROR = range(5)
CONTINUE = 5  # inside step only: a chunk function handing over to another chunk

# ---- errors detected inside wasm (host-detected errors carry their own message) ------------

ERR_DIV_ZERO = 1
ERR_STACK = 2
ERR_SQRT = 3
ERROR_MESSAGES = {
    ERR_DIV_ZERO: "division by zero",
    ERR_STACK: "stack overflow: too many nested FUNCTION/SUB calls",
    ERR_SQRT: "SQR: square root of a negative number",
}

# ---- the control block (i32 fields) ---------------------------------------------------------

PC = 0  # block to run next (where step() resumes)
FP = 4  # base of the current frame
SP = 8  # first free byte of the stack
LINE = 12  # source line of the statement running
BUDGET_LEFT = 16  # loop back edges / calls left in this step (the host may zero it)
DEBUG = 20  # 1 while breakpoints or step mode are on (the statement check is skipped otherwise)
STEP_MODE = 24  # stop at every statement
SKIP = 28  # resume after a break without stopping again at the same statement
ERROR_CODE = 32  # ERR_* of an ERROR return
KEYWORD = 36  # pending keyword id (index into the unit's keyword table)
ARGC = 40  # pending keyword argument count
STACK_END = 44  # the stack may not grow past this address
CONTROL_SIZE = 64

RET = CONTROL_SIZE
KWARGS = RET + SLOT

# frame header (relative to the frame base)
FRAME_RETURN = 4
FRAME_CALLER = 8
FRAME_FUNCTION = 12
FRAME_HEADER = 16
NO_RETURN = -1  # the main program's frame returns nowhere

# ---- host operations by code ----------------------------------------------------------------

# op2: value-producing binary operators when the inline number path does not apply
OP2 = {"+": 0, "&": 1, "-": 2, "*": 3, "/": 4, "\\": 5, "mod": 6, "^": 7}
# cmp: comparisons when the inline path does not apply
CMP = {"=": 0, "<>": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}

# ---- host imports: name -> (params, results) -------------------------------------------------

V = (I32, I64)  # one value
IMPORTS: dict[str, tuple[tuple[ValType, ...], tuple[ValType, ...]]] = {
    "op2": ((I32, *V, *V), V),
    "cmp": ((I32, *V, *V), (I32,)),
    "concat": ((*V, *V, *V, *V), V),
    "to_num": (V, (F64,)),
    "truthy": (V, (I32,)),
    "fmod": ((F64, F64), (F64,)),
    "pow": ((F64, F64), (F64,)),
    "member": ((*V, I32), V),
    "set_member": ((*V, I32, *V), ()),
    "index": ((*V, *V), V),
    "set_index": ((*V, *V, *V), ()),
    "list_new": ((), (I32,)),
    "list_push": ((I32, *V), ()),
    "map_new": ((), (I32,)),
    "map_put": ((I32, I32, *V), ()),
    "iter_start": (V, (I32,)),
    "iter_len": ((I32,), (I32,)),
    "iter_get": ((I32, I32), V),
    "call0": ((I32,), V),
    "call1": ((I32, *V), V),
    "call2": ((I32, *V, *V), V),
    "call3": ((I32, *V, *V, *V), V),
}
MAX_HOST_BUILTIN_ARGS = 3


@dataclass(frozen=True, slots=True)
class MemoryMap:
    """Where the parts of one program's memory are (they depend on the program's size)."""

    kwargs: int
    kwarg_slots: int
    breakpoints: int
    breakpoint_lines: int  # lines 0 .. breakpoint_lines-1 have a byte
    globals: int
    global_slots: int
    stack_base: int
    main_frame_size: int

    @property
    def static_end(self) -> int:
        """The first byte after the fixed areas (where the stack begins)."""
        return self.stack_base

    @classmethod
    def plan(
        cls, kwarg_slots: int, max_line: int, global_slots: int, main_frame_size: int
    ) -> MemoryMap:
        """Lay the areas out one after the other, each 16-byte aligned."""

        def align(n: int) -> int:
            return (n + SLOT - 1) // SLOT * SLOT

        breakpoints = KWARGS + SLOT * kwarg_slots
        lines = max_line + 1
        globals_ = align(breakpoints + lines)
        stack_base = globals_ + SLOT * global_slots
        return cls(
            kwargs=KWARGS,
            kwarg_slots=kwarg_slots,
            breakpoints=breakpoints,
            breakpoint_lines=lines,
            globals=globals_,
            global_slots=global_slots,
            stack_base=stack_base,
            main_frame_size=main_frame_size,
        )
