"""Instructions of the state machine, collected per block, with symbolic jumps.

The blocks are grouped in chunks (a wasm function each, see :meth:`Asm.chunks`); within a
chunk, the function is one dispatch loop over its numbered blocks::

    loop $dispatch
      block $L(n-1) ... block $L1 block $L0
        (br_table on the program counter: entry j leaves $Lj)
      end  code of block 0
      end  code of block 1
      ...
    end

The code of block k sits inside the labels of the blocks after it, so falling off its end
runs block k+1 and a jump to a later block m is a plain ``br`` (depth m-k-1 plus the blocks
open inside k). A jump to an earlier block stores its number in the program counter, spends
one unit of budget and branches back to the dispatcher; a block of another chunk is reached
by storing its number and returning CONTINUE to ``step``, which calls that chunk. Depths are
only known when every block is placed, so this module records instructions with symbolic
targets and resolves them in :meth:`Asm.encode_chunk`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..wasm import Code, ValType
from .layout import BUDGET, BUDGET_LEFT, CONTINUE, PC

CHUNK_INSTRUCTIONS = 20_000


class BlockRef:
    """A block of the state machine; its number is known once it is placed."""

    __slots__ = ("code", "id", "line", "starts")

    def __init__(self) -> None:
        self.id = -1
        self.code: list[tuple[Any, ...]] = []
        self.line = 0  # the location (source line) of the statement it belongs to
        self.starts = False  # it starts that statement (a breakpoint stops here)


class Label:
    """A structured wasm label (block/loop/if) inside one block's code."""

    __slots__ = ()


