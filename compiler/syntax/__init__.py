"""The front end's syntax: tokens, lexer, parser and the syntax tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import ast
    from .parser import IncludeLoader


def parse(
    text: str, file: str = "<dialog>", include_loader: IncludeLoader | None = None
) -> ast.Program:
    """Parse a whole dialog into an ``ast.Program``; raises CompileError with every error.

    ``include_loader(name) -> text`` supplies the files named by ``INCLUDE``.
    """
    from .parser import parse as _parse  # noqa: PLC0415 (the keyword catalog imports syntax.ast)

    return _parse(text, file, include_loader)


__all__ = ["parse"]
