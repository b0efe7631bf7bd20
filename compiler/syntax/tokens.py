"""Tokens of the BASIC dialect.

Words are not split into keywords and identifiers by the lexer: most keywords of the dialect
are *soft* (``in``, ``from``, ``text``, ``name`` are common variable names in real dialogs), so
the parser decides from context. Only :data:`RESERVED` words can never name a variable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class T(enum.Enum):
    """Token kinds."""

    WORD = "word"  # identifier or keyword, as written (``name$`` keeps its ``$``)
    NUMBER = "number"  # value: float
    STRING = "string"  # value: tuple of str and Interp parts
    OP = "op"  # punctuation and operators
    RAW = "raw"  # the unparsed rest of a line (PARAM, DESCRIPTION, SQL, unquoted TALK text)
    BLOCK = "block"  # one raw line inside BEGIN TALK / BEGIN SYSTEM PROMPT / TABLE
    NEWLINE = "newline"  # end of a logical line
    EOF = "eof"
    BAD = "bad"  # a lexical error; value: the message (reported when the parser meets it)


@dataclass(frozen=True, slots=True)
class Interp:
    """The source of a ``${expr}`` inside a string, and where it starts."""

    source: str
    line: int
    col: int


StringPart = str | Interp


@dataclass(frozen=True, slots=True)
class Token:
    """One token at a 1-based line and column."""

    kind: T
    text: str
    line: int
    col: int
    value: object = None

    @property
    def upper(self) -> str:
        """The text upper-cased (keyword matching is case-insensitive)."""
        return self.text.upper()

    def is_word(self, *words: str) -> bool:
        """Whether this is a WORD equal (case-insensitively) to one of ``words``."""
        return self.kind is T.WORD and self.text.upper() in words

    def is_op(self, *ops: str) -> bool:
        """Whether this is one of the operators ``ops``."""
        return self.kind is T.OP and self.text in ops

    def describe(self) -> str:
        """How the token is named in an error message."""
        if self.kind is T.NEWLINE:
            return "the end of the line"
        if self.kind is T.EOF:
            return "the end of the file"
        if self.kind is T.STRING:
            return "a string"
        if self.kind is T.NUMBER:
            return f"the number {self.text}"
        if self.kind in (T.RAW, T.BLOCK):
            return repr(self.text)
        return f"'{self.text}'"


#: Words that are never variable names.
RESERVED = frozenset({"AND", "OR", "NOT", "MOD", "TRUE", "FALSE", "NULL", "NOTHING"})

#: Characters that open and close a (template) string: the original turned each of them into a
#: JavaScript back-tick, so any of them closes a string opened by any other.
DOUBLE_QUOTES = frozenset('"\u201c\u201d\u00a8`')
#: Characters of a single-quoted JavaScript string (no interpolation); the original turned the
#: typographic ones into ``'``.
SINGLE_QUOTES = frozenset("'\u2018\u2019")
