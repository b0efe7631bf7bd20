"""WebAssembly text (flat instructions) for a `Module`.

The text is written so that a conforming assembler produces exactly `Module.encode()`: explicit
`(type N)` uses, exports as separate fields in declaration order, `$identifiers` only for the
names in the name section, and constants spelled from their encoded bits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .consts import f32_text, f64_text
from .opcodes import Imm, Op
from .types import ValType

if TYPE_CHECKING:
    from .module import Function, Limits, Module

_PLAIN_ID = re.compile(r"[0-9A-Za-z!#$%&'*+\-./:<=>?@\\^_`|~]+")


def string(data: bytes) -> str:
    """A WAT string literal for arbitrary bytes."""
    out = []
    for byte in data:
        if 0x20 <= byte < 0x7F and byte not in b'"\\':
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:02x}")
    return '"' + "".join(out) + '"'


def identifier(name: str) -> str:
    """`$name`, quoted when the name has characters an identifier cannot."""
    if _PLAIN_ID.fullmatch(name):
        return "$" + name
    return "$" + string(name.encode("utf-8"))


def _ref(names: dict[int, str], index: int) -> str:
    name = names.get(index)
    return str(index) if name is None else identifier(name)


def _label(names: dict[int, str], index: int) -> str:
    """How a definition is introduced: `$name`, or the index as a comment."""
    name = names.get(index)
    return f"(;{index};)" if name is None else identifier(name)


def _limits(limits: Limits) -> str:
    return f"{limits.minimum}" if limits.maximum is None else f"{limits.minimum} {limits.maximum}"


def _types(kind: str, types: tuple[ValType, ...]) -> str:
    return f" ({kind} {' '.join(t.wat for t in types)})" if types else ""


def _params(function_locals: dict[int, str], params: tuple[ValType, ...]) -> str:
    out = []
    for i, t in enumerate(params):
        name = function_locals.get(i)
        out.append(f" (param {t.wat})" if name is None else f" (param {identifier(name)} {t.wat})")
    return "".join(out)


class _Printer:
    def __init__(self, module: Module) -> None:
        self.m = module
        self.lines: list[str] = []

    def field(self, text: str) -> None:
        self.lines.append("  " + text)

    def module(self) -> str:
        m = self.m
        head = "(module" if m.names.module is None else f"(module {identifier(m.names.module)}"
        self.lines.append(head)
        for i, ft in enumerate(m.types):
            params, results = _types("param", ft.params), _types("result", ft.results)
            self.field(f"(type (;{i};) (func{params}{results}))")
        func_index = 0
        for item in m.imports:
            where = f"(import {string(item.module.encode())} {string(item.field.encode())}"
            if item.kind == "func":
                ft = m.types[item.type_index]
                self.field(
                    f"{where} (func {_label(m.names.functions, func_index)}"
                    f" (type {item.type_index}){_types('param', ft.params)}"
                    f"{_types('result', ft.results)}))"
                )
                func_index += 1
            else:
                assert item.limits is not None
                self.field(f"{where} (memory (;0;) {_limits(item.limits)}))")
        if m.table_limits is not None:
            self.field(f"(table (;0;) {_limits(m.table_limits)} funcref)")
        if m.memory_limits is not None and not m.memory_imported:
            self.field(f"(memory (;0;) {_limits(m.memory_limits)})")
        for i, g in enumerate(m.globals):
            t = f"(mut {g.type.wat})" if g.mutable else g.type.wat
            init = self.immediates(Imm[g.type.name], (g.init,), {})
            self.field(f"(global {_label(m.names.globals, i)} {t} ({g.type.wat}.const{init}))")
        for e in m.exports:
            names: dict[int, str] = {"func": m.names.functions, "global": m.names.globals}.get(
                e.kind, {}
            )
            self.field(f"(export {string(e.name.encode())} ({e.kind} {_ref(names, e.index)}))")
        if m.start_index is not None:
            self.field(f"(start {_ref(m.names.functions, m.start_index)})")
        for i, (offset, funcs) in enumerate(m.elements):
            refs = "".join(" " + _ref(m.names.functions, f) for f in funcs)
            self.field(f"(elem (;{i};) (i32.const {offset}) func{refs})")
        for function in m.functions:
            self.function(function)
        for i, (offset, data) in enumerate(m.data_segments):
            self.field(f"(data (;{i};) (i32.const {offset}) {string(data)})")
        self.lines.append(")")
        return "\n".join(self.lines) + "\n"

    def function(self, f: Function) -> None:
        local_names: dict[int, str] = self.m.names.locals.get(f.index, {})
        self.field(
            f"(func {_label(self.m.names.functions, f.index)} (type {f.type_index})"
            f"{_params(local_names, f.params)}{_types('result', f.results)}"
        )
        for i, t in enumerate(f.locals, start=len(f.params)):
            name = local_names.get(i)
            self.field(
                f"  (local {t.wat})" if name is None else f"  (local {identifier(name)} {t.wat})"
            )
        depth = 2
        for op, imms in f.code.instructions:
            if op.name in ("else", "end"):
                depth -= 1
            self.lines.append(
                "  " * depth + op.name + self.immediates(op.imm, imms, local_names, op)
            )
            if op.name in ("block", "loop", "if", "else"):
                depth += 1
        self.field(")")

    def immediates(
        self, kind: Imm, imms: tuple[Any, ...], local_names: dict[int, str], op: Op | None = None
    ) -> str:
        names = self.m.names
        match kind:
            case Imm.BLOCK_TYPE:
                (bt,) = imms
                if bt is None:
                    return ""
                if isinstance(bt, ValType):
                    return f" (result {bt.wat})"
                return f" (type {bt})"
            case Imm.LABEL_TABLE:
                labels, default = imms
                return "".join(f" {label}" for label in (*labels, default))
            case Imm.FUNC:
                return " " + _ref(names.functions, imms[0])
            case Imm.CALL_INDIRECT:
                return f" {imms[1]} (type {imms[0]})"
            case Imm.LOCAL:
                return " " + _ref(local_names, imms[0])
            case Imm.GLOBAL:
                return " " + _ref(names.globals, imms[0])
            case Imm.MEMARG:
                assert op is not None
                align, offset = imms
                text = f" offset={offset}" if offset else ""
                return text + (f" align={1 << align}" if align != op.align else "")
            case Imm.F32:
                return " " + f32_text(imms[0])
            case Imm.F64:
                return " " + f64_text(imms[0])
        return "".join(f" {v}" for v in imms)  # none, labels, integers


def module_wat(module: Module) -> str:
    return _Printer(module).module()
