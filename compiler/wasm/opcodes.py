"""The instruction table: every supported mnemonic with its opcode bytes and immediate kind.

This one table drives both the binary encoder (`Code.emit`) and the WAT printer, so the two
cannot disagree about an instruction. Supported: the MVP, multi-value block types, the
sign-extension ops, the non-trapping float-to-int conversions and `memory.copy`/`memory.fill`.
Reserved zero bytes (the memory index of `memory.size` & co.) are part of the fixed opcode bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Imm(enum.Enum):
    """What follows the opcode bytes."""

    NONE = enum.auto()
    BLOCK_TYPE = enum.auto()  # None (empty), a ValType (one result) or a type index
    LABEL = enum.auto()  # relative label depth
    LABEL_TABLE = enum.auto()  # list of label depths, then the default depth
    FUNC = enum.auto()  # function index
    CALL_INDIRECT = enum.auto()  # type index, table index
    LOCAL = enum.auto()  # local index
    GLOBAL = enum.auto()  # global index
    MEMARG = enum.auto()  # (align_log2, offset)
    I32 = enum.auto()
    I64 = enum.auto()
    F32 = enum.auto()
    F64 = enum.auto()


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    code: bytes
    imm: Imm
    align: int = 0  # natural alignment (log2) of a load/store: the largest legal `align_log2`
    memory: bool = False  # needs a memory in the module


def _table() -> dict[str, Op]:
    ops: list[Op] = []

    def add(code: bytes, name: str, imm: Imm = Imm.NONE, *, memory: bool = False) -> None:
        ops.append(Op(name, code, imm, memory=memory))

    def run(first: int, names: str) -> None:
        """Consecutive single-byte opcodes without immediates, starting at `first`."""
        for i, name in enumerate(names.split()):
            add(bytes((first + i,)), name)

    # control
    add(b"\x00", "unreachable")
    add(b"\x01", "nop")
    add(b"\x02", "block", Imm.BLOCK_TYPE)
    add(b"\x03", "loop", Imm.BLOCK_TYPE)
    add(b"\x04", "if", Imm.BLOCK_TYPE)
    add(b"\x05", "else")
    add(b"\x0b", "end")
    add(b"\x0c", "br", Imm.LABEL)
    add(b"\x0d", "br_if", Imm.LABEL)
    add(b"\x0e", "br_table", Imm.LABEL_TABLE)
    add(b"\x0f", "return")
    add(b"\x10", "call", Imm.FUNC)
    add(b"\x11", "call_indirect", Imm.CALL_INDIRECT)
    # parametric
    add(b"\x1a", "drop")
    add(b"\x1b", "select")
    # variables
    add(b"\x20", "local.get", Imm.LOCAL)
    add(b"\x21", "local.set", Imm.LOCAL)
    add(b"\x22", "local.tee", Imm.LOCAL)
    add(b"\x23", "global.get", Imm.GLOBAL)
    add(b"\x24", "global.set", Imm.GLOBAL)
    # memory: (opcode, name, natural alignment log2)
    for code, name, align in (
        (0x28, "i32.load", 2), (0x29, "i64.load", 3), (0x2A, "f32.load", 2),
        (0x2B, "f64.load", 3), (0x2C, "i32.load8_s", 0), (0x2D, "i32.load8_u", 0),
        (0x2E, "i32.load16_s", 1), (0x2F, "i32.load16_u", 1), (0x30, "i64.load8_s", 0),
        (0x31, "i64.load8_u", 0), (0x32, "i64.load16_s", 1), (0x33, "i64.load16_u", 1),
        (0x34, "i64.load32_s", 2), (0x35, "i64.load32_u", 2), (0x36, "i32.store", 2),
        (0x37, "i64.store", 3), (0x38, "f32.store", 2), (0x39, "f64.store", 3),
        (0x3A, "i32.store8", 0), (0x3B, "i32.store16", 1), (0x3C, "i64.store8", 0),
        (0x3D, "i64.store16", 1), (0x3E, "i64.store32", 2),
    ):  # fmt: skip
        ops.append(Op(name, bytes((code,)), Imm.MEMARG, align, memory=True))
    add(b"\x3f\x00", "memory.size", memory=True)
    add(b"\x40\x00", "memory.grow", memory=True)
    # constants
    add(b"\x41", "i32.const", Imm.I32)
    add(b"\x42", "i64.const", Imm.I64)
    add(b"\x43", "f32.const", Imm.F32)
    add(b"\x44", "f64.const", Imm.F64)
    # numeric 0x45..0xC4
    run(0x45, "i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u"
              " i32.ge_s i32.ge_u")  # fmt: skip
    run(0x50, "i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u"
              " i64.ge_s i64.ge_u")  # fmt: skip
    run(0x5B, "f32.eq f32.ne f32.lt f32.gt f32.le f32.ge")
    run(0x61, "f64.eq f64.ne f64.lt f64.gt f64.le f64.ge")
    run(0x67, "i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u"
              " i32.rem_s i32.rem_u i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u"
              " i32.rotl i32.rotr")  # fmt: skip
    run(0x79, "i64.clz i64.ctz i64.popcnt i64.add i64.sub i64.mul i64.div_s i64.div_u"
              " i64.rem_s i64.rem_u i64.and i64.or i64.xor i64.shl i64.shr_s i64.shr_u"
              " i64.rotl i64.rotr")  # fmt: skip
    run(0x8B, "f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt f32.add"
              " f32.sub f32.mul f32.div f32.min f32.max f32.copysign")  # fmt: skip
    run(0x99, "f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt f64.add"
              " f64.sub f64.mul f64.div f64.min f64.max f64.copysign")  # fmt: skip
    run(0xA7, "i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u"
              " i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u"
              " i64.trunc_f64_s i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u"
              " f32.convert_i64_s f32.convert_i64_u f32.demote_f64 f64.convert_i32_s"
              " f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u f64.promote_f32"
              " i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32"
              " f64.reinterpret_i64")  # fmt: skip
    # sign extension
    run(0xC0, "i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s")
    # 0xFC prefix: non-trapping float-to-int (sub-opcodes 0..7), bulk memory copy/fill
    for sub, name in enumerate((
        "i32.trunc_sat_f32_s", "i32.trunc_sat_f32_u", "i32.trunc_sat_f64_s", "i32.trunc_sat_f64_u",
        "i64.trunc_sat_f32_s", "i64.trunc_sat_f32_u", "i64.trunc_sat_f64_s", "i64.trunc_sat_f64_u",
    )):  # fmt: skip
        add(bytes((0xFC, sub)), name)
    add(b"\xfc\x0a\x00\x00", "memory.copy", memory=True)  # destination and source memory 0
    add(b"\xfc\x0b\x00", "memory.fill", memory=True)
    return {op.name: op for op in ops}


OPS: dict[str, Op] = _table()
