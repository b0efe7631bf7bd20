"""Compile-time diagnostics: what went wrong, where, and what was expected.

A :class:`Diagnostic` renders like a C compiler's message, with the offending source line and
a caret under the column::

    hello.bas:3:12: error: expected THEN after the IF condition
        IF x > 3 TALK "big"
                 ^

:class:`CompileError` carries every diagnostic of a compilation (the parser recovers after an
error, so one run reports them all).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One error (or warning) at a 1-based ``line`` and ``col`` of ``file``."""

    file: str
    line: int
    col: int
    message: str
    expected: str | None
    source_line: str
    severity: str = "error"

    def caret_line(self) -> str:
        """Spaces (tabs kept, so the caret lines up) then ``^`` under the column."""
        prefix = self.source_line[: max(self.col - 1, 0)]
        pad = "".join(ch if ch == "\t" else " " for ch in prefix)
        return pad + "^"

    def __str__(self) -> str:
        head = f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"
        if not self.source_line.strip():
            return head
        return f"{head}\n    {self.source_line}\n    {self.caret_line()}"


def split_lines(text: str) -> list[str]:
    """The lines of a source text as the compiler counts them: split at ``\n`` only (a lone
    ``\r``, form feed or Unicode line separator is whitespace inside a line), without the
    ``\r`` of a CRLF ending."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def source_line(text: str, line: int) -> str:
    """The text of 1-based ``line`` of ``text`` without its line break ('' past the end)."""
    lines = split_lines(text)
    return lines[line - 1] if 1 <= line <= len(lines) else ""


class CompileError(Exception):
    """A program that does not compile; ``diagnostics`` lists every problem found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        if not self.diagnostics:
            raise ValueError("a CompileError needs at least one diagnostic")
        super().__init__(self.diagnostics[0].message)

    def __str__(self) -> str:
        body = "\n".join(str(d) for d in self.diagnostics)
        count = len(self.diagnostics)
        if count == 1:
            return body
        return f"{body}\n{count} errors"
