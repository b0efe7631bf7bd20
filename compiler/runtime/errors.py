"""How a running dialog fails: a BASIC runtime error naming the source line."""

from __future__ import annotations


class BasicRuntimeError(Exception):
    """The dialog stopped at ``line`` of ``file`` because of ``message`` (division by zero,
    index out of range, a keyword that failed ...). The host process is unaffected."""

    def __init__(self, line: int, message: str, file: str = "<dialog>") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.file = file

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: runtime error: {self.message}"


class RuntimeLimitExceeded(BasicRuntimeError):  # noqa: N818 - the name the contract gives it
    """The dialog used more than its limits allow (time, fuel, memory, heap, stack)."""


class StateError(ValueError):
    """A saved dialog state that cannot be restored (corrupt, another program, another
    format version)."""