class Frame:
    """A symbolic reference to a function's frame size (known after its body is compiled)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0


@dataclass
class LocalPool:
    """Scratch wasm locals of ``step``, reused once released."""

    first: int
    types: list[ValType] = field(default_factory=list)
    free: dict[ValType, list[int]] = field(default_factory=dict)

    def take(self, valtype: ValType) -> int:
        spare = self.free.get(valtype)
        if spare:
            return spare.pop()
        self.types.append(valtype)
        return self.first + len(self.types) - 1

    def give(self, *indices: int) -> None:
        for index in indices:
            self.free.setdefault(self.types[index - self.first], []).append(index)


class Asm:
    """Blocks under construction; ``emit`` appends to the block being filled."""

    def __init__(self, first_local: int) -> None:
        self.blocks: list[BlockRef] = []
        self.line = 0  # the location of the statement being compiled
        self.current = self.place(BlockRef())
        self.locals = LocalPool(first_local)
        self.marks: list[tuple[BlockRef, int, int]] = []  # (block, instruction, line)

    # -- blocks ------------------------------------------------------------------------------

    def place(self, ref: BlockRef) -> BlockRef:
        """Start filling ``ref``; the block before it falls through into it."""
        if ref.id >= 0:
            raise ValueError(f"block {ref.id} is already placed")
        ref.id = len(self.blocks)
        ref.line = self.line
        self.blocks.append(ref)
        self.current = ref
        return ref

    def new_block(self) -> BlockRef:
        return self.place(BlockRef())

    # -- instructions ------------------------------------------------------------------------

    def emit(self, op: str, *imms: Any) -> None:
        self.current.code.append((op, *imms))

    def goto(self, target: BlockRef) -> None:
        """Continue at ``target`` (forward: a branch; backward: through the dispatcher)."""
        self.current.code.append(("@goto", target))

    def goto_if(self, target: BlockRef) -> None:
        """Pop an i32; continue at ``target`` (a later block) when it is not zero."""
        self.current.code.append(("@goto_if", target))

    def block_id(self, target: BlockRef) -> None:
        """Push the number of ``target`` (an i32 constant)."""
        self.current.code.append(("@block_id", target))

    def frame_size(self, frame: Frame) -> None:
        """Push a function's frame size (an i32 constant)."""
        self.current.code.append(("@frame_size", frame))

    def mark(self, line: int) -> None:
        """Record that the instructions from here on belong to source ``line``."""
        self.marks.append((self.current, len(self.current.code), line))

    @contextmanager
    def structured(self, kind: str, blocktype: Any = None) -> Iterator[Label]:
        """``block``/``loop``/``if`` ... ``end`` with a label for ``br``."""
        label = Label()
        self.current.code.append(("@open", kind, blocktype, label))
        yield label
        self.current.code.append(("end",))

    def else_(self) -> None:
        self.current.code.append(("else",))

    def br(self, label: Label) -> None:
        self.current.code.append(("@br", label))

    def br_if(self, label: Label) -> None:
        self.current.code.append(("@br_if", label))

    # -- encoding -----------------------------------------------------------------------------

    def chunks(self) -> list[tuple[int, int]]:
        """Consecutive block ranges ``[lo, hi)`` of about CHUNK_INSTRUCTIONS instructions:
        each is compiled to a wasm function of its own (engines compile big functions
        slowly)."""
        limit = CHUNK_INSTRUCTIONS
        ranges: list[tuple[int, int]] = []
        lo = size = 0
        for block in self.blocks:
            if size and size + len(block.code) > limit:
                ranges.append((lo, block.id))
                lo, size = block.id, 0
            size += len(block.code)
        ranges.append((lo, len(self.blocks)))
        return ranges

    def encode_chunk(
        self, code: Code, lo: int, hi: int, budget_local: int
    ) -> list[tuple[int, int]]:
        """Emit blocks ``lo..hi-1`` with their dispatcher into ``code``; return the (code
        offset, line) marks. A program counter outside the range returns CONTINUE (the
        ``step`` function then runs the chunk that has it)."""
        count = hi - lo
        code.emit("loop", None)
        for _ in range(count + 1):
            code.emit("block", None)
        code.emit("i32.const", 0)
        code.emit("i32.load", 2, PC)
        code.emit("i32.const", lo)
        code.emit("i32.sub")
        code.emit("br_table", list(range(count)), count)
        marks: dict[int, list[tuple[int, int]]] = {}
        for block, position, line in self.marks:
            marks.setdefault(block.id, []).append((position, line))
        offsets: list[tuple[int, int]] = []
        for block in self.blocks[lo:hi]:
            code.emit("end")
            pending = marks.get(block.id, [])
            self._encode_block(code, block, hi, budget_local, pending, offsets)
        code.emit("i32.const", 0)  # falling off the last block: the next chunk goes on
        code.emit("i32.const", hi)
        code.emit("i32.store", 2, PC)
        code.emit("end")  # a block of another chunk
        code.emit("i32.const", CONTINUE)
        code.emit("return")
        code.emit("end")  # the dispatch loop
        code.emit("unreachable")
        return offsets

    def _backward(self, code: Code, target: BlockRef, dispatch_depth: int, budget: int) -> None:
        """Store the target, spend budget, return BUDGET when spent, else dispatch."""
        code.emit("i32.const", 0)
        code.emit("i32.const", target.id)
        code.emit("i32.store", 2, PC)
        code.emit("i32.const", 0)
        code.emit("i32.const", 0)
        code.emit("i32.load", 2, BUDGET_LEFT)
        code.emit("i32.const", 1)
        code.emit("i32.sub")
        code.emit("local.tee", budget)
        code.emit("i32.store", 2, BUDGET_LEFT)
        code.emit("local.get", budget)
        code.emit("i32.const", 0)
        code.emit("i32.le_s")
        code.emit("if", None)
        code.emit("i32.const", BUDGET)
        code.emit("return")
        code.emit("end")
        code.emit("br", dispatch_depth)

    def _encode_block(
        self,
        code: Code,
        block: BlockRef,
        hi: int,
        budget_local: int,
        marks: list[tuple[int, int]],
        offsets: list[tuple[int, int]],
    ) -> None:
        """One block; ``hi`` ends its chunk (blocks from there on are elsewhere)."""
        k = block.id
        open_labels: list[Label | None] = []  # innermost last; None for unlabeled blocks
        mark_at = 0

        def depth_of_block(target: BlockRef) -> int:
            return len(open_labels) + target.id - k - 1

        def dispatch_depth() -> int:
            return len(open_labels) + hi - k

        next_mark = marks[0][0] if marks else -1
        emit = code.emit
        for position, instr in enumerate(block.code):
            while position == next_mark:
                offsets.append((code.offset, marks[mark_at][1]))
                mark_at += 1
                next_mark = marks[mark_at][0] if mark_at < len(marks) else -1
            op = instr[0]
            if op[0] != "@":  # an ordinary instruction
                if op == "end":
                    open_labels.pop()
                elif op in ("block", "loop", "if"):
                    open_labels.append(None)
                emit(*instr)
            elif op == "@goto":
                target = instr[1]
                if k < target.id < hi:
                    code.emit("br", depth_of_block(target))
                elif target.id > k:  # forward into another chunk
                    _leave_chunk(code, target, dispatch_depth())
                else:
                    self._backward(code, target, dispatch_depth(), budget_local)
            elif op == "@goto_if":
                target = instr[1]
                assert target.id > k, "conditional jumps only go forward (loops jump back)"
                if target.id < hi:
                    code.emit("br_if", depth_of_block(target))
                else:
                    code.emit("if", None)
                    _leave_chunk(code, target, dispatch_depth() + 1)
                    code.emit("end")
            elif op == "@dispatch":
                code.emit("br", dispatch_depth())
            elif op == "@block_id":
                code.emit("i32.const", instr[1].id)
            elif op == "@frame_size":
                code.emit("i32.const", instr[1].size)
            elif op == "@open":
                _, kind, blocktype, label = instr
                code.emit(kind, blocktype)
                open_labels.append(label)
            else:  # @br, @br_if to a structured label
                depth = len(open_labels) - 1 - open_labels.index(instr[1])
                emit(op[1:], depth)


def _leave_chunk(code: Code, target: BlockRef, dispatch_depth: int) -> None:
    """Continue at a block of a later chunk: its number to the program counter, then the
    chunk's dispatcher (which hands it to ``step``)."""
    code.emit("i32.const", 0)
    code.emit("i32.const", target.id)
    code.emit("i32.store", 2, PC)
    code.emit("br", dispatch_depth)
