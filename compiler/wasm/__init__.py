"""WebAssembly binary module encoder and WAT printer, written from the spec.

Supports the MVP plus multi-value, sign-extension, non-trapping float-to-int and
`memory.copy`/`memory.fill`. See `module.py` for the offsets contract and `opcodes.py` for the
instruction table shared by the encoder and the printer.
"""

from .code import BlockType, Code
from .leb128 import decode_signed, decode_unsigned, encode_signed, encode_unsigned
from .module import Function, Module
from .names import Names
from .opcodes import OPS, Imm, Op
from .types import F32, F64, I32, I64, FuncType, ValType

__all__ = [
    "F32",
    "F64",
    "I32",
    "I64",
    "OPS",
    "BlockType",
    "Code",
    "FuncType",
    "Function",
    "Imm",
    "Module",
    "Names",
    "Op",
    "ValType",
    "decode_signed",
    "decode_unsigned",
    "encode_signed",
    "encode_unsigned",
]
