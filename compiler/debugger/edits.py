"""The source change ``refactor`` applies: a list of line edits.

The original's ``refactor(botId, code, change)`` sent ``change`` (an instruction in prose) to an
LLM. gb takes the change itself, as data an editor or a tool can produce exactly::

    [{"line": 3, "delete": 1, "insert": ["TALK \\"Bye\\""]},   # replace line 3
     {"line": 7, "insert": ["WAIT 1"]},                       # insert before line 7
     {"line": 9, "delete": 2}]                                # remove lines 9 and 10

Each edit names a 1-based ``line`` of the code *as given* (so edits do not shift one
another), removes ``delete`` lines there (default 0) and puts the ``insert`` lines (default
none) in their place; ``line`` may be one past the last line to append. Edits may not overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard


class ChangeError(ValueError):
    """A change that cannot be applied to the code (the message says which edit and why)."""


@dataclass(frozen=True, slots=True)
class LineEdit:
    """Remove ``delete`` lines at ``line`` and insert ``insert`` there."""

    line: int
    delete: int = 0
    insert: tuple[str, ...] = ()


def parse_change(change: object) -> list[LineEdit]:
    """Validate the JSON shape of a change (a list of ``{line, delete?, insert?}``)."""
    if not isinstance(change, Sequence) or isinstance(change, str | bytes):
        raise ChangeError("change must be a list of edits {line, delete, insert}")
    edits: list[LineEdit] = []
    for number, item in enumerate(change, start=1):
        if not isinstance(item, Mapping):
            raise ChangeError(f"edit {number}: expected an object {{line, delete, insert}}")
        unknown = set(item) - {"line", "delete", "insert"}
        if unknown:
            raise ChangeError(f"edit {number}: unknown field(s) {', '.join(sorted(unknown))}")
        line, delete, insert = item.get("line"), item.get("delete", 0), item.get("insert", [])
        if not _is_int(line) or line < 1:
            raise ChangeError(f"edit {number}: line must be a whole number from 1")
        if not _is_int(delete) or delete < 0:
            raise ChangeError(f"edit {number}: delete must be a whole number from 0")
        if isinstance(insert, str):
            insert = insert.splitlines()
        if not isinstance(insert, Sequence) or not all(isinstance(s, str) for s in insert):
            raise ChangeError(f"edit {number}: insert must be a list of lines (strings)")
        if any("\n" in s or "\r" in s for s in insert):
            raise ChangeError(f"edit {number}: an inserted line contains a line break")
        edits.append(LineEdit(line, delete, tuple(insert)))
    return edits


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def apply_edits(code: str, edits: Sequence[LineEdit]) -> str:
    """The code with the edits applied (line numbers refer to ``code``)."""
    lines = code.splitlines()
    ordered = sorted(enumerate(edits, start=1), key=lambda pair: (pair[1].line, pair[0]))
    end_of_previous = 0
    for number, edit in ordered:
        if edit.line > len(lines) + 1:
            raise ChangeError(
                f"edit {number}: line {edit.line} is past the end (the code has {len(lines)})"
            )
        if edit.line + edit.delete - 1 > len(lines):
            raise ChangeError(
                f"edit {number}: deleting {edit.delete} line(s) from line {edit.line} goes past "
                f"the end (the code has {len(lines)})"
            )
        if edit.line < end_of_previous:
            raise ChangeError(f"edit {number}: overlaps the lines another edit deletes")
        end_of_previous = edit.line + edit.delete
    for _, edit in reversed(ordered):
        lines[edit.line - 1 : edit.line - 1 + edit.delete] = edit.insert
    trailing = "\n" if lines and (code.endswith("\n") or not code) else ""
    return "\n".join(lines) + trailing
