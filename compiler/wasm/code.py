"""A function body under construction: instructions are checked and encoded as they are emitted.

`emit` checks the mnemonic, the number and kinds of its immediates, local indices, label depths
and the block structure (`else` inside `if`, `end` closing an open block). Indices into the module
(functions, globals, types, tables) may refer forward, so they are recorded and checked when the
module is encoded. Operand-stack typing is left to the engine's validator (wasmtime).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .consts import (
    encode_f32,
    encode_f64,
    encode_i32,
    encode_i64,
    f32_bits,
    f64_bits,
    i32_value,
    i64_value,
)
from .leb128 import encode_signed, encode_unsigned
from .opcodes import OPS, Imm, Op
from .types import ValType

BlockType = ValType | int | None
"""Empty (`None`), one result (`ValType`), or a function type index (params and results)."""

Instr = tuple[Op, tuple[Any, ...]]
"""An emitted instruction with its checked, normalised immediates (what the WAT printer reads)."""

U32 = 1 << 32


def _index(op: Op, value: object, what: str) -> int:
    if value.__class__ is int and 0 <= value < U32:  # the common case
        return value
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < U32:
        raise ValueError(f"{op.name}: {what} must be an integer in 0..2**32-1, got {value!r}")
    return int(value)  # an int subclass such as an IntEnum


class Code:
    """The instruction sequence of one function.

    `offset` counts bytes from the function's first instruction (after the local declarations);
    `Module.function_offsets()` gives where that first instruction lands in the module.
    """

    __slots__ = ("_buf", "_instrs", "_locals", "_owner", "_stack", "marks", "refs", "uses_memory")

    def __init__(self, owner: str, local_types: list[ValType]) -> None:
        self._owner = owner
        self._locals = local_types  # params then locals; shared with the Function, may grow
        self._buf = bytearray()
        self._instrs: list[Instr] = []
        self._stack: list[str] = []  # kinds of the open blocks: block, loop, if, else
        self.marks: list[tuple[int, Any]] = []  # (offset, caller's tag), in emission order
        # (instruction, kind of index, index) for indices checked against the module at encode
        self.refs: list[tuple[str, str, int]] = []
        self.uses_memory = False

    @property
    def offset(self) -> int:
        """Byte offset of the next instruction, relative to the first instruction."""
        return len(self._buf)

    @property
    def depth(self) -> int:
        """Number of blocks opened and not yet ended (the function's own block not counted)."""
        return len(self._stack)

    @property
    def instructions(self) -> Sequence[Instr]:
        return self._instrs

    @property
    def body(self) -> bytes:
        """The encoded instructions, without the function's final `end`."""
        return bytes(self._buf)

    def mark(self, tag: Any) -> None:
        """Remember `tag` at the current offset (e.g. the source line a statement starts)."""
        self.marks.append((len(self._buf), tag))

    def emit(self, name: str, *imms: Any) -> None:
        """Append one instruction; raise ValueError naming the instruction when it is malformed."""
        entry = _DISPATCH.get(name)
        if entry is None:
            raise ValueError(f"unknown instruction {name!r}")
        op, encode, structural = entry
        if encode is None:
            if imms:
                self._count(op, imms, 0)
            data: bytes = b""
            normalised: tuple[Any, ...] = ()
        else:
            data, normalised = encode(self, op, imms)
        if structural:
            self._structure(op)
        if op.memory:
            self.uses_memory = True
        self._buf += op.code
        self._buf += data
        self._instrs.append((op, normalised))

    def _structure(self, op: Op) -> None:
        name = op.name
        if name in ("block", "loop", "if"):
            self._stack.append(name)
        elif name == "else":
            if not self._stack or self._stack[-1] != "if":
                raise ValueError(f"else without an open if in {self._owner}")
            self._stack[-1] = "else"
        else:  # end
            if not self._stack:
                raise ValueError(
                    f"end without an open block in {self._owner} "
                    "(the function's own end is added when the module is encoded)"
                )
            self._stack.pop()

    # -- immediates: each returns (encoded bytes, normalised immediates) -----------------------

    def _count(self, op: Op, imms: tuple[Any, ...], *allowed: int) -> None:
        if len(imms) not in allowed:
            wanted = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{op.name}: expected {wanted} immediate(s), got {len(imms)}")

    def _block_type(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        self._count(op, imms, 0, 1)
        bt = imms[0] if imms else None
        if bt is None:
            return b"\x40", (None,)
        if isinstance(bt, ValType):
            return bytes((bt.value,)), (bt,)
        index = _index(op, bt, "a block type (None, a ValType or a type index)")
        self.refs.append((op.name, "type", index))
        return encode_signed(index, 33), (index,)

    def _label(self, op: Op, value: object) -> int:
        depth = _index(op, value, "a label depth")
        if depth > len(self._stack):
            raise ValueError(
                f"{op.name}: label {depth} is deeper than the {len(self._stack)} open block(s)"
                f" in {self._owner}"
            )
        return depth

    def _label_imm(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        depth = self._label(op, imms[0])
        return encode_unsigned(depth), (depth,)

    def _label_table(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        self._count(op, imms, 2)
        labels, default = imms
        if isinstance(labels, str | bytes) or not isinstance(labels, Sequence):
            raise ValueError(f"{op.name}: the first immediate must be a list of label depths")
        depths = [self._label(op, label) for label in labels]
        last = self._label(op, default)
        data = encode_unsigned(len(depths)) + b"".join(encode_unsigned(d) for d in depths)
        return data + encode_unsigned(last), (tuple(depths), last)

    def _func(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        index = _index(op, imms[0], "the function index")
        self.refs.append((op.name, "function", index))
        return encode_unsigned(index), (index,)

    def _call_indirect(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        self._count(op, imms, 1, 2)
        type_index = _index(op, imms[0], "the type index")
        table = _index(op, imms[1], "the table index") if len(imms) == 2 else 0
        self.refs.append((op.name, "type", type_index))
        self.refs.append((op.name, "table", table))
        return encode_unsigned(type_index) + encode_unsigned(table), (type_index, table)

    def _local(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        index = _index(op, imms[0], "the local index")
        if index >= len(self._locals):
            raise ValueError(
                f"{op.name}: local {index} does not exist in {self._owner}"
                f" ({len(self._locals)} params and locals)"
            )
        return encode_unsigned(index), (index,)

    def _global(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        index = _index(op, imms[0], "the global index")
        self.refs.append((op.name, "global", index))
        return encode_unsigned(index), (index,)

    def _memarg(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        self._count(op, imms, 0, 2)
        align, offset = imms if imms else (op.align, 0)
        align = _index(op, align, "the alignment (log2)")
        if align > op.align:
            raise ValueError(
                f"{op.name}: alignment 2**{align} is larger than the natural 2**{op.align}"
            )
        offset = _index(op, offset, "the offset")
        return bytes((align,)) + encode_unsigned(offset), (align, offset)

    def _i32(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        value = i32_value(imms[0], op.name)
        return encode_i32(value), (value,)

    def _i64(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        value = i64_value(imms[0], op.name)
        return encode_i64(value), (value,)

    def _f32(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        bits = f32_bits(imms[0], op.name)
        return encode_f32(bits), (bits,)

    def _f64(self, op: Op, imms: tuple[Any, ...]) -> tuple[bytes, tuple[Any, ...]]:
        if len(imms) != 1:
            self._count(op, imms, 1)
        bits = f64_bits(imms[0], op.name)
        return encode_f64(bits), (bits,)


_Encoder = Callable[[Code, Op, tuple[Any, ...]], tuple[bytes, tuple[Any, ...]]]

_IMMEDIATES: dict[Imm, _Encoder | None] = {
    Imm.NONE: None,
    Imm.BLOCK_TYPE: Code._block_type,
    Imm.LABEL: Code._label_imm,
    Imm.LABEL_TABLE: Code._label_table,
    Imm.FUNC: Code._func,
    Imm.CALL_INDIRECT: Code._call_indirect,
    Imm.LOCAL: Code._local,
    Imm.GLOBAL: Code._global,
    Imm.MEMARG: Code._memarg,
    Imm.I32: Code._i32,
    Imm.I64: Code._i64,
    Imm.F32: Code._f32,
    Imm.F64: Code._f64,
}

_STRUCTURAL = frozenset(("block", "loop", "if", "else", "end"))

# mnemonic -> (op, immediate encoder or None, opens/closes a block): one lookup per emit
_DISPATCH: dict[str, tuple[Op, _Encoder | None, bool]] = {
    name: (op, _IMMEDIATES[op.imm], name in _STRUCTURAL) for name, op in OPS.items()
}
