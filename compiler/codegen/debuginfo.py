"""What a debugger (and an error message) needs to know about compiled code: which source line
a code position belongs to, which blocks start a line, and where each variable lives."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineTable:
    """Code offsets of the ``step`` function <-> source lines; lines -> statement blocks.

    Lines are *locations*: a line of the program's own file is its number; a line of an
    INCLUDEd file gets a number after the program's last line (``included`` maps it back to
    the file and line). ``code`` is sorted by offset: each entry says the instructions from
    that offset on belong to that location (up to the next entry); offsets count from the
    start of the module, as wasmtime's trap frames do.
    """

    code: tuple[tuple[int, int], ...]
    starts: Mapping[int, int]  # statement-start block -> location
    block_lines: Mapping[int, int]  # every block -> the location of its statement
    included: Mapping[int, tuple[str, int]]  # location -> (INCLUDEd file, line)
    _by_line: dict[int, list[int]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for block, line in sorted(self.starts.items()):
            self._by_line.setdefault(line, []).append(block)

    def position(self, location: int) -> tuple[str | None, int]:
        """(file, line) of a location; file None for the program's own file."""
        return self.included.get(location, (None, location))

    @property
    def lines(self) -> list[int]:
        """Every line that starts a statement, ascending."""
        return sorted(self._by_line)

    def line_at(self, offset: int) -> int | None:
        """The source line of the instruction at code ``offset`` (None before the first)."""
        i = bisect.bisect_right(self.code, (offset, float("inf"))) - 1
        return self.code[i][1] if i >= 0 else None

    def offsets_of(self, line: int) -> list[int]:
        """Code offsets where statements of ``line`` begin."""
        return [offset for offset, at in self.code if at == line]

    def blocks_of(self, line: int) -> list[int]:
        """The blocks that start a statement on ``line`` (where a breakpoint stops)."""
        return list(self._by_line.get(line, []))

    def line_of_block(self, block: int) -> int | None:
        return self.block_lines.get(block)


@dataclass(frozen=True)
class FunctionInfo:
    """One FUNCTION/SUB (index 0: the main program) as the debugger sees it."""

    name: str
    index: int
    params: tuple[str, ...]
    locals: Mapping[str, int]  # name -> offset from the frame base (parameters included)
    result: int | None  # offset of a FUNCTION's result
    frame_size: int
    entry_block: int
    is_sub: bool


@dataclass(frozen=True)
class DebugInfo:
    """Variables by name: globals at fixed addresses, locals per function."""

    globals: Mapping[str, int]  # lower-case name -> address of its slot
    functions: tuple[FunctionInfo, ...]
    statement_lines: frozenset[int]

    def function(self, name: str) -> FunctionInfo:
        """The function called ``name`` (any case); KeyError if there is none."""
        for f in self.functions[1:]:
            if f.name.lower() == name.lower():
                return f
        raise KeyError(f"no FUNCTION or SUB named {name}")
